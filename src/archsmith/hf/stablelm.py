"""StableLM (StableLM-2, StableLM-3B-4E1T): HF ``model_type: stablelm``.

Pre-LayerNorm with bias, SwiGLU without biases, partial RoPE (``partial_rotary_factor``,
default 0.25), optional q/k/v bias (``use_qkv_bias``; never on o), and optionally a
parallel residual that shares ONE norm between attention and MLP. Its ``qk_layernorm``
(StableLM-2-12B) is a separate bias-free LayerNorm per head (``qk_norm="per_head"``). Its
``hidden_dropout`` drops only the MLP output, which archsmith cannot express: refused when set.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from .common import BASE_FIELDS, ROPE_FIELDS, read_dtype, read_rope, refuse_unless

MODEL_TYPE = "stablelm"

FIELDS = BASE_FIELDS | ROPE_FIELDS | frozenset(
    {
        "vocab_size", "intermediate_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "hidden_act", "max_position_embeddings", "initializer_range", "layer_norm_eps",
        "use_cache", "tie_word_embeddings", "use_qkv_bias", "qk_layernorm", "use_parallel_residual",
        "hidden_dropout", "attention_dropout", "bos_token_id", "eos_token_id", "pad_token_id",
    }
)  # fmt: skip


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    refuse_unless(
        d.get("hidden_dropout", 0.0) == 0.0, MODEL_TYPE, "hidden_dropout (it drops only the MLP output)", "set hidden_dropout to 0"
    )
    max_positions = d.get("max_position_embeddings", 4096)
    rope = read_rope(d, model_type=MODEL_TYPE, partial_rotary=True, max_position_embeddings=max_positions, default_partial=0.25)
    parallel = d.get("use_parallel_residual", False)
    return ArchConfig(
        vocab_size=d.get("vocab_size", 50304),
        hidden_size=d.get("hidden_size", 2560),
        intermediate_size=d.get("intermediate_size", 6912),
        num_hidden_layers=d.get("num_hidden_layers", 32),
        num_attention_heads=d.get("num_attention_heads", 32),
        num_key_value_heads=d.get("num_key_value_heads"),
        max_position_embeddings=max_positions,
        qkv_bias=d.get("use_qkv_bias", False),
        qk_norm="per_head" if d.get("qk_layernorm", False) else "none",
        rope_theta=rope.theta,
        rope_scaling=rope.scaling,
        partial_rotary_factor=rope.partial_rotary_factor,
        norm_type="layernorm",
        norm_bias=True,
        norm_eps=d.get("layer_norm_eps", 1e-5),
        mlp_type="gated",
        hidden_act=d.get("hidden_act", "silu"),
        parallel_residual=parallel,
        parallel_shared_norm=parallel,
        tie_word_embeddings=d.get("tie_word_embeddings", False),
        attention_dropout=d.get("attention_dropout", 0.0),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )
