"""Mixtral: HF ``model_type: mixtral``. Mistral whose every MLP is a Mixture-of-Experts.

Each layer routes each token to ``num_experts_per_tok`` of ``num_local_experts`` SwiGLU
experts of ``intermediate_size`` (there is no dense MLP), by softmax over the router logits,
top-k, renormalised to sum to 1 (hard-coded in ``MixtralTopKRouter``). RoPE's default base
is 1e6 (``MixtralConfig.default_theta``); ``sliding_window`` defaults to null and, when set,
applies to every layer. ``router_jitter_noise`` acts in training only.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from .common import BASE_FIELDS, ROPE_FIELDS, read_aliased, read_dtype, read_rope

MODEL_TYPE = "mixtral"

FIELDS = BASE_FIELDS | ROPE_FIELDS | frozenset(
    {
        "vocab_size",
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "head_dim",
        "hidden_act",
        "max_position_embeddings",
        "initializer_range",
        "rms_norm_eps",
        "use_cache",
        "pad_token_id",
        "bos_token_id",
        "eos_token_id",
        "tie_word_embeddings",
        "sliding_window",
        "attention_dropout",
        "num_experts_per_tok",
        "num_local_experts",
        "num_experts",  # MixtralConfig.attribute_map's alias of num_local_experts
        "output_router_logits",
        "router_aux_loss_coef",
        "router_jitter_noise",
    }
)

DEFAULT_THETA = 1_000_000.0


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    max_positions = d.get("max_position_embeddings", 4096 * 32)
    rope = read_rope(
        {"rope_theta": DEFAULT_THETA, **d}, model_type=MODEL_TYPE, partial_rotary=False, max_position_embeddings=max_positions
    )
    return ArchConfig(
        vocab_size=d.get("vocab_size", 32000),
        hidden_size=d.get("hidden_size", 4096),
        intermediate_size=d.get("intermediate_size", 14336),
        num_hidden_layers=d.get("num_hidden_layers", 32),
        num_attention_heads=d.get("num_attention_heads", 32),
        num_key_value_heads=d.get("num_key_value_heads", 8),
        head_dim=d.get("head_dim"),
        max_position_embeddings=max_positions,
        sliding_window=d.get("sliding_window"),
        rope_theta=rope.theta,
        rope_scaling=rope.scaling,
        partial_rotary_factor=rope.partial_rotary_factor,
        norm_type="rmsnorm",
        norm_eps=d.get("rms_norm_eps", 1e-5),
        mlp_type="gated",
        hidden_act=d.get("hidden_act", "silu"),
        num_experts=read_aliased(d, "num_local_experts", "num_experts", 8),
        num_experts_per_tok=d.get("num_experts_per_tok", 2),
        moe_intermediate_size=d.get("intermediate_size", 14336),  # the experts are the MLPs
        norm_topk_prob=True,
        output_router_logits=d.get("output_router_logits", False),
        router_aux_loss_coef=d.get("router_aux_loss_coef", 0.001),
        router_jitter_noise=d.get("router_jitter_noise", 0.0),
        tie_word_embeddings=d.get("tie_word_embeddings", False),
        attention_dropout=d.get("attention_dropout", 0.0),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )
