"""GPT-J: HF ``model_type: gptj``.

A parallel block with ONE shared LayerNorm (x + attn(ln_1(x)) + mlp(ln_1(x))), q/k/v/out
without biases, a plain MLP with biases, an LM head with a bias, and interleaved RoPE
(pairs 2i, 2i+1) on the first ``rotary_dim`` dims of each head with base 10000, which the
class hard-codes (it has no rope_theta). ``resid_pdrop`` drops each branch output. Defaults
are those of transformers 5.24 ``GPTJConfig`` (GPT-J-6B). CodeGen (codegen.py) is this
declaration with another weight layout.
"""

from typing import Any

from ..common import refuse_unless, rotary_fraction
from ..family import LAYERNORM, Family, Layout, implicit_head_dim, mha_only
from .gpt2 import FAMILY as GPT2


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    model_type = d.get("model_type", "gptj")
    head_dim = read["hidden_size"] // read["num_attention_heads"]
    rotary_dim = d.get("rotary_dim", 64)
    # Without rotary_dim the class builds frequencies for the whole hidden size and fails to apply
    # them to a head; with more than head_dim it fails the same way.
    refuse_unless(
        rotary_dim is not None and rotary_dim <= head_dim,
        model_type,
        f"rotary_dim={rotary_dim} (it must be at most head_dim={head_dim}; transformers fails on the first forward pass)",
        f"rotary_dim={min(64, head_dim)}",
    )
    n_inner = d.get("n_inner")
    return {
        "intermediate_size": n_inner if n_inner is not None else 4 * read["hidden_size"],
        "partial_rotary_factor": rotary_fraction(rotary_dim, head_dim),
    }


FAMILY = Family(
    model_type="gptj",
    architecture="GPTJForCausalLM",
    keys={
        "vocab_size": ("vocab_size", 50400),
        "n_embd": ("hidden_size", 4096),
        "n_layer": ("num_hidden_layers", 28),
        "n_head": ("num_attention_heads", 16),
        "n_positions": ("max_position_embeddings", 2048),
        "activation_function": ("hidden_act", "gelu_new"),
        "layer_norm_epsilon": ("norm_eps", 1e-5),
        "attn_pdrop": ("attention_dropout", 0.0),
        "resid_pdrop": ("hidden_dropout", 0.0),
        "embd_pdrop": ("embedding_dropout", 0.0),
        "initializer_range": ("initializer_range", 0.02),
        "tie_word_embeddings": ("tie_word_embeddings", False),
    },
    facts={
        **LAYERNORM,
        "mlp_type": "plain",
        "qkv_bias": False,
        "attn_out_bias": False,
        "mlp_bias": True,
        "rope_theta": 10000.0,  # hard-coded in create_sinusoidal_positions
        "rope_scaling": None,
        "rope_interleaved": True,
        "parallel_residual": True,
        "parallel_shared_norm": True,
        "lm_head_bias": True,
    },
    layout=Layout(
        {"embed_tokens": "transformer.wte", "norm": "transformer.ln_f", "lm_head": "lm_head"},
        "transformer.h.{i}.",
        {
            "attn.q_proj": "attn.q_proj",
            "attn.k_proj": "attn.k_proj",
            "attn.v_proj": "attn.v_proj",
            "attn.o_proj": "attn.out_proj",
            "attn_norm": "ln_1",  # one norm for both branches
            "mlp.up_proj": "mlp.fc_in",
            "mlp.down_proj": "mlp.fc_out",
        },
        ignored_suffixes=(".attn.bias", ".attn.masked_bias"),  # causal-mask buffers of 4.x checkpoints
    ),
    export_rank=167,
    aliases=GPT2.aliases,
    other_keys=frozenset({"n_inner", "rotary_dim", "use_cache", "bos_token_id", "eos_token_id", "pad_token_id"}),
    read_extra=_read,
    write_extra=lambda cfg: {"n_inner": cfg.intermediate_size, "rotary_dim": cfg.rotary_dim},
    free=("partial_rotary_factor",),
    checks=(implicit_head_dim, mha_only),
)
