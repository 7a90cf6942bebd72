"""DeepSeek-V3 (and Moonlight, which uses its class): HF ``model_type: deepseek_v3``.

Multi-head latent attention (ArchConfig's q_lora_rank, kv_lora_rank, qk_nope_head_dim,
qk_rope_head_dim, v_head_dim), RoPE on interleaved pairs unless ``rope_interleave`` is false,
pre-RMSNorm, SwiGLU. Defaults are those of transformers 5.24 ``DeepseekV3Config``.

What the class reads and what it does not:

- ``head_dim`` and ``qk_head_dim`` are overwritten by the class (head_dim = qk_rope_head_dim,
  the RoPE width); archsmith derives head_dim = qk_nope_head_dim + qk_rope_head_dim itself.
- ``num_nextn_predict_layers`` (``num_mtp_layers``): DeepSeek's multi-token-prediction module
  is not built by transformers' class (its checkpoint tensors, ``model.layers.61.*`` for V3, are
  ignored on load), so it is not counted either: counts equal transformers' numel.
- ``attention_bias`` puts biases on q_a_proj, kv_a_proj_with_mqa and o_proj.
- The class always routes as DeepSeek-V3 does (sigmoid scores, ``noaux_tc`` group-limited top-k,
  MoE on every layer from ``first_k_dense_replace`` on). The original remote code's
  ``scoring_func``, ``topk_method`` and ``moe_layer_freq`` are accepted at those values only.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from .common import BASE_FIELDS, ROPE_FIELDS, read_dtype, read_rope, refuse_unless

MODEL_TYPE = "deepseek_v3"

FIELDS = BASE_FIELDS | ROPE_FIELDS | frozenset(
    {
        "vocab_size",
        "hidden_size",
        "intermediate_size",
        "moe_intermediate_size",
        "num_hidden_layers",
        "num_attention_heads",
        "num_key_value_heads",
        "n_shared_experts",
        "n_routed_experts",
        "num_local_experts",
        "routed_scaling_factor",
        "kv_lora_rank",
        "q_lora_rank",
        "qk_rope_head_dim",
        "v_head_dim",
        "qk_nope_head_dim",
        "qk_head_dim",
        "head_dim",
        "n_group",
        "topk_group",
        "num_experts_per_tok",
        "first_k_dense_replace",
        "norm_topk_prob",
        "hidden_act",
        "max_position_embeddings",
        "initializer_range",
        "rms_norm_eps",
        "use_cache",
        "pad_token_id",
        "bos_token_id",
        "eos_token_id",
        "pretraining_tp",
        "tie_word_embeddings",
        "rope_interleave",
        "attention_bias",
        "attention_dropout",
        "output_router_logits",
        "num_nextn_predict_layers",
        "num_mtp_layers",
        # DeepSeek's original remote code (configuration_deepseek.py) only
        "moe_layer_freq",
        "scoring_func",
        "topk_method",
        "aux_loss_alpha",
        "seq_aux",
        "ep_size",
    }
)


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    max_positions = d.get("max_position_embeddings", 4096)
    rope = read_rope(d, model_type=MODEL_TYPE, partial_rotary=False, max_position_embeddings=max_positions)
    num_layers = d.get("num_hidden_layers", 61)
    for key, value in (("scoring_func", "sigmoid"), ("topk_method", "noaux_tc"), ("moe_layer_freq", 1)):
        if key in d:
            refuse_unless(
                d[key] == value,
                MODEL_TYPE,
                f"{key}={d[key]!r} (transformers' DeepseekV3 class always runs {key}={value!r})",
                f"remove {key} or set it to {value!r}; a model trained otherwise is not a deepseek_v3 model",
            )
    attention_bias = d.get("attention_bias", False)
    return ArchConfig(
        **_moe(d, num_layers),
        vocab_size=d.get("vocab_size", 129280),
        hidden_size=d.get("hidden_size", 7168),
        intermediate_size=d.get("intermediate_size", 18432),
        num_hidden_layers=num_layers,
        num_attention_heads=d.get("num_attention_heads", 128),
        num_key_value_heads=d.get("num_key_value_heads", 128),
        max_position_embeddings=max_positions,
        q_lora_rank=d.get("q_lora_rank", 1536),
        kv_lora_rank=d.get("kv_lora_rank", 512),
        qk_nope_head_dim=d.get("qk_nope_head_dim", 128),
        qk_rope_head_dim=d.get("qk_rope_head_dim", 64),
        v_head_dim=d.get("v_head_dim", 128),
        qkv_bias=attention_bias,
        attn_out_bias=attention_bias,
        rope_theta=rope.theta,
        rope_scaling=rope.scaling,
        rope_interleaved=bool(d.get("rope_interleave", True)),  # the class tests it for truth (null: rotate-half)
        norm_type="rmsnorm",
        norm_eps=d.get("rms_norm_eps", 1e-6),
        mlp_type="gated",
        hidden_act=d.get("hidden_act", "silu"),
        tie_word_embeddings=d.get("tie_word_embeddings", False),
        attention_dropout=d.get("attention_dropout", 0.0),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )


def _moe(d: dict[str, Any], num_layers: int) -> dict[str, Any]:
    """The MoE fields: DeepSeek-V3's router (sigmoid scores, e_score_correction_bias, group-limited
    top-k, routed_scaling_factor) on every layer from first_k_dense_replace on; none when every
    layer is dense (the class then builds no expert at all)."""
    first_dense = d.get("first_k_dense_replace", 3)
    if first_dense >= num_layers:
        return {}
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
