"""What the caller asked for, checked before any search: bad values are refused with their fix."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..config import head_pairs, nearest_multiples
from ..errors import ConfigError
from .counts import MAX_PARAMS

# Dimensions beyond these are refused outright: no real or planned model comes near them, and
# refusing early keeps every search bounded (nothing is linear in a user-given size).
LIMITS = {"vocab": 2**22, "context": 2**24, "layers": 4096, "hidden": 2**18, "heads": 4096, "kv_heads": 4096,
          "head_dim": 1024, "tp": 1024, "batch": 2**20, "candidates": 50}


@dataclass(frozen=True)
class Request:
    """What the caller asked for; None means 'choose it'."""

    target: int
    style: str = "llama3"
    vocab: int | None = None
    context: int | None = None
    tie: bool | None = None
    layers: int | None = None
    hidden: int | None = None
    heads: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None
    tp: int | None = None
    latency: bool = False
    extrapolate: bool = False
    gpu: str = "h100"
    batch: int = 1

    def fixed(self) -> dict[str, int]:
        names = ("vocab", "context", "layers", "hidden", "heads", "kv_heads", "head_dim", "tp")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    @property
    def tp_degree(self) -> int:
        return self.tp or 1

    def scaled(self, factor: float) -> Request:
        """The same conventions at ``factor`` times the size. The shape dimensions (layers, hidden,
        heads, KV heads, head_dim) are chosen afresh: they were fixed for the requested size only."""
        return replace(self, target=min(MAX_PARAMS, max(1, round(self.target * factor))), layers=None, hidden=None,
                       heads=None, kv_heads=None, head_dim=None)


def check_request(req: Request) -> None:
    """Refuse what no search can honour, naming every problem and its fix."""
    problems = []
    for name, value in (*req.fixed().items(), ("batch", req.batch)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(f"{name}={value!r} must be a positive integer")
        elif value > LIMITS[name]:
            problems.append(f"--{name.replace('_', '-')} {value} is beyond any buildable model (at most "
                            f"{LIMITS[name]:,}); fix: a value up to {LIMITS[name]:,}")
    if problems:
        raise ConfigError(problems)
    tp = req.tp_degree
    if req.hidden and req.heads and not req.head_dim and req.hidden % req.heads:
        pairs = [f"--hidden {h} --heads {n} (head_dim {hd})" for h, n, hd in head_pairs(req.hidden, req.heads)]
        problems.append(
            f"--hidden {req.hidden} is not divisible by --heads {req.heads}; fix: {' or '.join(pairs)}, "
            "or give --head-dim explicitly"
        )
    elif req.hidden and req.hidden % 64 and not req.head_dim:
        problems.append(f"--hidden {req.hidden} is not a multiple of 64, which splits no attention head evenly; "
                        f"fix: --hidden {' or '.join(map(str, nearest_multiples(req.hidden, 128)))}")
    if req.heads and req.heads % tp:
        problems.append(f"--heads {req.heads} is not divisible by --tp {tp} (each GPU must hold whole heads); "
                        f"fix: --heads {' or '.join(map(str, nearest_multiples(req.heads, tp)))}")
    if problems:
        raise ConfigError(problems)
