"""Compute budgets: how many parameters and tokens a FLOP budget buys, and how long it takes.

No torch, no prose beyond the formula and short labelled assumptions (the designer writes the text).

- Chinchilla (Hoffmann et al. 2022, https://arxiv.org/abs/2203.15556), approach 3: the parametric fit
  ``L(N, D) = E + A / N**alpha + B / D**beta`` with training compute ``C = 6 N D`` (2 FLOPs per parameter
  per token forward, 4 backward). Minimising L on ``6 N D = C`` gives, in closed form,
  ``N_opt = G (C/6)**(beta/(alpha+beta))``, ``D_opt = (C/6)**(alpha/(alpha+beta)) / G``,
  ``G = (alpha A / (beta B))**(1/(alpha+beta))``.
- Inference-aware (Sardana et al. 2023, https://arxiv.org/abs/2401.00448): for the loss that the
  Chinchilla-optimal model of budget C reaches, the (N, D_tr) on that iso-loss curve that minimise
  ``6 N D_tr + 2 N D_inf`` when the model will also generate (or read) ``D_inf`` inference tokens.
- GPU time at a stated model FLOPs utilisation (MFU).

Every result is a plain dataclass with ``to_dict()`` ready for JSON. Inputs that are not finite
positive numbers, or budgets outside ``FLOPS_RANGE``, raise ConfigError with the fix.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from .errors import ConfigError
from .hardware import GPU, get_gpu


@dataclass(frozen=True)
class ChinchillaFit:
    """The published approach-3 fit (Hoffmann et al. 2022, section 3.3, equation 10).

    The paper prints these five numbers rounded. Its Table 2 gives approach 3's exponents as a = 0.46,
    b = 0.54; the rounded constants give 0.452 / 0.548, so the table used unrounded ones. Besiroglu et al. 2024
    (https://arxiv.org/abs/2404.10102) discuss the rounding and refit the data; we keep the published
    values, because they are what people cite and can check.
    """

    E: float = 1.69  # irreducible loss (nats per token on the paper's MassiveText)
    A: float = 406.4
    B: float = 410.7
    alpha: float = 0.34  # parameter exponent
    beta: float = 0.28  # data exponent
    citation: str = (
        "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models, approach 3 "
        "(https://arxiv.org/abs/2203.15556)"
    )

    def loss(self, params: float, tokens: float) -> float:
        return self.E + self.A / params**self.alpha + self.B / tokens**self.beta

    @property
    def G(self) -> float:
        return (self.alpha * self.A / (self.beta * self.B)) ** (1 / (self.alpha + self.beta))

    @property
    def a(self) -> float:
        """N_opt grows as C**a."""
        return self.beta / (self.alpha + self.beta)

    @property
    def b(self) -> float:
        """D_opt grows as C**b."""
        return self.alpha / (self.alpha + self.beta)

    def formula(self) -> str:
        """The fit and its optimum with the numbers, for the designer's prose."""
        return (
            f"L(N, D) = {self.E} + {self.A} / N^{self.alpha} + {self.B} / D^{self.beta}, C = 6ND; "
            f"N_opt = {self.G:.4g} (C/6)^{self.a:.4g}, D_opt = {1 / self.G:.4g} (C/6)^{self.b:.4g} "
            f"({self.citation})"
        )

    def to_dict(self) -> dict[str, float | str]:
        return {**asdict(self), "G": self.G, "a": self.a, "b": self.b, "formula": self.formula()}


CHINCHILLA = ChinchillaFit()

# Budgets we answer for. Below 1e15 FLOPs (about one second of one H100) the optimum is a model of a
# few million parameters, far under the fit's smallest runs (70M); above 1e32 (over a million times
# Llama 3.1 405B's 3.8e25) the optimum is a ~200T-parameter model, a pure extrapolation.
FLOPS_RANGE = (1e15, 1e32)
# Inference tokens beyond 1e19 (ten million times a 1T-token training run) mean nothing for this fit.
MAX_INFERENCE_TOKENS = 1e19

# Model FLOPs utilisation assumed when none is given: typical of well-tuned dense training at scale.
# Llama 3 reports 38-43% bf16 MFU on 8K-16K H100s (Dubey et al. 2024, section 3.3.4,
# https://arxiv.org/abs/2407.21783).
DEFAULT_MFU = 0.40

ASSUMPTIONS = {
    "compute": "training compute C = 6 N D (2 FLOPs per parameter per token forward, 4 backward)",
    "inference": "inference compute 2 N per token (forward only)",
    "fit": CHINCHILLA.citation + "; loss in nats per token on the paper's data",
    "mfu": f"MFU {DEFAULT_MFU:.0%} unless given: typical of well-tuned dense training at scale "
    "(Llama 3: 38-43% on H100s, https://arxiv.org/abs/2407.21783 section 3.3.4)",
}


# --- results --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Allocation:
    """Parameters and training tokens for a budget. ``flops`` is training compute, 6 N D."""

    params: float
    tokens: float
    flops: float
    loss: float  # predicted by the fit, nats per token
    tokens_per_param: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class InferenceAwareAllocation(Allocation):
    """An Allocation that also pays for ``inference_tokens`` tokens of inference at 2 N FLOPs each."""

    inference_tokens: float
    inference_flops: float
    total_flops: float  # flops + inference_flops


@dataclass(frozen=True)
class TrainingTime:
    """How long ``flops`` of training takes on ``num_gpus`` of ``gpu`` at ``mfu``."""

    flops: float
    gpu: str
    mfu: float
    num_gpus: int
    gpu_hours: float
    wall_days: float

    def to_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


# --- input checks ---------------------------------------------------------------------------------


def _positive(name: str, value: object, example: str) -> float:
    """``value`` as a finite positive float, or ConfigError naming the fix."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name}={value!r} is not a number; fix: give a positive number such as {example}")
    try:
        number = float(value)
    except OverflowError:  # an int beyond float range, e.g. 10**400
        number = math.inf
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(f"{name}={value!r} must be a finite positive number; fix: give e.g. {example}")
    return number


def _check_flops(value: object, name: str = "flops") -> float:
    flops = _positive(name, value, "1e23")
    lo, hi = FLOPS_RANGE
    if not lo <= flops <= hi:
        raise ConfigError(
            f"{name}={flops:.3g} is outside {lo:.0e}..{hi:.0e} FLOPs: below {lo:.0e} (about a second of one "
            f"H100) the optimum is a model of a few million parameters, under the fit's smallest runs, and "
            f"above {hi:.0e} (a million times Llama 3.1 405B's 3.8e25) it is a pure extrapolation; "
            f"fix: give a training budget between {lo:.0e} and {hi:.0e}, e.g. 1e23"
        )
    return flops


def _check_mfu(mfu: object) -> float:
    value = _positive("mfu", mfu, f"{DEFAULT_MFU}")
    if value > 1:
        raise ConfigError(
            f"mfu={mfu!r} is a fraction of peak and cannot exceed 1; fix: give a value in (0, 1], e.g. "
            f"{DEFAULT_MFU} (write 40% as 0.4)"
        )
    return value


# --- Chinchilla -----------------------------------------------------------------------------------


def predicted_loss(params: float, tokens: float, fit: ChinchillaFit = CHINCHILLA) -> float:
    """The fit's loss (nats per token) for ``params`` parameters trained on ``tokens`` tokens."""
    return fit.loss(_positive("params", params, "7e9"), _positive("tokens", tokens, "1.4e12"))


def _allocation(params: float, tokens: float, fit: ChinchillaFit) -> Allocation:
    return Allocation(params, tokens, 6 * params * tokens, fit.loss(params, tokens), tokens / params)


def compute_optimal(flops: float, fit: ChinchillaFit = CHINCHILLA) -> Allocation:
    """The (N, D) with ``6 N D = flops`` that minimise the fit's loss (closed form)."""
    c = _check_flops(flops)
    params = fit.G * (c / 6) ** fit.a
    return _allocation(params, c / (6 * params), fit)


def optimal_tokens(params: float, fit: ChinchillaFit = CHINCHILLA) -> float:
    """The training tokens for which a ``params`` model is compute-optimal.

    Inverts ``N_opt(C)``: ``C = 6 (N / G)**(1/a)``, then ``D = C / (6 N)``. Done in logs so a huge N
    reports the range instead of overflowing.
    """
    n = _positive("params", params, "7e9")
    log_c = math.log(6) + (math.log(n) - math.log(fit.G)) / fit.a
    lo, hi = FLOPS_RANGE
    if not math.log(lo) <= log_c <= math.log(hi):
        n_lo, n_hi = fit.G * (lo / 6) ** fit.a, fit.G * (hi / 6) ** fit.a
        raise ConfigError(
            f"params={params!r} is compute-optimal only for a budget outside {lo:.0e}..{hi:.0e} FLOPs, "
            f"where the fit means nothing; fix: give params between {n_lo:.3g} and {n_hi:.3g}"
        )
    return math.exp(log_c) / (6 * n)


# --- inference-aware (Sardana et al. 2023) ----------------------------------------------------------


def _iso_loss_tokens_log(log_n: float, loss: float, fit: ChinchillaFit) -> tuple[float, float]:
    """(log D, h) on the iso-loss curve at N = exp(log_n); log D = inf where the loss is out of reach.

    ``h = alpha A N**-alpha / (beta u)`` with ``u = loss - E - A N**-alpha``: along the curve
    ``d ln(N D) / d ln N = 1 - h``, so training compute is least where h = 1 (Chinchilla's optimum).
    """
    model_term = fit.A * math.exp(-fit.alpha * log_n)
    u = loss - fit.E - model_term
    if u <= 0:
        return math.inf, math.inf
    return (math.log(fit.B) - math.log(u)) / fit.beta, fit.alpha * model_term / (fit.beta * u)


def inference_aware(
    flops: float, inference_tokens: float, fit: ChinchillaFit = CHINCHILLA
) -> InferenceAwareAllocation:
    """Sardana et al.'s allocation: Chinchilla's loss for ``flops``, least training + inference compute.

    On the iso-loss curve L(N, D) = loss, D(N) = (B / (loss - E - A/N**alpha))**(1/beta). The total
    6 N D + 2 N D_inf has derivative (in ln N) 6 N D (1 - h) + 2 N D_inf, which is zero where
    D (h - 1) = D_inf / 3. Below Chinchilla's N both D and h - 1 > 0 fall as N grows, so that equation
    has exactly one root between the smallest N that can reach the loss and Chinchilla's N: bisection
    on ln N finds it in a fixed number of steps.
    """
    chinchilla = compute_optimal(flops, fit)
    d_inf = _check_inference_tokens(inference_tokens)
    loss = chinchilla.loss
    hi = math.log(chinchilla.params)
    if d_inf == 0:
        n, d = chinchilla.params, chinchilla.tokens
    else:
        lo = math.log(fit.A / (loss - fit.E)) / fit.alpha  # u = 0 here: the loss needs infinite data
        target = math.log(d_inf / 3)
        for _ in range(200):  # each step halves a bracket of at most ~30 in ln N: ends at float precision
            mid = (lo + hi) / 2
            if mid in (lo, hi):
                break
            log_d, h = _iso_loss_tokens_log(mid, loss, fit)
            # Too small an N (D (h-1) above D_inf/3, or the loss out of reach) moves the bracket up.
            if h == math.inf or (h > 1 and log_d + math.log(h - 1) > target):
                lo = mid
            else:
                hi = mid
        n = math.exp(hi)  # hi always reaches the loss
        d = math.exp(_iso_loss_tokens_log(hi, loss, fit)[0])
    train = 6 * n * d
    inference_flops = 2 * n * d_inf
    return InferenceAwareAllocation(
        params=n,
        tokens=d,
        flops=train,
        loss=fit.loss(n, d),
        tokens_per_param=d / n,
        inference_tokens=d_inf,
        inference_flops=inference_flops,
        total_flops=train + inference_flops,
    )


def _check_inference_tokens(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"inference_tokens={value!r} is not a number; fix: give a token count such as 1e12")
    try:
        tokens = float(value)
    except OverflowError:
        tokens = math.inf
    if not math.isfinite(tokens) or tokens < 0:
        raise ConfigError(
            f"inference_tokens={value!r} must be a finite count >= 0; fix: give e.g. 1e12 (0 for none)"
        )
    if tokens > MAX_INFERENCE_TOKENS:
        raise ConfigError(
            f"inference_tokens={tokens:.3g} is above {MAX_INFERENCE_TOKENS:.0e}, ten million times a 1T-token "
            f"training run, where the fit means nothing; fix: give at most {MAX_INFERENCE_TOKENS:.0e}"
        )
    return tokens


# --- GPU time -------------------------------------------------------------------------------------


def flops_from_gpu_hours(hours: float, gpu: str | GPU, mfu: float = DEFAULT_MFU) -> float:
    """Training FLOPs that ``hours`` GPU-hours of ``gpu`` deliver at ``mfu`` of dense bf16 peak."""
    h = _positive("gpu_hours", hours, "1e6")
    return h * 3600 * get_gpu(gpu).bf16_dense_flops * _check_mfu(mfu)


def training_time(flops: float, gpu: str | GPU, mfu: float = DEFAULT_MFU, num_gpus: int = 1) -> TrainingTime:
    """GPU-hours and wall-clock days to spend ``flops`` on ``num_gpus`` GPUs at ``mfu``."""
    c = _positive("flops", flops, "1e23")
    device = get_gpu(gpu)
    utilisation = _check_mfu(mfu)
    if isinstance(num_gpus, bool) or not isinstance(num_gpus, int) or num_gpus < 1:
        raise ConfigError(f"num_gpus={num_gpus!r} must be a positive integer; fix: give e.g. 1 or 1024")
    gpu_hours = c / (device.bf16_dense_flops * utilisation) / 3600
    return TrainingTime(
        flops=c,
        gpu=device.name,
        mfu=utilisation,
        num_gpus=num_gpus,
        gpu_hours=gpu_hours,
        wall_days=gpu_hours / num_gpus / 24,
    )
