"""A design: the request, the search, the config, its exact count, and everything said about it."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from ..config import ArchConfig
from ..errors import ConfigError
from ..hardware import get_gpu
from ..sizing import Estimate, ParamBreakdown, count_params, estimate, kv_cache_bytes
from . import prose
from .attention import KVChoice, Positions, choose_kv, choose_positions
from .counts import format_count, parse_param_count
from .request import Request, check_candidates, check_request, check_style_request
from .rules import kv_options, padded_vocab, snap_kv
from .search import (
    OVERSHOOT, TOLERANCE, Fit, Shape, build_config, fit_ffn, ladder, nearest_rung, nominal_total, tied,
)
from .styles import STYLES, Style, get_style

SCALING_FACTORS = (2, 10)  # the designs shown beside the requested one
CANONICAL_WITHIN = 0.05  # real models of the family this close to the target are listed as candidates


@dataclass(frozen=True)
class Candidate:
    """A shape considered for the target, with its trade-offs (bf16, at the design's context and batch)."""

    label: str  # "design", "rung -1", or the real model's preset name
    config: ArchConfig
    total: int
    error: float
    kv_cache_bytes: int
    flops_per_token: int  # forward, 2N + attention (PaLM convention)
    decode_bytes_per_token: int  # weights + KV cache read once per generated token
    max_tp: int  # the largest power of two that divides heads, KV heads and the vocabulary
    pipeline_stages: tuple[int, ...]  # 2, 4, 8 stages that split the layers evenly
    canonical: bool

    def to_dict(self) -> dict[str, Any]:
        c = self.config
        return {
            "label": self.label, "canonical": self.canonical, "total": self.total,
            "error_pct": round(100 * self.error, 4),
            "shape": {"hidden_size": c.hidden_size, "num_hidden_layers": c.num_hidden_layers,
                      "num_attention_heads": c.num_attention_heads, "num_key_value_heads": c.num_key_value_heads,
                      "head_dim": c.head_dim, "intermediate_size": c.intermediate_size},
            "kv_cache_bytes": self.kv_cache_bytes, "flops_per_token": self.flops_per_token,
            "decode_bytes_per_token": self.decode_bytes_per_token, "max_tp": self.max_tp,
            "pipeline_stages": list(self.pipeline_stages),
        }  # fmt: skip


@dataclass(frozen=True)
class ScaledDesign:
    factor: float
    design: Design
    changes: list[str]


@dataclass(frozen=True)
class Design:
    """A complete design: the config, its exact count, the reasons, its candidates and its neighbours."""

    request: Request
    style: Style
    config: ArchConfig
    params: ParamBreakdown
    estimate: Estimate
    kv_cache_by_attention: dict[str, int]  # "MHA"/"GQA"/"MQA" -> bytes at the context and batch, bf16
    facts: dict[str, Any]  # every number and rule the prose states (see prose.py)
    justification: dict[str, str]
    steps: list[str]
    warnings: list[str]
    reference: dict[str, Any] | None
    candidates: list[Candidate]
    budget: dict[str, Any] | None = None
    scaling: list[ScaledDesign] = field(default_factory=list)

    @property
    def target(self) -> int:
        return self.request.target

    @property
    def error(self) -> float:
        return self.params.total / self.target - 1

    @property
    def context(self) -> int:
        return self.estimate.seq_len

    def hf_export(self):
        from ..hf.export_config import plan_export

        return plan_export(self.config)

    def params_dict(self) -> dict[str, Any]:
        data = self.params.to_dict()
        parts = ("embedding", "attention", "ffn", "norm", "lm_head")
        data["percent"] = {k: round(100 * data[k] / data["total"], 3) for k in parts}
        return data

    def to_dict(self, with_scaling: bool = True) -> dict[str, Any]:
        plan = self.hf_export()
        out = {
            "target": self.target,
            "style": self.style.name,
            "error_pct": round(100 * self.error, 4),
            "config": self.config.to_dict(),
            "hf_config": plan.config,
            "hf_export": {"architecture": plan.architecture, "model_type": plan.model_type,
                          "remote_code": plan.remote_code, "reason": plan.reason},
            "params": self.params_dict(),
            "justification": dict(self.justification),
            "facts": self.facts,
            "estimate": self.estimate.to_dict(),
            "kv_cache_by_attention": dict(self.kv_cache_by_attention),
            "candidates": [c.to_dict() for c in self.candidates],
            "search": list(self.steps),
            "reference": self.reference,
            "budget": self.budget,
            "warnings": list(self.warnings),
        }
        if with_scaling:
            out["scaling"] = [
                {"factor": s.factor, "target": s.design.target, **s.design.to_dict(with_scaling=False),
                 "changes": s.changes}
                for s in self.scaling
            ]
        return out


# --- the procedure ---------------------------------------------------------------------------------


def design_request(req: Request, candidates: int = 3) -> Design:
    """One design, without the 2x/10x neighbours."""
    check_request(req)
    candidates = check_candidates(candidates)
    style = get_style(req.style)
    check_style_request(req, style.heads_follow_hidden, style.head_dim)
    gpu = get_gpu(req.gpu)
    tp = req.tp_degree
    vocab_given = req.vocab or style.vocab_size
    vocab = padded_vocab(vocab_given, tp)
    context = req.context or style.context
    positions = choose_positions(req, style, context)
    position_rows = context if positions.kind == "learned" else 0
    shapes = ladder(style.name, tp, req.layers, req.hidden, req.heads, req.head_dim)
    totals = [nominal_total(style, s, vocab, req.tie, position_rows) for s in shapes]
    index = nearest_rung(totals, req.target)

    def base_for(shape: Shape) -> dict[str, Any]:
        return {**style.config, **positions.fields, "vocab_size": vocab, "max_position_embeddings": context,
                "tie_word_embeddings": tied(style, shape, req.tie), "torch_dtype": "bfloat16"}

    def attempt(i: int) -> tuple[Fit, KVChoice]:
        shape = shapes[i]
        base = base_for(shape)
        kv_ffn = _ffn_guess(style, shape)
        choice = choose_kv(req, style, shape, base, kv_ffn, context, gpu)
        return fit_ffn(base, shape, choice.kv, req.target, tp), choice

    fit, kv_choice = attempt(index)
    if not fit.within:  # the FFN alone cannot land it (a tiny target, or fixed dimensions): try the neighbours
        tried = [(fit, kv_choice)]
        # nearest first, then every smaller rung (only tiny targets get this far: a few dozen at most)
        for j in (index - 1, index + 1, index + 2, *range(index - 2, -1, -1)):
            if 0 <= j < len(shapes):
                tried.append(attempt(j))
                if tried[-1][0].within:
                    break
        fit, kv_choice = min(tried, key=lambda fk: abs(fk[0].error))
        if not fit.within:
            raise _no_fit(req, style, shapes, base_for, sorted(tried, key=lambda fk: abs(fk[0].error))[:3], vocab)
    shape = fit.shape
    taken = shapes.index(shape)  # the nearest rung, or the neighbour a fall-back took
    _refuse_absurd_ffn(req, style, fit, totals[taken])
    steps = _start_steps(req, style, shape, vocab, position_rows)
    cfg = build_config(base_for(shape), shape, fit.kv, fit.ffn)
    counted = count_params(cfg)
    if counted.total != fit.total:  # the affine count and the exact one must agree
        raise AssertionError(f"designer count {fit.total} != count_params {counted.total}")
    steps.append(
        f"rung: hidden {shape.hidden} x {shape.layers} layers, {shape.heads} heads; ffn {fit.ffn} "
        f"({fit.ffn / shape.hidden:.3g}x hidden, a multiple of {fit.ffn_multiple}) -> {counted.total:,} "
        f"({fit.error:+.3%})"
    )
    est = estimate(cfg, seq_len=context, batch=req.batch, dtype="bf16")
    kv_by = kv_variants(cfg, context, req.batch, req.tp_degree)
    cands = _candidates(req, style, shapes, index, fit, base_for, context, gpu, candidates)
    facts = prose.collect_facts(req, style, cfg, counted, fit, kv_choice, positions, vocab_given, gpu, context,
                                est, kv_by, totals[taken])
    facts["attention"]["variants"] = kv_variant_heads(cfg, tp)
    facts["search"] = {"rung_offset": taken - index}  # 0: the rung nearest the target
    warnings = prose.warnings(facts) + list(est.warnings)
    d = Design(
        request=req, style=style, config=cfg, params=counted, estimate=est, kv_cache_by_attention=kv_by,
        facts=facts, justification={}, steps=steps, warnings=warnings, reference=None, candidates=cands,
    )
    return replace(d, justification=prose.justify(d), reference=compare_with_family(d))


ABSURD_FFN = 4.0  # beyond 4x past the family's band, an FFN is no longer a knob but the whole model


def _refuse_absurd_ffn(req: Request, style: Style, fit: Fit, nominal: float) -> None:
    """Fixed dimensions can leave only the FFN to reach the target; past a point that is no design."""
    ratio = fit.ffn / fit.shape.hidden
    low, high = style.ffn_band
    fixed = [f"--{k}" for k in ("hidden", "layers", "heads") if getattr(req, k)]
    if fixed and not low / ABSURD_FFN <= ratio <= high * ABSURD_FFN:
        raise ConfigError(
            f"with {', '.join(fixed)} fixed, reaching {format_count(req.target)} needs intermediate_size {fit.ffn:,}, "
            f"{ratio:.3g}x hidden (the {style.name} family uses {style.ffn_ratio:.3g}x); fix: free "
            f"{' or '.join(fixed)}, or --params {format_count(nominal)} for this shape at the family's ratio"
        )


def _ffn_guess(style: Style, shape: Shape) -> int:
    """The FFN at the family ratio: what the KV-cache check assumes before the exact fit."""
    return max(256, round(style.ffn_ratio * shape.hidden / 256) * 256)


def _start_steps(req: Request, style: Style, rung: Shape, vocab: int, position_rows: int) -> list[str]:
    """The search trace: the free curve's start, the 20% rule when fixed dimensions overshoot, the rung."""
    free = ladder(style.name, req.tp_degree, None, None, None, req.head_dim)
    totals = [nominal_total(style, s, vocab, req.tie, position_rows) for s in free]
    start = free[nearest_rung(totals, req.target)]
    steps = [f"start: the {style.name} family curve at {format_count(req.target)} gives hidden {start.hidden} x "
             f"{start.layers} layers, {start.heads} heads of {start.head_dim}"]
    fixed_start = replace(start, hidden=req.hidden or start.hidden, layers=req.layers or start.layers,
                          heads=req.heads or start.heads)
    over = nominal_total(style, fixed_start, vocab, req.tie, position_rows)
    if (req.hidden or req.layers or req.heads) and over > (1 + OVERSHOOT) * req.target:
        steps.append(f"20% rule: with the fixed dimensions the start is hidden {fixed_start.hidden} x "
                     f"{fixed_start.layers} layers, ~{format_count(over)} ({over / req.target - 1:+.0%} over the "
                     "target): cut layers first, then width")
        if rung.layers < fixed_start.layers:
            steps.append(f"20% rule: layers {fixed_start.layers} -> {rung.layers}"
                         + (" (hidden is fixed)" if req.hidden else ""))
        if rung.hidden < fixed_start.hidden:
            steps.append(f"20% rule: width {fixed_start.hidden} -> {rung.hidden}"
                         + (" (layers are fixed)" if req.layers else ""))
        if rung.layers >= fixed_start.layers and rung.hidden >= fixed_start.hidden:
            steps.append("20% rule: both hidden and layers are fixed, so only the FFN can shrink")
    return steps


def _no_fit(req, style, shapes, base_for, tried, vocab) -> ConfigError:
    first = shapes[0]
    smallest = fit_ffn(base_for(first), first, kv_options(first.heads, req.tp_degree)[0], 1, req.tp_degree)
    lines = [f"no {style.name} design within {TOLERANCE:.0%} of {format_count(req.target)}"
             + (f" honours {_describe_fixed(req)}" if req.fixed() else "")]
    low = smallest.total
    if low > req.target:
        tie = tied(style, shapes[0], req.tie)
        lines.append(
            f"the target is too small for vocab {vocab:,}: the smallest design allowed here is {format_count(low)} "
            f"({low:,} params, mostly the {'tied ' if tie else 'untied '}embedding at hidden {shapes[0].hidden}); "
            f"fix: --params {format_count(low * (1 + TOLERANCE))} or more, a smaller --vocab"
            + (", --tie" if not tie else "") + (", or free the fixed dimensions" if req.fixed() else "")
        )
    for fit, _ in tried if low <= req.target else ():  # below the smallest design, "nearest" says nothing more
        lines.append(f"nearest: hidden {fit.shape.hidden}, {fit.shape.layers} layers, ffn {fit.ffn} -> "
                     f"{format_count(fit.total)} ({fit.error:+.1%}); fix: --params {format_count(fit.total)}")
    return ConfigError(lines)


def _describe_fixed(req: Request) -> str:
    return ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in req.fixed().items())


