"""StableLM (StableLM-2, StableLM-3B-4E1T): HF ``model_type: stablelm``.

Pre-LayerNorm with bias, SwiGLU without biases, partial RoPE (``partial_rotary_factor``,
default 0.25), optional q/k/v bias (``use_qkv_bias``; never on o), and optionally a
parallel residual that shares ONE norm between attention and MLP. Its ``qk_layernorm``
(StableLM-2-12B) is a separate bias-free LayerNorm per head (``qk_norm="per_head"``; HF keeps one
module per head, ``q_layernorm.norms.{h}``). Its ``hidden_dropout`` drops only the MLP output,
which archsmith cannot express: refused when set.
"""

from typing import Any

from ..common import refuse_unless
from ..family import LAYERNORM, RopeKeys, implicit_head_dim, qk_norm_switch
from ..llama_like import llama_layout, llama_like


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    refuse_unless(
        d.get("hidden_dropout", 0.0) == 0.0, "stablelm", "hidden_dropout (it drops only the MLP output)", "set hidden_dropout to 0"
    )
    return {"qk_norm": "per_head" if d.get("qk_layernorm", False) else "none"}


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
    layout=llama_layout(
        {"attn.q_norm": "self_attn.q_layernorm.norms.{h}", "attn.k_norm": "self_attn.k_layernorm.norms.{h}"}
    ),
    other_keys=frozenset({"qk_layernorm", "hidden_dropout"}),
    read_extra=_read,
    write_extra=lambda cfg: {"qk_layernorm": cfg.qk_norm == "per_head"},
    free=("qk_norm",),
    checks=(implicit_head_dim, qk_norm_switch("per_head", "its qk_layernorm is one norm per head")),
)
