"""Qwen3-MoE: HF ``model_type: qwen3_moe``. Qwen3 (per-head qk RMSNorm) with Qwen2-MoE's
sparse layers and without its shared expert.

transformers 5 saves the expert count as ``num_local_experts`` (``Qwen3MoeConfig.attribute_map``
maps num_experts onto it); published 4.x files say ``num_experts``. ``head_dim`` defaults to
hidden/heads here (``Qwen3MoeConfig`` has no head_dim field, so
only a file that gives one sets it; Qwen3-30B-A3B does: 128 with hidden 2048 and 32 heads).
The sliding window, with ``use_sliding_window``, applies to every layer.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from .common import BASE_FIELDS, ROPE_FIELDS, read_aliased, read_dtype, read_rope
from .qwen2_moe import QWEN_MOE_FIELDS, qwen_moe_fields

MODEL_TYPE = "qwen3_moe"

FIELDS = BASE_FIELDS | ROPE_FIELDS | QWEN_MOE_FIELDS | frozenset(
    {
        "vocab_size",
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "head_dim",
        "num_local_experts",  # transformers 5's name of num_experts
        "hidden_act",
        "max_position_embeddings",
        "initializer_range",
        "rms_norm_eps",
        "use_cache",
        "tie_word_embeddings",
        "attention_bias",
        "use_sliding_window",
        "sliding_window",
        "max_window_layers",  # in published files, but no Qwen3MoeConfig field: it changes nothing
        "attention_dropout",
        "pad_token_id",
        "bos_token_id",
        "eos_token_id",
    }
)


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    max_positions = d.get("max_position_embeddings", 32768)
    rope = read_rope(d, model_type=MODEL_TYPE, partial_rotary=False, max_position_embeddings=max_positions)
    attention_bias = d.get("attention_bias", False)
    num_experts = read_aliased(d, "num_experts", "num_local_experts", 128)
    moe = qwen_moe_fields(d, {"num_experts_per_tok": 8, "moe_intermediate_size": 768}, num_experts)
    return ArchConfig(
        vocab_size=d.get("vocab_size", 151936),
        hidden_size=d.get("hidden_size", 2048),
        intermediate_size=d.get("intermediate_size", 6144),
        num_hidden_layers=d.get("num_hidden_layers", 24),
        num_attention_heads=d.get("num_attention_heads", 32),
        num_key_value_heads=d.get("num_key_value_heads", 4),
        head_dim=d.get("head_dim"),
        max_position_embeddings=max_positions,
        qkv_bias=attention_bias,
        attn_out_bias=attention_bias,
        qk_norm="head",
        sliding_window=d.get("sliding_window", 4096) if d.get("use_sliding_window", False) else None,
        rope_theta=rope.theta,
        rope_scaling=rope.scaling,
        partial_rotary_factor=rope.partial_rotary_factor,
        norm_type="rmsnorm",
        norm_eps=d.get("rms_norm_eps", 1e-6),
        mlp_type="gated",
        hidden_act=d.get("hidden_act", "silu"),
        **moe,
        tie_word_embeddings=d.get("tie_word_embeddings", False),
        attention_dropout=d.get("attention_dropout", 0.0),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )
