"""DeepSeek-V2 (V2, V2-Lite, V2.5): HF ``model_type: deepseek_v2``; also the shared reading of
the DeepSeek MLA families (deepseek_v3.py builds on it, as transformers' DeepseekV3 does on V2).

Multi-head latent attention (ArchConfig's q_lora_rank, kv_lora_rank, qk_nope_head_dim,
qk_rope_head_dim, v_head_dim), RoPE on interleaved pairs (V2 rotates complex pairs, always),
pre-RMSNorm, SwiGLU. Defaults are those of transformers 5.24 ``DeepseekV2Config``.

What the class reads and what it does not:

- ``head_dim`` and ``qk_head_dim`` are overwritten by the class (head_dim = qk_rope_head_dim,
  the RoPE width); archsmith derives head_dim = qk_nope_head_dim + qk_rope_head_dim itself.
- ``attention_bias`` puts biases on q_a_proj, kv_a_proj_with_mqa and o_proj.
- The router scores with a softmax and takes the top-k without renormalising (``norm_topk_prob``
  is read by the config but not by the router), times ``routed_scaling_factor``. Of the two
  ``topk_method`` values, ``greedy`` (V2-Lite) is supported; ``group_limited_greedy`` (V2, V2.5)
  ranks groups by their best expert, a rule archsmith's router does not have, and is refused
  unless there is one group.
- DeepSeek's original remote code (configuration_deepseek.py) has ``scoring_func``,
  ``moe_layer_freq``, ``aux_loss_alpha``, ``seq_aux`` and ``ep_size``; transformers' class reads none
  of them, so values that would change the model are refused.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from .common import BASE_FIELDS, ROPE_FIELDS, read_dtype, read_rope, refuse_unless

MODEL_TYPE = "deepseek_v2"

# The fields both DeepSeek MLA classes have, and the original remote code's extras.
MLA_FAMILY_FIELDS = BASE_FIELDS | ROPE_FIELDS | frozenset(
    {
        "vocab_size", "hidden_size", "intermediate_size", "moe_intermediate_size", "num_hidden_layers",
        "num_attention_heads", "num_key_value_heads", "n_shared_experts", "n_routed_experts", "routed_scaling_factor",
        "kv_lora_rank", "q_lora_rank", "qk_rope_head_dim", "v_head_dim", "qk_nope_head_dim", "qk_head_dim", "head_dim",
        "n_group", "topk_group", "num_experts_per_tok", "first_k_dense_replace", "norm_topk_prob", "hidden_act",
        "max_position_embeddings", "initializer_range", "rms_norm_eps", "use_cache", "pad_token_id", "bos_token_id",
        "eos_token_id", "pretraining_tp", "tie_word_embeddings", "attention_bias", "attention_dropout",
        "output_router_logits",
        # DeepSeek's original remote code only
        "moe_layer_freq", "scoring_func", "aux_loss_alpha", "seq_aux", "ep_size", "num_nextn_predict_layers",
    }
)  # fmt: skip
FIELDS = MLA_FAMILY_FIELDS | frozenset({"mlp_bias", "topk_method"})


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


def mla_config(
    d: dict[str, Any], model_type: str, defaults: dict[str, Any], own: dict[str, Any], rope_interleaved: bool
) -> ArchConfig:
    """The ArchConfig of a DeepSeek MLA family's file, given its defaults and the fields only it
    reads (its MoE router, V2's mlp_bias)."""

    def get(key: str) -> Any:
        return d.get(key, defaults[key])

    max_positions = get("max_position_embeddings")
    rope = read_rope(d, model_type=model_type, partial_rotary=False, max_position_embeddings=max_positions)
    attention_bias = get("attention_bias")
    return ArchConfig(
        vocab_size=get("vocab_size"),
        hidden_size=get("hidden_size"),
        intermediate_size=get("intermediate_size"),
        num_hidden_layers=get("num_hidden_layers"),
        num_attention_heads=get("num_attention_heads"),
        num_key_value_heads=get("num_key_value_heads"),  # MLA needs it equal to the heads (ArchConfig says so)
        max_position_embeddings=max_positions,
        q_lora_rank=get("q_lora_rank"),
        kv_lora_rank=get("kv_lora_rank"),
        qk_nope_head_dim=get("qk_nope_head_dim"),
        qk_rope_head_dim=get("qk_rope_head_dim"),
        v_head_dim=get("v_head_dim"),
        qkv_bias=attention_bias,
        attn_out_bias=attention_bias,
        rope_theta=rope.theta,
        rope_scaling=rope.scaling,
        rope_interleaved=rope_interleaved,
        norm_type="rmsnorm",
        norm_eps=d.get("rms_norm_eps", 1e-6),
        mlp_type="gated",
        hidden_act=d.get("hidden_act", "silu"),
        tie_word_embeddings=d.get("tie_word_embeddings", False),
        attention_dropout=d.get("attention_dropout", 0.0),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
        **own,
    )


_DEFAULTS = {
    "vocab_size": 102400, "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": None, "max_position_embeddings": 2048, "q_lora_rank": 1536, "kv_lora_rank": 512,
    "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128, "attention_bias": False,
}  # fmt: skip


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    refuse_other_routing(d, MODEL_TYPE, {"scoring_func": "softmax", "moe_layer_freq": 1})
    own = {**_moe(d), "mlp_bias": d.get("mlp_bias", False)}  # on the dense MLPs and the shared experts
    return mla_config(d, MODEL_TYPE, _DEFAULTS, own, rope_interleaved=True)


def _moe(d: dict[str, Any]) -> dict[str, Any]:
    """Softmax top-k on every layer from first_k_dense_replace (default 0) on."""
    first_dense = d.get("first_k_dense_replace", 0)
    if first_dense >= d.get("num_hidden_layers", _DEFAULTS["num_hidden_layers"]):
        return {}  # every layer dense: the class builds no expert
    method = d.get("topk_method", "greedy")
    one_group = d.get("n_group") in (None, 1)
    refuse_unless(
        method == "greedy" or (method == "group_limited_greedy" and one_group),
        MODEL_TYPE,
        f"topk_method={method!r} with n_group={d.get('n_group')!r} (groups ranked by their best expert)",
        "topk_method='greedy'; only DeepSeek-V3's group rule (the sum of each group's two best) is supported",
    )
    return {
        "num_experts": d.get("n_routed_experts", 64),
        "num_experts_per_tok": d.get("num_experts_per_tok") or 0,  # null: no routing at all (refused by ArchConfig)
        "moe_intermediate_size": d.get("moe_intermediate_size", 1407),
        # The class fuses the shared experts into one MLP of n_shared_experts * moe_intermediate_size.
        "n_shared_experts": d.get("n_shared_experts", 2),
        "scoring_func": "softmax",
        "routed_scaling_factor": d.get("routed_scaling_factor", 1.0),
        "first_k_dense_replace": first_dense,
    }
