"""GPT-2: HF ``model_type: gpt2``.

Learned positions, pre-LayerNorm with bias, biases on every projection, a plain MLP of width
``n_inner`` (null or absent: 4 * n_embd), a tied LM head, and dropout 0.1 by default. GPT-2's
own names (n_embd, n_layer, n_head, n_positions) are read, as are the standard names
transformers maps onto them (``GPT2Config.attribute_map``). ``scale_attn_weights=false``
(unscaled scores) is ``attention_scale=1``; ``scale_attn_by_inverse_layer_idx`` has its own
knob. Cross-attention has no ArchConfig knob and is refused.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from ..errors import ConfigError
from .common import BASE_FIELDS, read_dtype, refuse_unless

MODEL_TYPE = "gpt2"

# GPT2Config.attribute_map: standard name -> GPT-2 name.
ATTRIBUTE_MAP = {
    "hidden_size": "n_embd",
    "max_position_embeddings": "n_positions",
    "num_attention_heads": "n_head",
    "num_hidden_layers": "n_layer",
}

FIELDS = BASE_FIELDS | frozenset(ATTRIBUTE_MAP) | frozenset(
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
        "reorder_and_upcast_attn",  # scores in fp32 with the scale folded into the matmul: numerics only
        "add_cross_attention",
        "tie_word_embeddings",
    }
)


def _get(d: dict[str, Any], gpt2_name: str, default: Any) -> Any:
    """A GPT-2 field given under its own name or its standard alias (not both, unless equal)."""
    alias = next(std for std, own in ATTRIBUTE_MAP.items() if own == gpt2_name)
    if gpt2_name in d and alias in d and d[gpt2_name] != d[alias]:
        raise ConfigError(
            f"{gpt2_name}={d[gpt2_name]} and its alias {alias}={d[alias]} disagree; fix: keep one of them"
        )
    return d.get(gpt2_name, d.get(alias, default))


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    refuse_unless(not d.get("add_cross_attention", False), MODEL_TYPE, "add_cross_attention=true", "set it to false")
    hidden = _get(d, "n_embd", 768)
    n_inner = d.get("n_inner")
    return ArchConfig(
        vocab_size=d.get("vocab_size", 50257),
        hidden_size=hidden,
        intermediate_size=n_inner if n_inner is not None else 4 * hidden,
        num_hidden_layers=_get(d, "n_layer", 12),
        num_attention_heads=_get(d, "n_head", 12),
        max_position_embeddings=_get(d, "n_positions", 1024),
        qkv_bias=True,
        attn_out_bias=True,
        attention_scale=None if d.get("scale_attn_weights", True) else 1.0,
        scale_attn_by_inverse_layer_idx=d.get("scale_attn_by_inverse_layer_idx", False),
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
