"""Phi-3: HF ``model_type: phi3``. Llama-shaped with fused qkv and gate/up weights (same counts).

RoPE quirks from ``Phi3Config``: the top-level ``original_max_position_embeddings`` (default
4096) is the pretraining length and overrides the one in the RoPE dict; the scaled type must
be longrope, whose early names "su" and "yarn" (in Phi-3, "yarn" meant longrope) are
renamed; ``partial_rotary_factor`` may sit at the top level. ``sliding_window`` (default null)
applies to every layer.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from ..errors import ConfigError
from .common import BASE_FIELDS, ROPE_FIELDS, read_dtype, read_rope

MODEL_TYPE = "phi3"

FIELDS = BASE_FIELDS | ROPE_FIELDS | frozenset(
    {
        "vocab_size",
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "head_dim",  # not a Phi3Config field, but Phi3Attention reads it when a file has it
        "resid_pdrop",
        "embd_pdrop",
        "attention_dropout",
        "hidden_act",
        "max_position_embeddings",
        "original_max_position_embeddings",
        "initializer_range",
        "rms_norm_eps",
        "use_cache",
        "tie_word_embeddings",
        "bos_token_id",
        "eos_token_id",
        "pad_token_id",
        "sliding_window",
    }
)


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    max_positions = d.get("max_position_embeddings", 4096)
    rope = read_rope(
        d,
        model_type=MODEL_TYPE,
        partial_rotary=True,
        max_position_embeddings=max_positions,
        original_max_position_embeddings=d.get("original_max_position_embeddings", 4096),
        type_aliases={"su": "longrope", "yarn": "longrope"},
    )
    if rope.scaling is not None and rope.scaling["rope_type"] != "longrope":
        raise ConfigError(
            f"phi3: rope type {rope.scaling['rope_type']!r} is not supported by Phi-3 "
            "(transformers' Phi3Config accepts only default and longrope); fix: use longrope or no scaling"
        )
    return ArchConfig(
        vocab_size=d.get("vocab_size", 32064),
        hidden_size=d.get("hidden_size", 3072),
        intermediate_size=d.get("intermediate_size", 8192),
        num_hidden_layers=d.get("num_hidden_layers", 32),
        num_attention_heads=d.get("num_attention_heads", 32),
        num_key_value_heads=d.get("num_key_value_heads"),
        head_dim=d.get("head_dim"),
        max_position_embeddings=max_positions,
        sliding_window=d.get("sliding_window"),
        rope_theta=rope.theta,
        rope_scaling=rope.scaling,
        partial_rotary_factor=rope.partial_rotary_factor,
        norm_type="rmsnorm",
        norm_eps=d.get("rms_norm_eps", 1e-5),
        mlp_type="gated",
        hidden_act=d.get("hidden_act", "silu"),
        tie_word_embeddings=d.get("tie_word_embeddings", False),
        attention_dropout=d.get("attention_dropout", 0.0),
        hidden_dropout=d.get("resid_pdrop", 0.0),
        embedding_dropout=d.get("embd_pdrop", 0.0),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )
