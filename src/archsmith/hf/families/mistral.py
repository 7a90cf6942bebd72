"""Mistral: HF ``model_type: mistral``. Llama without biases, with a sliding window.

transformers' ``MistralConfig`` defaults ``sliding_window`` to 4096 (Mistral 7B v0.1), so a
file that leaves the key out slides; ``"sliding_window": null`` (v0.2 onward) attends fully.
Every layer uses the same window: ``MistralModel`` ignores ``layer_types``.
"""

from typing import Any

from ..common import refuse_unless
from ..family import all_sliding_or_none
from ..llama_like import llama_like


def _one_window(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    uniform = "sliding_attention" if read["sliding_window"] is not None else "full_attention"
    refuse_unless(
        all(t == uniform for t in d.get("layer_types") or [uniform]),
        "mistral",
        "layer_types that mix full and sliding attention (MistralModel ignores layer_types)",
        "remove layer_types; every Mistral layer uses sliding_window",
    )
    return {}


FAMILY = llama_like(
    "mistral",
    "MistralForCausalLM",
    {
        "vocab_size": 32000,
        "hidden_size": 4096,
        "intermediate_size": 14336,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": None,
        "max_position_embeddings": 4096 * 32,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-6,
        "sliding_window": 4096,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": False,
    },
    export_rank=20,
    facts={"qkv_bias": False, "attn_out_bias": False, "mlp_bias": False},
    read_extra=_one_window,
    checks=(all_sliding_or_none,),
)
