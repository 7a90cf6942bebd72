"""GPTBigCode (SantaCoder, StarCoder 1): HF ``model_type: gpt_bigcode``.

GPT-2's block (pre-LayerNorm with bias, learned positions, biases everywhere, a plain MLP of
``n_inner`` or 4 * hidden) with multi-query attention: ``multi_query`` (default true) gives
one key/value head, otherwise MHA. The ``num_key_value_heads`` that transformers writes into
saved files is derived from ``multi_query`` and read by nothing, so it is ignored here too, as
are ``attention_softmax_in_fp32`` and ``scale_attention_softmax_in_fp32`` (stored, never
used by the 5.x attention). Defaults are those of transformers 5.24 ``GPTBigCodeConfig``.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from .common import BASE_FIELDS, GPT2_NAMES, read_dtype, read_gpt2_name, refuse_unless

MODEL_TYPE = "gpt_bigcode"

FIELDS = BASE_FIELDS | frozenset(GPT2_NAMES) | frozenset(
    {
        "vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "n_inner", "activation_function",
        "resid_pdrop", "embd_pdrop", "attn_pdrop", "layer_norm_epsilon", "initializer_range",
        "scale_attn_weights", "use_cache", "bos_token_id", "eos_token_id", "pad_token_id",
        "attention_softmax_in_fp32", "scale_attention_softmax_in_fp32", "multi_query", "add_cross_attention",
        "tie_word_embeddings", "num_key_value_heads", "n_ctx",
    }
)  # fmt: skip


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    refuse_unless(not d.get("add_cross_attention", False), MODEL_TYPE, "add_cross_attention=true", "set it to false")
    refuse_unless(
        d.get("scale_attn_weights", True), MODEL_TYPE, "scale_attn_weights=false (unscaled attention)", "set it to true"
    )
    hidden = read_gpt2_name(d, "n_embd", 768)
    heads = read_gpt2_name(d, "n_head", 12)
    n_inner = d.get("n_inner")
    return ArchConfig(
        vocab_size=d.get("vocab_size", 50257),
        hidden_size=hidden,
        intermediate_size=n_inner if n_inner is not None else 4 * hidden,
        num_hidden_layers=read_gpt2_name(d, "n_layer", 12),
        num_attention_heads=heads,
        num_key_value_heads=1 if d.get("multi_query", True) else heads,
        max_position_embeddings=read_gpt2_name(d, "n_positions", 1024),
        qkv_bias=True,
        attn_out_bias=True,
        position_embedding="learned",
        norm_type="layernorm",
        norm_bias=True,
        norm_eps=d.get("layer_norm_epsilon", 1e-5),
        mlp_type="plain",
        mlp_bias=True,
        hidden_act=d.get("activation_function", "gelu_pytorch_tanh"),
        tie_word_embeddings=d.get("tie_word_embeddings", True),
        attention_dropout=d.get("attn_pdrop", 0.1),
        hidden_dropout=d.get("resid_pdrop", 0.1),
        embedding_dropout=d.get("embd_pdrop", 0.1),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )
