"""BLOOM: HF ``model_type: bloom``.

ALiBi instead of position embeddings, a LayerNorm right after the token embedding, LayerNorm
with bias, biases on every projection, a plain MLP of fixed width 4 * hidden_size (BLOOM has
no intermediate-size field; transformers ignores an ``n_inner`` key), and a tied LM head.
The MLP's GELU is Megatron's tanh approximation, the formula of ``gelu_new``.

BLOOM has no position limit (ALiBi extrapolates); ArchConfig needs one for its estimates, so
we record the length BLOOM was trained on (2048), unless the file names one (archsmith's
exports do, as an extra attribute that transformers keeps).
"""

from typing import Any

from ..common import refuse_unless
from ..family import LAYERNORM, Family, Layout, four_times_hidden, implicit_head_dim, mha_only


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    refuse_unless(
        not d.get("apply_residual_connection_post_layernorm", False),
        "bloom",
        "apply_residual_connection_post_layernorm=true (the normed input as the residual)",
        "set it to false, as in every released BLOOM",
    )
    hidden = d["n_embed"] if d.get("n_embed") is not None else read["hidden_size"]  # BloomConfig's old name wins
    n_inner = d.get("n_inner")
    refuse_unless(
        n_inner is None or n_inner == 4 * hidden,
        "bloom",
        f"n_inner={n_inner} (BLOOM's MLP is always 4 * hidden_size = {4 * hidden}, transformers ignores n_inner)",
        "remove n_inner",
    )
    return {"hidden_size": hidden, "intermediate_size": 4 * hidden}


FAMILY = Family(
    model_type="bloom",
    architecture="BloomForCausalLM",
    keys={
        "vocab_size": ("vocab_size", 250880),
        "hidden_size": ("hidden_size", 64),
        "n_layer": ("num_hidden_layers", 2),
        "n_head": ("num_attention_heads", 8),
        "max_position_embeddings": ("max_position_embeddings", 2048),  # not a BloomConfig field: see above
        "layer_norm_epsilon": ("norm_eps", 1e-5),
        "attention_dropout": ("attention_dropout", 0.0),
        "hidden_dropout": ("hidden_dropout", 0.0),
        "initializer_range": ("initializer_range", 0.02),
        "tie_word_embeddings": ("tie_word_embeddings", True),
    },
    facts={
        **LAYERNORM,
        "position_embedding": "alibi",
        "embedding_norm": True,
        "mlp_type": "plain",
        "hidden_act": "gelu_new",  # bloom_gelu_forward is gelu_new's tanh formula
        "qkv_bias": True,
        "attn_out_bias": True,
        "mlp_bias": True,
    },
    layout=Layout(
        {
            "embed_tokens": "transformer.word_embeddings",
            "embed_norm": "transformer.word_embeddings_layernorm",
            "norm": "transformer.ln_f",
            "lm_head": "lm_head",
        },
        "transformer.h.{i}.",
        {
            "attn.q_proj": ("self_attention.query_key_value", 0),
            "attn.k_proj": ("self_attention.query_key_value", 1),
            "attn.v_proj": ("self_attention.query_key_value", 2),
            "attn.o_proj": "self_attention.dense",
            "attn_norm": "input_layernorm",
            "mlp_norm": "post_attention_layernorm",
            "mlp.up_proj": "mlp.dense_h_to_4h",
            "mlp.down_proj": "mlp.dense_4h_to_h",
        },
        per_head_fused=True,
    ),
    export_rank=130,
    aliases={"num_hidden_layers": "n_layer", "num_attention_heads": "n_head"},
    other_keys=frozenset(
        {
            "n_embed",  # the old name of hidden_size, still read by BloomConfig
            "n_inner",  # not a BloomConfig field, but hub files carry it (null); refused unless 4 * hidden_size
            "apply_residual_connection_post_layernorm",
            "pretraining_tp",  # Megatron's tensor-parallel split at training time: numerics only
            "slow_but_exact",  # same
            "use_cache", "bos_token_id", "eos_token_id", "pad_token_id",
        }
    ),  # fmt: skip
    read_extra=_read,
    write_extra=lambda cfg: {"apply_residual_connection_post_layernorm": False, "pretraining_tp": 1, "slow_but_exact": False},
    checks=(implicit_head_dim, mha_only, four_times_hidden),
    note=lambda cfg: (
        " BloomConfig has no context-length field (ALiBi has no position table); max_position_embeddings"
        f"={cfg.max_position_embeddings} is written as an extra attribute that archsmith reads back and "
        "that changes no computation."
    ),
)
