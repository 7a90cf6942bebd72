"""OLMo (OLMo-1B/7B, 0424, 0724): HF ``model_type: olmo``.

A Llama block with two differences: every norm is a LayerNorm WITHOUT weight or bias
(``OlmoLayerNorm``: eps fixed at 1e-5, computed in float32), and ``clip_qkv`` clamps q, k and
v right after their projections. One ``attention_bias`` covers q/k/v and o.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from .common import BASE_FIELDS, ROPE_FIELDS, read_dtype, read_rope

MODEL_TYPE = "olmo"

FIELDS = BASE_FIELDS | ROPE_FIELDS | frozenset(
    {
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "head_dim",  # not an OlmoConfig field, but OlmoAttention reads it when a file has it
        "hidden_act", "max_position_embeddings", "initializer_range", "use_cache", "pad_token_id", "bos_token_id",
        "eos_token_id", "tie_word_embeddings", "attention_bias", "attention_dropout", "clip_qkv",
    }
)  # fmt: skip


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    max_positions = d.get("max_position_embeddings", 2048)
    rope = read_rope(d, model_type=MODEL_TYPE, partial_rotary=False, max_position_embeddings=max_positions)
    attention_bias = d.get("attention_bias", False)
    return ArchConfig(
        vocab_size=d.get("vocab_size", 50304),
        hidden_size=d.get("hidden_size", 4096),
        intermediate_size=d.get("intermediate_size", 11008),
        num_hidden_layers=d.get("num_hidden_layers", 32),
        num_attention_heads=d.get("num_attention_heads", 32),
        num_key_value_heads=d.get("num_key_value_heads"),
        head_dim=d.get("head_dim"),
        max_position_embeddings=max_positions,
        qkv_bias=attention_bias,
        attn_out_bias=attention_bias,
        clip_qkv=d.get("clip_qkv"),
        rope_theta=rope.theta,
        rope_scaling=rope.scaling,
        partial_rotary_factor=rope.partial_rotary_factor,
        norm_type="layernorm",
        norm_eps=1e-5,
        norm_weight=False,
        norm_weight_in_fp32=True,
        mlp_type="gated",
        hidden_act=d.get("hidden_act", "silu"),
        tie_word_embeddings=d.get("tie_word_embeddings", False),
        attention_dropout=d.get("attention_dropout", 0.0),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )
