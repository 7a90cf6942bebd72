"""SmolLM3: HF ``model_type: smollm3``. Llama with NoPE layers.

``no_rope_layers`` holds one flag per layer, 1 for a layer that applies RoPE and 0 for one
that does not (the name says the opposite); without it every ``no_rope_layer_interval``-th
layer (4) is NoPE. A layer slides only when ``use_sliding_window`` is set and ``layer_types``
calls it sliding (by default the NoPE layers, when a window is set). ``head_dim`` is no
config field, but the attention reads it when the file has one.
"""

from typing import Any

from ...config import ArchConfig
from ...errors import ConfigError
from ..common import layer_window
from ..family import RopeKeys
from ..llama_like import llama_like, write_qwen_window


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    layers = read["num_hidden_layers"]
    flags = d.get("no_rope_layers")
    if flags is None:
        flags = [int((i + 1) % d.get("no_rope_layer_interval", 4) != 0) for i in range(layers)]
    if len(flags) < layers:
        raise ConfigError(
            f"no_rope_layers has {len(flags)} entries for num_hidden_layers={layers}; fix: one 1 (RoPE) or 0 (NoPE) per layer"
        )
    nope = tuple(i for i in range(layers) if not flags[i])
    use_window, window = d.get("use_sliding_window", False), d.get("sliding_window")
    types = d.get("layer_types")
    if types is None:
        types = ["sliding_attention" if use_window and window is not None and i in nope else "full_attention" for i in range(layers)]
    if "sliding_attention" in types and not (use_window and window is not None):
        # The attention then runs without a window but its mask with one: the result depends on the kernel.
        raise ConfigError(
            "smollm3: layer_types has sliding_attention layers but use_sliding_window is false or sliding_window "
            "null, which transformers' SmolLM3 masks and kernels read differently; fix: set use_sliding_window=true "
            "and a sliding_window, or make every layer full_attention"
        )
    window, layer_types = layer_window(window if use_window else None, types)
    if len(nope) == layers:
        return {"sliding_window": window, "layer_types": layer_types, "position_embedding": "none"}
    return {"sliding_window": window, "layer_types": layer_types, "nope_layers": nope}


def _write(cfg: ArchConfig) -> dict[str, Any]:
    nope = set(cfg.nope_layers or ())
    return {"no_rope_layers": [int(i not in nope) for i in range(cfg.num_hidden_layers)], **write_qwen_window(cfg)}


FAMILY = llama_like(
    "smollm3",
    "SmolLM3ForCausalLM",
    {
        "vocab_size": 128256,
        "hidden_size": 2048,
        "intermediate_size": 11008,
        "num_hidden_layers": 36,
        "num_attention_heads": 16,
        "num_key_value_heads": 4,
        "head_dim": None,
        "max_position_embeddings": 32768,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-6,
        "attention_bias": False,
        "mlp_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": True,
    },
    export_rank=93,
    rope=RopeKeys(default_theta=2_000_000.0),
    other_keys=frozenset(
        {"use_sliding_window", "sliding_window", "layer_types", "no_rope_layers", "no_rope_layer_interval", "pretraining_tp",
         "max_window_layers"}
    ),  # fmt: skip
    read_extra=_read,
    write_extra=_write,
    free=("sliding_window", "nope_layers"),
)
