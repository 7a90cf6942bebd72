"""Numbers as people write and read them: ``7B`` in, ``8.03B`` and ``1.00 GiB`` out."""

from __future__ import annotations

import math
import re

from ..errors import ConfigError

# Budgets outside this range are refused: below 1M nothing but the embedding fits any style's
# vocabulary, and above 1,000T (1e15) no cluster could train or even hold the model.
MIN_PARAMS, MAX_PARAMS = 10**6, 10**15
GIB = 2**30

_SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12}
_COUNT = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(e[+-]?\d{1,3})?([kmbgt]?)$")


def parse_param_count(value: int | str) -> int:
    """``7B`` -> 7_000_000_000; also ``125M``, ``1.5T``, ``350k``, ``7e9``, ``7_000_000_000``."""
    if isinstance(value, bool):
        raise ConfigError(f"params={value!r} is not a parameter count; fix: give e.g. 7B, 125M or 1.5T")
    if isinstance(value, int):
        count = value
    elif isinstance(value, str):
        text = value.strip().lower().replace("_", "").replace(",", "")
        match = _COUNT.match(text) if len(text) <= 40 else None
        if not match:
            raise ConfigError(
                f"params={value!r} is not a parameter count; fix: write a number with an optional "
                "K/M/B/T suffix, e.g. 125M, 7B, 1.5T or 7000000000"
            )
        mantissa, exponent, suffix = match.groups()
        number = float(mantissa + (exponent or "")) * _SUFFIXES[suffix]
        if not math.isfinite(number):
            raise ConfigError(f"params={value!r} is not a finite count; fix: give e.g. 7B or 1.5T")
        count = round(number)
    else:
        raise ConfigError(f"params must be an int or a string such as '7B', got {type(value).__name__}")
    if count < 1:
        raise ConfigError(f"params={value!r} must be a positive count; fix: give e.g. 125M or 7B")
    if not MIN_PARAMS <= count <= MAX_PARAMS:
        raise ConfigError(
            f"params={value!r} is outside what the designer sizes ({format_count(MIN_PARAMS)} to "
            f"{format_count(MAX_PARAMS)}: below, only an embedding fits; above, no cluster holds the model); "
            f"fix: --params between {format_count(MIN_PARAMS)} and {format_count(MAX_PARAMS)}"
        )
    return count


def format_count(n: float) -> str:
    """8030261248 -> '8.03B'."""
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= size:
            return f"{n / size:.3g}{suffix}"
    return str(int(n))


def format_gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB"


def format_pct(part: float, total: float) -> str:
    return f"{100 * part / total:.1f}%"
