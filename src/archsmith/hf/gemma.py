"""Gemma (1): HF ``model_type: gemma``. Llama with GeGLU, a scaled embedding and (1 + w) norms.

Quirks from transformers 5.23: ``head_dim`` defaults to 256 whatever the width; the
released files say ``hidden_act: "gelu"``, which Gemma means as the tanh approximation, so
``GemmaConfig`` rewrites it to ``gelu_pytorch_tanh``; the LM head is tied by default. The 4.x
``hidden_activation`` key is no longer read by transformers; we accept it only when it agrees.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from ..errors import ConfigError
from .common import BASE_FIELDS, ROPE_FIELDS, read_dtype, read_rope, refuse_unless

MODEL_TYPE = "gemma"

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
        "hidden_activation",  # 4.x name, see module docstring
        "max_position_embeddings",
        "initializer_range",
        "rms_norm_eps",
        "use_cache",
        "pad_token_id",
        "eos_token_id",
        "bos_token_id",
        "tie_word_embeddings",
        "attention_bias",
        "attention_dropout",
        "use_bidirectional_attention",
    }
)


def _activation(d: dict[str, Any]) -> str:
    act = d.get("hidden_act", "gelu_pytorch_tanh")
    act = "gelu_pytorch_tanh" if act == "gelu" else act
    legacy = d.get("hidden_activation")
    if legacy is not None and legacy != act:
        raise ConfigError(
            f"hidden_activation={legacy!r} disagrees with hidden_act={d.get('hidden_act')!r} (read as {act!r}); "
            "transformers 4.x used hidden_activation, 5.x uses hidden_act; "
            "fix: make them equal or drop hidden_activation"
        )
    return act


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    refuse_unless(
        not d.get("use_bidirectional_attention"),
        MODEL_TYPE,
        "use_bidirectional_attention=true (a non-causal encoder)",
        "set use_bidirectional_attention to false or null",
    )
    max_positions = d.get("max_position_embeddings", 8192)
    rope = read_rope(d, model_type=MODEL_TYPE, partial_rotary=False, max_position_embeddings=max_positions)
    attention_bias = d.get("attention_bias", False)
    return ArchConfig(
        vocab_size=d.get("vocab_size", 256000),
        hidden_size=d.get("hidden_size", 3072),
        intermediate_size=d.get("intermediate_size", 24576),
        num_hidden_layers=d.get("num_hidden_layers", 28),
        num_attention_heads=d.get("num_attention_heads", 16),
        num_key_value_heads=d.get("num_key_value_heads", 16),
        head_dim=d.get("head_dim", 256),
        max_position_embeddings=max_positions,
        qkv_bias=attention_bias,
        attn_out_bias=attention_bias,
        rope_theta=rope.theta,
        rope_scaling=rope.scaling,
        partial_rotary_factor=rope.partial_rotary_factor,
        norm_type="rmsnorm",
        norm_eps=d.get("rms_norm_eps", 1e-6),
        norm_unit_offset=True,
        norm_weight_in_fp32=True,
        mlp_type="gated",
        hidden_act=_activation(d),
        scale_embeddings=True,
        tie_word_embeddings=d.get("tie_word_embeddings", True),
        attention_dropout=d.get("attention_dropout", 0.0),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )
