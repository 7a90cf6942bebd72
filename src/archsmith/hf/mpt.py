"""MPT (MosaicML MPT-7B/30B): HF ``model_type: mpt``.

Pre-LayerNorm WITHOUT bias (``MptBlock`` drops the norm biases whatever the config says),
ALiBi, a plain exact-GELU MLP of width 4 * d_model (``MptMLP`` hard-codes the 4, so
``expansion_ratio`` other than 4 would be ignored by transformers and is refused here), and
no linear biases. Its ALiBi slopes match the standard ones for power-of-two head counts only.
``attn_config.clip_qkv`` clamps the fused q/k/v output (``clip_qkv``) and ``softmax_scale``
replaces 1/sqrt(head_dim) (``attention_scale``).
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from .common import BASE_FIELDS, read_dtype, refuse_unless

MODEL_TYPE = "mpt"

FIELDS = BASE_FIELDS | frozenset(
    {
        "d_model", "n_heads", "n_layers", "expansion_ratio", "max_seq_len", "vocab_size", "resid_pdrop",
        "layer_norm_epsilon", "emb_pdrop", "learned_pos_emb", "attn_config", "init_device", "logit_scale",
        "no_bias", "embedding_fraction", "norm_type", "use_cache", "initializer_range", "tie_word_embeddings",
        "bos_token_id", "eos_token_id", "pad_token_id",
    }
)  # fmt: skip


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    attn = d.get("attn_config") or {}
    heads = d.get("n_heads", 16)
    refuse_unless(attn.get("alibi", True), MODEL_TYPE, "attn_config.alibi=false (no positions at all)", "use ALiBi")
    refuse_unless(d.get("expansion_ratio", 4) == 4, MODEL_TYPE, "expansion_ratio other than 4 (transformers ignores it)", "use 4")
    refuse_unless(not attn.get("qk_ln", False), MODEL_TYPE, "attn_config.qk_ln", "export without qk LayerNorm")
    refuse_unless(attn.get("alibi_bias_max", 8) == 8, MODEL_TYPE, "attn_config.alibi_bias_max other than 8", "use 8")
    refuse_unless(heads & (heads - 1) == 0, MODEL_TYPE, f"n_heads={heads} with ALiBi (MPT's slopes differ)", "a power of two")
    refuse_unless(d.get("no_bias", True), MODEL_TYPE, "no_bias=false", "export without linear biases")
    refuse_unless(d.get("logit_scale") is None, MODEL_TYPE, "logit_scale", "fold it into the LM head")
    refuse_unless(d.get("embedding_fraction", 1.0) == 1.0, MODEL_TYPE, "embedding_fraction", "use 1.0")
    hidden = d.get("d_model", 2048)
    return ArchConfig(
        vocab_size=d.get("vocab_size", 50368),
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=d.get("n_layers", 24),
        num_attention_heads=heads,
        max_position_embeddings=d.get("max_seq_len", 2048),
        position_embedding="alibi",
        clip_qkv=attn.get("clip_qkv") or None,  # MptAttention clips only when clip_qkv is truthy (0: no clipping)
        attention_scale=attn.get("softmax_scale"),  # ArchConfig checks both values
        norm_type="layernorm",
        norm_eps=d.get("layer_norm_epsilon", 1e-5),
        mlp_type="plain",
        hidden_act="gelu",
        tie_word_embeddings=d.get("tie_word_embeddings", True),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )
