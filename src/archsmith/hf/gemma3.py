"""Gemma 3 (text): HF ``model_type: gemma3_text`` (``Gemma3ForCausalLM``).

Gemma 2's block (fp32 RMSNorm with scale 1 + w in a "sandwich", embeddings scaled by
sqrt(hidden_size)) plus a per-head RMSNorm on q and k, five sliding-window layers for each
full one (``sliding_window_pattern``, 6 by default, or ``layer_types``), and a RoPE per layer
type: full layers take ``rope_theta`` (1M) and ``rope_scaling``, sliding layers
``rope_local_base_freq`` (10k) unscaled (4.x files), or each its own entry of the nested 5.x
``rope_parameters``. Scores are scaled by ``query_pre_attn_scalar ** -0.5`` (Gemma-3-27B: 168,
not its head_dim 128). No softcapping by default.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from ..errors import ConfigError
from .common import BASE_FIELDS, ROPE_FIELDS, Rope, layer_window, read_dtype, read_rope, refuse_unless

MODEL_TYPE = "gemma3_text"

FIELDS = BASE_FIELDS | ROPE_FIELDS | frozenset(
    {
        "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "head_dim", "hidden_activation", "max_position_embeddings",
        "initializer_range", "rms_norm_eps", "use_cache", "pad_token_id", "eos_token_id", "bos_token_id",
        "tie_word_embeddings", "attention_bias", "attention_dropout", "query_pre_attn_scalar", "sliding_window",
        "layer_types", "final_logit_softcapping", "attn_logit_softcapping", "use_bidirectional_attention",
        "cache_implementation", "rope_local_base_freq", "sliding_window_pattern",
        "_sliding_window_pattern",  # what 5.x saves of the pattern; it reads layer_types (or the 6 default) instead
    }
)  # fmt: skip

_DEFAULT_THETA = {"full_attention": 1_000_000.0, "sliding_attention": 10_000.0}


def layer_ropes(d: dict[str, Any], max_positions: int) -> dict[str, Rope]:
    """The RoPE of each layer type, as ``Gemma3TextConfig.convert_rope_params_to_dict`` builds it:
    the nested ``rope_parameters`` entry of the type (a plain default RoPE without one), the 4.x
    ``rope_scaling`` merged into the full layers' entry, and the 4.x bases where no entry has one."""
    given = d.get("rope_parameters") or {}
    top_theta = {"full_attention": d.get("rope_theta"), "sliding_attention": d.get("rope_local_base_freq")}
    ropes = {}
    for layer_type, default_theta in _DEFAULT_THETA.items():
        params = given.get(layer_type) or {"rope_type": "default"}
        if not isinstance(params, dict):
            raise ConfigError(f"rope_parameters[{layer_type!r}]={params!r} must be an object; fix: give an object or null")
        params = dict(params)
        if layer_type == "full_attention" and d.get("rope_scaling"):
            params.update(d["rope_scaling"])
        theta = top_theta[layer_type]
        params.setdefault("rope_theta", default_theta if theta is None else theta)
        ropes[layer_type] = read_rope(
            {"rope_parameters": params}, model_type=MODEL_TYPE, partial_rotary=False, max_position_embeddings=max_positions
        )
    return ropes


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    layers = d.get("num_hidden_layers", 26)
    refuse_unless(not d.get("use_bidirectional_attention"), MODEL_TYPE, "use_bidirectional_attention", "a causal model")
    pattern = d.get("sliding_window_pattern", 6)
    default_types = ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(layers)]
    window, layer_types = layer_window(d.get("sliding_window", 4096), d.get("layer_types") or default_types)
    max_positions = d.get("max_position_embeddings", 131072)
    ropes = layer_ropes(d, max_positions)
    full, sliding = ropes["full_attention"], ropes["sliding_attention"]
    attention_bias = d.get("attention_bias", False)
    return ArchConfig(
        vocab_size=d.get("vocab_size", 262208),
        hidden_size=d.get("hidden_size", 2304),
        intermediate_size=d.get("intermediate_size", 9216),
        num_hidden_layers=layers,
        num_attention_heads=d.get("num_attention_heads", 8),
        num_key_value_heads=d.get("num_key_value_heads", 4),
        head_dim=d.get("head_dim", 256),
        max_position_embeddings=max_positions,
        qkv_bias=attention_bias,
        attn_out_bias=attention_bias,
        qk_norm="head",
        sliding_window=window,
        layer_types=layer_types,
        attn_logit_softcapping=d.get("attn_logit_softcapping"),
        attention_scale=d.get("query_pre_attn_scalar", 256) ** -0.5,
        final_logit_softcapping=d.get("final_logit_softcapping"),
        rope_theta=full.theta,
        rope_scaling=full.scaling,
        sliding_rope_theta=sliding.theta,
        sliding_rope_scaling=sliding.scaling,
        norm_type="rmsnorm",
        norm_eps=d.get("rms_norm_eps", 1e-6),
        norm_unit_offset=True,
        norm_weight_in_fp32=True,
        norm_scheme="peri",
        scale_embeddings=True,
        mlp_type="gated",
        hidden_act=d.get("hidden_activation", "gelu_pytorch_tanh"),
        tie_word_embeddings=d.get("tie_word_embeddings", True),
        attention_dropout=d.get("attention_dropout", 0.0),
        initializer_range=d.get("initializer_range", 0.02),
        torch_dtype=read_dtype(d),
    )
