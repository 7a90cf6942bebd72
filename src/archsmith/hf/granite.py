"""Granite (IBM Granite 3.x dense): HF ``model_type: granite``. Llama with four multipliers.

``embedding_multiplier`` scales the token embeddings, ``residual_multiplier`` each branch
output before the residual add, ``attention_multiplier`` is the softmax scale itself (default
1.0, not 1/sqrt(head_dim)), and the logits are divided by ``logits_scaling`` (archsmith
multiplies by its inverse: the same number for Granite's powers of two, and within an ulp
otherwise).
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from ..errors import ConfigError
from .common import BASE_FIELDS, ROPE_FIELDS, read_dtype, read_rope

MODEL_TYPE = "granite"

FIELDS = BASE_FIELDS | ROPE_FIELDS | frozenset(
    {
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "head_dim", "hidden_act", "max_position_embeddings", "initializer_range",
        "rms_norm_eps", "use_cache", "pad_token_id", "bos_token_id", "eos_token_id", "tie_word_embeddings",
        "attention_bias", "attention_dropout", "mlp_bias", "embedding_multiplier", "logits_scaling",
        "residual_multiplier", "attention_multiplier",
    }
)  # fmt: skip


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    max_positions = d.get("max_position_embeddings", 2048)
    rope = read_rope(d, model_type=MODEL_TYPE, partial_rotary=False, max_position_embeddings=max_positions)
    attention_bias = d.get("attention_bias", False)
    logits_scaling = d.get("logits_scaling", 1.0)
    if logits_scaling <= 0:
        raise ConfigError(f"logits_scaling={logits_scaling} must be positive (the logits are divided by it); fix: e.g. 16.0, or 1.0")
    return ArchConfig(
        vocab_size=d.get("vocab_size", 32000),
        hidden_size=d.get("hidden_size", 4096),
        intermediate_size=d.get("intermediate_size", 11008),
        num_hidden_layers=d.get("num_hidden_layers", 32),
        num_attention_heads=d.get("num_attention_heads", 32),
        num_key_value_heads=d.get("num_key_value_heads"),
        head_dim=d.get("head_dim"),
        max_position_embeddings=max_positions,
        qkv_bias=attention_bias,
        attn_out_bias=attention_bias,
        mlp_bias=d.get("mlp_bias", False),
        attention_scale=d.get("attention_multiplier", 1.0),
        rope_theta=rope.theta,
        rope_scaling=rope.scaling,
        norm_type="rmsnorm",
        norm_eps=d.get("rms_norm_eps", 1e-6),
        mlp_type="gated",
        hidden_act=d.get("hidden_act", "silu"),
        embedding_multiplier=d.get("embedding_multiplier", 1.0),
        residual_multiplier=d.get("residual_multiplier", 1.0),
        logit_scale=1.0 / logits_scaling,
        tie_word_embeddings=d.get("tie_word_embeddings", False),
        attention_dropout=d.get("attention_dropout", 0.0),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )
