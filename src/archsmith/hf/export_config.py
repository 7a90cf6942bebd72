"""Choose the HuggingFace class that expresses an ArchConfig exactly, and write its config.json.

Each candidate class below lists what its modeling file in transformers hard-codes
(``fixed``: the only value of a field the class can run) and what it ties together
(``checks``: e.g. Llama's single ``attention_bias`` covers q/k/v *and* o). The first
candidate with no problem wins; when none fits, the model is exported as remote code
(a self-contained modeling file next to the weights), never approximated.

The facts were read from transformers 5.x ``models/<family>/modeling_*.py`` and are
checked by tests/test_hf_parity.py, which compares logits of both implementations.

Pure Python, no torch: the designer calls :func:`plan_export` to tell a user which
class a design will load as.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from typing import Any, Callable

from ..config import ArchConfig

REMOTE_ARCHITECTURE = "ArchsmithForCausalLM"
REMOTE_MODEL_TYPE = "archsmith"


@dataclass(frozen=True)
class ExportPlan:
    """How a config will be exported: which class, the config.json content, and why."""

    architecture: str  # e.g. "LlamaForCausalLM", or "ArchsmithForCausalLM" for remote code
    model_type: str  # "llama", ..., or "archsmith"
    config: dict  # the complete config.json content
    remote_code: bool
    reason: str  # why this class / path was chosen, in one or two sentences


# --- what a class cannot express ---------------------------------------------------------------

# The plain modern block: every knob a family does NOT have is pinned to its neutral value.
_NEUTRAL: dict[str, Any] = {
    "position_embedding": "rope",
    "rope_interleaved": False,
    "position_offset": 0,
    "partial_rotary_factor": 1.0,
    "qk_norm": "none",
    "sliding_window": None,
    "attn_logit_softcapping": None,
    "final_logit_softcapping": None,
    "norm_weight": True,
    "norm_unit_offset": False,
    "norm_scheme": "pre",
    "final_norm": True,
    "parallel_residual": False,
    "parallel_shared_norm": False,
    "scale_embeddings": False,
    "embedding_norm": False,
    "lm_head_bias": False,
    "hidden_dropout": 0.0,
    "embedding_dropout": 0.0,
    "num_experts": 0,  # a dense MLP in every layer
}
_RMS_CAST_FIRST = {"norm_type": "rmsnorm", "norm_bias": False, "norm_weight_in_fp32": False}  # Llama's RMSNorm
_RMS_FP32_WEIGHT = {"norm_type": "rmsnorm", "norm_bias": False, "norm_weight_in_fp32": True}  # OLMo-2's
# nn.LayerNorm on the input dtype, i.e. plain F.layer_norm (archsmith's norm_weight_in_fp32=False).
_LAYERNORM = {"norm_type": "layernorm", "norm_bias": True, "norm_weight_in_fp32": False}


def _mismatches(cfg: ArchConfig, fixed: dict[str, Any]) -> list[str]:
    return [f"{k}={getattr(cfg, k)!r} (it has only {v!r})" for k, v in fixed.items() if getattr(cfg, k) != v]


def _implicit_head_dim(cfg: ArchConfig) -> list[str]:
    if cfg.head_dim * cfg.num_attention_heads != cfg.hidden_size:
        return [f"head_dim={cfg.head_dim} != hidden_size/num_attention_heads (it derives head_dim)"]
    return []


def _mha_only(cfg: ArchConfig) -> list[str]:
    if cfg.num_key_value_heads != cfg.num_attention_heads:
        return [f"num_key_value_heads={cfg.num_key_value_heads} ({cfg.attention_kind}; it has only MHA)"]
    return []


def _attention_bias_together(cfg: ArchConfig) -> list[str]:
    if cfg.qkv_bias != cfg.attn_out_bias:
        return [f"qkv_bias={cfg.qkv_bias} with attn_out_bias={cfg.attn_out_bias} (one attention_bias covers q/k/v and o)"]
    return []


def _all_sliding_or_none(cfg: ArchConfig) -> list[str]:
    if cfg.sliding_window is not None and cfg.layer_types is not None and "full_attention" in cfg.layer_types:
        return ["a mix of full and sliding layers (its window applies to every layer)"]
    return []


def _default_or_longrope(cfg: ArchConfig) -> list[str]:
    if cfg.rope_type not in ("default", "longrope"):
        return [f"rope_scaling {cfg.rope_type!r} (Phi3Config accepts only longrope)"]
    return []


def _not_exact_gelu(cfg: ArchConfig) -> list[str]:
    if cfg.hidden_act == "gelu":
        return ["hidden_act='gelu' (GemmaConfig rewrites it to gelu_pytorch_tanh)"]
    return []


def _power_of_two_heads(cfg: ArchConfig) -> list[str]:
    n = cfg.num_attention_heads
    if n & (n - 1):
        return [f"num_attention_heads={n} with ALiBi (its slopes match the standard ones only for a power of two)"]
    return []


# --- config.json pieces shared by several classes ----------------------------------------------


def _rope_parameters(cfg: ArchConfig, partial_in_rope: bool = False) -> dict[str, Any]:
    """transformers-5 ``rope_parameters`` plus the 4.x ``rope_theta``/``rope_scaling`` keys."""
    params: dict[str, Any] = {"rope_type": cfg.rope_type, "rope_theta": cfg.rope_theta}
    if cfg.rope_scaling:
        params.update({k: v for k, v in cfg.rope_scaling.items() if k != "rope_type"})
    if partial_in_rope:
        params["partial_rotary_factor"] = cfg.partial_rotary_factor
    out: dict[str, Any] = {"rope_parameters": params, "rope_theta": cfg.rope_theta}
    out["rope_scaling"] = dict(cfg.rope_scaling) if cfg.rope_scaling else None
    return out


def _layer_types(cfg: ArchConfig) -> list[str]:
    return ["sliding_attention" if cfg.layer_is_sliding(i) else "full_attention" for i in range(cfg.num_hidden_layers)]


def _llama_like(cfg: ArchConfig) -> dict[str, Any]:
    """Keys shared by the Llama descendants (same names, same meaning)."""
    return {
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "intermediate_size": cfg.intermediate_size,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads,
        "num_key_value_heads": cfg.num_key_value_heads,
        "head_dim": cfg.head_dim,
        "hidden_act": cfg.hidden_act,
        "max_position_embeddings": cfg.max_position_embeddings,
        "initializer_range": cfg.initializer_range,
        "rms_norm_eps": cfg.norm_eps,
        "attention_dropout": cfg.attention_dropout,
        "tie_word_embeddings": cfg.tie_word_embeddings,
        **_rope_parameters(cfg),
    }


# --- the candidate classes, in order of preference ---------------------------------------------


@dataclass(frozen=True)
class _Family:
    architecture: str
    model_type: str
    fixed: dict[str, Any]
    checks: tuple[Callable[[ArchConfig], list[str]], ...]
    build: Callable[[ArchConfig], dict[str, Any]]
    note: Callable[[ArchConfig], str] = lambda cfg: ""  # what the user should know about this export

    def problems(self, cfg: ArchConfig) -> list[str]:
        found = _mismatches(cfg, self.fixed)
        for check in self.checks:
            found += check(cfg)
        return found


def _llama(cfg: ArchConfig) -> dict[str, Any]:
    return {**_llama_like(cfg), "attention_bias": cfg.qkv_bias, "mlp_bias": cfg.mlp_bias, "pretraining_tp": 1}


def _mistral(cfg: ArchConfig) -> dict[str, Any]:
    return {**_llama_like(cfg), "sliding_window": cfg.sliding_window}


def _qwen2_window(cfg: ArchConfig) -> dict[str, Any]:
    types = _layer_types(cfg)
    sliding = [i for i, t in enumerate(types) if t == "sliding_attention"]
    return {
        "use_sliding_window": bool(sliding),
        "sliding_window": cfg.sliding_window,
        # 4.x before layer_types: layers from max_window_layers on slide.
        "max_window_layers": sliding[0] if sliding else cfg.num_hidden_layers,
        "layer_types": types,
    }


def _qwen2(cfg: ArchConfig) -> dict[str, Any]:
    # head_dim is no Qwen2Config field, but Qwen2Attention reads it when the file has it (as the reader does).
    return {**_llama_like(cfg), **_qwen2_window(cfg)}


def _qwen3(cfg: ArchConfig) -> dict[str, Any]:
    return {**_llama_like(cfg), "attention_bias": cfg.qkv_bias, **_qwen2_window(cfg)}


def _gemma(cfg: ArchConfig) -> dict[str, Any]:
    return {**_llama_like(cfg), "attention_bias": cfg.qkv_bias}


def _gemma2(cfg: ArchConfig) -> dict[str, Any]:
    out = _llama_like(cfg)
    out["hidden_activation"] = out.pop("hidden_act")
    return {
        **out,
        "attention_bias": cfg.qkv_bias,
        "query_pre_attn_scalar": cfg.head_dim,  # scores scaled by head_dim ** -0.5, as archsmith does
        # With no sliding layer the window is never used; Gemma2Config still wants a number.
        "sliding_window": cfg.sliding_window or cfg.max_position_embeddings,
        "layer_types": _layer_types(cfg),
        "attn_logit_softcapping": cfg.attn_logit_softcapping,
        "final_logit_softcapping": cfg.final_logit_softcapping,
    }


def _olmo2(cfg: ArchConfig) -> dict[str, Any]:
    out = _llama_like(cfg)
    del out["head_dim"]
    return {**out, "attention_bias": cfg.qkv_bias}


def _phi3(cfg: ArchConfig) -> dict[str, Any]:
    out = _llama_like(cfg)
    del out["head_dim"]
    rope = _rope_parameters(cfg, partial_in_rope=True)
    out.update(rope)
    out["partial_rotary_factor"] = cfg.partial_rotary_factor  # 4.x key
    if cfg.rope_scaling and "original_max_position_embeddings" in cfg.rope_scaling:
        out["original_max_position_embeddings"] = cfg.rope_scaling["original_max_position_embeddings"]
    return {
        **out,
        "sliding_window": cfg.sliding_window,
        "resid_pdrop": cfg.hidden_dropout,
    }


def _arcee(cfg: ArchConfig) -> dict[str, Any]:
    return {**_llama_like(cfg), "attention_bias": cfg.qkv_bias, "mlp_bias": cfg.mlp_bias}


def _stablelm(cfg: ArchConfig) -> dict[str, Any]:
    out = _llama_like(cfg)
    del out["head_dim"], out["rms_norm_eps"]
    out.update(_rope_parameters(cfg, partial_in_rope=True))
    return {
        **out,
        "partial_rotary_factor": cfg.partial_rotary_factor,  # 4.x key
        "layer_norm_eps": cfg.norm_eps,
        "use_qkv_bias": cfg.qkv_bias,
        "qk_layernorm": False,
        "use_parallel_residual": cfg.parallel_residual,
    }


def _gpt_neox(cfg: ArchConfig) -> dict[str, Any]:
    out = _llama_like(cfg)
    del out["head_dim"], out["rms_norm_eps"], out["num_key_value_heads"]
    out.update(_rope_parameters(cfg, partial_in_rope=True))
    del out["rope_theta"]  # GPT-NeoX's 4.x name for it is rotary_emb_base
    return {
        **out,
        "rotary_pct": cfg.partial_rotary_factor,  # 4.x key
        "rotary_emb_base": cfg.rope_theta,  # 4.x key
        "layer_norm_eps": cfg.norm_eps,
        "use_parallel_residual": cfg.parallel_residual,
        "attention_bias": cfg.qkv_bias,
        "hidden_dropout": cfg.hidden_dropout,
    }


def _gpt2(cfg: ArchConfig) -> dict[str, Any]:
    return {
        "vocab_size": cfg.vocab_size,
        "n_positions": cfg.max_position_embeddings,
        "n_embd": cfg.hidden_size,
        "n_layer": cfg.num_hidden_layers,
        "n_head": cfg.num_attention_heads,
        "n_inner": cfg.intermediate_size,
        "activation_function": cfg.hidden_act,
        "resid_pdrop": cfg.hidden_dropout,
        "embd_pdrop": cfg.embedding_dropout,
        "attn_pdrop": cfg.attention_dropout,
        "layer_norm_epsilon": cfg.norm_eps,
        "initializer_range": cfg.initializer_range,
        "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False,
        "reorder_and_upcast_attn": False,
        "tie_word_embeddings": cfg.tie_word_embeddings,
    }


def _bloom(cfg: ArchConfig) -> dict[str, Any]:
    return {
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "n_layer": cfg.num_hidden_layers,
        "n_head": cfg.num_attention_heads,
        # Not a BloomConfig field (ALiBi has no limit), but kept as an attribute so the context
        # length the model was built for reads back.
        "max_position_embeddings": cfg.max_position_embeddings,
        "layer_norm_epsilon": cfg.norm_eps,
        "initializer_range": cfg.initializer_range,
        "apply_residual_connection_post_layernorm": False,
        "hidden_dropout": cfg.hidden_dropout,
        "attention_dropout": cfg.attention_dropout,
        "pretraining_tp": 1,
        "slow_but_exact": False,
        "tie_word_embeddings": cfg.tie_word_embeddings,
    }


def _mpt(cfg: ArchConfig) -> dict[str, Any]:
    return {
        "d_model": cfg.hidden_size,
        "n_heads": cfg.num_attention_heads,
        "n_layers": cfg.num_hidden_layers,
        "expansion_ratio": cfg.intermediate_size // cfg.hidden_size,
        "max_seq_len": cfg.max_position_embeddings,
        "vocab_size": cfg.vocab_size,
        "resid_pdrop": 0.0,
        "emb_pdrop": 0.0,
        "layer_norm_epsilon": cfg.norm_eps,
        "learned_pos_emb": False,
        "attn_config": {
            "alibi": True,
            "alibi_bias_max": 8,
            "attn_pdrop": 0,  # MptAttentionConfig types it as an int, so only 0 loads
            "attn_type": "multihead_attention",
            "clip_qkv": None,
            "prefix_lm": False,
            "qk_ln": False,
            "softmax_scale": None,
        },
        "no_bias": True,
        "norm_type": "low_precision_layernorm",
        "logit_scale": None,
        "embedding_fraction": 1.0,
        "initializer_range": cfg.initializer_range,
        "tie_word_embeddings": cfg.tie_word_embeddings,
    }


def _opt(cfg: ArchConfig) -> dict[str, Any]:
    return {
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads,
        "ffn_dim": cfg.intermediate_size,
        "max_position_embeddings": cfg.max_position_embeddings,
        "do_layer_norm_before": cfg.norm_scheme == "pre",
        "_remove_final_layer_norm": False,
        "word_embed_proj_dim": cfg.hidden_size,
        "activation_function": cfg.hidden_act,
        "enable_bias": cfg.qkv_bias,
        "layer_norm_elementwise_affine": cfg.norm_weight,
        "dropout": cfg.hidden_dropout,
        "attention_dropout": cfg.attention_dropout,
        "init_std": cfg.initializer_range,
        "tie_word_embeddings": cfg.tie_word_embeddings,
    }


def _opt_norm_layout(cfg: ArchConfig) -> list[str]:
    problems = []
    if cfg.norm_scheme not in ("pre", "post"):
        problems.append(f"norm_scheme={cfg.norm_scheme!r} (it has only 'pre' and 'post')")
    elif cfg.final_norm != (cfg.norm_scheme == "pre"):
        problems.append(f"final_norm={cfg.final_norm} with norm_scheme={cfg.norm_scheme!r} (it has a final norm exactly when pre-norm)")
    if cfg.norm_bias != cfg.norm_weight:
        problems.append(f"norm_bias={cfg.norm_bias} with norm_weight={cfg.norm_weight} (elementwise_affine covers both)")
    if not cfg.qkv_bias == cfg.attn_out_bias == cfg.mlp_bias:
        problems.append("qkv_bias, attn_out_bias and mlp_bias differ (one enable_bias covers all)")
    return problems


def _heads_divide_hidden(cfg: ArchConfig) -> list[str]:
    if cfg.hidden_size % cfg.num_attention_heads:
        return [f"hidden_size={cfg.hidden_size} not divisible by num_attention_heads (Gemma2Config refuses it)"]
    return []


def _four_times_hidden(cfg: ArchConfig) -> list[str]:
    if cfg.intermediate_size != 4 * cfg.hidden_size:
        return [f"intermediate_size={cfg.intermediate_size} (its MLP is always 4 * hidden_size)"]
    return []


def _one_dropout(cfg: ArchConfig) -> list[str]:
    if cfg.hidden_dropout != cfg.embedding_dropout:
        return [f"embedding_dropout={cfg.embedding_dropout} != hidden_dropout={cfg.hidden_dropout} (one hidden_dropout drops both)"]
    return []


def _parallel_is_shared(cfg: ArchConfig) -> list[str]:
    if cfg.parallel_residual and not cfg.parallel_shared_norm:
        return ["a parallel residual with two norms (its parallel block shares one norm)"]
    return []


def _parallel_not_shared(cfg: ArchConfig) -> list[str]:
    if cfg.parallel_shared_norm:
        return ["parallel_shared_norm=True (its parallel block has two norms)"]
    return []


def _sparse(cfg: ArchConfig) -> list[str]:
    if cfg.num_experts == 0:
        return ["num_experts=0 (a dense model; its layers are Mixtures-of-Experts)"]
    return []


def _one_expert_size(cfg: ArchConfig) -> list[str]:
    if cfg.moe_intermediate_size != cfg.intermediate_size:
        return [f"moe_intermediate_size={cfg.moe_intermediate_size} != intermediate_size={cfg.intermediate_size} "
                "(its experts are intermediate_size wide)"]
    return []


def _moe_common(cfg: ArchConfig) -> dict[str, Any]:
    """The MoE keys Qwen2-MoE and Qwen3-MoE share."""
    return {
        "num_experts": cfg.num_experts,
        "num_experts_per_tok": cfg.num_experts_per_tok,
        "moe_intermediate_size": cfg.moe_intermediate_size,
        "decoder_sparse_step": cfg.decoder_sparse_step,
        "mlp_only_layers": list(cfg.mlp_only_layers),
        "norm_topk_prob": cfg.norm_topk_prob,
        "output_router_logits": cfg.output_router_logits,
        "router_aux_loss_coef": cfg.router_aux_loss_coef,
    }


def _mixtral(cfg: ArchConfig) -> dict[str, Any]:
    return {
        **_llama_like(cfg),
        "sliding_window": cfg.sliding_window,
        "num_local_experts": cfg.num_experts,
        "num_experts_per_tok": cfg.num_experts_per_tok,
        "output_router_logits": cfg.output_router_logits,
        "router_aux_loss_coef": cfg.router_aux_loss_coef,
        "router_jitter_noise": cfg.router_jitter_noise,
    }


def _qwen2_moe(cfg: ArchConfig) -> dict[str, Any]:
    window = _qwen2_window(cfg)
    window["max_window_layers"] = cfg.num_hidden_layers  # layer_types rules (its 4.x rule differs from Qwen2's)
    return {
        **_llama_like(cfg),
        **window,
        "qkv_bias": cfg.qkv_bias,
        "shared_expert_intermediate_size": cfg.shared_expert_intermediate_size,
        **_moe_common(cfg),
    }


def _qwen3_moe(cfg: ArchConfig) -> dict[str, Any]:
    return {
        **_llama_like(cfg),
        "attention_bias": cfg.qkv_bias,
        "use_sliding_window": cfg.sliding_window is not None,
        "sliding_window": cfg.sliding_window,
        **_moe_common(cfg),
    }


def _free(fixed: dict[str, Any], *names: str) -> dict[str, Any]:
    """``fixed`` without ``names``: the class has a knob for those fields."""
    return {k: v for k, v in fixed.items() if k not in names}


_LLAMA_FIXED = {**_NEUTRAL, **_RMS_CAST_FIRST, "mlp_type": "gated"}
_NO_BIAS = {"qkv_bias": False, "attn_out_bias": False, "mlp_bias": False}
# Softmax top-k routing with every layer sparse and no shared expert: what the MoE classes
# below share (each frees the knobs it has).
_ROUTED = {
    **_free(_LLAMA_FIXED, "num_experts"),
    "scoring_func": "softmax",
    "routed_scaling_factor": 1.0,
    "router_correction_bias": False,
    "n_group": 1,
    "topk_group": 1,
    "first_k_dense_replace": 0,
    "mlp_only_layers": (),
    "decoder_sparse_step": 1,
    "n_shared_experts": 0,
    "shared_expert_gate": False,
    "router_jitter_noise": 0.0,
}

FAMILIES: tuple[_Family, ...] = (
    _Family("LlamaForCausalLM", "llama", _LLAMA_FIXED, (_attention_bias_together,), _llama),
    _Family(
        "MistralForCausalLM",
        "mistral",
        {**_free(_LLAMA_FIXED, "sliding_window"), **_NO_BIAS},
        (_all_sliding_or_none,),
        _mistral,
    ),
    _Family(
        "Qwen2ForCausalLM",
        "qwen2",
        {**_free(_LLAMA_FIXED, "sliding_window"), "qkv_bias": True, "attn_out_bias": False, "mlp_bias": False},
        (),
        _qwen2,
    ),
    _Family(
        "Qwen3ForCausalLM",
        "qwen3",
        {**_free(_LLAMA_FIXED, "sliding_window"), "qk_norm": "head", "mlp_bias": False},
        (_attention_bias_together,),
        _qwen3,
    ),
    _Family(
        "MixtralForCausalLM",
        "mixtral",
        {**_free(_ROUTED, "sliding_window", "router_jitter_noise"), **_NO_BIAS, "norm_topk_prob": True},
        (_sparse, _one_expert_size, _all_sliding_or_none),
        _mixtral,
    ),
    _Family(
        "Qwen2MoeForCausalLM",
        "qwen2_moe",
        {
            **_free(_ROUTED, "sliding_window", "mlp_only_layers", "decoder_sparse_step"),
            "attn_out_bias": False,
            "mlp_bias": False,
            "n_shared_experts": 1,
            "shared_expert_gate": True,
        },
        (_sparse,),
        _qwen2_moe,
    ),
    _Family(
        "Qwen3MoeForCausalLM",
        "qwen3_moe",
        {**_free(_ROUTED, "sliding_window", "mlp_only_layers", "decoder_sparse_step"), "qk_norm": "head", "mlp_bias": False},
        (_sparse, _attention_bias_together, _all_sliding_or_none),
        _qwen3_moe,
    ),
    _Family(
        "GemmaForCausalLM",
        "gemma",
        {
            **_LLAMA_FIXED,
            **_RMS_FP32_WEIGHT,
            "norm_unit_offset": True,
            "scale_embeddings": True,
            "mlp_bias": False,
        },
        (_attention_bias_together, _not_exact_gelu),
        _gemma,
    ),
    _Family(
        "Gemma2ForCausalLM",
        "gemma2",
        {
            **_free(_LLAMA_FIXED, "sliding_window", "attn_logit_softcapping", "final_logit_softcapping"),
            **_RMS_FP32_WEIGHT,
            "norm_unit_offset": True,
            "norm_scheme": "peri",  # the "sandwich": a norm before and after each branch
            "scale_embeddings": True,
            "mlp_bias": False,
        },
        (_attention_bias_together, _heads_divide_hidden),
        _gemma2,
    ),
    _Family(
        "Olmo2ForCausalLM",
        "olmo2",
        {**_LLAMA_FIXED, **_RMS_FP32_WEIGHT, "norm_scheme": "reordered", "qk_norm": "full", "mlp_bias": False},
        (_attention_bias_together, _implicit_head_dim),
        _olmo2,
    ),
    _Family(
        "Phi3ForCausalLM",
        "phi3",
        {
            # resid_pdrop drops both branch outputs; embd_pdrop is read but never applied
            **_free(_LLAMA_FIXED, "sliding_window", "partial_rotary_factor", "hidden_dropout"),
            **_NO_BIAS,
        },
        (_implicit_head_dim, _all_sliding_or_none, _default_or_longrope),
        _phi3,
    ),
    _Family(
        "ArceeForCausalLM",
        "arcee",
        {**_LLAMA_FIXED, "mlp_type": "plain"},
        (_attention_bias_together,),
        _arcee,
    ),
    _Family(
        "StableLmForCausalLM",
        "stablelm",
        {
            # its hidden_dropout drops only the MLP output, so archsmith's hidden_dropout stays 0
            **_free(_NEUTRAL, "partial_rotary_factor", "parallel_residual", "parallel_shared_norm"),
            **_LAYERNORM,
            "mlp_type": "gated",
            "attn_out_bias": False,
            "mlp_bias": False,
        },
        (_implicit_head_dim, _parallel_is_shared),
        _stablelm,
    ),
    _Family(
        "GPTNeoXForCausalLM",
        "gpt_neox",
        {
            **_free(_NEUTRAL, "partial_rotary_factor", "parallel_residual", "hidden_dropout", "embedding_dropout"),
            **_LAYERNORM,
            "mlp_type": "plain",
            "mlp_bias": True,
        },
        (_attention_bias_together, _implicit_head_dim, _mha_only, _parallel_not_shared, _one_dropout),
        _gpt_neox,
    ),
    _Family(
        "GPT2LMHeadModel",
        "gpt2",
        {
            **_free(_NEUTRAL, "hidden_dropout", "embedding_dropout"),
            **_LAYERNORM,
            "position_embedding": "learned",
            "mlp_type": "plain",
            "qkv_bias": True,
            "attn_out_bias": True,
            "mlp_bias": True,
        },
        (_implicit_head_dim, _mha_only),
        _gpt2,
    ),
    _Family(
        "BloomForCausalLM",
        "bloom",
        {
            **_free(_NEUTRAL, "hidden_dropout"),
            **_LAYERNORM,
            "position_embedding": "alibi",
            "embedding_norm": True,
            "mlp_type": "plain",
            "hidden_act": "gelu_new",  # bloom_gelu_forward is gelu_new's tanh formula
            "qkv_bias": True,
            "attn_out_bias": True,
            "mlp_bias": True,
        },
        (_implicit_head_dim, _mha_only, _four_times_hidden),
        _bloom,
        lambda cfg: (
            " BloomConfig has no context-length field (ALiBi has no position table); max_position_embeddings"
            f"={cfg.max_position_embeddings} is written as an extra attribute that archsmith reads back and "
            "that changes no computation."
        ),
    ),
    _Family(
        "MptForCausalLM",
        "mpt",
        {
            **_NEUTRAL,
            **_LAYERNORM,
            "norm_bias": False,
            "attention_dropout": 0.0,
            "position_embedding": "alibi",
            "mlp_type": "plain",
            "hidden_act": "gelu",
            **_NO_BIAS,
        },
        (_implicit_head_dim, _mha_only, _four_times_hidden, _power_of_two_heads),
        _mpt,
    ),
    _Family(
        "OPTForCausalLM",
        "opt",
        {
            **_free(_NEUTRAL, "norm_scheme", "final_norm", "norm_weight", "hidden_dropout"),
            **_free(_LAYERNORM, "norm_bias"),
            "norm_eps": 1e-5,
            "position_embedding": "learned",
            "position_offset": 2,  # OPTLearnedPositionalEmbedding's two rows in front
            "mlp_type": "plain",
        },
        (_implicit_head_dim, _mha_only, _opt_norm_layout),
        _opt,
    ),
)


def _transformers_version() -> str:
    try:
        return metadata.version("transformers")
    except metadata.PackageNotFoundError:  # export works without transformers installed
        return "5.0.0"


def _dtype(cfg: ArchConfig) -> str:
    return cfg.torch_dtype or "float32"


def _common(cfg: ArchConfig, architecture: str, model_type: str) -> dict[str, Any]:
    dtype = _dtype(cfg)
    return {
        "architectures": [architecture],
        "model_type": model_type,
        "torch_dtype": dtype,  # 4.x name
        "dtype": dtype,  # 5.x name
        "transformers_version": _transformers_version(),
        "use_cache": True,
        "bos_token_id": None,
        "eos_token_id": None,
        "pad_token_id": None,
    }


def _describe(cfg: ArchConfig) -> str:
    norm = f"{cfg.norm_scheme}-{'RMSNorm' if cfg.norm_type == 'rmsnorm' else 'LayerNorm'}"
    mlp = f"{cfg.mlp_type} {cfg.hidden_act} MLP"
    pos = {"rope": "RoPE", "alibi": "ALiBi", "learned": "learned positions", "none": "no positions"}[cfg.position_embedding]
    return f"{norm}, {mlp}, {pos}, {cfg.attention_kind}"


def remote_config(cfg: ArchConfig) -> dict[str, Any]:
    """config.json of a remote-code export: the whole ArchConfig under "archsmith", plus the
    keys that transformers itself reads (generation, cache sizing)."""
    return {
        **_common(cfg, REMOTE_ARCHITECTURE, REMOTE_MODEL_TYPE),
        "auto_map": {
            "AutoConfig": "configuration_archsmith.ArchsmithConfig",
            "AutoModelForCausalLM": "modeling_archsmith.ArchsmithForCausalLM",
        },
        "archsmith": {**cfg.to_dict(), "torch_dtype": _dtype(cfg)},
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads,
        "num_key_value_heads": cfg.num_key_value_heads,
        "head_dim": cfg.head_dim,
        "max_position_embeddings": cfg.max_position_embeddings,
        "tie_word_embeddings": cfg.tie_word_embeddings,
    }


def plan_export(cfg: ArchConfig) -> ExportPlan:
    """The HF class that runs ``cfg`` exactly, or remote code when none does."""
    rejected = []
    for family in FAMILIES:
        problems = family.problems(cfg)
        if not problems:
            config = {**_common(cfg, family.architecture, family.model_type), **family.build(cfg)}
            reason = (
                f"{family.architecture} runs this architecture ({_describe(cfg)}) exactly: every archsmith field "
                f"maps onto a {family.model_type} config key or is what its modeling code hard-codes."
            )
            reason += family.note(cfg)
            if rejected:  # say why the more common classes before it did not fit
                _, arch, problems = rejected[0]
                reason += f" ({arch} cannot express {', '.join(problems[:2])}.)"
            return ExportPlan(family.architecture, family.model_type, config, False, reason)
        rejected.append((len(problems), family.architecture, problems))
    _, closest, problems = min(rejected, key=lambda r: r[0])
    reason = (
        f"No transformers class runs this architecture ({_describe(cfg)}) exactly (the closest, {closest}, cannot "
        f"express {', '.join(problems[:3])}), so it is exported with self-contained remote code: load it with "
        "trust_remote_code=True."
    )
    return ExportPlan(REMOTE_ARCHITECTURE, REMOTE_MODEL_TYPE, remote_config(cfg), True, reason)
