"""The shared base of DeepSeek's multi-head latent attention classes (V2, V3), as transformers'
DeepseekV3 builds on DeepseekV2: the MLA keys, the tensor names, the MoE keys and their checks.

Both classes are Llama-like (pre-RMSNorm, SwiGLU) with MLA (ArchConfig's q_lora_rank, kv_lora_rank,
qk_nope_head_dim, qk_rope_head_dim, v_head_dim) and DeepSeek's MoE on every layer from
``first_k_dense_replace`` on (shared experts fused into one MLP of n_shared_experts x
moe_intermediate_size, no gate, no auxiliary loss). What they read and what they do not:

- ``head_dim`` and ``qk_head_dim`` are overwritten by the classes (head_dim = qk_rope_head_dim, the
  RoPE width); archsmith derives head_dim = qk_nope_head_dim + qk_rope_head_dim itself.
- ``attention_bias`` puts biases on q_a_proj, kv_a_proj_with_mqa and o_proj (never on q_proj).
- ``num_nextn_predict_layers``: DeepSeek's multi-token-prediction module is not built by transformers
  (its checkpoint tensors, one layer past the last, are ignored on load), so it is not counted either.
- DeepSeek's original remote code (configuration_deepseek.py) has ``scoring_func``, ``topk_method``,
  ``moe_layer_freq``, ``aux_loss_alpha``, ``seq_aux`` and ``ep_size``; values the transformers class
  does not run are refused.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ..config import ArchConfig
from .common import refuse_unless
from .family import ExpertNames, Fields
from .llama_like import llama_layout

MLA_KEYS = ("q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")

# Keys the MoE reading below handles, the ones the classes overwrite or never build, and the
# original remote code's (checked where they would change the model, else no-ops).
OTHER_KEYS = frozenset(
    {
        "n_routed_experts", "num_experts_per_tok", "moe_intermediate_size", "n_shared_experts",
        "routed_scaling_factor", "n_group", "topk_group", "first_k_dense_replace", "norm_topk_prob",
        "output_router_logits", "head_dim", "qk_head_dim", "num_nextn_predict_layers", "pretraining_tp",
        "moe_layer_freq", "scoring_func", "topk_method", "aux_loss_alpha", "seq_aux", "ep_size",
    }
)  # fmt: skip

MOE_FIELDS = (
    "num_experts", "num_experts_per_tok", "moe_intermediate_size", "n_shared_experts", "scoring_func",
    "router_correction_bias", "norm_topk_prob", "routed_scaling_factor", "n_group", "topk_group", "first_k_dense_replace",
)  # fmt: skip

LAYOUT = dataclasses.replace(
    llama_layout(
        {
            **{f"attn.{name}": f"self_attn.{name}" for name in ("q_a_proj", "q_a_layernorm", "q_b_proj", "kv_a_proj_with_mqa", "kv_a_layernorm", "kv_b_proj")},
            "mlp.router": "mlp.gate",  # its weight, and V3's e_score_correction_bias buffer
            **{f"mlp.shared_experts.{p}": f"mlp.shared_experts.{p}" for p in ("gate_proj", "up_proj", "down_proj")},
        },
        experts=ExpertNames("mlp.experts.{j}.", gate="gate_proj", up="up_proj", down="down_proj"),
    ),
    ignores_extra_layers=True,  # the multi-token-prediction layer of DeepSeek-V3's checkpoint
)

# What both classes' MoE layers hard-code: sparse from first_k_dense_replace on, shared experts
# without a gate, no auxiliary loss, no input jitter.
MOE_FACTS = {
    "mlp_only_layers": (), "decoder_sparse_step": 1, "shared_expert_gate": False, "router_jitter_noise": 0.0,
    "output_router_logits": False,
}  # fmt: skip


def mla_keys(defaults: dict[str, Any]) -> dict[str, tuple[Fields, Any]]:
    """The MLA keys with one class's defaults."""
    return {key: (key, defaults[key]) for key in MLA_KEYS}


def refuse_other_routing(d: dict[str, Any], model_type: str, fixed: dict[str, Any]) -> None:
    """Refuse remote-code routing keys with values the transformers class does not run."""
    for key, value in fixed.items():
        if key in d:
            refuse_unless(
                d[key] == value,
                model_type,
                f"{key}={d[key]!r} (transformers' class always runs {key}={value!r})",
                f"remove {key} or set it to {value!r}; a model trained otherwise is not a {model_type} model",
            )


def dense_everywhere(d: dict[str, Any], read: dict[str, Any], default_first_dense: int) -> bool:
    """Whether no layer is sparse: the class then builds no expert at all."""
    return d.get("first_k_dense_replace", default_first_dense) >= read["num_hidden_layers"]


def write_moe(cfg: ArchConfig) -> dict[str, Any]:
    """The MoE keys both classes share (a dense config: first_k_dense_replace = every layer)."""
    out = {"pretraining_tp": 1}
    if not cfg.is_moe:
        return {**out, "first_k_dense_replace": cfg.num_hidden_layers}
    return {
        **out,
        "first_k_dense_replace": cfg.first_k_dense_replace,
        "n_routed_experts": cfg.num_experts,
        "num_experts_per_tok": cfg.num_experts_per_tok,
        "moe_intermediate_size": cfg.moe_intermediate_size,
        "n_shared_experts": cfg.n_shared_experts,
        "routed_scaling_factor": cfg.routed_scaling_factor,
        "n_group": cfg.n_group,
        "topk_group": cfg.topk_group,
    }


def mla_only(cfg: ArchConfig) -> list[str]:
    if not cfg.is_mla:
        return ["q/k/v projections (it has only multi-head latent attention: set kv_lora_rank)"]
    return []


def shared_experts_fused(cfg: ArchConfig) -> list[str]:
    """The classes fuse the shared experts into one MLP of n_shared_experts * moe_intermediate_size."""
    if cfg.n_shared_experts and cfg.shared_expert_intermediate_size != cfg.moe_intermediate_size:
        return [f"shared_expert_intermediate_size={cfg.shared_expert_intermediate_size} (its shared experts are "
                "moe_intermediate_size wide)"]
    return []
