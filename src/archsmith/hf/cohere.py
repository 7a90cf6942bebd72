"""Cohere (Command-R, Aya 23): HF ``model_type: cohere``, and what Cohere 2 shares with it.

A parallel block with one shared norm, x + attn(ln(x)) + mlp(ln(x)); a LayerNorm without bias
computed in fp32; RoPE on interleaved pairs (GPT-J layout); the logits multiplied by
``logit_scale``. ``use_qk_norm`` (Command R+) adds that LayerNorm over head_dim on q and k
with a weight per head. ``head_dim`` is no config field, but the attention reads it when the
file has one.
"""

from __future__ import annotations

import math
from typing import Any

from ..config import ArchConfig
from ..errors import ConfigError
from .common import BASE_FIELDS, ROPE_FIELDS, Rope, read_dtype, read_rope

MODEL_TYPE = "cohere"

FIELDS = BASE_FIELDS | ROPE_FIELDS | frozenset(
    {
        "vocab_size", "hidden_size", "intermediate_size", "logit_scale", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "head_dim", "hidden_act", "max_position_embeddings", "initializer_range",
        "layer_norm_eps", "use_cache", "pad_token_id", "bos_token_id", "eos_token_id", "tie_word_embeddings",
        "attention_bias", "attention_dropout", "use_qk_norm",
    }
)  # fmt: skip


def read_logit_scale(d: dict[str, Any]) -> float:
    """``logit_scale`` (0.0625 by default): the class multiplies the logits by it, so it must be a number."""
    scale = d.get("logit_scale", 0.0625)
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not math.isfinite(scale):
        raise ConfigError(f"logit_scale={scale!r} must be a finite number (the logits are multiplied by it); fix: e.g. 0.0625")
    return scale


def cohere_block(d: dict[str, Any], rope: Rope, **fields: Any) -> dict[str, Any]:
    """The ArchConfig fields Cohere and Cohere 2 share, with their common defaults."""
    attention_bias = d.get("attention_bias", False)
    return dict(
        vocab_size=d.get("vocab_size", 256000),
        hidden_size=d.get("hidden_size", 8192),
        intermediate_size=d.get("intermediate_size", 22528),
        num_hidden_layers=d.get("num_hidden_layers", 40),
        num_attention_heads=d.get("num_attention_heads", 64),
        num_key_value_heads=d.get("num_key_value_heads"),
        max_position_embeddings=d.get("max_position_embeddings", 8192),
        qkv_bias=attention_bias,
        attn_out_bias=attention_bias,
        rope_theta=rope.theta,
        rope_scaling=rope.scaling,
        rope_interleaved=True,
        norm_type="layernorm",
        norm_bias=False,
        norm_weight_in_fp32=True,
        norm_eps=d.get("layer_norm_eps", 1e-5),
        parallel_residual=True,
        parallel_shared_norm=True,
        mlp_type="gated",
        hidden_act=d.get("hidden_act", "silu"),
        logit_scale=read_logit_scale(d),
        tie_word_embeddings=d.get("tie_word_embeddings", True),
        attention_dropout=d.get("attention_dropout", 0.0),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
        **fields,
    )


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    rope = read_rope(
        d, model_type=MODEL_TYPE, partial_rotary=False, max_position_embeddings=d.get("max_position_embeddings", 8192),
        default_theta=500000.0,
    )  # fmt: skip
    qk_norm = "per_head" if d.get("use_qk_norm") else "none"
    return ArchConfig(**cohere_block(d, rope, head_dim=d.get("head_dim"), qk_norm=qk_norm))
