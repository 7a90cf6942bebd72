"""StableLM (StableLM-2, StableLM-3B-4E1T): HF ``model_type: stablelm``.

Pre-LayerNorm with bias, SwiGLU without biases, partial RoPE (``partial_rotary_factor``,
default 0.25), optional q/k/v bias (``use_qkv_bias``; never on o), and optionally a
parallel residual that shares ONE norm between attention and MLP. Its ``qk_layernorm`` is a
separate LayerNorm per head, which archsmith's shared qk-norm cannot express, and its
``hidden_dropout`` drops only the MLP output: both are refused when set.
"""

from typing import Any

from ..common import refuse_unless
from ..family import LAYERNORM, RopeKeys, implicit_head_dim
from ..llama_like import llama_like


def _refusals(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    refuse_unless(not d.get("qk_layernorm", False), "stablelm", "qk_layernorm (one LayerNorm per head)", "export without it")
    refuse_unless(
        d.get("hidden_dropout", 0.0) == 0.0, "stablelm", "hidden_dropout (it drops only the MLP output)", "set hidden_dropout to 0"
    )
    return {}


FAMILY = llama_like(
    "stablelm",
    "StableLmForCausalLM",
    {
        "vocab_size": 50304,
        "hidden_size": 2560,
        "intermediate_size": 6912,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": None,
        "max_position_embeddings": 4096,
        "hidden_act": "silu",
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": False,
    },
    export_rank=100,
    more_keys={
        "layer_norm_eps": ("norm_eps", 1e-5),
        "use_qkv_bias": ("qkv_bias", False),
        "use_parallel_residual": (("parallel_residual", "parallel_shared_norm"), False),  # one shared norm
    },
    facts={**LAYERNORM, "attn_out_bias": False, "mlp_bias": False},
    rope=RopeKeys(partial=True, default_partial=0.25),
    other_keys=frozenset({"qk_layernorm", "hidden_dropout"}),
    read_extra=_refusals,
    write_extra=lambda cfg: {"qk_layernorm": False},
    checks=(implicit_head_dim,),
)
