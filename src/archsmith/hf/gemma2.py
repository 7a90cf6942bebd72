"""Gemma 2: HF ``model_type: gemma2``.

Gemma's RMSNorm (fp32, scale 1 + w) in a "sandwich": a norm before and after each branch
(archsmith's ``peri`` scheme), embeddings scaled by sqrt(hidden_size), logit softcapping of
the attention scores and of the LM head, and per-layer sliding windows (``layer_types``,
alternating by default). Scores are scaled by ``query_pre_attn_scalar ** -0.5``, which is
``attention_scale`` when it differs from head_dim (Gemma-2-27B: 144 = hidden/heads, head_dim 128).
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from ..errors import ConfigError
from .common import BASE_FIELDS, ROPE_FIELDS, layer_window, read_dtype, read_rope, refuse_unless

MODEL_TYPE = "gemma2"

FIELDS = BASE_FIELDS | ROPE_FIELDS | frozenset(
    {
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "head_dim", "hidden_activation", "max_position_embeddings",
        "initializer_range", "rms_norm_eps", "use_cache", "pad_token_id", "eos_token_id", "bos_token_id",
        "tie_word_embeddings", "attention_bias", "attention_dropout", "query_pre_attn_scalar", "sliding_window",
        "layer_types", "final_logit_softcapping", "attn_logit_softcapping", "use_bidirectional_attention",
        "cache_implementation",
    }
)  # fmt: skip


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    layers = d.get("num_hidden_layers", 26)
    head_dim = d.get("head_dim", 256)
    query_scalar = d.get("query_pre_attn_scalar", 256)
    if query_scalar <= 0:  # the scale is its inverse square root
        raise ConfigError(f"query_pre_attn_scalar={query_scalar} must be positive; fix: head_dim, or hidden_size / num_attention_heads")
    refuse_unless(not d.get("use_bidirectional_attention"), MODEL_TYPE, "use_bidirectional_attention", "a causal model")
    default_types = ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(layers)]
    window, layer_types = layer_window(d.get("sliding_window", 4096), d.get("layer_types") or default_types)
    max_positions = d.get("max_position_embeddings", 8192)
    rope = read_rope(d, model_type=MODEL_TYPE, partial_rotary=False, max_position_embeddings=max_positions)
    attention_bias = d.get("attention_bias", False)
    return ArchConfig(
        vocab_size=d.get("vocab_size", 256000),
        hidden_size=d.get("hidden_size", 2304),
        intermediate_size=d.get("intermediate_size", 9216),
        num_hidden_layers=layers,
        num_attention_heads=d.get("num_attention_heads", 8),
        num_key_value_heads=d.get("num_key_value_heads", 4),
        head_dim=head_dim,
        max_position_embeddings=max_positions,
        qkv_bias=attention_bias,
        attn_out_bias=attention_bias,
        sliding_window=window,
        layer_types=layer_types,
        attn_logit_softcapping=d.get("attn_logit_softcapping", 50.0),
        attention_scale=None if query_scalar == head_dim else query_scalar**-0.5,
        final_logit_softcapping=d.get("final_logit_softcapping", 30.0),
        rope_theta=rope.theta,
        rope_scaling=rope.scaling,
        partial_rotary_factor=rope.partial_rotary_factor,
        norm_type="rmsnorm",
        norm_eps=d.get("rms_norm_eps", 1e-6),
        norm_unit_offset=True,
        norm_weight_in_fp32=True,
        norm_scheme="peri",
        scale_embeddings=True,
        mlp_type="gated",
        hidden_act=d.get("hidden_activation", "gelu_pytorch_tanh"),
        tie_word_embeddings=d.get("tie_word_embeddings", True),
        attention_dropout=d.get("attention_dropout", 0.0),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )
