"""Qwen3-MoE: HF ``model_type: qwen3_moe``. Qwen3 (per-head qk RMSNorm) with Qwen2-MoE's sparse
layers and without its shared expert.

transformers 5 saves the expert count as ``num_local_experts`` (``Qwen3MoeConfig.attribute_map``
maps num_experts onto it); published 4.x files say ``num_experts``: both are read.
``head_dim`` defaults to hidden/heads here (``Qwen3MoeConfig`` has no head_dim field, so only a
file that gives one sets it; Qwen3-30B-A3B does: 128 with hidden 2048 and 32 heads). The
sliding window, with ``use_sliding_window``, applies to every layer; ``max_window_layers`` in
published files is no Qwen3MoeConfig field and changes nothing.
"""

from typing import Any

from ..family import all_sliding_or_none
from ..llama_like import MOE_FACTS, QWEN_MOE_KEYS, QWEN_MOE_LAYOUT, llama_like, read_qwen_moe, write_qwen_moe


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    window = d.get("sliding_window", 4096) if d.get("use_sliding_window", False) else None
    return {"sliding_window": window, **read_qwen_moe(read)}


FAMILY = llama_like(
    "qwen3_moe",
    "Qwen3MoeForCausalLM",
    {
        "vocab_size": 151936,
        "hidden_size": 2048,
        "intermediate_size": 6144,
        "num_hidden_layers": 24,
        "num_attention_heads": 32,
        "num_key_value_heads": 4,
        "head_dim": None,
        "max_position_embeddings": 32768,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-6,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": False,
    },
    more_keys={
        "num_experts": ("num_experts", 128),
        "num_experts_per_tok": ("num_experts_per_tok", 8),
        "moe_intermediate_size": ("moe_intermediate_size", 768),
        **QWEN_MOE_KEYS,
    },
    aliases={"num_local_experts": "num_experts"},
    export_rank=46,
    facts={"qk_norm": "head", "mlp_bias": False, **{k: v for k, v in MOE_FACTS.items() if k not in QWEN_MOE_KEYS}},
    layout=QWEN_MOE_LAYOUT,
    other_keys=frozenset({"use_sliding_window", "sliding_window", "max_window_layers"}),
    read_extra=_read,
    write_extra=lambda cfg: {
        "use_sliding_window": cfg.sliding_window is not None, "sliding_window": cfg.sliding_window, **write_qwen_moe(cfg),
    },  # fmt: skip
    free=("sliding_window",),
    checks=(all_sliding_or_none,),
)
