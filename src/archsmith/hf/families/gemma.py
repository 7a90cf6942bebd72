"""Gemma (1): HF ``model_type: gemma``. Llama with GeGLU, a scaled embedding and (1 + w) norms.

Quirks from transformers 5.23: ``head_dim`` defaults to 256 whatever the width; the
released files say ``hidden_act: "gelu"``, which Gemma means as the tanh approximation, so
``GemmaConfig`` rewrites it to ``gelu_pytorch_tanh`` (and exact GELU cannot be exported); the
LM head is tied by default. The 4.x ``hidden_activation`` key is no longer read by
transformers; we accept it only when it agrees.
"""

from typing import Any

from ...config import ArchConfig
from ...errors import ConfigError
from ..common import refuse_unless
from ..llama_like import llama_like


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    refuse_unless(
        not d.get("use_bidirectional_attention"),
        "gemma",
        "use_bidirectional_attention=true (a non-causal encoder)",
        "set use_bidirectional_attention to false or null",
    )
    act = "gelu_pytorch_tanh" if read["hidden_act"] == "gelu" else read["hidden_act"]
    legacy = d.get("hidden_activation")
    if legacy is not None and legacy != act:
        raise ConfigError(
            f"hidden_activation={legacy!r} disagrees with hidden_act={d.get('hidden_act')!r} (read as {act!r}); "
            "transformers 4.x used hidden_activation, 5.x uses hidden_act; "
            "fix: make them equal or drop hidden_activation"
        )
    return {"hidden_act": act}


def _not_exact_gelu(cfg: ArchConfig) -> list[str]:
    if cfg.hidden_act == "gelu":
        return ["hidden_act='gelu' (GemmaConfig rewrites it to gelu_pytorch_tanh)"]
    return []


FAMILY = llama_like(
    "gemma",
    "GemmaForCausalLM",
    {
        "vocab_size": 256000,
        "hidden_size": 3072,
        "intermediate_size": 24576,
        "num_hidden_layers": 28,
        "num_attention_heads": 16,
        "num_key_value_heads": 16,
        "head_dim": 256,
        "max_position_embeddings": 8192,
        "hidden_act": "gelu_pytorch_tanh",
        "rms_norm_eps": 1e-6,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": True,
    },
    export_rank=50,
    facts={"norm_weight_in_fp32": True, "norm_unit_offset": True, "scale_embeddings": True, "mlp_bias": False},
    other_keys=frozenset({"hidden_activation", "use_bidirectional_attention"}),
    read_extra=_read,
    checks=(_not_exact_gelu,),
)
