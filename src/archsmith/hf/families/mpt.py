"""MPT (MosaicML MPT-7B/30B): HF ``model_type: mpt``.

Pre-LayerNorm WITHOUT bias (``MptBlock`` drops the norm biases whatever the config says),
ALiBi, a plain exact-GELU MLP of width 4 * d_model (``MptMLP`` hard-codes the 4, so
``expansion_ratio`` other than 4 would be ignored by transformers and is refused here), and
no linear biases. Its ALiBi slopes match the standard ones for power-of-two head counts only.
"""

from typing import Any

from ...config import ArchConfig
from ..common import refuse_unless
from ..family import LAYERNORM, Family, Layout, four_times_hidden, implicit_head_dim, mha_only


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    attn = d.get("attn_config") or {}
    heads = read["num_attention_heads"]
    refuse_unless(attn.get("alibi", True), "mpt", "attn_config.alibi=false (no positions at all)", "use ALiBi")
    refuse_unless(d.get("expansion_ratio", 4) == 4, "mpt", "expansion_ratio other than 4 (transformers ignores it)", "use 4")
    refuse_unless(not attn.get("qk_ln", False), "mpt", "attn_config.qk_ln", "export without qk LayerNorm")
    refuse_unless(attn.get("clip_qkv") is None, "mpt", "attn_config.clip_qkv", "export without clipping")
    refuse_unless(attn.get("softmax_scale") is None, "mpt", "attn_config.softmax_scale", "use the default 1/sqrt(head_dim)")
    refuse_unless(attn.get("alibi_bias_max", 8) == 8, "mpt", "attn_config.alibi_bias_max other than 8", "use 8")
    refuse_unless(heads & (heads - 1) == 0, "mpt", f"n_heads={heads} with ALiBi (MPT's slopes differ)", "a power of two")
    refuse_unless(d.get("no_bias", True), "mpt", "no_bias=false", "export without linear biases")
    refuse_unless(d.get("logit_scale") is None, "mpt", "logit_scale", "fold it into the LM head")
    refuse_unless(d.get("embedding_fraction", 1.0) == 1.0, "mpt", "embedding_fraction", "use 1.0")
    return {"intermediate_size": 4 * read["hidden_size"]}


def _write(cfg: ArchConfig) -> dict[str, Any]:
    return {
        "expansion_ratio": cfg.intermediate_size // cfg.hidden_size,
        "resid_pdrop": 0.0,
        "emb_pdrop": 0.0,
        "learned_pos_emb": False,
        "attn_config": {
            "alibi": True,
            "alibi_bias_max": 8,
            "attn_pdrop": 0,  # MptAttentionConfig types it as an int, so only 0 loads
            "attn_type": "multihead_attention",
            "clip_qkv": None,
            "prefix_lm": False,
            "qk_ln": False,
            "softmax_scale": None,
        },
        "no_bias": True,
        "norm_type": "low_precision_layernorm",
        "logit_scale": None,
        "embedding_fraction": 1.0,
    }


def _power_of_two_heads(cfg: ArchConfig) -> list[str]:
    n = cfg.num_attention_heads
    if n & (n - 1):
        return [f"num_attention_heads={n} with ALiBi (its slopes match the standard ones only for a power of two)"]
    return []


FAMILY = Family(
    model_type="mpt",
    architecture="MptForCausalLM",
    keys={
        "vocab_size": ("vocab_size", 50368),
        "d_model": ("hidden_size", 2048),
        "n_layers": ("num_hidden_layers", 24),
        "n_heads": ("num_attention_heads", 16),
        "max_seq_len": ("max_position_embeddings", 2048),
        "layer_norm_epsilon": ("norm_eps", 1e-5),
        "initializer_range": ("initializer_range", 0.02),
        "tie_word_embeddings": ("tie_word_embeddings", True),
    },
    facts={
        **LAYERNORM,
        "norm_bias": False,
        "attention_dropout": 0.0,
        "position_embedding": "alibi",
        "mlp_type": "plain",
        "hidden_act": "gelu",
        "qkv_bias": False,
        "attn_out_bias": False,
        "mlp_bias": False,
    },
    layout=Layout(
        {"embed_tokens": "transformer.wte", "norm": "transformer.norm_f", "lm_head": "lm_head"},
        "transformer.blocks.{i}.",
        {
            "attn.q_proj": ("attn.Wqkv", 0),
            "attn.k_proj": ("attn.Wqkv", 1),
            "attn.v_proj": ("attn.Wqkv", 2),
            "attn.o_proj": "attn.out_proj",
            "attn_norm": "norm_1",
            "mlp_norm": "norm_2",
            "mlp.up_proj": "ffn.up_proj",
            "mlp.down_proj": "ffn.down_proj",
        },
    ),
    export_rank=140,
    other_keys=frozenset(
        {
            "expansion_ratio", "resid_pdrop", "emb_pdrop", "learned_pos_emb", "attn_config", "init_device",
            "logit_scale", "no_bias", "embedding_fraction", "norm_type", "use_cache", "bos_token_id",
            "eos_token_id", "pad_token_id",
        }
    ),  # fmt: skip
    read_extra=_read,
    write_extra=_write,
    checks=(implicit_head_dim, mha_only, four_times_hidden, _power_of_two_heads),
)