def kv_variant_heads(cfg: ArchConfig, tp: int) -> dict[str, int]:
    """The KV-head counts the text and the plot compare: MHA, a GQA (this design's, or heads/8 snapped to a
    valid count) and MQA. One choice, used by both."""
    heads = cfg.num_attention_heads
    out = {"MHA": heads}
    gqa = cfg.num_key_value_heads if 1 < cfg.num_key_value_heads < heads else snap_kv(heads, max(1, heads // 8), tp)
    if 1 < gqa < heads:
        out["GQA"] = gqa
    out["MQA"] = 1
    return out


def kv_variants(cfg: ArchConfig, context: int, batch: int, tp: int) -> dict[str, int]:
    """KV cache bytes at ``context`` (bf16, ``batch`` sequences) for each of :func:`kv_variant_heads`."""
    return {name: kv_cache_bytes(cfg.replace(num_key_value_heads=kv), context, batch, "bf16")
            for name, kv in kv_variant_heads(cfg, tp).items()}


# --- candidates --------------------------------------------------------------------------------------


def _candidate(label: str, cfg: ArchConfig, target: int, context: int, batch: int, canonical: bool) -> Candidate:
    est = estimate(cfg, seq_len=context, batch=batch, dtype="bf16")
    total = est.params.total
    max_tp = 1
    while all(x % (2 * max_tp) == 0 for x in (cfg.num_attention_heads, cfg.num_key_value_heads, cfg.vocab_size)):
        max_tp *= 2
    return Candidate(
        label=label, config=cfg, total=total, error=total / target - 1, kv_cache_bytes=est.kv_cache_bytes,
        flops_per_token=est.flops["palm"].forward_per_token,
        decode_bytes_per_token=est.weight_bytes["bf16"] + est.kv_cache_bytes // batch,
        max_tp=max_tp, pipeline_stages=tuple(s for s in (2, 4, 8) if cfg.num_hidden_layers % s == 0),
        canonical=canonical,
    )


def _candidates(req, style, shapes, index, fit, base_for, context, gpu, k) -> list[Candidate]:
    chosen = build_config(base_for(fit.shape), fit.shape, fit.kv, fit.ffn)
    out = [_candidate("design", chosen, req.target, context, req.batch, False)]
    for offset in (-1, 1, -2, 2, -3, 3):
        if len(out) >= k:
            break
        j = index + offset
        if not 0 <= j < len(shapes) or shapes[j] == fit.shape:
            continue
        base = base_for(shapes[j])
        kv = choose_kv(req, style, shapes[j], base, _ffn_guess(style, shapes[j]), context, gpu).kv
        other = fit_ffn(base, shapes[j], kv, req.target, req.tp_degree)
        if other.within:
            cfg = build_config(base, shapes[j], other.kv, other.ffn)
            out.append(_candidate(f"rung {offset:+d}", cfg, req.target, context, req.batch, False))
    out += _canonical(req, style, base_for(fit.shape), context)
    return out


def _canonical(req: Request, style: Style, base: dict[str, Any], context: int) -> list[Candidate]:
    """Real models of the family whose shape, in this request's vocab, tying and context, is within 5%."""
    from ..presets import get_preset

    found = []
    for name in style.family:
        real = get_preset(name)
        try:
            cfg = ArchConfig(**{**base, "hidden_size": real.hidden_size, "num_hidden_layers": real.num_hidden_layers,
                                "num_attention_heads": real.num_attention_heads,
                                "num_key_value_heads": real.num_key_value_heads,
                                "head_dim": real.head_dim if real.head_dim * real.num_attention_heads != real.hidden_size
                                else None,
                                "intermediate_size": real.intermediate_size})
        except ConfigError:
            continue  # the real shape does not fit this request (e.g. a TP degree its heads do not allow)
        total = count_params(cfg).total
        if abs(total / req.target - 1) <= CANONICAL_WITHIN:
            found.append(_candidate(name, cfg, req.target, context, req.batch, True))
    return found


# --- the real model nearest the design ---------------------------------------------------------------


_REFERENCE_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
                     "intermediate_size", "vocab_size", "tie_word_embeddings")


def compare_with_family(d: Design) -> dict[str, Any] | None:
    """The real model of the style's own family nearest by size and shape, every difference stated."""
    from ..presets import PRESETS, get_preset

    def distance(name: str) -> float:
        real = get_preset(name)
        size = abs(math.log(count_params(real).total / d.params.total))
        shape = abs(math.log(real.hidden_size / d.config.hidden_size)) + abs(
            math.log(real.num_hidden_layers / d.config.num_hidden_layers))
        return size + 0.5 * shape

    name = min(d.style.family, key=distance)
    real = get_preset(name)
    total = count_params(real).total
    differences = []
    for key in _REFERENCE_FIELDS:
        mine, theirs = getattr(d.config, key), getattr(real, key)
        if mine != theirs:
            differences.append(f"{key}: {mine} here vs {theirs} in {name}")
    if total != d.params.total:
        differences.append(f"total: {d.params.total:,} here vs {total:,} in {name} ({d.params.total / total - 1:+.2%})")
    return {"model": name, "source": PRESETS[name].source, "params": total,
            "shape": {k: getattr(real, k) for k in _REFERENCE_FIELDS}, "differences": differences}


# --- the public entry points --------------------------------------------------------------------------


def design(
    params: int | str | None = None,
    style: str = "llama3",
    vocab: int | None = None,
    context: int | None = None,
    tie: bool | None = None,
    layers: int | None = None,
    hidden: int | None = None,
    heads: int | None = None,
    kv_heads: int | None = None,
    head_dim: int | None = None,
    tp: int | None = None,
    latency: bool = False,
    extrapolate: bool = False,
    gpu: str = "h100",
    batch: int = 1,
    candidates: int = 3,
    flops: float | None = None,
    gpu_hours: float | None = None,
    mfu: float | None = None,
    inference_tokens: float | None = None,
) -> Design:
    """Design a decoder-only LM for a budget: ``params`` (within 1%), or ``flops`` / ``gpu_hours``
    (the compute-optimal size, Chinchilla approach 3). See the package docstring."""
    from .budget import plan_budget

    budget = plan_budget(params, flops, gpu_hours, get_gpu(gpu), mfu, inference_tokens)
    req = Request(
        target=budget.params if budget.from_compute else parse_param_count(params if params is not None else "7B"),
        style=style, vocab=vocab, context=context, tie=tie, layers=layers, hidden=hidden, heads=heads,
        kv_heads=kv_heads, head_dim=head_dim, tp=tp, latency=latency, extrapolate=extrapolate, gpu=gpu, batch=batch,
    )
    base = design_request(req, candidates=candidates)
    scaling = []
    for factor in SCALING_FACTORS:
        try:
            other = design_request(req.scaled(factor), candidates=1)
        except ConfigError:
            continue  # e.g. beyond the largest size the designer sizes
        scaling.append(ScaledDesign(factor, other, prose.describe_changes(base, other)))
    return replace(base, scaling=scaling, budget=budget.describe(base))


def scaling_family(d: Design, factors: tuple[float, ...] = (0.1, 0.2, 0.5, 1, 2, 5, 10)) -> list[tuple[float, Design]]:
    """Designs of the same request at several sizes (skipping any the designer refuses), for the report."""
    out = []
    for factor in factors:
        if factor == 1:
            out.append((1.0, d))
            continue
        try:
            out.append((factor, design_request(d.request.scaled(factor), candidates=1)))
        except ConfigError:
            continue
    return out
