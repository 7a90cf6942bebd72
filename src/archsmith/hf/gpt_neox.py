"""GPT-NeoX (Pythia, GPT-NeoX-20B): HF ``model_type: gpt_neox``.

LayerNorm with bias, a plain GELU MLP with biases, and by default a parallel residual
(x + attn(ln1(x)) + mlp(ln2(x)), two norms). RoPE rotates only ``rotary_pct`` (default 0.25)
of each head, with base ``rotary_emb_base``: ``GPTNeoXConfig`` reads these two old names, not
``rope_theta``/``partial_rotary_factor``, at the top level. ``attention_bias`` (default true)
covers both the fused qkv and the output projection.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from ..errors import ConfigError
from .common import BASE_FIELDS, ROPE_FIELDS, read_dtype, read_rope, refuse_unless

MODEL_TYPE = "gpt_neox"

FIELDS = BASE_FIELDS | ROPE_FIELDS | frozenset(
    {
        "vocab_size",
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "hidden_act",
        "attention_dropout",
        "hidden_dropout",
        "classifier_dropout",
        "max_position_embeddings",
        "initializer_range",
        "layer_norm_eps",
        "use_cache",
        "bos_token_id",
        "eos_token_id",
        "pad_token_id",
        "tie_word_embeddings",
        "use_parallel_residual",
        "attention_bias",
        "is_decoder",
        "rotary_pct",
        "rotary_emb_base",
        "head_dim",
    }
)


def _refuse_ignored_rope_keys(d: dict[str, Any]) -> None:
    """A top-level rope_theta/partial_rotary_factor is ignored by GPTNeoXConfig; say so rather than guess."""
    for key, neox_key in (("rope_theta", "rotary_emb_base"), ("partial_rotary_factor", "rotary_pct")):
        if key in d:
            raise ConfigError(
                f"{key}: gpt_neox reads {neox_key} (or rope_parameters.{key}), and transformers ignores a "
                f"top-level {key}; fix: rename {key} to {neox_key}"
            )


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    _refuse_ignored_rope_keys(d)
    hidden = d.get("hidden_size", 6144)
    heads = d.get("num_attention_heads", 64)
    # The attention always splits hidden_size evenly; only the rotary embedding would read head_dim.
    refuse_unless(
        d.get("head_dim") in (None, hidden // heads),
        MODEL_TYPE,
        f"head_dim={d.get('head_dim')} != hidden_size/num_attention_heads",
        "remove head_dim (GPTNeoXAttention always uses hidden_size // num_attention_heads)",
    )
    max_positions = d.get("max_position_embeddings", 2048)
    rope = read_rope(
        d,
        model_type=MODEL_TYPE,
        partial_rotary=True,
        max_position_embeddings=max_positions,
        theta_key="rotary_emb_base",
        partial_key="rotary_pct",
        default_partial=0.25,
    )
    attention_bias = d.get("attention_bias", True)
    return ArchConfig(
        vocab_size=d.get("vocab_size", 50432),
        hidden_size=hidden,
        intermediate_size=d.get("intermediate_size", 24576),
        num_hidden_layers=d.get("num_hidden_layers", 44),
        num_attention_heads=heads,
        max_position_embeddings=max_positions,
        qkv_bias=attention_bias,
        attn_out_bias=attention_bias,
        rope_theta=rope.theta,
        rope_scaling=rope.scaling,
        partial_rotary_factor=rope.partial_rotary_factor,
        norm_type="layernorm",
        norm_bias=True,
        norm_eps=d.get("layer_norm_eps", 1e-5),
        mlp_type="plain",
        mlp_bias=True,
        hidden_act=d.get("hidden_act", "gelu"),
        parallel_residual=d.get("use_parallel_residual", True),
        tie_word_embeddings=d.get("tie_word_embeddings", False),
        attention_dropout=d.get("attention_dropout", 0.0),
        hidden_dropout=d.get("hidden_dropout", 0.0),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )
