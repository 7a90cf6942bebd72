"""Qwen1.5-MoE and Qwen2-MoE: HF ``model_type: qwen2_moe``. Qwen2 whose MLPs are Mixtures-of-Experts.

A sparse layer routes each token to ``num_experts_per_tok`` of ``num_experts`` SwiGLU experts
of ``moe_intermediate_size`` (softmax, top-k, renormalised only with ``norm_topk_prob``) and
adds one shared expert of ``shared_expert_intermediate_size`` scaled by
``sigmoid(shared_expert_gate(x))``. Layer i is sparse unless it is in ``mlp_only_layers`` or
``(i + 1) % decoder_sparse_step != 0``; then it has the dense MLP of ``intermediate_size``
(``num_experts: 0`` makes every layer dense). q/k/v carry a bias unless ``qkv_bias`` is false.

Sliding windows: only with ``use_sliding_window``, and then (unless ``layer_types`` lists them)
on the even-indexed layers below ``max_window_layers`` (``Qwen2MoeConfig.__post_init__``, not
Qwen2's rule); without it transformers saves ``sliding_window: 0``. Export writes ``layer_types``.
"""

from typing import Any

from ..common import layer_window
from ..llama_like import (
    LEGACY_LAYER_TYPES, MOE_FACTS, QWEN_MOE_KEYS, QWEN_MOE_LAYOUT, QWEN_WINDOW_KEYS, llama_like, read_qwen_moe,
    write_qwen_moe, write_qwen_window,
)  # fmt: skip


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    sliding_window = d.get("sliding_window", 4096) if d.get("use_sliding_window", False) else None
    types = d.get("layer_types")
    if types is None:
        below = d.get("max_window_layers", 28)
        types = [
            "sliding_attention" if sliding_window is not None and i % 2 == 0 and i < below else "full_attention"
            for i in range(read["num_hidden_layers"])
        ]
    else:
        types = [LEGACY_LAYER_TYPES.get(t, t) for t in types]
    window, layer_types = layer_window(sliding_window, types)
    return {"sliding_window": window, "layer_types": layer_types, **read_qwen_moe(read)}


def _write(cfg) -> dict[str, Any]:
    # layer_types rules in 5.x; max_window_layers past the last layer keeps a 4.x reader from adding windows
    return {**write_qwen_window(cfg), "max_window_layers": cfg.num_hidden_layers, **write_qwen_moe(cfg)}


FAMILY = llama_like(
    "qwen2_moe",
    "Qwen2MoeForCausalLM",
    {
        "vocab_size": 151936,
        "hidden_size": 2048,
        "intermediate_size": 5632,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "num_key_value_heads": 16,
        "head_dim": None,  # not a Qwen2MoeConfig field, but Qwen2MoeAttention reads it when a file has it
        "max_position_embeddings": 32768,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-6,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": False,
    },
    more_keys={
        "qkv_bias": ("qkv_bias", True),
        "num_experts": ("num_experts", 60),
        "num_experts_per_tok": ("num_experts_per_tok", 4),
        "moe_intermediate_size": ("moe_intermediate_size", 1408),
        "shared_expert_intermediate_size": ("shared_expert_intermediate_size", 5632),
        **QWEN_MOE_KEYS,
    },
    export_rank=44,
    facts={
        "attn_out_bias": False, "mlp_bias": False,
        **{k: v for k, v in MOE_FACTS.items() if k not in QWEN_MOE_KEYS},
        "n_shared_experts": 1, "shared_expert_gate": True,
    },  # fmt: skip
    layout=QWEN_MOE_LAYOUT,
    other_keys=QWEN_WINDOW_KEYS,
    read_extra=_read,
    write_extra=_write,
    free=("sliding_window",),
)
