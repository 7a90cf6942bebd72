"""DeepSeek-V2 (V2, V2-Lite, V2.5): HF ``model_type: deepseek_v2``.

Multi-head latent attention (../deepseek_like.py) with RoPE always on interleaved pairs (V2 rotates
complex pairs). The router scores with a softmax and takes the top-k without renormalising
(``norm_topk_prob`` is read by the config but not by the router), times ``routed_scaling_factor``.
Of the two ``topk_method`` values, ``greedy`` (V2-Lite) is supported; ``group_limited_greedy`` (V2,
V2.5) ranks groups by their best expert, a rule archsmith's router does not have, and is refused
unless there is one group. ``mlp_bias`` applies to the dense MLPs and the shared experts. Defaults
are those of transformers 5.24 ``DeepseekV2Config``.
"""

from __future__ import annotations

from typing import Any

from ..common import refuse_unless
from ...config import ArchConfig
from ..deepseek_like import (
    LAYOUT, MOE_FACTS, MOE_FIELDS, OTHER_KEYS, dense_everywhere, mla_keys, mla_only, refuse_other_routing, shared_experts_fused, write_moe,
)  # fmt: skip
from ..family import heads_divide_hidden
from ..llama_like import llama_like

_MLA = {"q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128}


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    refuse_other_routing(d, "deepseek_v2", {"scoring_func": "softmax", "moe_layer_freq": 1})
    if dense_everywhere(d, read, 0):
        return {}
    method = d.get("topk_method", "greedy")
    refuse_unless(
        method == "greedy" or (method == "group_limited_greedy" and d.get("n_group") in (None, 1)),
        "deepseek_v2",
        f"topk_method={method!r} with n_group={d.get('n_group')!r} (groups ranked by their best expert)",
        "topk_method='greedy'; only DeepSeek-V3's group rule (the sum of each group's two best) is supported",
    )
    return {
        "num_experts": d.get("n_routed_experts", 64),
        "num_experts_per_tok": d.get("num_experts_per_tok") or 0,  # null: no routing at all (refused by ArchConfig)
        "moe_intermediate_size": d.get("moe_intermediate_size", 1407),
        "n_shared_experts": d.get("n_shared_experts", 2),
        "scoring_func": "softmax",
        "routed_scaling_factor": d.get("routed_scaling_factor", 1.0),
        "first_k_dense_replace": d.get("first_k_dense_replace", 0),
    }


def _router(cfg: ArchConfig) -> list[str]:
    if not cfg.is_moe:
        return []
    wanted = {"scoring_func": "softmax", "router_correction_bias": False, "norm_topk_prob": False, "n_group": 1, "topk_group": 1}
    return [f"{k}={getattr(cfg, k)!r} (its router has only {v!r})" for k, v in wanted.items() if getattr(cfg, k) != v]


FAMILY = llama_like(
    "deepseek_v2",
    "DeepseekV2ForCausalLM",
    {
        "vocab_size": 102400,
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": None,
        "max_position_embeddings": 2048,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-6,
        "attention_bias": False,
        "mlp_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": False,
    },
    export_rank=210,
    more_keys=mla_keys(_MLA),
    facts={"rope_interleaved": True, **MOE_FACTS},
    layout=LAYOUT,
    other_keys=OTHER_KEYS,
    read_extra=_read,
    write_extra=lambda cfg: {**write_moe(cfg), "topk_method": "greedy", "norm_topk_prob": False},
    free=MOE_FIELDS,
    checks=(mla_only, heads_divide_hidden, shared_experts_fused, _router),
)
