"""Phi-1, Phi-1.5, Phi-2: HF ``model_type: phi``.

A parallel block with ONE shared LayerNorm (x + attn(ln(x)) + mlp(ln(x))), biases on every
projection and on the LM head, a plain MLP (fc1, fc2), and partial rotate-half RoPE
(``partial_rotary_factor``, default 0.5). ``qk_layernorm`` adds one LayerNorm over head_dim
shared by all heads, applied to q and k before RoPE (archsmith's ``qk_norm="head"``).
``resid_pdrop`` drops each branch output, ``embd_pdrop`` the embeddings. Defaults are those of
transformers 5.24 ``PhiConfig`` (Phi-1.5's shape).
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from .common import BASE_FIELDS, ROPE_FIELDS, read_dtype, read_rope, refuse_unless

MODEL_TYPE = "phi"

FIELDS = BASE_FIELDS | ROPE_FIELDS | frozenset(
    {
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "resid_pdrop", "embd_pdrop", "attention_dropout", "hidden_act",
        "max_position_embeddings", "initializer_range", "layer_norm_eps", "use_cache", "tie_word_embeddings",
        "qk_layernorm", "bos_token_id", "eos_token_id", "pad_token_id",
        "head_dim",  # not a PhiConfig field, but PhiAttention reads it when a file has it
    }
)  # fmt: skip


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    hidden = d.get("hidden_size", 2048)
    heads = d.get("num_attention_heads", 32)
    qk_layernorm = d.get("qk_layernorm", False)
    head_dim = d.get("head_dim")
    refuse_unless(
        not qk_layernorm or head_dim in (None, hidden // heads),
        MODEL_TYPE,
        f"qk_layernorm with head_dim={head_dim} != hidden_size/num_attention_heads (PhiAttention sizes its q/k "
        "LayerNorms by hidden_size/num_attention_heads and fails on the first forward pass)",
        "remove head_dim",
    )
    max_positions = d.get("max_position_embeddings", 2048)
    rope = read_rope(d, model_type=MODEL_TYPE, partial_rotary=True, max_position_embeddings=max_positions, default_partial=0.5)
    return ArchConfig(
        vocab_size=d.get("vocab_size", 51200),
        hidden_size=hidden,
        intermediate_size=d.get("intermediate_size", 8192),
        num_hidden_layers=d.get("num_hidden_layers", 24),
        num_attention_heads=heads,
        num_key_value_heads=d.get("num_key_value_heads"),
        head_dim=head_dim,
        max_position_embeddings=max_positions,
        qkv_bias=True,
        attn_out_bias=True,
        qk_norm="head" if qk_layernorm else "none",
        rope_theta=rope.theta,
        rope_scaling=rope.scaling,
        partial_rotary_factor=rope.partial_rotary_factor,
        norm_type="layernorm",
        norm_bias=True,
        norm_eps=d.get("layer_norm_eps", 1e-5),
        mlp_type="plain",
        mlp_bias=True,
        hidden_act=d.get("hidden_act", "gelu_new"),
        parallel_residual=True,
        parallel_shared_norm=True,
        tie_word_embeddings=d.get("tie_word_embeddings", False),
        lm_head_bias=True,
        attention_dropout=d.get("attention_dropout", 0.0),
        hidden_dropout=d.get("resid_pdrop", 0.0),
        embedding_dropout=d.get("embd_pdrop", 0.0),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )
