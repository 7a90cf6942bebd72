"""OPT (Meta OPT-125m ... 66b): HF ``model_type: opt``.

LayerNorm (eps fixed at 1e-5; ``layer_norm_elementwise_affine`` gives weight AND bias),
learned positions whose table has 2 extra rows in front (``position_offset=2``: position p
is row p + 2, as in ``OPTLearnedPositionalEmbedding``), a plain MLP, and one ``enable_bias``
for every linear layer. ``do_layer_norm_before=false`` (OPT-350m) is a post-norm block without
a final norm.
"""

from typing import Any

from ...config import ArchConfig
from ..common import refuse_unless
from ..family import Family, Layout, implicit_head_dim, mha_only


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    hidden = read["hidden_size"]
    refuse_unless(
        d.get("word_embed_proj_dim", hidden) == hidden,
        "opt",
        "word_embed_proj_dim != hidden_size (project_in/project_out layers)",
        "a model without embedding projections",
    )
    refuse_unless(not d.get("_remove_final_layer_norm", False), "opt", "_remove_final_layer_norm", "keep the final norm")
    pre = d.get("do_layer_norm_before", True)
    return {"norm_scheme": "pre" if pre else "post", "final_norm": pre}


def _pre_or_post(cfg: ArchConfig) -> list[str]:
    if cfg.norm_scheme not in ("pre", "post"):
        return [f"norm_scheme={cfg.norm_scheme!r} (it has only 'pre' and 'post')"]
    if cfg.final_norm != (cfg.norm_scheme == "pre"):
        return [f"final_norm={cfg.final_norm} with norm_scheme={cfg.norm_scheme!r} (it has a final norm exactly when pre-norm)"]
    return []


FAMILY = Family(
    model_type="opt",
    architecture="OPTForCausalLM",
    keys={
        "vocab_size": ("vocab_size", 50272),
        "hidden_size": ("hidden_size", 768),
        "ffn_dim": ("intermediate_size", 3072),
        "num_hidden_layers": ("num_hidden_layers", 12),
        "num_attention_heads": ("num_attention_heads", 12),
        "max_position_embeddings": ("max_position_embeddings", 2048),
        "activation_function": ("hidden_act", "relu"),
        "enable_bias": (("qkv_bias", "attn_out_bias", "mlp_bias"), True),
        "layer_norm_elementwise_affine": (("norm_weight", "norm_bias"), True),
        "attention_dropout": ("attention_dropout", 0.0),
        "dropout": ("hidden_dropout", 0.1),
        "init_std": ("initializer_range", 0.02),
        "tie_word_embeddings": ("tie_word_embeddings", True),
    },
    facts={
        "norm_type": "layernorm",
        "norm_weight_in_fp32": False,  # nn.LayerNorm on the input dtype
        "norm_eps": 1e-5,
        "position_embedding": "learned",
        "position_offset": 2,  # OPTLearnedPositionalEmbedding's two rows in front
        "mlp_type": "plain",
    },
    layout=Layout(
        {
            "embed_tokens": "model.decoder.embed_tokens",
            "embed_positions": "model.decoder.embed_positions",
            "norm": "model.decoder.final_layer_norm",
            "lm_head": "lm_head",
        },
        "model.decoder.layers.{i}.",
        {
            "attn.q_proj": "self_attn.q_proj",
            "attn.k_proj": "self_attn.k_proj",
            "attn.v_proj": "self_attn.v_proj",
            "attn.o_proj": "self_attn.out_proj",
            "attn_norm": "self_attn_layer_norm",
            "mlp_norm": "final_layer_norm",
            "mlp.up_proj": "fc1",
            "mlp.down_proj": "fc2",
        },
    ),
    export_rank=150,
    other_keys=frozenset(
        {
            "do_layer_norm_before", "_remove_final_layer_norm", "word_embed_proj_dim", "layerdrop", "use_cache",
            "pad_token_id", "bos_token_id", "eos_token_id",
        }
    ),  # fmt: skip
    read_extra=_read,
    write_extra=lambda cfg: {
        "do_layer_norm_before": cfg.norm_scheme == "pre",
        "_remove_final_layer_norm": False,
        "word_embed_proj_dim": cfg.hidden_size,
    },
    free=("norm_scheme", "final_norm"),
    checks=(implicit_head_dim, mha_only, _pre_or_post),
)
