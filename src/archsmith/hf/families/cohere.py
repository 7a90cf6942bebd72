"""Cohere (Command-R, Aya 23): HF ``model_type: cohere``; Cohere 2 shares its block.

A parallel block with one shared norm, x + attn(ln(x)) + mlp(ln(x)); a LayerNorm without bias
computed in fp32; RoPE on interleaved pairs (GPT-J layout); the logits multiplied by
``logit_scale``. ``use_qk_norm`` (Command R+) adds that LayerNorm over head_dim on q and k
with a weight per head. ``head_dim`` is no config field, but the attention reads it when the
file has one.
"""

import math
from typing import Any

from ...config import ArchConfig
from ...errors import ConfigError
from ..family import RopeKeys, qk_norm_switch
from ..llama_like import llama_like

# What Cohere and Cohere 2 hard-code: their LayerNorm, parallel block and interleaved RoPE.
COHERE_FACTS = {
    "norm_type": "layernorm",
    "norm_bias": False,
    "norm_weight_in_fp32": True,  # CohereLayerNorm computes in fp32
    "parallel_residual": True,
    "parallel_shared_norm": True,
    "rope_interleaved": True,
    "mlp_bias": False,
}
COHERE_DEFAULTS = {
    "vocab_size": 256000,
    "hidden_size": 8192,
    "intermediate_size": 22528,
    "num_hidden_layers": 40,
    "num_attention_heads": 64,
    "num_key_value_heads": None,
    "max_position_embeddings": 8192,
    "hidden_act": "silu",
    "attention_bias": False,
    "attention_dropout": 0.0,
    "initializer_range": 0.02,
    "tie_word_embeddings": True,
}


def read_logit_scale(d: dict[str, Any]) -> float:
    """``logit_scale`` (0.0625 by default): the class multiplies the logits by it, so it must be a number."""
    scale = d.get("logit_scale", 0.0625)
    if not isinstance(scale, (int, float)) or isinstance(scale, bool) or not math.isfinite(scale):
        raise ConfigError(f"logit_scale={scale!r} must be a finite number (the logits are multiplied by it); fix: e.g. 0.0625")
    return scale


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    return {"logit_scale": read_logit_scale(d), "qk_norm": "per_head" if d.get("use_qk_norm") else "none"}


def _write(cfg: ArchConfig) -> dict[str, Any]:
    return {"logit_scale": cfg.logit_scale, "use_qk_norm": cfg.qk_norm == "per_head"}


FAMILY = llama_like(
    "cohere",
    "CohereForCausalLM",
    {**COHERE_DEFAULTS, "head_dim": None},
    export_rank=123,
    more_keys={"layer_norm_eps": ("norm_eps", 1e-5)},
    facts=COHERE_FACTS,
    rope=RopeKeys(default_theta=500000.0),
    other_keys=frozenset({"logit_scale", "use_qk_norm"}),
    read_extra=_read,
    write_extra=_write,
    free=("logit_scale", "qk_norm"),
    checks=(qk_norm_switch("per_head", "use_qk_norm gives a LayerNorm per head"),),
)
