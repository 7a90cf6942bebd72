"""DeepSeek-V3 (and R1, Moonlight, which use its class): HF ``model_type: deepseek_v3``.

DeepSeek-V2's multi-head latent attention (../deepseek_like.py) with RoPE on interleaved pairs
unless ``rope_interleave`` is false, and V3's router: sigmoid scores plus ``e_score_correction_bias``
to choose experts (not to weight them), groups ranked by the sum of their two best experts
(``noaux_tc``), ``norm_topk_prob``, ``routed_scaling_factor``. Defaults are those of transformers
5.24 ``DeepseekV3Config``; ``num_local_experts`` is its attribute-map name of ``n_routed_experts``.
"""

from __future__ import annotations

from typing import Any

from ...config import ArchConfig
from ..deepseek_like import (
    LAYOUT, MOE_FACTS, MOE_FIELDS, OTHER_KEYS, dense_everywhere, mla_keys, mla_only, refuse_other_routing, shared_experts_fused, write_moe,
)  # fmt: skip
from ..llama_like import llama_like

_MLA = {"q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128}


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    refuse_other_routing(d, "deepseek_v3", {"scoring_func": "sigmoid", "topk_method": "noaux_tc", "moe_layer_freq": 1})
    out = {"rope_interleaved": bool(d.get("rope_interleave", True))}  # tested for truth: null means rotate-half
    if dense_everywhere(d, read, 3):
        return out
    return {
        **out,
        "num_experts": d.get("n_routed_experts", d.get("num_local_experts", 256)),
        "num_experts_per_tok": d.get("num_experts_per_tok", 8),
        "moe_intermediate_size": d.get("moe_intermediate_size", 2048),
        "n_shared_experts": d.get("n_shared_experts", 1),
        "scoring_func": "sigmoid",
        "router_correction_bias": True,
        "norm_topk_prob": d.get("norm_topk_prob", True),
        "routed_scaling_factor": d.get("routed_scaling_factor", 2.5),
        "n_group": d.get("n_group", 8),
        "topk_group": d.get("topk_group", 4),
        "first_k_dense_replace": d.get("first_k_dense_replace", 3),
    }


def _write(cfg: ArchConfig) -> dict[str, Any]:
    out = {
        **write_moe(cfg),
        "rope_interleave": cfg.rope_interleaved,
        "num_nextn_predict_layers": 0,  # no multi-token-prediction module (transformers builds none either)
    }
    if cfg.is_moe:
        out["norm_topk_prob"] = cfg.norm_topk_prob
    return out


def _router(cfg: ArchConfig) -> list[str]:
    if cfg.is_moe and (cfg.scoring_func, cfg.router_correction_bias) != ("sigmoid", True):
        return [f"scoring_func={cfg.scoring_func!r}, router_correction_bias={cfg.router_correction_bias} (it routes "
                "by sigmoid scores with e_score_correction_bias)"]
    return []


FAMILY = llama_like(
    "deepseek_v3",
    "DeepseekV3ForCausalLM",
    {
        "vocab_size": 129280,
        "hidden_size": 7168,
        "intermediate_size": 18432,
        "num_hidden_layers": 61,
        "num_attention_heads": 128,
        "num_key_value_heads": 128,
        "max_position_embeddings": 4096,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-6,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": False,
    },
    export_rank=200,
    more_keys=mla_keys(_MLA),
    facts={"mlp_bias": False, **MOE_FACTS},
    layout=LAYOUT,
    other_keys=OTHER_KEYS | {"rope_interleave", "num_local_experts", "num_mtp_layers"},
    read_extra=_read,
    write_extra=_write,
    free=("rope_interleaved", *MOE_FIELDS),
    checks=(mla_only, shared_experts_fused, _router),
)
