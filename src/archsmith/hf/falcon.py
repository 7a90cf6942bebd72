"""Falcon (Falcon-7B/40B/180B, Falcon-RW, Falcon2-11B): HF ``model_type: falcon``.

Pre-LayerNorm with bias, a plain MLP of ``ffn_hidden_size`` (null: 4 * hidden), one ``bias``
for every linear layer but the LM head, and q, k, v fused in one ``query_key_value``. Which
block and which attention depend on three switches of ``FalconDecoderLayer`` and
``FalconAttention``:

    new_decoder_architecture  GQA with ``num_kv_heads``, always parallel; two norms (ln_attn,
                              ln_mlp) unless ``num_ln_in_parallel_attn`` is 1 (one shared norm)
    otherwise                 ``multi_query``: one key/value head, else MHA; ``parallel_attn``:
                              a parallel block with one shared norm, else a sequential block

Positions are rotate-half RoPE over the whole head, or with ``alibi`` ALiBi whose bias is added
to q·k before the 1/sqrt(head_dim) scale (archsmith's ``alibi_before_scale``), as Falcon's
default SDPA attention computes it. Falcon applies ``hidden_dropout`` to the sum of both branches
and ``attention_dropout`` in three different places, neither as archsmith's dropouts do, so
nonzero values (no released Falcon has any) are refused. Defaults are those of transformers
5.24 ``FalconConfig`` (Falcon-7B).
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from .common import BASE_FIELDS, ROPE_FIELDS, read_dtype, read_rope, refuse_unless

MODEL_TYPE = "falcon"

FIELDS = BASE_FIELDS | ROPE_FIELDS | frozenset(
    {
        "vocab_size", "hidden_size", "n_embed", "num_hidden_layers", "num_attention_heads", "num_ln_in_parallel_attn",
        "layer_norm_epsilon", "initializer_range", "use_cache", "hidden_dropout", "attention_dropout", "num_kv_heads",
        "alibi", "new_decoder_architecture", "multi_query", "parallel_attn", "bias", "max_position_embeddings",
        "bos_token_id", "eos_token_id", "pad_token_id", "ffn_hidden_size", "activation", "tie_word_embeddings",
        "apply_residual_connection_post_layernorm",  # a RefinedWeb-era key that FalconDecoderLayer never reads
    }
)  # fmt: skip


def _attention_and_block(d: dict[str, Any], heads: int) -> tuple[int, bool, bool]:
    """(key/value heads, parallel residual, one shared norm) as FalconAttention/FalconDecoderLayer build them."""
    num_kv = d.get("num_kv_heads")
    num_kv = heads if num_kv is None else num_kv
    parallel = bool(d.get("parallel_attn", True))  # the class tests these switches for truth: null is false
    norms = d.get("num_ln_in_parallel_attn")
    if d.get("new_decoder_architecture"):
        refuse_unless(
            parallel,
            MODEL_TYPE,
            "new_decoder_architecture with parallel_attn=false (FalconDecoderLayer then builds norms its forward "
            "does not use and fails)",
            "parallel_attn=true",
        )
        refuse_unless(
            norms in (None, 1, 2),
            MODEL_TYPE,
            f"num_ln_in_parallel_attn={norms} (FalconDecoderLayer handles only 1 or 2 and fails otherwise)",
            "num_ln_in_parallel_attn=1 (one shared norm) or 2 (ln_attn and ln_mlp)",
        )
        return num_kv, True, norms == 1
    refuse_unless(
        not (parallel and norms == 2),
        MODEL_TYPE,
        "num_ln_in_parallel_attn=2 without new_decoder_architecture (FalconDecoderLayer then builds ln_attn/ln_mlp "
        "but its forward uses input_layernorm, and fails)",
        "num_ln_in_parallel_attn=null, or new_decoder_architecture=true",
    )
    if d.get("multi_query", True):
        return 1, parallel, parallel
    refuse_unless(
        num_kv == heads,
        MODEL_TYPE,
        f"num_kv_heads={num_kv} != num_attention_heads={heads} without multi_query or new_decoder_architecture "
        "(FalconAttention then fuses MHA weights and fails to reshape them)",
        "remove num_kv_heads, or set new_decoder_architecture=true for GQA",
    )
    return heads, parallel, parallel


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    for key in ("hidden_dropout", "attention_dropout"):
        refuse_unless(
            not d.get(key),
            MODEL_TYPE,
            f"{key}={d.get(key)} (Falcon drops the sum of both branches and the attention weights only in some "
            "paths, which archsmith's dropouts do not express)",
            f"{key}=0.0, as in every released Falcon (dropout only matters in training)",
        )
    hidden = d.get("n_embed") if d.get("n_embed") is not None else d.get("hidden_size", 4544)
    heads = d.get("num_attention_heads", 71)
    kv_heads, parallel, shared_norm = _attention_and_block(d, heads)
    max_positions = d.get("max_position_embeddings", 2048)
    alibi = bool(d.get("alibi"))
    positions: dict[str, Any] = {"position_embedding": "alibi", "alibi_before_scale": True}
    if not alibi:  # FalconRotaryEmbedding is built with ALiBi too, but never used
        rope = read_rope(d, model_type=MODEL_TYPE, partial_rotary=False, max_position_embeddings=max_positions)
        positions = {"rope_theta": rope.theta, "rope_scaling": rope.scaling}
    ffn = d.get("ffn_hidden_size")
    bias = bool(d.get("bias"))
    return ArchConfig(
        vocab_size=d.get("vocab_size", 65024),
        hidden_size=hidden,
        intermediate_size=ffn if ffn is not None else 4 * hidden,
        num_hidden_layers=d.get("num_hidden_layers", 32),
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions,
        qkv_bias=bias,
        attn_out_bias=bias,
        mlp_bias=bias,
        **positions,
        norm_type="layernorm",
        norm_bias=True,
        norm_eps=d.get("layer_norm_epsilon", 1e-5),
        mlp_type="plain",
        hidden_act=d.get("activation", "gelu"),
        parallel_residual=parallel,
        parallel_shared_norm=shared_norm,
        tie_word_embeddings=d.get("tie_word_embeddings", True),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )
