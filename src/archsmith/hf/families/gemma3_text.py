"""Gemma 3 (text): HF ``model_type: gemma3_text`` (``Gemma3ForCausalLM``).

Gemma 2's block (fp32 RMSNorm with scale 1 + w in a "sandwich", embeddings scaled by
sqrt(hidden_size)) plus a per-head RMSNorm on q and k, five sliding-window layers for each
full one (``sliding_window_pattern``, 6 by default, or ``layer_types``), and a RoPE per layer
type: full layers take ``rope_theta`` (1M) and ``rope_scaling``, sliding layers
``rope_local_base_freq`` (10k) unscaled (4.x files), or each its own entry of the nested 5.x
``rope_parameters``. Scores are scaled by ``query_pre_attn_scalar ** -0.5`` (Gemma-3-27B: 168,
not its head_dim 128). No softcapping by default.
"""

from dataclasses import dataclass
from typing import Any

from ...config import ArchConfig
from ...errors import ConfigError
from ..common import ROPE_FIELDS, layer_window, read_rope, refuse_unless
from ..family import RopeKeys, layer_types
from ..llama_like import llama_like
from .gemma2 import SANDWICH_FACTS, SANDWICH_KEYS, SANDWICH_LAYOUT

_DEFAULT_THETA = {"full_attention": 1_000_000.0, "sliding_attention": 10_000.0}
_TOP_THETA_KEY = {"full_attention": "rope_theta", "sliding_attention": "rope_local_base_freq"}


@dataclass(frozen=True)
class _RopePerLayerType(RopeKeys):
    """Gemma 3's RoPE, one per layer type, as ``Gemma3TextConfig.convert_rope_params_to_dict`` builds
    it: the nested ``rope_parameters`` entry of the type (a default RoPE without one), the 4.x
    ``rope_scaling`` merged into the full layers' entry, the 4.x bases where no entry has one."""

    @property
    def keys(self) -> frozenset[str]:
        return ROPE_FIELDS | {"rope_local_base_freq"}

    def read(self, d: dict[str, Any], model_type: str, max_positions: int) -> dict[str, Any]:
        given = d.get("rope_parameters") or {}
        ropes = {}
        for layer_type, default_theta in _DEFAULT_THETA.items():
            params = given.get(layer_type) or {"rope_type": "default"}
            if not isinstance(params, dict):
                raise ConfigError(f"rope_parameters[{layer_type!r}]={params!r} must be an object; fix: an object or null")
            params = dict(params)
            if layer_type == "full_attention" and d.get("rope_scaling"):
                params.update(d["rope_scaling"])
            theta = d.get(_TOP_THETA_KEY[layer_type])
            params.setdefault("rope_theta", default_theta if theta is None else theta)
            ropes[layer_type] = read_rope(
                {"rope_parameters": params}, model_type=model_type, partial_rotary=False, max_position_embeddings=max_positions
            )
        full, sliding = ropes["full_attention"], ropes["sliding_attention"]
        return {
            "rope_theta": full.theta,
            "rope_scaling": full.scaling,
            "sliding_rope_theta": sliding.theta,
            "sliding_rope_scaling": sliding.scaling,
        }

    def write(self, cfg: ArchConfig) -> dict[str, Any]:
        params = {}
        for layer_type, sliding in (("full_attention", False), ("sliding_attention", True)):
            theta, scaling = cfg.rope_settings(sliding)
            params[layer_type] = {"rope_type": "default" if scaling is None else scaling["rope_type"], "rope_theta": theta}
            params[layer_type].update({k: v for k, v in (scaling or {}).items() if k != "rope_type"})
        # 5.x reads the nested rope_parameters; 4.x reads rope_theta, rope_scaling (full layers) and rope_local_base_freq.
        return {
            "rope_parameters": params,
            "rope_theta": cfg.rope_theta,
            "rope_scaling": dict(cfg.rope_scaling) if cfg.rope_scaling else None,
            "rope_local_base_freq": params["sliding_attention"]["rope_theta"],
        }


def query_pre_attn_scalar(cfg: ArchConfig) -> int | None:
    """The integer whose ** -0.5 is the softmax scale exactly (Gemma's config field), or None."""
    if cfg.attention_scale is None:
        return cfg.head_dim
    scalar = round(cfg.attention_scale**-2)
    return scalar if scalar >= 1 and scalar**-0.5 == cfg.attention_scale else None


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    refuse_unless(not d.get("use_bidirectional_attention"), "gemma3_text", "use_bidirectional_attention", "a causal model")
    layers = read["num_hidden_layers"]
    pattern = d.get("sliding_window_pattern", 6)
    default_types = ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(layers)]
    window, types = layer_window(d.get("sliding_window", 4096), d.get("layer_types") or default_types)
    return {"sliding_window": window, "layer_types": types, "attention_scale": d.get("query_pre_attn_scalar", 256) ** -0.5}


def _write(cfg: ArchConfig) -> dict[str, Any]:
    return {
        "query_pre_attn_scalar": query_pre_attn_scalar(cfg),
        # With no sliding layer the window is never used; Gemma3TextConfig still wants a number.
        "sliding_window": cfg.sliding_window or cfg.max_position_embeddings,
        "layer_types": layer_types(cfg),
    }


def _scale_is_query_pre_attn_scalar(cfg: ArchConfig) -> list[str]:
    if query_pre_attn_scalar(cfg) is None:
        return [f"attention_scale={cfg.attention_scale} (its query_pre_attn_scalar is an integer n, the scale n ** -0.5)"]
    return []


def _heads_divide_hidden(cfg: ArchConfig) -> list[str]:
    if cfg.hidden_size % cfg.num_attention_heads:
        return [f"hidden_size={cfg.hidden_size} not divisible by num_attention_heads (Gemma3TextConfig refuses it)"]
    return []


FAMILY = llama_like(
    "gemma3_text",
    "Gemma3ForCausalLM",
    {
        "vocab_size": 262208,
        "hidden_size": 2304,
        "intermediate_size": 9216,
        "num_hidden_layers": 26,
        "num_attention_heads": 8,
        "num_key_value_heads": 4,
        "head_dim": 256,
        "max_position_embeddings": 131072,
        "rms_norm_eps": 1e-6,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": True,
    },
    export_rank=63,
    more_keys={
        "hidden_activation": ("hidden_act", "gelu_pytorch_tanh"),
        "attn_logit_softcapping": ("attn_logit_softcapping", None),
        "final_logit_softcapping": ("final_logit_softcapping", None),
    },
    facts={**SANDWICH_FACTS, "qk_norm": "head"},
    layout=SANDWICH_LAYOUT,
    rope=_RopePerLayerType(),
    other_keys=SANDWICH_KEYS
    | {
        "sliding_window_pattern",
        "_sliding_window_pattern",  # what 5.x saves of the pattern; it reads layer_types (or the 6 default) instead
    },
    read_extra=_read,
    write_extra=_write,
    free=("sliding_window", "attention_scale", "sliding_rope_theta", "sliding_rope_scaling"),
    checks=(_heads_divide_hidden, _scale_is_query_pre_attn_scalar),
)
