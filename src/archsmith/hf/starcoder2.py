"""StarCoder2: HF ``model_type: starcoder2``.

Llama's layout with GPT-2's parts: pre-LayerNorm with bias (``norm_epsilon``), a plain MLP
(c_fc, c_proj), GQA, rotate-half RoPE over the whole head, and one ``use_bias`` (default
true) for every linear layer but the LM head. ``sliding_window`` (default null) applies to
every layer; ``residual_dropout`` drops each branch output, ``embedding_dropout`` the
embeddings. Defaults are those of transformers 5.24 ``Starcoder2Config`` (StarCoder2-7B).
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from .common import BASE_FIELDS, ROPE_FIELDS, read_dtype, read_rope

MODEL_TYPE = "starcoder2"

FIELDS = BASE_FIELDS | ROPE_FIELDS | frozenset(
    {
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "hidden_act", "max_position_embeddings", "initializer_range", "norm_epsilon",
        "use_cache", "bos_token_id", "eos_token_id", "pad_token_id", "sliding_window", "attention_dropout",
        "residual_dropout", "embedding_dropout", "use_bias", "tie_word_embeddings",
        "head_dim",  # not a Starcoder2Config field, but Starcoder2Attention reads it when a file has it
    }
)  # fmt: skip


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    max_positions = d.get("max_position_embeddings", 4096)
    rope = read_rope(d, model_type=MODEL_TYPE, partial_rotary=False, max_position_embeddings=max_positions)
    bias = d.get("use_bias", True)
    return ArchConfig(
        vocab_size=d.get("vocab_size", 49152),
        hidden_size=d.get("hidden_size", 3072),
        intermediate_size=d.get("intermediate_size", 12288),
        num_hidden_layers=d.get("num_hidden_layers", 30),
        num_attention_heads=d.get("num_attention_heads", 24),
        num_key_value_heads=d.get("num_key_value_heads", 2),
        head_dim=d.get("head_dim"),
        max_position_embeddings=max_positions,
        qkv_bias=bias,
        attn_out_bias=bias,
        mlp_bias=bias,
        sliding_window=d.get("sliding_window"),
        rope_theta=rope.theta,
        rope_scaling=rope.scaling,
        partial_rotary_factor=rope.partial_rotary_factor,
        norm_type="layernorm",
        norm_bias=True,
        norm_eps=d.get("norm_epsilon", 1e-5),
        mlp_type="plain",
        hidden_act=d.get("hidden_act", "gelu_pytorch_tanh"),
        tie_word_embeddings=d.get("tie_word_embeddings", True),
        attention_dropout=d.get("attention_dropout", 0.0),
        hidden_dropout=d.get("residual_dropout", 0.0),
        embedding_dropout=d.get("embedding_dropout", 0.0),
        initializer_range=d.get("initializer_range", 0.018042),
        torch_dtype=read_dtype(d),
    )
