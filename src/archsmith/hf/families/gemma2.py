"""Gemma 2: HF ``model_type: gemma2``.

Gemma's RMSNorm (fp32, scale 1 + w) in a "sandwich": a norm before and after each branch
(archsmith's ``peri`` scheme), embeddings scaled by sqrt(hidden_size), logit softcapping of
the attention scores and of the LM head, and per-layer sliding windows (``layer_types``,
alternating by default). Scores are scaled by ``query_pre_attn_scalar ** -0.5``; archsmith
scales by ``head_dim ** -0.5``, so other values are refused.
"""

from typing import Any

from ...config import ArchConfig
from ..common import layer_window, refuse_unless
from ..family import heads_divide_hidden, layer_types
from ..llama_like import llama_layout, llama_like


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    head_dim = read["head_dim"]
    refuse_unless(
        d.get("query_pre_attn_scalar", 256) == head_dim,
        "gemma2",
        f"query_pre_attn_scalar={d.get('query_pre_attn_scalar', 256)} != head_dim={head_dim}",
        "set query_pre_attn_scalar to head_dim",
    )
    refuse_unless(not d.get("use_bidirectional_attention"), "gemma2", "use_bidirectional_attention", "a causal model")
    layers = read["num_hidden_layers"]
    default_types = ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(layers)]
    window, types = layer_window(d.get("sliding_window", 4096), d.get("layer_types") or default_types)
    return {"sliding_window": window, "layer_types": types}


def _write(cfg: ArchConfig) -> dict[str, Any]:
    return {
        "query_pre_attn_scalar": cfg.head_dim,  # scores scaled by head_dim ** -0.5, as archsmith does
        # With no sliding layer the window is never used; Gemma2Config still wants a number.
        "sliding_window": cfg.sliding_window or cfg.max_position_embeddings,
        "layer_types": layer_types(cfg),
    }


FAMILY = llama_like(
    "gemma2",
    "Gemma2ForCausalLM",
    {
        "vocab_size": 256000,
        "hidden_size": 2304,
        "intermediate_size": 9216,
        "num_hidden_layers": 26,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "max_position_embeddings": 8192,
        "rms_norm_eps": 1e-6,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": True,
    },
    export_rank=60,
    more_keys={
        "hidden_activation": ("hidden_act", "gelu_pytorch_tanh"),
        "attn_logit_softcapping": ("attn_logit_softcapping", 50.0),
        "final_logit_softcapping": ("final_logit_softcapping", 30.0),
    },
    facts={
        "norm_weight_in_fp32": True,
        "norm_unit_offset": True,
        "norm_scheme": "peri",
        "scale_embeddings": True,
        "mlp_bias": False,
    },
    layout=llama_layout(
        {
            "attn_out_norm": "post_attention_layernorm",
            "mlp_norm": "pre_feedforward_layernorm",
            "mlp_out_norm": "post_feedforward_layernorm",
        }
    ),
    other_keys=frozenset(
        {"query_pre_attn_scalar", "sliding_window", "layer_types", "use_bidirectional_attention", "cache_implementation"}
    ),
    read_extra=_read,
    write_extra=_write,
    free=("sliding_window",),
    checks=(heads_divide_hidden,),
)
