"""The hardware rules every free dimension obeys, each in one place with its reason.

The thresholds are in non-embedding parameters, the part of a model that its shape decides
(embeddings depend on the vocabulary); 0.75B, 1.5B and 5.5B non-embedding are where a model
with a ~128K vocabulary reaches ~1B, ~2B and ~7B in total.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

HEADS_8_FROM = 0.75e9  # query heads a multiple of 8 from ~1B (of 4 below): TP degrees 2/4/8 split them
HIDDEN_256_FROM = 1.5e9  # hidden a multiple of 256 from ~2B (of 128 below): whole tensor-core tiles per shard
LAYERS_4_FROM = 5.5e9  # layers a multiple of 4 from ~7B: pipeline stages of equal depth
VOCAB_MULTIPLE = 128  # vocab padded to a multiple of 128 x TP (as Megatron-LM does): whole tiles per shard
FFN_MULTIPLE = 256  # FFN a multiple of 256 and of 128 x TP (each shard keeps 128-wide tiles)
MAX_FFN_STEP = 0.02  # an FFN step may move the total by at most 2%, or the 1% bound can be missed


@dataclass(frozen=True)
class Regime:
    """The multiples that apply at one size (and tensor-parallel degree)."""

    heads_multiple: int
    hidden_multiple: int
    layers_multiple: int

    def describe(self) -> str:
        return (f"query heads a multiple of {self.heads_multiple}, hidden a multiple of {self.hidden_multiple}, "
                f"layers a multiple of {self.layers_multiple}")


def regime(non_embedding: float, tp: int = 1) -> Regime:
    heads = 8 if non_embedding >= HEADS_8_FROM else 4
    hidden = 256 if non_embedding >= HIDDEN_256_FROM else 128
    layers = 4 if non_embedding >= LAYERS_4_FROM else 2
    return Regime(math.lcm(heads, tp), hidden, layers)


def round_to(x: float, multiple: int, minimum: int | None = None) -> int:
    """The nearest multiple of ``multiple`` (at least ``minimum``, default one multiple)."""
    floor = multiple if minimum is None else minimum
    return max(floor, multiple * round(x / multiple))


def padded_vocab(vocab: int, tp: int = 1) -> int:
    multiple = VOCAB_MULTIPLE * tp
    return -(-vocab // multiple) * multiple


def ffn_multiple(tp: int = 1) -> int:
    return math.lcm(FFN_MULTIPLE, 128 * tp)


def kv_options(heads: int, tp: int = 1) -> list[int]:
    """KV head counts that split evenly: divisors of ``heads`` of the form TP x 2^j, plus MHA."""
    options = set()
    kv = tp
    while kv <= heads:
        if heads % kv == 0:
            options.add(kv)
        kv *= 2
    if heads % tp == 0:
        options.add(heads)  # MHA: every query head its own K/V
    return sorted(options)


def snap_kv(heads: int, wanted: int, tp: int = 1) -> int:
    """The valid KV count nearest to ``wanted`` (in ratio; on a tie the smaller, the cheaper cache)."""
    options = kv_options(heads, tp)
    return min(options, key=lambda kv: (abs(math.log(kv / wanted)), kv))
