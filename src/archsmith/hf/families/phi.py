"""Phi-1, Phi-1.5, Phi-2: HF ``model_type: phi``.

A parallel block with ONE shared LayerNorm (x + attn(ln(x)) + mlp(ln(x))), biases on every
projection and on the LM head, a plain MLP (fc1, fc2), and partial rotate-half RoPE
(``partial_rotary_factor``, default 0.5). ``qk_layernorm`` adds one LayerNorm over head_dim
shared by all heads, applied to q and k before RoPE (archsmith's ``qk_norm="head"``); the
class sizes it hidden_size // heads, so with an explicit other head_dim it fails and is refused.
``resid_pdrop`` drops each branch output, ``embd_pdrop`` the embeddings. Defaults are those of
transformers 5.24 ``PhiConfig`` (Phi-1.5's shape).
"""

from typing import Any

from ..common import refuse_unless
from ...config import ArchConfig
from ..family import LAYERNORM, Family, Layout, RopeKeys, qk_norm_switch


def _qk_layernorm(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    qk_layernorm = d.get("qk_layernorm", False)
    implied = read["hidden_size"] // read["num_attention_heads"]
    refuse_unless(
        not qk_layernorm or read["head_dim"] in (None, implied),
        "phi",
        f"qk_layernorm with head_dim={read['head_dim']} != hidden_size/num_attention_heads (PhiAttention sizes its "
        "q/k LayerNorms by hidden_size/num_attention_heads and fails on the first forward pass)",
        "remove head_dim",
    )
    return {"qk_norm": "head" if qk_layernorm else "none"}


def _qk_norm_sized_by_hidden(cfg: ArchConfig) -> list[str]:
    if cfg.qk_norm == "head" and cfg.head_dim * cfg.num_attention_heads != cfg.hidden_size:
        return [f"qk_norm='head' with head_dim={cfg.head_dim} != hidden_size/num_attention_heads"]
    return []


FAMILY = Family(
    model_type="phi",
    architecture="PhiForCausalLM",
    keys={
        "vocab_size": ("vocab_size", 51200),
        "hidden_size": ("hidden_size", 2048),
        "intermediate_size": ("intermediate_size", 8192),
        "num_hidden_layers": ("num_hidden_layers", 24),
        "num_attention_heads": ("num_attention_heads", 32),
        "num_key_value_heads": ("num_key_value_heads", None),
        "head_dim": ("head_dim", None),  # not a PhiConfig field, but PhiAttention reads it when a file has it
        "max_position_embeddings": ("max_position_embeddings", 2048),
        "hidden_act": ("hidden_act", "gelu_new"),
        "layer_norm_eps": ("norm_eps", 1e-5),
        "attention_dropout": ("attention_dropout", 0.0),
        "resid_pdrop": ("hidden_dropout", 0.0),
        "embd_pdrop": ("embedding_dropout", 0.0),
        "initializer_range": ("initializer_range", 0.02),
        "tie_word_embeddings": ("tie_word_embeddings", False),
    },
    facts={
        **LAYERNORM,
        "mlp_type": "plain",
        "qkv_bias": True,
        "attn_out_bias": True,
        "mlp_bias": True,
        "parallel_residual": True,
        "parallel_shared_norm": True,
        "lm_head_bias": True,
    },
    layout=Layout(
        {"embed_tokens": "model.embed_tokens", "norm": "model.final_layernorm", "lm_head": "lm_head"},
        "model.layers.{i}.",
        {
            "attn.q_proj": "self_attn.q_proj",
            "attn.k_proj": "self_attn.k_proj",
            "attn.v_proj": "self_attn.v_proj",
            "attn.o_proj": "self_attn.dense",
            "attn.q_norm": "self_attn.q_layernorm",
            "attn.k_norm": "self_attn.k_layernorm",
            "attn_norm": "input_layernorm",  # one norm for both branches
            "mlp.up_proj": "mlp.fc1",
            "mlp.down_proj": "mlp.fc2",
        },
    ),
    export_rank=165,
    rope=RopeKeys(partial=True, default_partial=0.5),
    other_keys=frozenset({"qk_layernorm", "use_cache", "bos_token_id", "eos_token_id", "pad_token_id"}),
    read_extra=_qk_layernorm,
    write_extra=lambda cfg: {"qk_layernorm": cfg.qk_norm == "head"},
    free=("qk_norm",),
    checks=(qk_norm_switch("head", "its qk_layernorm is one norm over head_dim shared by all heads"), _qk_norm_sized_by_hidden),
)
