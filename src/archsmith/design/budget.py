"""Budgets beyond parameters: a FLOP or GPU-hour budget becomes a parameter target (Chinchilla).

``--flops C`` or ``--gpu-hours H --gpu G`` gives the compute-optimal parameter and token counts
of Hoffmann et al. 2022 (approach 3's fitted loss, :mod:`archsmith.scaling_laws`), optionally
shifted for ``--inference-tokens`` as Sardana et al. 2023 do; the designer then designs for that
parameter count. A design from ``--params`` reports the Chinchilla-optimal token count beside it.
Either way the report gives the training compute, the time at a stated MFU and the predicted loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import scaling_laws as laws
from ..errors import ConfigError
from ..hardware import GPU
from .counts import format_count

if TYPE_CHECKING:
    from .core import Design

DEFAULT_MFU = 0.40


@dataclass(frozen=True)
class Budget:
    from_compute: bool  # the target came from a FLOP or GPU-hour budget
    params: int  # the parameter target
    tokens: float  # training tokens
    flops: float  # training compute, 6 N D
    gpu: GPU
    mfu: float
    inference_tokens: float | None
    source: str  # how the budget was given, for the prose

    def describe(self, d: Design) -> dict[str, Any]:
        """Tokens, compute, time and loss for the design's exact parameter count."""
        n = d.params.total
        tokens = self.tokens if self.from_compute else laws.optimal_tokens(n)
        flops = 6 * n * tokens
        time = laws.training_time(flops, self.gpu, self.mfu)
        loss = laws.predicted_loss(n, tokens)
        how = (f"{self.source}: the compute-optimal size is {format_count(self.params)} parameters trained on "
               f"{format_count(tokens)} tokens" if self.from_compute else
               f"for {format_count(n)} parameters the Chinchilla-optimal data is {format_count(tokens)} tokens")
        return {
            "given": self.source,
            "params": n,
            "tokens": tokens,
            "tokens_per_param": tokens / n,
            "training_flops": flops,
            "gpu": self.gpu.name,
            "mfu": self.mfu,
            "gpu_hours": time.gpu_hours,
            "predicted_loss": loss,
            "inference_tokens": self.inference_tokens,
            "formula": laws.CHINCHILLA.formula(),
            "text": (f"{how} ({tokens / n:.1f} tokens per parameter); training takes 6ND = {flops:.3g} FLOPs, "
                     f"{time.gpu_hours:,.0f} {self.gpu.name} GPU-hours at {self.mfu:.0%} MFU (an assumption), and "
                     f"Chinchilla's fit predicts a loss of {loss:.3f} nats/token on its data "
                     f"({laws.CHINCHILLA.formula()})."),
        }


def plan_budget(params: int | str | None, flops: float | None, gpu_hours: float | None, gpu: GPU,
                mfu: float | None, inference_tokens: float | None) -> Budget:
    given = [name for name, v in (("--params", params), ("--flops", flops), ("--gpu-hours", gpu_hours)) if v is not None]
    if len(given) > 1:
        raise ConfigError(f"{' and '.join(given)} were both given; fix: give one budget (parameters, FLOPs or "
                          "GPU-hours)")
    mfu = DEFAULT_MFU if mfu is None else mfu
    if inference_tokens is not None and flops is None and gpu_hours is None:
        raise ConfigError("--inference-tokens shifts a compute budget toward a smaller model trained longer; "
                          "fix: give it with --flops or --gpu-hours")
    if flops is None and gpu_hours is None:
        return Budget(False, 0, 0.0, 0.0, gpu, _check_mfu(mfu), None, "--params")
    if gpu_hours is not None:
        compute = laws.flops_from_gpu_hours(gpu_hours, gpu, _check_mfu(mfu))
        source = f"{gpu_hours:,.6g} {gpu.name} GPU-hours at {mfu:.0%} MFU ({compute:.3g} FLOPs)"
    else:
        compute, source = flops, f"a budget of {flops:.3g} training FLOPs"
    alloc = (laws.inference_aware(compute, inference_tokens) if inference_tokens is not None
             else laws.compute_optimal(compute))
    if inference_tokens is not None:
        source += f" and {inference_tokens:.3g} inference tokens (Sardana et al. 2023)"
    return Budget(True, round(alloc.params), alloc.tokens, 6 * alloc.params * alloc.tokens, gpu, _check_mfu(mfu),
                  inference_tokens, source)


def _check_mfu(mfu: float) -> float:
    if isinstance(mfu, bool) or not isinstance(mfu, (int, float)) or not 0 < mfu <= 1:
        raise ConfigError(f"--mfu {mfu!r} must be a fraction in (0, 1], e.g. 0.4")
    return float(mfu)
