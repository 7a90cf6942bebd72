"""GPT-NeoX (Pythia, GPT-NeoX-20B): HF ``model_type: gpt_neox``.

LayerNorm with bias, a plain GELU MLP with biases, and by default a parallel residual
(x + attn(ln1(x)) + mlp(ln2(x)), two norms). RoPE rotates only ``rotary_pct`` (default 0.25)
of each head, with base ``rotary_emb_base``: ``GPTNeoXConfig`` reads these two old names, not
``rope_theta``/``partial_rotary_factor``, at the top level. ``attention_bias`` (default true)
covers both the fused qkv and the output projection; ``hidden_dropout`` drops the embeddings
and both branch outputs.
"""

from typing import Any

from ..common import refuse_unless
from ..family import LAYERNORM, Family, Layout, RopeKeys, implicit_head_dim, mha_only


def _head_dim(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    # The attention always splits hidden_size evenly; only the rotary embedding would read head_dim.
    implied = read["hidden_size"] // read["num_attention_heads"]
    refuse_unless(
        d.get("head_dim") in (None, implied),
        "gpt_neox",
        f"head_dim={d.get('head_dim')} != hidden_size/num_attention_heads",
        "remove head_dim (GPTNeoXAttention always uses hidden_size // num_attention_heads)",
    )
    return {}


FAMILY = Family(
    model_type="gpt_neox",
    architecture="GPTNeoXForCausalLM",
    keys={
        "vocab_size": ("vocab_size", 50432),
        "hidden_size": ("hidden_size", 6144),
        "intermediate_size": ("intermediate_size", 24576),
        "num_hidden_layers": ("num_hidden_layers", 44),
        "num_attention_heads": ("num_attention_heads", 64),
        "max_position_embeddings": ("max_position_embeddings", 2048),
        "hidden_act": ("hidden_act", "gelu"),
        "layer_norm_eps": ("norm_eps", 1e-5),
        "attention_bias": (("qkv_bias", "attn_out_bias"), True),
        "use_parallel_residual": ("parallel_residual", True),
        "attention_dropout": ("attention_dropout", 0.0),
        "hidden_dropout": (("hidden_dropout", "embedding_dropout"), 0.0),
        "initializer_range": ("initializer_range", 0.02),
        "tie_word_embeddings": ("tie_word_embeddings", False),
    },
    facts={**LAYERNORM, "mlp_type": "plain", "mlp_bias": True},
    layout=Layout(
        {"embed_tokens": "gpt_neox.embed_in", "norm": "gpt_neox.final_layer_norm", "lm_head": "embed_out"},
        "gpt_neox.layers.{i}.",
        {
            "attn.q_proj": ("attention.query_key_value", 0),
            "attn.k_proj": ("attention.query_key_value", 1),
            "attn.v_proj": ("attention.query_key_value", 2),
            "attn.o_proj": "attention.dense",
            "attn_norm": "input_layernorm",
            "mlp_norm": "post_attention_layernorm",
            "mlp.up_proj": "mlp.dense_h_to_4h",
            "mlp.down_proj": "mlp.dense_4h_to_h",
        },
        per_head_fused=True,
        ignored_suffixes=(".rotary_emb.inv_freq", ".attention.bias", ".attention.masked_bias"),
    ),
    export_rank=110,
    rope=RopeKeys(partial=True, default_partial=0.25, theta_key="rotary_emb_base", partial_key="rotary_pct"),
    other_keys=frozenset({"head_dim", "use_cache", "bos_token_id", "eos_token_id", "pad_token_id", "classifier_dropout", "is_decoder"}),
    read_extra=_head_dim,
    checks=(implicit_head_dim, mha_only),
)
