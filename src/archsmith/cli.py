"""The ``archsmith`` command line.

Every analytic command (presets, validate, count, estimate, compare, design) answers
without importing torch; ``export`` loads it only when it runs. Bad input of any kind
exits with code 2 and a readable message on stderr, never a traceback.

Exit codes (also in ``archsmith --help``): 0 success; 2 bad input, with a message on stderr
that starts with ``error:`` (or, for ``validate --json``, a JSON verdict on stdout); 2 also for
wrong usage (an unknown option, a missing argument, a value of the wrong type or out of
range), which click reports with a ``Usage:`` line and an ``Error`` box. Both are the
caller's to fix, hence one code; the first line tells them apart.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any, Callable, NoReturn, Optional

import typer
from rich.console import Console
from rich.table import Table

from . import __version__
from .config import MAX_LAYERS, MAX_SIZE, MLA_FIELDS
from .errors import ArchsmithError, ConfigError

app = typer.Typer(
    help=(
        "Design, size, build and export decoder-only transformer LMs.\n\n"
        "Exit codes: 0 success; 2 bad input (stderr starts with 'error:'; validate --json prints a JSON verdict) "
        "or wrong usage (click's 'Usage:' line: unknown option, missing argument, value out of range)."
    ),
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

SRC_HELP = ("A preset name, an archsmith JSON file, an HF config.json, a directory holding one, "
            "or a Hub id (org/name or org/name@revision; only its config.json is downloaded).")
DTYPE_HELP = "bf16 (bfloat16), fp16 (float16, half), fp32 (float32, float) or fp8 (float8_e4m3fn); torch. prefix allowed"
# The designer's limits: far beyond any model it is meant for, small enough that its
# search never meets an absurd number (design.py itself is not the place to guard them).
MAX_DESIGN_PARAMS = 10**15  # 1,000T
MAX_DESIGN_HEADS = 65536
_PARAM_SUFFIXES = {"k": 1e3, "m": 1e6, "b": 1e9, "g": 1e9, "t": 1e12}


def _fail(message: str) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def command(fn: Callable) -> Callable:
    """Register ``fn`` as a subcommand whose archsmith errors become exit code 2 with a message."""

    @functools.wraps(fn)  # typer reads the wrapped signature for the options
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except ArchsmithError as e:
            _fail(str(e))

    return app.command()(run)


def _show_version(value: bool) -> None:
    if value:
        print(f"archsmith {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(False, "--version", callback=_show_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """Options before the command (the app's help text is the Typer's)."""


def _print_json(data: Any) -> None:
    # Plain print, not rich: scripts parse this, so no markup or wrapping.
    print(json.dumps(data, indent=2))


def _load(source: str):
    from .loading import load_config

    return load_config(source)


def _fmt_int(n: int) -> str:
    return f"{n:,}"


def human(n: float, unit: str = "") -> str:
    """1234567 -> '1.23 M' (decimal prefixes, as parameter counts are quoted)."""
    for div, prefix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.2f} {prefix}{unit}"
    return f"{n:g} {unit}".strip()


def human_bytes(n: float) -> str:
    """Bytes in binary units (GiB), as memory is sold."""
    for div, prefix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(n) >= div:
            return f"{n / div:.2f} {prefix}"
    return f"{int(n)} B"


def _label(cfg, source: str) -> str:
    return cfg.name or source


# --- commands -----------------------------------------------------------------------------


@command
def presets(json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """List the built-in presets of real models with their exact parameter counts."""
    from .presets import PRESETS, get_preset
    from .sizing import count_params

    rows = []
    for name, preset in PRESETS.items():
        cfg = get_preset(name)
        p = count_params(cfg)
        rows.append({"name": name, "model_type": preset.hf_config.get("model_type"), "total": p.total,
                     "non_embedding": p.non_embedding, "active": p.active, "hub_id": preset.hub_id,
                     "source": preset.source})
    if json_out:
        _print_json(rows)
        return
    table = Table(title="archsmith presets")
    # A preset name or family is what the user types next: never cut it short, whatever the terminal's width.
    table.add_column("name", no_wrap=True, min_width=max(len(r["name"]) for r in rows))
    table.add_column("family", no_wrap=True)
    for col in ("parameters", "non-embedding", "active"):
        table.add_column(col, justify="right")
    table.add_column("Hub id (or source)", overflow="fold")  # an id cut short is no use: wrap it instead
    for r in rows:
        active = human(r["active"]) if r["active"] != r["total"] else ""  # only a Mixture-of-Experts differs
        table.add_row(r["name"], r["model_type"], human(r["total"]), human(r["non_embedding"]), active,
                      r["hub_id"] or r["source"])
    out.print(table)


def _split_fix(message: str) -> dict[str, str | None]:
    """'problem; fix: remedy' -> {"problem": ..., "fix": ...} (fix None where a message has none)."""
    problem, sep, fix = message.rpartition("; fix: ")
    return {"problem": problem, "fix": fix} if sep else {"problem": message, "fix": None}


def _verdict(problems: list[str], warnings: list[str]) -> dict[str, Any]:
    return {
        "valid": not problems,
        "problems": [_split_fix(p) for p in problems],
        "warnings": [_split_fix(w) for w in warnings],
    }


@command
def validate(
    source: str = typer.Argument(..., help=SRC_HELP),
    tp: Optional[int] = typer.Option(None, "--tp", min=1, max=MAX_SIZE, help="Also check sharding over this tensor-parallel degree."),
    json_out: bool = typer.Option(
        False, "--json", help='Print a JSON verdict {"valid", "problems": [{"problem", "fix"}], "warnings"}, also when invalid (exit 2).'
    ),
) -> None:
    """Check a config: exit 0 if valid, else exit 2 with every problem and its fix."""
    from .config import expert_parallel_degrees, tensor_parallel_degrees
    from .config import validate as validate_config

    try:
        cfg = _load(source)
        warnings = validate_config(cfg, tp=tp)
    except ArchsmithError as e:
        if not json_out:
            raise
        _print_json(_verdict(e.problems if isinstance(e, ConfigError) else [str(e)], []))
        raise typer.Exit(2) from None
    if json_out:
        _print_json({**_verdict([], warnings),
                     "tensor_parallel": {str(d): why for d, why in tensor_parallel_degrees(cfg).items()},
                     "expert_parallel": {str(d): why for d, why in expert_parallel_degrees(cfg).items()}})
        return
    out.print(f"[green]valid[/]: {_label(cfg, source)}")
    degrees = tensor_parallel_degrees(cfg)
    out.print(f"tensor parallel: degree {', '.join(map(str, degrees))} (divisors of the {cfg.num_attention_heads} "
              "query heads that pass the sharding rules)", highlight=False)
    for degree, layout in degrees.items():
        out.print(f"  tp={degree}: {layout}", highlight=False)
    experts = expert_parallel_degrees(cfg)
    if experts:
        out.print(f"expert parallel: degree {', '.join(map(str, experts))} (divisors of the {cfg.num_experts} "
                  "routed experts)", highlight=False)
    for w in warnings:
        out.print(f"[yellow]warning:[/] {w}", highlight=False)


def _breakdown_table(columns: list[tuple[str, Any]]) -> Table:
    table = Table(title="parameters")
    table.add_column("component")
    for label, _ in columns:
        table.add_column(label, justify="right")
    moe = any(p.inactive for _, p in columns)  # the router and active rows only where some model has experts
    keys = ["embedding", "attention", "ffn", "norm", "lm_head", "non_embedding", "total"]
    if moe:
        keys[3:3] = ["router"]
        keys += ["active"]
    for key in keys:
        cells = []
        for _, p in columns:
            value = getattr(p, key)
            share = f" ({100 * value / p.total:.1f}%)" if key not in ("total",) else ""
            cells.append(f"{_fmt_int(value)}{share}")
        table.add_row(key, *cells, style="bold" if key in ("total", "active") else None)
    return table


@command
def count(
    source: str = typer.Argument(..., help=SRC_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON with integer counts."),
) -> None:
    """Exact parameter count, broken down by component (equal to the real model's numel)."""
    from .sizing import count_params

    cfg = _load(source)
    p = count_params(cfg)
    if json_out:
        _print_json(p.to_dict())
        return
    out.print(_breakdown_table([(_label(cfg, source), p)]))
    out.print(f"total: {human(p.total)} parameters (exact)")
    if p.inactive:
        out.print(
            f"active: {human(p.active)} parameters per token (exact): {cfg.num_experts_per_tok} of "
            f"{cfg.num_experts} routed experts in {cfg.num_sparse_layers} of {cfg.num_hidden_layers} layers"
            + (f", plus {cfg.n_shared_experts} shared" if cfg.n_shared_experts else "")
        )


def _estimate(source: str, seq: Optional[int], batch: int, dtype: str):
    from .sizing import estimate as run_estimate

    cfg = _load(source)
    return cfg, run_estimate(cfg, seq_len=cfg.max_position_embeddings if seq is None else seq, batch=batch, dtype=dtype)


def _estimate_tables(labelled: list[tuple[str, dict]]) -> list[Table]:
    """Rich tables for one or several estimate dicts (one column each)."""
    first = labelled[0][1]
    flops = Table(title="FLOPs per token (forward / training)")
    flops.add_column("convention")
    for label, _ in labelled:
        flops.add_column(label, justify="right")
    for conv in first["flops"]:
        cells = [f"{human(e['flops'][conv]['forward_per_token'])} / {human(e['flops'][conv]['training_per_token'])}" for _, e in labelled]
        flops.add_row(conv, *cells)

    memory = Table(title="memory")
    memory.add_column("item")
    for label, _ in labelled:
        memory.add_column(label, justify="right")

    def row(name: str, get) -> None:
        memory.add_row(name, *[get(e) for _, e in labelled])

    row("parameters (weights)", lambda e: human(e["params"]["total"]))
    if any(e["params"]["inactive"] for _, e in labelled):
        row("active parameters / token (FLOPs)", lambda e: human(e["params"]["active"]))
    row("context x batch", lambda e: f"{e['seq_len']:,} x {e['batch']}")
    row("KV cache holds (per token, layer)", lambda e: e["kv_cache_holds"])
    row("KV cache / token", lambda e: human_bytes(e["kv_cache_bytes_per_token"]))
    row(f"KV cache ({first['dtype']})", lambda e: human_bytes(e["kv_cache_bytes"]))
    for dt in first["weight_bytes"]:
        row(f"weights {dt}", lambda e, dt=dt: human_bytes(e["weight_bytes"][dt]))
    tm_keys = list(first["training_memory"])
    for k in tm_keys:
        row(f"training: {k}", lambda e, k=k: human_bytes(e["training_memory"][k]))
    return [flops, memory]


@command
def estimate(
    source: str = typer.Argument(..., help=SRC_HELP),
    seq: Optional[int] = typer.Option(None, "--seq", help="Sequence length (default: the model's context)."),
    batch: int = typer.Option(1, "--batch", help="Batch size (sequences)."),
    dtype: str = typer.Option("bf16", "--dtype", help=DTYPE_HELP),
    fsdp: Optional[int] = typer.Option(None, "--fsdp", min=1, max=MAX_SIZE, help="Also predict per-GPU training memory with FSDP2 over N GPUs (archsmith.parallel's layout; --batch is then per FSDP rank)."),
    tp: Optional[int] = typer.Option(None, "--tp", min=1, max=MAX_SIZE, help="... and tensor parallel over M GPUs (each FSDP rank is a group of M)."),
    ep: Optional[int] = typer.Option(None, "--ep", min=1, max=MAX_SIZE, help="... with a MoE's experts split over the E FSDP ranks (expert parallel; E equals --fsdp)."),
    checkpointing: bool = typer.Option(False, "--checkpointing", help="Per-GPU memory with full activation checkpointing."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """FLOPs per token under named conventions, KV cache, weight and training memory."""
    cfg, est = _estimate(source, seq, batch, dtype)
    data = est.to_dict()
    per_gpu = None
    if fsdp is not None or tp is not None or ep is not None or checkpointing:
        from .sharding import gpu_memory

        per_gpu = gpu_memory(cfg, fsdp or 1, tp or 1, est.seq_len, batch, checkpointing, ep or 1).to_dict()
        data["per_gpu"] = per_gpu
    if json_out:
        _print_json(data)
        return
    for table in _estimate_tables([(_label(cfg, source), data)]):
        out.print(table)
    if per_gpu is not None:
        _print_per_gpu(per_gpu)
    for conv, e in data["flops"].items():
        out.print(f"[dim]{conv}: {e['description']}[/]", highlight=False)
    out.print("[dim]assumptions:[/]")
    for a in data["assumptions"]:
        out.print(f"[dim]  - {a}[/]", highlight=False)
    for w in cfg.warnings() + data["warnings"]:
        out.print(f"[yellow]warning:[/] {w}", highlight=False)


def _print_per_gpu(m: dict) -> None:
    experts = f", experts over {m['ep']}" if m["ep"] > 1 else ""
    table = Table(title=f"per GPU: FSDP2 over {m['fsdp']} x tensor parallel over {m['tp']}{experts} "
                        f"({m['batch']} x {m['seq_len']:,} tokens per FSDP rank{', checkpointed' if m['checkpointing'] else ''})")
    table.add_column("item")
    table.add_column("bytes", justify="right")
    table.add_row("parameters on this GPU", _fmt_int(m["params_per_gpu"]))
    for key, label in (("weights", "weights (fp32 shard)"), ("gradients", "gradients (fp32 shard)"),
                       ("optimizer", "AdamW m, v (fp32 shard)"), ("gathered", "gathered bf16 params/grads"),
                       ("activations", "activations"), ("total", "total")):
        table.add_row(label, human_bytes(m[key]), style="bold" if key == "total" else None)
    out.print(table)
    out.print("[dim]per-GPU assumptions:[/]")
    for a in m["assumptions"]:
        out.print(f"[dim]  - {a}[/]", highlight=False)


@command
def compare(
    sources: list[str] = typer.Argument(..., help="Two or more configs. " + SRC_HELP),
    seq: Optional[int] = typer.Option(None, "--seq", help="Sequence length (default: each model's context)."),
    batch: int = typer.Option(1, "--batch", help="Batch size."),
    dtype: str = typer.Option("bf16", "--dtype", help=DTYPE_HELP),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (a list, one entry per source)."),
) -> None:
    """The count and estimate figures of several configs side by side."""
    if len(sources) < 2:
        _fail("compare needs at least two configs; fix: archsmith compare SRC SRC [...]")
    results = []
    for s in sources:
        cfg, est = _estimate(s, seq, batch, dtype)
        results.append((_label(cfg, s), cfg, est))
    if json_out:
        _print_json([{"source": s, "name": label, **est.to_dict()} for s, (label, _, est) in zip(sources, results)])
        return
    from .sizing import count_params

    out.print(_breakdown_table([(label, count_params(cfg)) for label, cfg, _ in results]))
    shape = Table(title="shape")
    shape.add_column("field")
    for label, _, _ in results:
        shape.add_column(label, justify="right")
    fields = ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
              "head_dim", "intermediate_size", "max_position_embeddings", "position_embedding", "norm_type",
              "hidden_act", "tie_word_embeddings"]
    if any(cfg.is_mla for _, cfg, _ in results):
        fields[6:6] = MLA_FIELDS
    if any(cfg.is_moe for _, cfg, _ in results):
        fields += ["num_experts", "num_experts_per_tok", "moe_intermediate_size", "n_shared_experts"]
    for field in fields:
        shape.add_row(field, *[str(getattr(cfg, field)) for _, cfg, _ in results])
    out.print(shape)
    for table in _estimate_tables([(label, est.to_dict()) for label, _, est in results]):
        out.print(table)


def _params_in_range(value: str | None) -> str | None:
    """Refuse a --params that is not finite or beyond MAX_DESIGN_PARAMS; the designer parses the rest."""
    if value is None:
        return None
    text = value.strip().lower().replace("_", "").replace(",", "")
    scale = _PARAM_SUFFIXES.get(text[-1:], 1.0)
    try:
        number = float(text[:-1] if scale != 1.0 else text) * scale
    except ValueError:
        return value  # not a number at all: the designer says what a parameter count looks like
    if not math.isfinite(number) or number > MAX_DESIGN_PARAMS:
        raise typer.BadParameter(f"{value} is beyond the designer's range; give at most 1000T ({MAX_DESIGN_PARAMS:.0e})")
    return value


def _finite_positive(value: float | None) -> float | None:
    """A budget given as a float (FLOPs, GPU-hours, tokens, MFU) is finite and positive."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise typer.BadParameter(f"{value} must be a finite positive number")
    return value


@command
def design(
    params: Optional[str] = typer.Option(None, "--params", callback=_params_in_range, help="Target parameter count, e.g. 125M, 7B, 1.5T (default 7B, at most 1000T)."),
    flops: Optional[float] = typer.Option(None, "--flops", callback=_finite_positive, help="Training compute budget in FLOPs, e.g. 1e24: the compute-optimal size (Chinchilla)."),
    gpu_hours: Optional[float] = typer.Option(None, "--gpu-hours", callback=_finite_positive, help="Training budget in GPU-hours on --gpu at --mfu."),
    inference_tokens: Optional[float] = typer.Option(None, "--inference-tokens", callback=_finite_positive, help="Tokens the model will serve: trades size for training tokens (Sardana et al. 2023)."),
    mfu: Optional[float] = typer.Option(None, "--mfu", callback=_finite_positive, help="Model FLOPs utilisation assumed for training time (default 0.40)."),
    style: str = typer.Option("llama3", "--style", help="Family conventions to follow: llama3, llama2, mistral, qwen2, qwen3, gpt2."),
    vocab: Optional[int] = typer.Option(None, "--vocab", min=1, max=MAX_SIZE, help="Vocabulary size (default: the style's); padded to a multiple of 128 x TP."),
    context: Optional[int] = typer.Option(None, "--context", min=1, max=MAX_SIZE, help="Context length in tokens (default: the style's)."),
    batch: int = typer.Option(1, "--batch", min=1, max=MAX_SIZE, help="Sequences served at once: sizes the KV cache that must fit on --gpu."),
    gpu: str = typer.Option("h100", "--gpu", help="GPU the model is served and trained on (h100, h200, a100, ...)."),
    tie: Optional[bool] = typer.Option(None, "--tie/--no-tie", help="Tie the LM head to the embedding (default: by size)."),
    layers: Optional[int] = typer.Option(None, "--layers", min=1, max=MAX_LAYERS, help="Fix the number of layers."),
    hidden: Optional[int] = typer.Option(None, "--hidden", min=1, max=MAX_SIZE, help="Fix hidden_size."),
    heads: Optional[int] = typer.Option(None, "--heads", min=1, max=MAX_DESIGN_HEADS, help="Fix num_attention_heads."),
    kv_heads: Optional[int] = typer.Option(None, "--kv-heads", min=1, max=MAX_DESIGN_HEADS, help="KV heads (snapped to the nearest count that divides the heads)."),
    head_dim: Optional[int] = typer.Option(None, "--head-dim", min=1, max=MAX_SIZE, help="Fix head_dim."),
    tp: Optional[int] = typer.Option(None, "--tp", min=1, max=MAX_DESIGN_HEADS, help="Tensor-parallel degree the shapes must divide by."),
    latency: bool = typer.Option(False, "--latency", help="Optimise decoding latency (MQA)."),
    extrapolate: bool = typer.Option(False, "--extrapolate", help="Extrapolate past the context without fine-tuning (ALiBi)."),
    candidates: int = typer.Option(3, "--candidates", min=1, max=100, help="Shapes to list beside the design (the design included)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    out_dir: Optional[Path] = typer.Option(None, "--out", help="Write archsmith.json, config.json and the report here."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty --out directory."),
) -> None:
    """Design an architecture for a parameter, FLOP or GPU-hour budget, with a reason for each choice."""
    from .design import design as run_design
    from .files import OutputDir

    target = OutputDir(out_dir, force) if out_dir is not None else None  # refuse before designing
    result = run_design(params, style=style, vocab=vocab, context=context, tie=tie, layers=layers, hidden=hidden,
                        heads=heads, kv_heads=kv_heads, head_dim=head_dim, tp=tp, latency=latency,
                        extrapolate=extrapolate, gpu=gpu, batch=batch, candidates=candidates, flops=flops,
                        gpu_hours=gpu_hours, mfu=mfu, inference_tokens=inference_tokens)
    if json_out:
        _print_json(result.to_dict())
    else:
        from .report import render_terminal

        render_terminal(result, out)
    if target is not None:
        from .report import write_outputs

        written = write_outputs(result, target)
        err.print(f"wrote {', '.join(str(p) for p in written)}", highlight=False)


@command
def export(
    source: str = typer.Argument(..., help=SRC_HELP + " An HF model directory with weights, or a Hub id, is "
                                 "converted (a Hub id's config, safetensors and tokenizer files are downloaded)."),
    outdir: Path = typer.Argument(..., help="Directory to write the HF checkpoint into."),
    dtype: Optional[str] = typer.Option(
        None, "--dtype", help="Weight dtype: bf16 (bfloat16), fp16 (float16, half) or fp32 (float32, float) (default: the config's)."
    ),
    seed: int = typer.Option(0, "--seed", min=0, max=2**64 - 1, help="Seed for the random init of a config without weights (torch takes 0 to 2**64 - 1)."),
    force: bool = typer.Option(False, "--force", help="Replace a non-empty OUTDIR."),
    allow_pickle: bool = typer.Option(False, "--allow-pickle", help="Read a pytorch_model.bin (with weights_only=True)."),
    json_out: bool = typer.Option(
        False, "--json", help='Print {"outdir", "architecture", "model_type", "remote_code", "reason"} as JSON (no progress bar).'
    ),
) -> None:
    """Write an HF checkpoint (config.json + safetensors) that transformers loads with identical logits."""
    from .hf.convert import export as run_export

    plan = run_export(source, outdir, dtype=dtype, seed=seed, force=force, allow_pickle=allow_pickle, progress=not json_out)
    if json_out:
        _print_json({"outdir": str(outdir), "architecture": plan.architecture, "model_type": plan.model_type,
                     "remote_code": plan.remote_code, "reason": plan.reason})
        return
    path = "remote code (load with trust_remote_code=True)" if plan.remote_code else "a native transformers class"
    out.print(f"exported {outdir} as {plan.architecture}, {path}: {plan.reason}", highlight=False)


def main() -> None:
    """Console entry point. Library warnings (e.g. a kept temporary) print as one 'warning:' line."""
    import warnings

    warnings.showwarning = lambda message, *_, **__: err.print(f"warning: {message}", highlight=False)
    app()


if __name__ == "__main__":
    main()
