"""Mistral: HF ``model_type: mistral``. Llama without biases, with a sliding window.

transformers' ``MistralConfig`` defaults ``sliding_window`` to 4096 (Mistral 7B v0.1), so a
file that leaves the key out slides; ``"sliding_window": null`` (v0.2 onward) attends fully.
Every layer uses the same window: ``MistralModel`` ignores ``layer_types``.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from .common import BASE_FIELDS, ROPE_FIELDS, read_dtype, read_rope, refuse_unless

MODEL_TYPE = "mistral"

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
        "pad_token_id",
        "bos_token_id",
        "eos_token_id",
        "tie_word_embeddings",
        "sliding_window",
        "attention_dropout",
    }
)


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    sliding_window = d.get("sliding_window", 4096)
    uniform = "sliding_attention" if sliding_window is not None else "full_attention"
    refuse_unless(
        all(t == uniform for t in d.get("layer_types") or [uniform]),
        MODEL_TYPE,
        "layer_types that mix full and sliding attention (MistralModel ignores layer_types)",
        "remove layer_types; every Mistral layer uses sliding_window",
    )
    max_positions = d.get("max_position_embeddings", 4096 * 32)
    rope = read_rope(d, model_type=MODEL_TYPE, partial_rotary=False, max_position_embeddings=max_positions)
    return ArchConfig(
        vocab_size=d.get("vocab_size", 32000),
        hidden_size=d.get("hidden_size", 4096),
        intermediate_size=d.get("intermediate_size", 14336),
        num_hidden_layers=d.get("num_hidden_layers", 32),
        num_attention_heads=d.get("num_attention_heads", 32),
        num_key_value_heads=d.get("num_key_value_heads", 8),
        head_dim=d.get("head_dim"),
        max_position_embeddings=max_positions,
        sliding_window=sliding_window,
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
