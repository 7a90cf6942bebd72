"""Qwen1.5-MoE and Qwen2-MoE: HF ``model_type: qwen2_moe``. Qwen2 whose MLPs are Mixtures-of-Experts.

A sparse layer routes each token to ``num_experts_per_tok`` of ``num_experts`` SwiGLU experts
of ``moe_intermediate_size`` (softmax, top-k, renormalised only with ``norm_topk_prob``) and
adds one shared expert of ``shared_expert_intermediate_size`` scaled by
``sigmoid(shared_expert_gate(x))``. Layer i is sparse unless it is in ``mlp_only_layers``
or ``(i + 1) % decoder_sparse_step != 0``; then it has the dense MLP of ``intermediate_size``
(``num_experts: 0`` makes every layer dense). q/k/v carry a bias unless ``qkv_bias`` is false.

Sliding windows: only with ``use_sliding_window``, and then (unless ``layer_types`` lists
them) on the even-indexed layers below ``max_window_layers`` (``Qwen2MoeConfig.__post_init__``).
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from .common import BASE_FIELDS, ROPE_FIELDS, layer_window, read_dtype, read_rope
from .qwen2 import _LEGACY_LAYER_TYPES

MODEL_TYPE = "qwen2_moe"

# The MoE fields qwen2_moe and qwen3_moe share, with the same meaning.
QWEN_MOE_FIELDS = frozenset(
    {
        "num_experts",
        "num_experts_per_tok",
        "moe_intermediate_size",
        "decoder_sparse_step",
        "mlp_only_layers",
        "norm_topk_prob",
        "output_router_logits",
        "router_aux_loss_coef",
    }
)

FIELDS = BASE_FIELDS | ROPE_FIELDS | QWEN_MOE_FIELDS | frozenset(
    {
        "vocab_size",
        "hidden_size",
        "intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "head_dim",  # not a Qwen2MoeConfig field, but Qwen2MoeAttention reads it when a file has it
        "hidden_act",
        "max_position_embeddings",
        "initializer_range",
        "rms_norm_eps",
        "use_cache",
        "tie_word_embeddings",
        "use_sliding_window",
        "sliding_window",
        "max_window_layers",
        "layer_types",
        "attention_dropout",
        "qkv_bias",
        "shared_expert_intermediate_size",
        "pad_token_id",
        "bos_token_id",
        "eos_token_id",
    }
)


def qwen_moe_fields(d: dict[str, Any], defaults: dict[str, Any], num_experts: int) -> dict[str, Any]:
    """The ArchConfig MoE fields of a qwen2_moe/qwen3_moe file (none when num_experts is 0:
    every layer is then dense, as the decoder layers' ``num_experts > 0`` test makes it)."""
    if num_experts == 0:
        return {}
    return dict(
        num_experts=num_experts,
        num_experts_per_tok=d.get("num_experts_per_tok", defaults["num_experts_per_tok"]),
        moe_intermediate_size=d.get("moe_intermediate_size", defaults["moe_intermediate_size"]),
        decoder_sparse_step=d.get("decoder_sparse_step", 1),
        mlp_only_layers=d.get("mlp_only_layers") or (),
        norm_topk_prob=d.get("norm_topk_prob", False),
        output_router_logits=d.get("output_router_logits", False),
        router_aux_loss_coef=d.get("router_aux_loss_coef", 0.001),
    )


def _layer_window(d: dict[str, Any], num_layers: int) -> tuple[int | None, tuple[str, ...] | None]:
    sliding_window = d.get("sliding_window", 4096) if d.get("use_sliding_window", False) else None
    layer_types = d.get("layer_types")
    if layer_types is None:
        first_full = d.get("max_window_layers", 28)
        layer_types = [
            "sliding_attention" if sliding_window is not None and i % 2 == 0 and i < first_full else "full_attention"
            for i in range(num_layers)
        ]
    else:
        layer_types = [_LEGACY_LAYER_TYPES.get(t, t) for t in layer_types]
    return layer_window(sliding_window, layer_types)


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    num_layers = d.get("num_hidden_layers", 24)
    sliding_window, layer_types = _layer_window(d, num_layers)
    max_positions = d.get("max_position_embeddings", 32768)
    rope = read_rope(d, model_type=MODEL_TYPE, partial_rotary=False, max_position_embeddings=max_positions)
    moe = qwen_moe_fields(d, {"num_experts_per_tok": 4, "moe_intermediate_size": 1408}, d.get("num_experts", 60))
    if moe:
        moe.update(
            n_shared_experts=1,
            shared_expert_intermediate_size=d.get("shared_expert_intermediate_size", 5632),
            shared_expert_gate=True,
        )
    return ArchConfig(
        vocab_size=d.get("vocab_size", 151936),
        hidden_size=d.get("hidden_size", 2048),
        intermediate_size=d.get("intermediate_size", 5632),
        num_hidden_layers=num_layers,
        num_attention_heads=d.get("num_attention_heads", 16),
        num_key_value_heads=d.get("num_key_value_heads", 16),
        head_dim=d.get("head_dim"),
        max_position_embeddings=max_positions,
        qkv_bias=d.get("qkv_bias", True),
        attn_out_bias=False,
        sliding_window=sliding_window,
        layer_types=layer_types,
        rope_theta=rope.theta,
        rope_scaling=rope.scaling,
        partial_rotary_factor=rope.partial_rotary_factor,
        norm_type="rmsnorm",
        norm_eps=d.get("rms_norm_eps", 1e-6),
        mlp_type="gated",
        hidden_act=d.get("hidden_act", "silu"),
        **moe,
        tie_word_embeddings=d.get("tie_word_embeddings", False),
        attention_dropout=d.get("attention_dropout", 0.0),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )
