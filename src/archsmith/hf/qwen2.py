"""Qwen2 and Qwen2.5: HF ``model_type: qwen2``. Llama with a bias on q, k and v (not on o).

Sliding-window attention applies only when ``use_sliding_window`` is true, and then (unless
the file lists ``layer_types``) only to layers from ``max_window_layers`` on; released Qwen2
models all ship ``use_sliding_window: false``, so their ``sliding_window`` value is unused.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from .common import BASE_FIELDS, ROPE_FIELDS, layer_window, read_dtype, read_rope

MODEL_TYPE = "qwen2"

FIELDS = BASE_FIELDS | ROPE_FIELDS | frozenset(
    {
        "vocab_size",
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "head_dim",  # not a Qwen2Config field, but Qwen2Attention reads it when a file has it
        "hidden_act",
        "max_position_embeddings",
        "initializer_range",
        "rms_norm_eps",
        "use_cache",
        "tie_word_embeddings",
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

# transformers renames these old layer-type names on load (configuration_utils._LEGACY_LAYER_TYPE_REMAP).
_LEGACY_LAYER_TYPES = {"attention": "full_attention"}


def qwen_layer_window(d: dict[str, Any], num_layers: int) -> tuple[int | None, tuple[str, ...] | None]:
    """(sliding_window, layer_types) as Qwen2Config/Qwen3Config.__post_init__ resolve them."""
    sliding_window = d.get("sliding_window", 4096) if d.get("use_sliding_window", False) else None
    layer_types = d.get("layer_types")
    if layer_types is None:
        first_sliding = d.get("max_window_layers", 28)
        layer_types = [
            "sliding_attention" if sliding_window is not None and i >= first_sliding else "full_attention"
            for i in range(num_layers)
        ]
    else:
        layer_types = [_LEGACY_LAYER_TYPES.get(t, t) for t in layer_types]
    return layer_window(sliding_window, layer_types)


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    num_layers = d.get("num_hidden_layers", 32)
    sliding_window, layer_types = qwen_layer_window(d, num_layers)
    max_positions = d.get("max_position_embeddings", 32768)
    rope = read_rope(d, model_type=MODEL_TYPE, partial_rotary=False, max_position_embeddings=max_positions)
    return ArchConfig(
        vocab_size=d.get("vocab_size", 151936),
        hidden_size=d.get("hidden_size", 4096),
        intermediate_size=d.get("intermediate_size", 22016),
        num_hidden_layers=num_layers,
        num_attention_heads=d.get("num_attention_heads", 32),
        num_key_value_heads=d.get("num_key_value_heads", 32),
        head_dim=d.get("head_dim"),
        max_position_embeddings=max_positions,
        qkv_bias=True,  # hardcoded in Qwen2Attention
        attn_out_bias=False,
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
