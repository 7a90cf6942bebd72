"""OPT (Meta OPT-125m ... 66b): HF ``model_type: opt``.

LayerNorm (eps fixed at 1e-5; ``layer_norm_elementwise_affine`` gives weight AND bias),
learned positions whose table has 2 extra rows in front (``position_offset=2``: position p
is row p + 2, as in ``OPTLearnedPositionalEmbedding``), a plain MLP, and one ``enable_bias`` for every linear layer.
``do_layer_norm_before=false`` (OPT-350m) is a post-norm block without a final norm, and so is
a pre-norm block with ``_remove_final_layer_norm``. ``word_embed_proj_dim`` below hidden_size
(OPT-350m: 512 of 1024) is a narrower token embedding with project_in/project_out around the
layers.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from .common import BASE_FIELDS, read_dtype

MODEL_TYPE = "opt"

FIELDS = BASE_FIELDS | frozenset(
    {
        "vocab_size", "hidden_size", "num_hidden_layers", "ffn_dim", "max_position_embeddings",
        "do_layer_norm_before", "_remove_final_layer_norm", "word_embed_proj_dim", "dropout",
        "attention_dropout", "num_attention_heads", "activation_function", "layerdrop", "init_std",
        "use_cache", "pad_token_id", "bos_token_id", "eos_token_id", "enable_bias",
        "layer_norm_elementwise_affine", "tie_word_embeddings",
    }
)  # fmt: skip


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    hidden = d.get("hidden_size", 768)
    pre = d.get("do_layer_norm_before", True)
    affine = d.get("layer_norm_elementwise_affine", True)
    bias = d.get("enable_bias", True)
    return ArchConfig(
        vocab_size=d.get("vocab_size", 50272),
        hidden_size=hidden,
        word_embed_proj_dim=d.get("word_embed_proj_dim"),  # null or hidden_size: no projections
        intermediate_size=d.get("ffn_dim", 3072),
        num_hidden_layers=d.get("num_hidden_layers", 12),
        num_attention_heads=d.get("num_attention_heads", 12),
        max_position_embeddings=d.get("max_position_embeddings", 2048),
        qkv_bias=bias,
        attn_out_bias=bias,
        mlp_bias=bias,
        position_embedding="learned",
        position_offset=2,
        norm_type="layernorm",
        norm_eps=1e-5,
        norm_weight=affine,
        norm_bias=affine,
        norm_scheme="pre" if pre else "post",
        final_norm=pre and not d.get("_remove_final_layer_norm", False),
        mlp_type="plain",
        hidden_act=d.get("activation_function", "relu"),
        tie_word_embeddings=d.get("tie_word_embeddings", True),
        attention_dropout=d.get("attention_dropout", 0.0),
        hidden_dropout=d.get("dropout", 0.1),
        initializer_range=d.get("init_std", 0.02),
        torch_dtype=read_dtype(d),
    )
