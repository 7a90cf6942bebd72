"""DeepSeek-V3 (and R1, Moonlight, which use its class): HF ``model_type: deepseek_v3``.

DeepSeek-V2's multi-head latent attention (read as in deepseek_v2.py) with RoPE on interleaved
pairs unless ``rope_interleave`` is false, and V3's router. Defaults are those of transformers
5.24 ``DeepseekV3Config``.

What the class reads and what it does not, beyond deepseek_v2.py's notes:

- ``num_nextn_predict_layers`` (``num_mtp_layers``): DeepSeek's multi-token-prediction module
  is not built by transformers' class (its checkpoint tensors, ``model.layers.61.*`` for V3, are
  ignored on load), so it is not counted either: counts equal transformers' numel.
- The router always scores as DeepSeek-V3 does: sigmoid scores plus ``e_score_correction_bias``
  to choose experts (not to weight them), groups ranked by the sum of their two best experts
  (``noaux_tc``), ``norm_topk_prob``, ``routed_scaling_factor``, on every layer from
  ``first_k_dense_replace`` on. The original remote code's ``scoring_func``, ``topk_method`` and
  ``moe_layer_freq`` are accepted at those values only.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from .deepseek_v2 import MLA_FAMILY_FIELDS, mla_config, refuse_other_routing

MODEL_TYPE = "deepseek_v3"

FIELDS = MLA_FAMILY_FIELDS | frozenset({"rope_interleave", "num_local_experts", "num_mtp_layers", "topk_method"})

_DEFAULTS = {
    "vocab_size": 129280, "hidden_size": 7168, "intermediate_size": 18432, "num_hidden_layers": 61,
    "num_attention_heads": 128, "num_key_value_heads": 128, "max_position_embeddings": 4096, "q_lora_rank": 1536, "kv_lora_rank": 512,
    "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "attention_bias": False,
}  # fmt: skip


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    refuse_other_routing(d, MODEL_TYPE, {"scoring_func": "sigmoid", "topk_method": "noaux_tc", "moe_layer_freq": 1})
    # The class tests rope_interleave for truth: null means rotate-half.
    return mla_config(d, MODEL_TYPE, _DEFAULTS, _moe(d), rope_interleaved=bool(d.get("rope_interleave", True)))


def _moe(d: dict[str, Any]) -> dict[str, Any]:
    first_dense = d.get("first_k_dense_replace", 3)
    if first_dense >= d.get("num_hidden_layers", _DEFAULTS["num_hidden_layers"]):
        return {}  # every layer dense: the class builds no expert
    return {
        "num_experts": d.get("n_routed_experts", d.get("num_local_experts", 256)),
        "num_experts_per_tok": d.get("num_experts_per_tok", 8),
        "moe_intermediate_size": d.get("moe_intermediate_size", 2048),
        # The class fuses the shared experts into one MLP of n_shared_experts * moe_intermediate_size.
        "n_shared_experts": d.get("n_shared_experts", 1),
        "scoring_func": "sigmoid",
        "router_correction_bias": True,
        "norm_topk_prob": d.get("norm_topk_prob", True),
        "routed_scaling_factor": d.get("routed_scaling_factor", 2.5),
        "n_group": d.get("n_group", 8),
        "topk_group": d.get("topk_group", 4),
        "first_k_dense_replace": first_dense,
    }
