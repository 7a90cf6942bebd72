"""Cohere 2 (Command R7B, Command A): HF ``model_type: cohere2``.

Cohere's parallel block (see cohere.py) with three sliding-window layers for each full one
(``sliding_window_pattern``, 4 by default, or ``layer_types``). Only the sliding layers apply
RoPE: the full layers are NoPE (and with ``sliding_window`` null no layer slides or rotates).
``head_dim`` is always hidden_size / num_attention_heads: the config overwrites it.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from ..errors import ConfigError
from .cohere import FIELDS as COHERE_FIELDS, cohere_block
from .common import layer_window, read_rope

MODEL_TYPE = "cohere2"

FIELDS = (COHERE_FIELDS - {"use_qk_norm"}) | frozenset(
    {"sliding_window", "layer_types", "sliding_window_pattern", "cache_implementation"}
)


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    layers = d.get("num_hidden_layers", 40)
    pattern = d.get("sliding_window_pattern", 4)
    types = d.get("layer_types") or ["sliding_attention" if (i + 1) % pattern else "full_attention" for i in range(layers)]
    if len(types) != layers:
        raise ConfigError(f"layer_types has {len(types)} entries but num_hidden_layers={layers}; fix: one entry per layer")
    window, layer_types = layer_window(d.get("sliding_window", 4096), types)
    rotating = [i for i in range(layers) if window is not None and (layer_types is None or layer_types[i] == "sliding_attention")]
    rope = read_rope(
        d, model_type=MODEL_TYPE, partial_rotary=False, max_position_embeddings=d.get("max_position_embeddings", 8192)
    )
    fields = cohere_block(d, rope, sliding_window=window, layer_types=layer_types)
    if not rotating:
        fields.update(position_embedding="none", rope_scaling=None, rope_interleaved=False)
    else:
        fields["nope_layers"] = tuple(i for i in range(layers) if i not in rotating) or None
    return ArchConfig(**fields)
