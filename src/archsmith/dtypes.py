"""One dtype vocabulary for the config, the estimates, the CLI and model building.

Every place that takes a dtype accepts the same spellings (``bf16``, ``bfloat16``,
``torch.bfloat16``, a ``torch.dtype`` ...) through :func:`canonical_dtype`, which returns
a short name; each consumer then says which of the short names it supports.
No torch import: a ``torch.dtype`` is recognised by its ``str()``.
"""

from __future__ import annotations

from typing import Any

from .errors import ConfigError

# short name -> (torch attribute name, other spellings)
_DTYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "bf16": ("bfloat16", ()),
    "fp16": ("float16", ("half",)),
    "fp32": ("float32", ("float",)),
    "fp64": ("float64", ("double",)),
    "fp8": ("float8_e4m3fn", ("float8",)),
}
_ALIASES: dict[str, str] = {}
for _short, (_torch_name, _others) in _DTYPES.items():
    for _spelling in (_short, _torch_name, *_others):
        _ALIASES[_spelling] = _short
        _ALIASES[f"torch.{_spelling}"] = _short

DTYPE_NAMES: tuple[str, ...] = tuple(_DTYPES)


def canonical_dtype(value: Any, allowed: tuple[str, ...] = DTYPE_NAMES, what: str = "dtype") -> str:
    """The short name (``bf16``, ``fp16``, ``fp32``, ``fp64``, ``fp8``) of any accepted spelling of a
    dtype in ``allowed``; a ConfigError naming the accepted spellings otherwise."""
    text = str(value) if type(value).__name__ == "dtype" else value  # a torch.dtype, without importing torch
    short = _ALIASES.get(text.strip().lower()) if isinstance(text, str) else None
    if short is None or short not in allowed:
        long_names = ", ".join(_DTYPES[s][0] for s in allowed)
        raise ConfigError(
            f"{what}={value!r} is not a dtype accepted here; fix: use one of {', '.join(allowed)} "
            f"(also spelt {long_names}, or with a torch. prefix)"
        )
    return short


def torch_dtype_name(short: str) -> str:
    """The torch attribute name of a short name: ``bf16`` -> ``bfloat16``."""
    return _DTYPES[short][0]
