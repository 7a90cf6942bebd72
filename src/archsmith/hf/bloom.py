"""BLOOM: HF ``model_type: bloom``.

ALiBi instead of position embeddings, a LayerNorm right after the token embedding, LayerNorm
with bias, biases on every projection, a plain MLP of fixed width 4 * hidden_size (BLOOM has
no intermediate-size field; transformers ignores an ``n_inner`` key), and a tied LM head.
The MLP's GELU is Megatron's tanh approximation, the formula of ``gelu_new``.
``apply_residual_connection_post_layernorm`` makes the normed input the residual of each
branch (archsmith's ``normed_residual`` scheme).
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from .common import BASE_FIELDS, read_dtype, refuse_unless

MODEL_TYPE = "bloom"

# BLOOM has no position limit (ALiBi extrapolates); ArchConfig needs one for its estimates,
# so we record the length BLOOM was trained on, unless the file names one (archsmith's
# exports do, as an extra attribute that transformers keeps).
TRAINING_CONTEXT = 2048

ATTRIBUTE_MAP = {"num_hidden_layers": "n_layer", "num_attention_heads": "n_head"}

FIELDS = BASE_FIELDS | frozenset(ATTRIBUTE_MAP) | frozenset(
    {
        "vocab_size",
        "hidden_size",
        "n_embed",  # the old name of hidden_size, still read by BloomConfig
        "n_layer",
        "n_head",
        "n_inner",  # not a BloomConfig field, but hub files carry it (null); refused unless 4 * hidden_size
        "max_position_embeddings",  # not a BloomConfig field either: archsmith's exports write it
        "layer_norm_epsilon",
        "initializer_range",
        "use_cache",
        "bos_token_id",
        "eos_token_id",
        "pad_token_id",
        "apply_residual_connection_post_layernorm",
        "hidden_dropout",
        "attention_dropout",
        "pretraining_tp",  # Megatron's tensor-parallel split at training time: numerics only
        "slow_but_exact",  # same
        "tie_word_embeddings",
    }
)


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    hidden = d.get("n_embed") if d.get("n_embed") is not None else d.get("hidden_size", 64)
    n_inner = d.get("n_inner")
    refuse_unless(
        n_inner is None or n_inner == 4 * hidden,
        MODEL_TYPE,
        f"n_inner={n_inner} (BLOOM's MLP is always 4 * hidden_size = {4 * hidden}, transformers ignores n_inner)",
        "remove n_inner",
    )
    return ArchConfig(
        vocab_size=d.get("vocab_size", 250880),
        hidden_size=hidden,
        intermediate_size=4 * hidden,
        num_hidden_layers=d.get("n_layer", d.get("num_hidden_layers", 2)),
        num_attention_heads=d.get("n_head", d.get("num_attention_heads", 8)),
        max_position_embeddings=d.get("max_position_embeddings", TRAINING_CONTEXT),
        qkv_bias=True,
        attn_out_bias=True,
        position_embedding="alibi",
        norm_type="layernorm",
        norm_bias=True,
        norm_eps=d.get("layer_norm_epsilon", 1e-5),
        mlp_type="plain",
        mlp_bias=True,
        hidden_act="gelu_new",
        embedding_norm=True,
        # true: the normed input, not the input, is the residual of each branch
        norm_scheme="normed_residual" if d.get("apply_residual_connection_post_layernorm", False) else "pre",
        tie_word_embeddings=d.get("tie_word_embeddings", True),
        attention_dropout=d.get("attention_dropout", 0.0),
        hidden_dropout=d.get("hidden_dropout", 0.0),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )
