"""Granite (IBM Granite 3.x dense): HF ``model_type: granite``. Llama with four multipliers.

``embedding_multiplier`` scales the token embeddings, ``residual_multiplier`` each branch
output before the residual add, ``attention_multiplier`` is the softmax scale itself (default
1.0, not 1/sqrt(head_dim)), and the logits are divided by ``logits_scaling`` (archsmith
multiplies by its inverse: the same number for Granite's powers of two, and within an ulp
otherwise).
"""

from typing import Any

from ...config import ArchConfig
from ...errors import ConfigError
from ..llama_like import llama_like


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    logits_scaling = d.get("logits_scaling", 1.0)
    if logits_scaling <= 0:
        raise ConfigError(f"logits_scaling={logits_scaling} must be positive (the logits are divided by it); fix: e.g. 16.0, or 1.0")
    return {"attention_scale": d.get("attention_multiplier", 1.0), "logit_scale": 1.0 / logits_scaling}


def _write(cfg: ArchConfig) -> dict[str, Any]:
    return {
        "attention_multiplier": cfg.head_dim**-0.5 if cfg.attention_scale is None else cfg.attention_scale,
        "logits_scaling": 1.0 / cfg.logit_scale,  # it divides where archsmith multiplies
    }


FAMILY = llama_like(
    "granite",
    "GraniteForCausalLM",
    {
        "vocab_size": 32000,
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": None,
        "head_dim": None,
        "max_position_embeddings": 2048,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-6,
        "attention_bias": False,
        "mlp_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": False,
    },
    export_rank=97,
    more_keys={
        "embedding_multiplier": ("embedding_multiplier", 1.0),
        "residual_multiplier": ("residual_multiplier", 1.0),
    },
    other_keys=frozenset({"attention_multiplier", "logits_scaling"}),
    read_extra=_read,
    write_extra=_write,
    free=("attention_scale", "logit_scale"),
    note=lambda cfg: (
        f" Granite divides the logits by logits_scaling={1.0 / cfg.logit_scale!r} where archsmith multiplies by "
        f"logit_scale={cfg.logit_scale!r}: the same numbers to the last bit or two."
    ),
)
