"""The family curve: how wide and how deep real models are at each size.

A style's curve is fitted to its compute-chosen real models (``Style.curve``, shapes from the
presets). It is stated as the aspect ratio hidden/layers against non-embedding parameters N:

    aspect(N) = clamp(exp(alpha + beta * ln N), aspect_small, aspect_big)

a power law through the small models (deep and thin: SmolLM2-135M is 576 x 30) that levels off
at the geometric mean of the large ones (Llama 3.1 8B/70B/405B are 128, 102 and 130), and below
the smallest real model stays at 0.85x its aspect (a 10M model is not made deeper than any
real model is thin). With the
aspect known, the budget fixes both: N = c * hidden^2 * layers (c: parameters per layer over
hidden^2 at the family's FFN ratio), so layers = (N / (c * aspect^2))^(1/3) and hidden =
aspect * layers. Both grow with N whenever -1 < beta < 1/2; beta is held in [0.1, 0.45], so
the curve is monotone by construction, and beyond the largest real model it keeps growing
along the same law (hidden and layers each ~ N^(1/3)).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

from ..presets import get_preset
from ..sizing import count_params
from .styles import STYLES, Style

BIG = 5e9  # non-embedding params from which a model counts as large (where the aspect levels off)
BETA_RANGE = (0.1, 0.45)


@dataclass(frozen=True)
class RealPoint:
    name: str
    non_embedding: int
    hidden: int
    layers: int

    @property
    def aspect(self) -> float:
        return self.hidden / self.layers


@dataclass(frozen=True)
class Curve:
    alpha: float
    beta: float
    aspect_small: float
    aspect_big: float
    points: tuple[RealPoint, ...]

    def aspect(self, non_embedding: float) -> float:
        power = math.exp(self.alpha + self.beta * math.log(max(non_embedding, 1.0)))
        return min(self.aspect_big, max(self.aspect_small, power))

    def shape(self, non_embedding: float, per_layer_coefficient: float) -> tuple[float, float]:
        """(hidden, layers) on the curve at ``non_embedding`` params, as real numbers."""
        a = self.aspect(non_embedding)
        layers = (non_embedding / (per_layer_coefficient * a * a)) ** (1 / 3)
        return a * layers, layers

    def describe(self) -> str:
        return (f"hidden/layers = {math.exp(self.alpha):.3g} x N^{self.beta:.2f}, held between "
                f"{self.aspect_small:.0f} and {self.aspect_big:.0f}, "
                f"fitted to {', '.join(p.name for p in self.points)}")


@cache
def real_point(preset: str) -> RealPoint:
    cfg = get_preset(preset)
    return RealPoint(preset, count_params(cfg).non_embedding, cfg.hidden_size, cfg.num_hidden_layers)


@cache
def family_curve(style_name: str) -> Curve:
    points = tuple(sorted((real_point(p) for p in STYLES[style_name].curve), key=lambda p: p.non_embedding))
    big = [p for p in points if p.non_embedding >= BIG]
    small = [p for p in points if p.non_embedding < BIG]
    aspect_big = math.exp(sum(math.log(p.aspect) for p in big) / len(big))
    xs = [math.log(p.non_embedding) for p in small]
    ys = [math.log(p.aspect) for p in small]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mx) ** 2 for x in xs)
    beta = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / spread if spread else BETA_RANGE[1]
    beta = min(max(beta, BETA_RANGE[0]), BETA_RANGE[1])
    aspect_small = 0.85 * points[0].aspect
    return Curve(alpha=my - beta * mx, beta=beta, aspect_small=aspect_small, aspect_big=aspect_big, points=points)


def per_layer_coefficient(style: Style, kv_group: float) -> float:
    """Parameters of one layer over hidden^2: q and o (2), k and v (2 / group), the FFN (3r gated, 2r plain)."""
    return 2 + 2 / kv_group + (3 if style.gated else 2) * style.ffn_ratio


@cache
def _all_points() -> tuple[RealPoint, ...]:
    names = dict.fromkeys(name for s in STYLES.values() for name in (*s.curve, *s.family))
    return tuple(real_point(n) for n in names)


BAND_SLACK = 1.15  # the band reaches 15% past the extreme real models near the size


def aspect_band(non_embedding: float) -> tuple[float, float, tuple[RealPoint, ...]]:
    """The hidden/layers range of real models of about this size (within 4x, else the three nearest),
    widened by 15% either side: a design outside it is deeper or wider than any of them."""
    points = _all_points()
    near = [p for p in points if abs(math.log(p.non_embedding / non_embedding)) <= math.log(4)]
    if len(near) < 2:
        near = sorted(points, key=lambda p: abs(math.log(p.non_embedding / non_embedding)))[:3]
    near.sort(key=lambda p: abs(math.log(p.non_embedding / non_embedding)))  # nearest first, for the prose
    aspects = [p.aspect for p in near]
    return min(aspects) / BAND_SLACK, max(aspects) * BAND_SLACK, tuple(near)
