"""SmolLM3: HF ``model_type: smollm3``. Llama with NoPE layers.

``no_rope_layers`` holds one flag per layer, 1 for a layer that applies RoPE and 0 for one
that does not (the name says the opposite); without it every ``no_rope_layer_interval``-th
layer (4) is NoPE. A layer slides only when ``use_sliding_window`` is set and ``layer_types``
calls it sliding (by default the NoPE layers, when a window is set). ``head_dim`` is no
config field, but the attention reads it when the file has one.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from ..errors import ConfigError
from .common import BASE_FIELDS, ROPE_FIELDS, layer_window, read_dtype, read_rope

MODEL_TYPE = "smollm3"

FIELDS = BASE_FIELDS | ROPE_FIELDS | frozenset(
    {
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "head_dim", "hidden_act", "max_position_embeddings", "initializer_range",
        "rms_norm_eps", "use_cache", "pad_token_id", "bos_token_id", "eos_token_id", "use_sliding_window",
        "sliding_window", "no_rope_layers", "no_rope_layer_interval", "layer_types", "attention_bias",
        "attention_dropout", "mlp_bias", "tie_word_embeddings", "pretraining_tp", "max_window_layers",
    }
)  # fmt: skip


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    layers = d.get("num_hidden_layers", 36)
    interval = d.get("no_rope_layer_interval", 4)
    flags = d.get("no_rope_layers")
    if flags is None:
        flags = [int((i + 1) % interval != 0) for i in range(layers)]
    if len(flags) < layers:
        raise ConfigError(
            f"no_rope_layers has {len(flags)} entries for num_hidden_layers={layers}; fix: one 1 (RoPE) or 0 (NoPE) per layer"
        )
    nope = tuple(i for i in range(layers) if not flags[i])
    use_window, window = d.get("use_sliding_window", False), d.get("sliding_window")
    types = d.get("layer_types")
    if types is None:
        types = ["sliding_attention" if use_window and window is not None and i in nope else "full_attention" for i in range(layers)]
    if "sliding_attention" in types and not (use_window and window is not None):
        # The attention then runs without a window but its mask with one: the result depends on the kernel.
        raise ConfigError(
            "smollm3: layer_types has sliding_attention layers but use_sliding_window is false or sliding_window "
            "null, which transformers' SmolLM3 masks and kernels read differently; fix: set use_sliding_window=true "
            "and a sliding_window, or make every layer full_attention"
        )
    window, layer_types = layer_window(window if use_window else None, types)
    max_positions = d.get("max_position_embeddings", 32768)
    rope = read_rope(
        d, model_type=MODEL_TYPE, partial_rotary=False, max_position_embeddings=max_positions, default_theta=2_000_000.0
    )
    attention_bias = d.get("attention_bias", False)
    every_layer_nope = len(nope) == layers
    return ArchConfig(
        vocab_size=d.get("vocab_size", 128256),
        hidden_size=d.get("hidden_size", 2048),
        intermediate_size=d.get("intermediate_size", 11008),
        num_hidden_layers=layers,
        num_attention_heads=d.get("num_attention_heads", 16),
        num_key_value_heads=d.get("num_key_value_heads", 4),
        head_dim=d.get("head_dim"),
        max_position_embeddings=max_positions,
        qkv_bias=attention_bias,
        attn_out_bias=attention_bias,
        mlp_bias=d.get("mlp_bias", False),
        sliding_window=window,
        layer_types=layer_types,
        position_embedding="none" if every_layer_nope else "rope",
        nope_layers=None if every_layer_nope else nope,
        rope_theta=rope.theta,
        rope_scaling=None if every_layer_nope else rope.scaling,
        norm_type="rmsnorm",
        norm_eps=d.get("rms_norm_eps", 1e-6),
        mlp_type="gated",
        hidden_act=d.get("hidden_act", "silu"),
        tie_word_embeddings=d.get("tie_word_embeddings", True),
        attention_dropout=d.get("attention_dropout", 0.0),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )
