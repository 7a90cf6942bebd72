"""GPT-J: HF ``model_type: gptj``.

A parallel block with ONE shared LayerNorm (x + attn(ln_1(x)) + mlp(ln_1(x))), q/k/v/out
without biases, a plain MLP with biases, an LM head with a bias, and interleaved RoPE
(pairs 2i, 2i+1) on the first ``rotary_dim`` dims of each head with base 10000, which the
class hard-codes (it has no rope_theta). ``resid_pdrop`` drops each branch output. Defaults
are those of transformers 5.24 ``GPTJConfig`` (GPT-J-6B). CodeGen (codegen.py) shares all of it.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from .common import BASE_FIELDS, GPT2_NAMES, read_dtype, read_gpt2_name, refuse_unless, rotary_fraction

MODEL_TYPE = "gptj"

FIELDS = BASE_FIELDS | frozenset(GPT2_NAMES) | frozenset(
    {
        "vocab_size", "n_positions", "n_embd", "n_layer", "n_head", "rotary_dim", "n_inner", "activation_function",
        "resid_pdrop", "embd_pdrop", "attn_pdrop", "layer_norm_epsilon", "initializer_range", "use_cache",
        "bos_token_id", "eos_token_id", "pad_token_id", "tie_word_embeddings",
    }
)  # fmt: skip


def config_from_hf(d: dict[str, Any], model_type: str = MODEL_TYPE) -> ArchConfig:
    hidden = read_gpt2_name(d, "n_embd", 4096)
    heads = read_gpt2_name(d, "n_head", 16)
    head_dim = hidden // heads
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
    return ArchConfig(
        vocab_size=d.get("vocab_size", 50400),
        hidden_size=hidden,
        intermediate_size=n_inner if n_inner is not None else 4 * hidden,
        num_hidden_layers=read_gpt2_name(d, "n_layer", 28),
        num_attention_heads=heads,
        max_position_embeddings=read_gpt2_name(d, "n_positions", 2048),
        rope_theta=10000.0,
        partial_rotary_factor=rotary_fraction(rotary_dim, head_dim),
        rope_interleaved=True,
        norm_type="layernorm",
        norm_bias=True,
        norm_eps=d.get("layer_norm_epsilon", 1e-5),
        mlp_type="plain",
        mlp_bias=True,
        hidden_act=d.get("activation_function", "gelu_new"),
        parallel_residual=True,
        parallel_shared_norm=True,
        tie_word_embeddings=d.get("tie_word_embeddings", False),
        lm_head_bias=True,
        attention_dropout=d.get("attn_pdrop", 0.0),
        hidden_dropout=d.get("resid_pdrop", 0.0),
        embedding_dropout=d.get("embd_pdrop", 0.0),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )
