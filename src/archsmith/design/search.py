"""The search: a monotone ladder of aligned shapes, the rung nearest the target, the FFN that lands it.

1. ladder   walk the family curve (:mod:`.curve`) over a fixed grid of non-embedding sizes, round
            each point to the hardware rules of its size (:mod:`.rules`), and never let hidden,
            layers or heads fall below the previous point's. The ladder depends only on the style,
            TP and fixed dimensions, never on the target, so a larger target can only land on the
            same rung or a later one: hidden, layers and heads never decrease as targets grow.
2. rung     the rung whose nominal total (FFN at the family ratio) is nearest the target.
3. fit      the FFN size, a multiple of 256 and of 128 x TP, that lands the exact total
            (:func:`archsmith.sizing.count_params`) within 1%; a finer multiple only where one
            256-step moves a small model by more than 2%, and the design says so.

With dimensions fixed by the caller the ladder walks only the free ones; when the fixed ones
push the curve's start more than 20% over the target, layers go first, then width, and the
steps are recorded for the report.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from functools import cache
from typing import Any

from ..config import ArchConfig
from ..sizing import count_params
from .curve import family_curve, per_layer_coefficient
from .request import LIMITS
from .rules import MAX_FFN_STEP, Regime, ffn_multiple, regime, round_to
from .styles import STYLES, Style

TOLERANCE = 0.01  # |total - target| / target every design reaches
OVERSHOOT = 0.20  # a start this far over the target is cut down, layers first
GRID = tuple(10 ** (k / 100) for k in range(500, 1501))  # 1e5..1e15 non-embedding params, 2.3% apart
_FINER_FFN = (128, 64, 32, 16, 8)
MAX_LAYERS, MAX_HIDDEN = LIMITS["layers"], LIMITS["hidden"]  # no rung goes past what a caller may fix


@dataclass(frozen=True)
class Shape:
    """One rung: the dimensions the ladder decides (the FFN is fitted per target)."""

    hidden: int
    layers: int
    heads: int
    head_dim: int
    non_embedding: float  # the curve size where this rung first appears: its regime, KV rule and tying

    def regime(self, tp: int) -> Regime:
        return regime(self.non_embedding, tp)


def _ceil_to(x: int, multiple: int) -> int:
    return -(-x // multiple) * multiple


@cache
def ladder(style_name: str, tp: int, layers: int | None, hidden: int | None, heads: int | None,
           head_dim: int | None) -> tuple[Shape, ...]:
    """Every rung of the style's ladder, in growing order (see the module docstring)."""
    style = STYLES[style_name]
    curve = family_curve(style_name)
    hd = head_dim or style.head_dim
    if style.heads_follow_hidden and heads and not hidden:
        hidden = heads * hd  # GPT-2's class: hidden = heads x 64
    shapes: list[Shape] = []
    h_prev = l_prev = n_prev = 0
    for n in GRID:
        reg = regime(n, tp)
        c = per_layer_coefficient(style, 4.0 if style.kv_heads_at(n) else 1.0)
        if hidden and layers:
            h_star, l_star = float(hidden), float(layers)
        elif hidden:
            h_star, l_star = float(hidden), n / (c * hidden * hidden)
        elif layers:
            h_star, l_star = math.sqrt(n / (c * layers)), float(layers)
        else:
            h_star, l_star = curve.shape(n, c)
        h_mult = math.lcm(reg.hidden_multiple, hd * tp) if style.heads_follow_hidden else reg.hidden_multiple
        h = hidden or max(round_to(h_star, h_mult), _ceil_to(h_prev, h_mult))
        L = layers or max(round_to(l_star, reg.layers_multiple), _ceil_to(l_prev, reg.layers_multiple))
        if heads:
            nh = heads
        elif style.heads_follow_hidden:
            nh = h // hd
        else:
            nh = max(round_to(h / hd, reg.heads_multiple), _ceil_to(n_prev, reg.heads_multiple))
        if L > MAX_LAYERS or h > MAX_HIDDEN:
            break  # past any buildable model: the ladder ends, and a target beyond it is refused with its fix
        if not shapes or (h, L, nh) != (shapes[-1].hidden, shapes[-1].layers, shapes[-1].heads):
            shapes.append(Shape(h, L, nh, hd, n))
        h_prev, l_prev, n_prev = h, L, nh
    return tuple(shapes)


def tied(style: Style, shape: Shape, tie: bool | None) -> bool:
    """Tie the LM head to the embedding below the family's hidden size for untying, unless the caller chose."""
    return tie if tie is not None else shape.hidden < style.untie_from


def nominal_total(style: Style, shape: Shape, vocab: int, tie: bool | None, position_rows: int) -> float:
    """The total at the family FFN ratio, from the per-layer coefficient: only ranks rungs (it grows
    along the ladder); every number a design reports is counted exactly."""
    h, width = shape.hidden, shape.heads * shape.head_dim
    group = 4.0 if style.kv_heads_at(shape.non_embedding) else 1.0  # as the curve assumes
    attention = 2 * h * width * (1 + 1 / group)  # q and o, then k and v
    ffn = (3 if style.gated else 2) * style.ffn_ratio * h * h
    tables = vocab * (1 if tied(style, shape, tie) else 2) + position_rows
    return tables * h + (attention + ffn) * shape.layers


def nearest_rung(totals: list[float], target: int) -> int:
    """Index of the total nearest ``target`` in ratio (totals ascending)."""
    i = bisect.bisect_left(totals, target)
    if i == 0:
        return 0
    if i == len(totals):
        return len(totals) - 1
    below, above = totals[i - 1], totals[i]
    return i - 1 if math.log(target / below) <= math.log(above / target) else i


# --- exact counting: the total is affine in the FFN size ------------------------------------------


def build_config(base: dict[str, Any], shape: Shape, kv: int, ffn: int) -> ArchConfig:
    explicit = shape.heads * shape.head_dim != shape.hidden
    return ArchConfig(
        **base, hidden_size=shape.hidden, num_attention_heads=shape.heads, num_key_value_heads=kv,
        head_dim=shape.head_dim if explicit else None, num_hidden_layers=shape.layers, intermediate_size=ffn,
    )


@dataclass(frozen=True)
class Fit:
    shape: Shape
    kv: int
    ffn: int
    ffn_multiple: int  # the multiple the FFN was rounded to
    total: int
    error: float  # total / target - 1
    step_share: float  # how far one step of the hardware multiple (256 and 128 x TP) moves the total

    @property
    def within(self) -> bool:
        return abs(self.error) <= TOLERANCE


def fit_ffn(base: dict[str, Any], shape: Shape, kv: int, target: int, tp: int) -> Fit:
    """The FFN that brings this shape nearest the target (a multiple of 256 and 128 x TP when that can land
    within 1%); its error may exceed 1% where even the smallest FFN is too big or none is big enough."""
    one = count_params(build_config(base, shape, kv, 256)).total
    two = count_params(build_config(base, shape, kv, 512)).total
    per_unit = (two - one) / 256  # params per unit of intermediate size, all layers
    fixed = one - 256 * per_unit
    multiple = hardware = ffn_multiple(tp)
    for finer in _FINER_FFN:  # only where one step of the hardware multiple is over 2% of the total
        if per_unit * multiple <= MAX_FFN_STEP * target:
            break
        multiple = math.lcm(finer, tp)
    ffn = round_to((target - fixed) / per_unit, multiple)
    total = round(fixed + per_unit * ffn)
    return Fit(shape, kv, ffn, multiple, total, total / target - 1, per_unit * hardware / target)
