"""GPT-2: HF ``model_type: gpt2``.

Learned positions, pre-LayerNorm with bias, biases on every projection, a plain MLP of width
``n_inner`` (null or absent: 4 * n_embd), a tied LM head, and dropout 0.1 by default. GPT-2's
own names (n_embd, n_layer, n_head, n_positions) are read, as are the standard names
transformers maps onto them (``GPT2Config.attribute_map``). Settings that change the model
but have no ArchConfig knob (cross-attention, unscaled or layer-scaled attention) are refused.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from .common import BASE_FIELDS, GPT2_NAMES, read_gpt2_name, read_dtype, refuse_unless

MODEL_TYPE = "gpt2"

FIELDS = BASE_FIELDS | frozenset(GPT2_NAMES) | frozenset(
    {
        "vocab_size",
        "n_positions",
        "n_embd",
        "n_layer",
        "n_head",
        "n_inner",
        "n_ctx",  # an old alias of n_positions that hub files still carry; transformers ignores it
        "activation_function",
        "resid_pdrop",
        "embd_pdrop",
        "attn_pdrop",
        "layer_norm_epsilon",
        "initializer_range",
        "summary_type",
        "summary_use_proj",
        "summary_activation",
        "summary_proj_to_labels",
        "summary_first_dropout",
        "scale_attn_weights",
        "use_cache",
        "bos_token_id",
        "eos_token_id",
        "pad_token_id",
        "scale_attn_by_inverse_layer_idx",
        "reorder_and_upcast_attn",  # upcasts attention to fp32: numerics only
        "add_cross_attention",
        "tie_word_embeddings",
    }
)


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    refuse_unless(not d.get("add_cross_attention", False), MODEL_TYPE, "add_cross_attention=true", "set it to false")
    refuse_unless(
        d.get("scale_attn_weights", True), MODEL_TYPE, "scale_attn_weights=false (unscaled attention)", "set it to true"
    )
    refuse_unless(
        not d.get("scale_attn_by_inverse_layer_idx", False),
        MODEL_TYPE,
        "scale_attn_by_inverse_layer_idx=true",
        "set it to false",
    )
    hidden = read_gpt2_name(d, "n_embd", 768)
    n_inner = d.get("n_inner")
    return ArchConfig(
        vocab_size=d.get("vocab_size", 50257),
        hidden_size=hidden,
        intermediate_size=n_inner if n_inner is not None else 4 * hidden,
        num_hidden_layers=read_gpt2_name(d, "n_layer", 12),
        num_attention_heads=read_gpt2_name(d, "n_head", 12),
        max_position_embeddings=read_gpt2_name(d, "n_positions", 1024),
        qkv_bias=True,
        attn_out_bias=True,
        position_embedding="learned",
        norm_type="layernorm",
        norm_bias=True,
        norm_eps=d.get("layer_norm_epsilon", 1e-5),
        mlp_type="plain",
        mlp_bias=True,
        hidden_act=d.get("activation_function", "gelu_new"),
        tie_word_embeddings=d.get("tie_word_embeddings", True),
        attention_dropout=d.get("attn_pdrop", 0.1),
        hidden_dropout=d.get("resid_pdrop", 0.1),
        embedding_dropout=d.get("embd_pdrop", 0.1),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )
