"""Gemma 2: HF ``model_type: gemma2``.

Gemma's RMSNorm (fp32, scale 1 + w) in a "sandwich": a norm before and after each branch
(archsmith's ``peri`` scheme), embeddings scaled by sqrt(hidden_size), logit softcapping of
the attention scores and of the LM head, and per-layer sliding windows (``layer_types``,
alternating by default). Scores are scaled by ``query_pre_attn_scalar ** -0.5``, which is
``attention_scale`` when it differs from head_dim (Gemma-2-27B: 144 = hidden/heads, head_dim 128).
"""

from typing import Any

from ...config import ArchConfig
from ...errors import ConfigError
from ..common import layer_window, refuse_unless
from ..family import heads_divide_hidden, layer_types
from ..llama_like import llama_layout, llama_like


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    query_scalar = d.get("query_pre_attn_scalar", 256)
    if query_scalar <= 0:  # the scale is its inverse square root
        raise ConfigError(f"query_pre_attn_scalar={query_scalar} must be positive; fix: head_dim, or hidden_size / num_attention_heads")
    refuse_unless(not d.get("use_bidirectional_attention"), "gemma2", "use_bidirectional_attention", "a causal model")
    layers = read["num_hidden_layers"]
    default_types = ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(layers)]
    window, types = layer_window(d.get("sliding_window", 4096), d.get("layer_types") or default_types)
    scale = None if query_scalar == read["head_dim"] else query_scalar**-0.5
    return {"sliding_window": window, "layer_types": types, "attention_scale": scale}


def _write(cfg: ArchConfig) -> dict[str, Any]:
    return {
        "query_pre_attn_scalar": _query_pre_attn_scalar(cfg),
        # With no sliding layer the window is never used; Gemma2Config still wants a number.
        "sliding_window": cfg.sliding_window or cfg.max_position_embeddings,
        "layer_types": layer_types(cfg),
    }


def _query_pre_attn_scalar(cfg: ArchConfig) -> int:
    """Gemma 2's integer ``query_pre_attn_scalar``, whose inverse square root is the score scale."""
    return cfg.head_dim if cfg.attention_scale is None else round(cfg.attention_scale**-2)


def _scale_from_integer(cfg: ArchConfig) -> list[str]:
    if cfg.attention_scale is None:
        return []
    n = _query_pre_attn_scalar(cfg)
    if n < 1 or n**-0.5 != cfg.attention_scale:
        return [f"attention_scale={cfg.attention_scale} (it scales by n ** -0.5 for an integer query_pre_attn_scalar n)"]
    return []


# Gemma 2's block, which Gemma 3 keeps: a norm before and after each branch ("peri"), Gemma's 1 + w
# RMSNorm in float32, a scaled embedding, and the keys both classes read beyond the table.
SANDWICH_FACTS = {
    "norm_weight_in_fp32": True,
    "norm_unit_offset": True,
    "norm_scheme": "peri",
    "scale_embeddings": True,
    "mlp_bias": False,
}
SANDWICH_LAYOUT = llama_layout(
    {
        "attn_out_norm": "post_attention_layernorm",
        "mlp_norm": "pre_feedforward_layernorm",
        "mlp_out_norm": "post_feedforward_layernorm",
    }
)
SANDWICH_KEYS = frozenset(
    {"query_pre_attn_scalar", "sliding_window", "layer_types", "use_bidirectional_attention", "cache_implementation"}
)


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
    facts=SANDWICH_FACTS,
    layout=SANDWICH_LAYOUT,
    other_keys=SANDWICH_KEYS,
    read_extra=_read,
    write_extra=_write,
    free=("sliding_window", "attention_scale"),
    checks=(heads_divide_hidden, _scale_from_integer),
)
