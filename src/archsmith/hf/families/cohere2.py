"""Cohere 2 (Command R7B, Command A): HF ``model_type: cohere2``.

Cohere's parallel block (see cohere.py) with three sliding-window layers for each full one
(``sliding_window_pattern``, 4 by default, or ``layer_types``). Only the sliding layers apply
RoPE: the full layers are NoPE (and with ``sliding_window`` null no layer slides or rotates).
``head_dim`` is always hidden_size / num_attention_heads: the config overwrites it.
"""

from typing import Any

from ...config import ArchConfig
from ...errors import ConfigError
from ..common import layer_window
from ..family import implicit_head_dim, layer_types
from ..llama_like import llama_like
from .cohere import COHERE_DEFAULTS, COHERE_FACTS, read_logit_scale


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    layers = read["num_hidden_layers"]
    pattern = d.get("sliding_window_pattern", 4)
    types = d.get("layer_types") or ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(layers)]
    if len(types) != layers:
        raise ConfigError(f"layer_types has {len(types)} entries but num_hidden_layers={layers}; fix: one entry per layer")
    window, types = layer_window(d.get("sliding_window", 4096), types)
    out = {"sliding_window": window, "layer_types": types, "logit_scale": read_logit_scale(d)}
    rotating = [i for i in range(layers) if window is not None and (types is None or types[i] == "sliding_attention")]
    if not rotating:
        return {**out, "position_embedding": "none", "rope_interleaved": False}
    return {**out, "nope_layers": tuple(i for i in range(layers) if i not in rotating) or None}


def _write(cfg: ArchConfig) -> dict[str, Any]:
    return {"logit_scale": cfg.logit_scale, "sliding_window": cfg.sliding_window, "layer_types": layer_types(cfg)}


def _rope_on_sliding_layers_only(cfg: ArchConfig) -> list[str]:
    full = tuple(i for i in range(cfg.num_hidden_layers) if not cfg.layer_is_sliding(i)) or None
    if cfg.sliding_window is None or cfg.nope_layers != full:
        return [f"nope_layers={cfg.nope_layers} (it applies RoPE on exactly the sliding-window layers, so the NoPE layers are {full})"]
    return []


FAMILY = llama_like(
    "cohere2",
    "Cohere2ForCausalLM",
    COHERE_DEFAULTS,
    export_rank=127,
    more_keys={"layer_norm_eps": ("norm_eps", 1e-5)},
    facts=COHERE_FACTS,
    other_keys=frozenset({"logit_scale", "sliding_window", "layer_types", "sliding_window_pattern", "cache_implementation"}),
    read_extra=_read,
    write_extra=_write,
    free=("logit_scale", "sliding_window", "nope_layers"),
    checks=(implicit_head_dim, _rope_on_sliding_layers_only),
)
