"""GPT-2: HF ``model_type: gpt2``.

Learned positions, pre-LayerNorm with bias, biases on every projection, a plain MLP of width
``n_inner`` (null or absent: 4 * n_embd), a tied LM head, and dropout 0.1 by default. GPT-2's
own names (n_embd, n_layer, n_head, n_positions) are read, as are the standard names
transformers maps onto them (``GPT2Config.attribute_map``). ``scale_attn_weights=false``
(unscaled scores) is ``attention_scale=1``; ``scale_attn_by_inverse_layer_idx`` has its own
knob. Cross-attention has no ArchConfig knob and is refused.
"""

from typing import Any

from ...config import ArchConfig
from ..common import refuse_unless
from ..family import LAYERNORM, Family, Layout, implicit_head_dim, mha_only


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    refuse_unless(not d.get("add_cross_attention", False), "gpt2", "add_cross_attention=true", "set it to false")
    n_inner = d.get("n_inner")
    return {
        "intermediate_size": n_inner if n_inner is not None else 4 * read["hidden_size"],
        "attention_scale": None if d.get("scale_attn_weights", True) else 1.0,
    }


def unscaled_or_default(cfg: ArchConfig) -> list[str]:
    if cfg.attention_scale not in (None, 1.0):
        return [f"attention_scale={cfg.attention_scale} (it scales by 1/sqrt(head_dim) or, scale_attn_weights=false, by 1)"]
    return []


FAMILY = Family(
    model_type="gpt2",
    architecture="GPT2LMHeadModel",
    keys={
        "vocab_size": ("vocab_size", 50257),
        "n_embd": ("hidden_size", 768),
        "n_layer": ("num_hidden_layers", 12),
        "n_head": ("num_attention_heads", 12),
        "n_positions": ("max_position_embeddings", 1024),
        "activation_function": ("hidden_act", "gelu_new"),
        "layer_norm_epsilon": ("norm_eps", 1e-5),
        "attn_pdrop": ("attention_dropout", 0.1),
        "resid_pdrop": ("hidden_dropout", 0.1),
        "embd_pdrop": ("embedding_dropout", 0.1),
        "initializer_range": ("initializer_range", 0.02),
        "tie_word_embeddings": ("tie_word_embeddings", True),
        "scale_attn_by_inverse_layer_idx": ("scale_attn_by_inverse_layer_idx", False),
    },
    facts={
        **LAYERNORM,
        "position_embedding": "learned",
        "mlp_type": "plain",
        "qkv_bias": True,
        "attn_out_bias": True,
        "mlp_bias": True,
    },
    layout=Layout(
        {
            "embed_tokens": "transformer.wte",
            "embed_positions": "transformer.wpe",
            "norm": "transformer.ln_f",
            "lm_head": "lm_head",
        },
        "transformer.h.{i}.",
        {
            "attn.q_proj": ("attn.c_attn", 0),
            "attn.k_proj": ("attn.c_attn", 1),
            "attn.v_proj": ("attn.c_attn", 2),
            "attn.o_proj": "attn.c_proj",
            "attn_norm": "ln_1",
            "mlp_norm": "ln_2",
            "mlp.up_proj": "mlp.c_fc",
            "mlp.down_proj": "mlp.c_proj",
        },
        conv1d=frozenset({"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"}),
        ignored_suffixes=(".attn.bias", ".attn.masked_bias"),  # causal-mask buffers of 4.x checkpoints
    ),
    export_rank=120,
    aliases={
        "hidden_size": "n_embd",
        "max_position_embeddings": "n_positions",
        "num_attention_heads": "n_head",
        "num_hidden_layers": "n_layer",
    },
    other_keys=frozenset(
        {
            "n_inner",
            "n_ctx",  # an old alias of n_positions that hub files still carry; transformers ignores it
            "summary_type", "summary_use_proj", "summary_activation", "summary_proj_to_labels", "summary_first_dropout",
            "scale_attn_weights", "add_cross_attention",
            "reorder_and_upcast_attn",  # scores in fp32 with the scale folded into the matmul: numerics only
            "use_cache", "bos_token_id", "eos_token_id", "pad_token_id",
        }
    ),  # fmt: skip
    read_extra=_read,
    write_extra=lambda cfg: {
        "n_inner": cfg.intermediate_size,
        "scale_attn_weights": cfg.attention_scale is None,
        "reorder_and_upcast_attn": False,
    },
    free=("attention_scale",),
    checks=(implicit_head_dim, mha_only, unscaled_or_default),
)
