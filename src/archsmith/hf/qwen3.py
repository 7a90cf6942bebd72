"""Qwen3 (dense): HF ``model_type: qwen3``. Llama with a per-head RMSNorm on q and k.

Unlike Qwen2 there is no q/k/v bias by default (``attention_bias``), and ``head_dim``
defaults to 128 whatever the width (Qwen3-0.6B: 16 heads x 128 = 2048 > hidden 1024).
The sliding-window rules are Qwen2's.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from .common import BASE_FIELDS, ROPE_FIELDS, read_dtype, read_rope
from .qwen2 import qwen_layer_window

MODEL_TYPE = "qwen3"

FIELDS = BASE_FIELDS | ROPE_FIELDS | frozenset(
    {
        "vocab_size",
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "head_dim",
        "hidden_act",
        "max_position_embeddings",
        "initializer_range",
        "rms_norm_eps",
        "use_cache",
        "tie_word_embeddings",
        "attention_bias",
        "use_sliding_window",
        "sliding_window",
        "max_window_layers",
        "layer_types",
        "attention_dropout",
        "pad_token_id",
        "bos_token_id",
        "eos_token_id",
    }
)


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    num_layers = d.get("num_hidden_layers", 32)
    sliding_window, layer_types = qwen_layer_window(d, num_layers)
    max_positions = d.get("max_position_embeddings", 32768)
    rope = read_rope(d, model_type=MODEL_TYPE, partial_rotary=False, max_position_embeddings=max_positions)
    attention_bias = d.get("attention_bias", False)
    return ArchConfig(
        vocab_size=d.get("vocab_size", 151936),
        hidden_size=d.get("hidden_size", 4096),
        intermediate_size=d.get("intermediate_size", 22016),
        num_hidden_layers=num_layers,
        num_attention_heads=d.get("num_attention_heads", 32),
        num_key_value_heads=d.get("num_key_value_heads", 32),
        head_dim=d.get("head_dim", 128),
        max_position_embeddings=max_positions,
        qkv_bias=attention_bias,
        attn_out_bias=attention_bias,
        qk_norm="head",
        sliding_window=sliding_window,
        layer_types=layer_types,
        rope_theta=rope.theta,
        rope_scaling=rope.scaling,
        partial_rotary_factor=rope.partial_rotary_factor,
        norm_type="rmsnorm",
        norm_eps=d.get("rms_norm_eps", 1e-6),
        mlp_type="gated",
        hidden_act=d.get("hidden_act", "silu"),
        tie_word_embeddings=d.get("tie_word_embeddings", False),
        attention_dropout=d.get("attention_dropout", 0.0),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )
