"""Attention and positions for the context and the GPU the model will serve at.

KV heads: the family's rule (Llama 3: 8), snapped to a count that divides the heads and that TP
splits; then, unless the caller fixed it, halved while one batch of sequences at the requested
context would not fit beside the weights on the named GPU. Positions: RoPE at the family's base,
scaled past the family's pretraining context with the family's method and its semantics; learned
tables never beyond the family's own length.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from ..hardware import GPU
from ..sizing import count_params, kv_cache_bytes
from .request import Request
from .rules import kv_options, snap_kv
from .search import Shape, build_config
from .styles import Style

SERVING_SHARE = 0.9  # of the GPU's memory that weights and KV cache may take; the rest is activations/workspace


@dataclass(frozen=True)
class KVChoice:
    kv: int
    rule: str  # "given", "snapped", "latency", "family", "memory"
    wanted: int  # what the rule asked for before snapping or halving
    fits: bool  # weights + cache fit on the GPU (per TP shard)
    cache_bytes: int  # batch x context, bf16
    weight_bytes: int  # bf16, whole model
    budget_bytes: int  # per GPU: SERVING_SHARE x memory
    gpus: int  # GPUs the weights and cache are spread over (see serving_gpus)


def choose_kv(req: Request, style: Style, shape: Shape, base: dict[str, Any], ffn: int, context: int,
              gpu: GPU) -> KVChoice:
    heads, tp = shape.heads, req.tp_degree
    if req.kv_heads is not None:
        wanted, rule = req.kv_heads, "given"
    elif req.latency:
        wanted, rule = tp, "latency"
    else:
        family = style.kv_heads_at(shape.non_embedding)
        # A model with no more heads than the family has KV heads keeps GQA with groups of 2 (small
        # real models group 2-7 query heads per KV head: SmolLM2 9/3, Qwen2.5-0.5B 14/2, Qwen3-0.6B 16/8).
        wanted = heads if family is None else min(family, max(1, heads // 2))
        rule = "family"
    kv = snap_kv(heads, wanted, tp)
    if rule == "given" and kv != wanted:
        rule = "snapped"

    def cost(n: int) -> tuple[int, int]:
        cfg = build_config(base, shape, n, ffn)
        return 2 * count_params(cfg).total, kv_cache_bytes(cfg, context, req.batch, "bf16")

    budget = int(SERVING_SHARE * gpu.memory_bytes)
    weights, cache = cost(kv)
    gpus = serving_gpus(weights, budget, tp)
    if rule == "family":  # a caller's own choice (count or --latency) is kept even where it does not fit
        smaller = [n for n in kv_options(heads, tp) if n < kv]
        while (weights + cache) / gpus > budget and smaller:
            kv = smaller.pop()
            weights, cache = cost(kv)
            rule = "memory"
    return KVChoice(kv, rule, wanted, (weights + cache) / gpus <= budget, cache, weights, budget, gpus)


def serving_gpus(weight_bytes: int, budget: int, tp: int) -> int:
    """GPUs the model is served on: the TP degree, or more (a power of two) until the bf16 weights take at
    most half of each GPU's usable memory, leaving the other half for the KV cache."""
    gpus = tp
    while weight_bytes / gpus > budget / 2:
        gpus *= 2
    return gpus


@dataclass(frozen=True)
class Positions:
    fields: dict[str, Any]
    kind: str  # "alibi", "learned", "rope", "rope-scaled"
    extension: float = 1.0  # context / the family's pretraining context
    factor: float | None = None  # the RoPE scaling factor


def choose_positions(req: Request, style: Style, context: int) -> Positions:
    if req.extrapolate:
        return Positions({"position_embedding": "alibi"}, "alibi")
    if style.config.get("position_embedding") == "learned":
        limit = style.max_learned_positions or context
        if context > limit:
            raise ConfigError(
                f"--context {context:,} is beyond the {style.name} family's own length ({limit:,} learned positions, "
                f"GPT-3's): a learned table cannot run past the positions it was trained on; fix: --context {limit} "
                "or less, --extrapolate (ALiBi), or a RoPE style such as --style llama3"
            )
        return Positions({"max_position_embeddings": context}, "learned")
    theta = style.rope_theta
    if context <= style.context:
        return Positions({"rope_theta": theta}, "rope")
    extension = context / style.context
    if style.long_context == "llama3":
        # Llama 3.1 reaches 131,072 from 8,192 (16x) with factor 8: the factor divides the low
        # frequencies only, and long-context training covers the rest; the same proportion here.
        factor = max(2.0, extension / 2)
        scaling = {"rope_type": "llama3", "factor": factor, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": style.context}
    else:
        # YaRN's factor is the extension itself (Qwen2.5: factor 4 for 32,768 -> 131,072).
        factor = extension
        scaling = {"rope_type": "yarn", "factor": factor, "original_max_position_embeddings": style.context}
    return Positions({"rope_theta": theta, "rope_scaling": scaling}, "rope-scaled", extension, factor)
