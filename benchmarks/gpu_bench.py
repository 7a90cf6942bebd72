"""Training and decoding on one GPU: archsmith against transformers, same weights, same card, one process.

The Llama-3.2-1B shape (preset llama-3.2-1b: 1.24B parameters, tied embeddings, vocab 128256) is built
in bf16 with random weights, exported with ``to_hf`` and loaded back with transformers'
``from_pretrained``, so both systems run the very same weights. Then the five workloads of issue 10:

    train         seq 2048 x batch 8: forward, backward and a fused AdamW step; eager, then compiled
    train-window  sliding window 1024, seq 8192 x batch 2 (the same weights exported again with the window)
    decode-b1     batch 1, prompt 128, greedy: 256 and 1024 new tokens
    decode-b16    batch 16, prompt 128, greedy, 256 new tokens

    python benchmarks/gpu_bench.py --quick   # every archsmith row and transformers' eager rows; < 4 min on an H200
    python benchmarks/gpu_bench.py           # adds transformers compiled and static-cache rows, more steps; < 9 min
    python benchmarks/gpu_bench.py --device cpu --tiny --out /tmp/bench   # a dry run of the script itself

No row starts after --budget-s (180 s quick, 480 s full): a row skipped for time is listed in the results.
After the rows, the GPU tests run on the same machine (``--tests gpu``, the default: every test of
tests/test_gpu.py and tests/test_decode_gpu.py and the CUDA tests of the other files, ``-k "cuda or gpu"``),
in a subprocess limited to --tests-timeout-s; the results name each failed test and each one the timeout
cut, and the whole output is written next to them (gpu_<card>[_tiny][_quick]_tests.log).

What it measures (benchmarks/results/gpu_<card>[_quick].{json,md}, rewritten after every row):

- tokens/s. Training: batch x seq / the median step time after warm-up (host synchronised around each
  step). Decoding: new tokens of the whole batch / the wall time of one ``generate`` call, prefill
  included, after a warm-up call (of the same length where a compiled path needs its shapes).
- MFU: PaLM's convention (Chowdhery et al. 2022, appendix B; nanoGPT's estimate_mfu): 6N + 12·L·H·Q·T
  FLOPs per trained token, N = every parameter with the LM-head matmul counted even though it is
  tied, T the sequence length, or the window where the layers attend through one (the "windowed FLOPs"
  of the issue), over the card's dense bf16 peak from archsmith.hardware.
- HBM bandwidth (decoding): the bytes one step must read, every weight once plus the KV cache at that
  length (archsmith.sizing.kv_cache_bytes), summed over the steps, over the wall time. Prefill is in
  the time, so it is a lower bound; "roofline" is the tokens/s that reading those bytes at the card's
  peak bandwidth would allow.
- peak memory: torch's allocator peak during the row, less what was allocated before it, plus the
  row's own model weights (the other system's weights stay resident and are not counted).

The AdamW step runs with lr 0: the same work as any learning rate, and the weights stay the ones both
systems share. The fast paths are switched by flags (--compile, --attention-kernel, --check-inputs,
--decode); one the model does not have is reported as absent in the results and the row runs without it.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import inspect
import json
import os
import platform
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import transformers

from archsmith import load_config
from archsmith.errors import ConfigError
from archsmith.hardware import get_gpu, normalize_gpu_name
from archsmith.hf.convert import to_hf
from archsmith.model import build_model
from archsmith.sizing import flop_counts, kv_cache_bytes

RESULTS = Path(__file__).parent / "results"
PRESET = "llama-3.2-1b"
# --tiny: the same structure, small enough for a CPU dry run (see tiny_of).
TINY = dict(vocab_size=1024, hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4)


@dataclass(frozen=True)
class Sizes:
    train: tuple[int, int]  # batch, seq
    window: int
    window_train: tuple[int, int]
    prompt: int
    decode_b1: tuple[int, ...]  # new tokens
    decode_b16: tuple[int, int]  # batch, new tokens


ISSUE = Sizes(train=(8, 2048), window=1024, window_train=(2, 8192), prompt=128, decode_b1=(256, 1024), decode_b16=(16, 256))
SMALL = Sizes(train=(2, 64), window=32, window_train=(1, 128), prompt=16, decode_b1=(16, 32), decode_b16=(16, 16))


@dataclass
class Row:
    workload: str
    system: str  # "archsmith" or "transformers"
    variant: str  # how it ran: eager, compiled (how), static cache, ...
    tokens_per_s: float
    peak_memory_bytes: int | None
    mfu: float | None = None
    hbm_bytes_per_s: float | None = None
    roofline_tokens_per_s: float | None = None
    compiled: bool = False  # torch.compile or CUDA graphs in the row's path
    first_call_s: float | None = None  # the first step or generate call: compile time shows here
    loss: float | None = None  # training: the first step's loss (both systems see the same batch and weights)
    times_s: list[float] = field(default_factory=list)


class Bench:
    """The card, the options, the rows measured so far, and the result files they are written to."""

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.device = torch.device(args.device)
        self.cuda = self.device.type == "cuda"
        self.sizes = SMALL if args.tiny else ISSUE
        self.card = torch.cuda.get_device_name(self.device) if self.cuda else "cpu"
        self.gpu = gpu_spec(self.card) if self.cuda else None
        self.rows: list[Row] = []
        self.paths: dict[str, str] = {}
        self.skipped: list[str] = []
        self.failed: list[str] = []
        self.tests: dict | None = None  # the GPU tests' outcome (run_gpu_tests)
        self.started = time.perf_counter()
        name = f"gpu_{normalize_gpu_name(self.card)}{'_tiny' if args.tiny else ''}{'_quick' if args.quick else ''}"
        self.out = Path(args.out) / name

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def wanted(self, workload: str, full_only: bool = False) -> bool:
        return (workload in self.args.only if self.args.only else True) and not (full_only and self.args.quick)

    def measure(self, workload: str, system: str, variant: str, compiled: bool, weights: torch.nn.Module, run: Callable[[], Row]) -> None:
        """Run one row: memory accounting around ``run``, then print it and rewrite the result files.
        A row that would start after --budget-s is skipped (and listed as such), so that a run under a
        wall-clock limit still ends with its result files written."""
        if time.perf_counter() - self.started > self.args.budget_s:
            self.skipped.append(f"{workload} {system} ({variant})")
            print(f"skipped (past --budget-s {self.args.budget_s:.0f}): {self.skipped[-1]}", flush=True)
            return
        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)
            before = torch.cuda.memory_allocated(self.device)
        start = time.perf_counter()
        try:
            row = run()
        except Exception as error:  # one broken path must not cost the other rows of a device run
            first_line = (str(error).splitlines() or [""])[0]
            self.failed.append(f"{workload} {system} ({variant}): {type(error).__name__}: {first_line}")
            traceback.print_exc()
            self.write()
            return
        row.workload, row.system, row.variant, row.compiled = workload, system, variant, compiled
        if self.cuda:
            row.peak_memory_bytes = torch.cuda.max_memory_allocated(self.device) - before + _weight_bytes(weights)
        self.rows.append(row)
        print(f"{_line(row)}   [{time.perf_counter() - start:.0f} s]", flush=True)
        self.write()

    def write(self) -> None:
        self.out.parent.mkdir(parents=True, exist_ok=True)
        result = {"environment": self.environment(), "paths": self.paths, "rows": [asdict(r) for r in self.rows], "skipped": self.skipped,
                  "failed": self.failed, "tests": self.tests}  # fmt: skip
        self.out.with_suffix(".json").write_text(json.dumps(result, indent=2) + "\n")
        self.out.with_suffix(".md").write_text(markdown(result, self.sizes))

    def environment(self) -> dict:
        return {
            **run_environment(self.card, "gpu_bench.py", self.args.argv, self.args.tiny),
            "gpu_spec": None if self.gpu is None else self.gpu.to_dict(), "transformers": transformers.__version__,
            "wall_s": round(time.perf_counter() - self.started, 1),
        }  # fmt: skip


def gpu_spec(card: str):
    """archsmith.hardware's entry for ``card``, or None for a card it does not list (no MFU or roofline)."""
    try:
        return get_gpu(card)
    except ConfigError:
        return None


def bench_config(tiny: bool, preset: str = PRESET):
    """``preset`` in bf16; with ``tiny``, a small model of the same structure (a dry run)."""
    cfg = load_config(preset).replace(torch_dtype="bfloat16")
    return tiny_of(cfg) if tiny else cfg


def tiny_of(cfg):
    """``cfg`` at TINY's sizes with its structure kept: MHA, GQA (2 KV heads) or MQA; MLA's latent and head
    widths and query bottleneck; Mixture-of-Experts routing (4 experts, at most 2 a token, 2 groups where the
    preset groups them, at most 1 dense layer first); RoPE scaling (but LongRoPE's per-dimension factors, which
    fit only the preset's head width); a window; and two layers that differ as the preset's do, where some do
    (sliding and full attention, RoPE and NoPE), else its first two."""
    changes = dict(TINY)
    heads = TINY["num_attention_heads"]
    if cfg.is_mla:
        changes.update(num_key_value_heads=None, head_dim=None, kv_lora_rank=32, qk_nope_head_dim=16, qk_rope_head_dim=16,
                       v_head_dim=16, q_lora_rank=cfg.q_lora_rank and 32)  # fmt: skip
    else:
        kv = cfg.num_key_value_heads  # resolved by ArchConfig: never None
        changes.update(num_key_value_heads=heads if kv == cfg.num_attention_heads else 1 if kv == 1 else 2, head_dim=32)
    for name in ("rope_scaling", "sliding_rope_scaling"):
        if (getattr(cfg, name) or {}).get("rope_type") == "longrope":
            changes[name] = None
    if cfg.sliding_window is not None:
        changes["sliding_window"] = 32
    # Layer 0 and the first layer unlike it (in window or RoPE), else layer 1.
    kind = lambda i: (cfg.layer_is_sliding(i), cfg.layer_has_rope(i))  # noqa: E731
    other = next((i for i in range(1, cfg.num_hidden_layers) if kind(i) != kind(0)), 1)
    kept = (0, other)
    if cfg.layer_types is not None:
        types = tuple(cfg.layer_types[i] for i in kept)
        changes["layer_types"] = None if len(set(types)) == 1 else types
    if cfg.nope_layers is not None:
        changes["nope_layers"] = tuple(j for j, i in enumerate(kept) if i in cfg.nope_layers) or None
    if cfg.is_moe:
        grouped = cfg.n_group > 1
        changes.update(num_experts=4, num_experts_per_tok=min(2, cfg.num_experts_per_tok), moe_intermediate_size=64,
                       n_group=2 if grouped else 1, topk_group=1, first_k_dense_replace=min(1, cfg.first_k_dense_replace),
                       shared_expert_intermediate_size=cfg.shared_expert_intermediate_size and 64,
                       mlp_only_layers=tuple(j for j, i in enumerate(kept) if i in cfg.mlp_only_layers))  # fmt: skip
    return cfg.replace(**changes)


def run_environment(card: str, script: str, argv: list[str], tiny: bool, preset: str = PRESET) -> dict:
    """What a results file says of its run: card, versions, commit, date, command and model."""
    return {
        "card": card, "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
        "archsmith_commit": _git_commit(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": f"python benchmarks/{script} " + " ".join(argv), "model": preset + (" (tiny)" if tiny else ""),
    }  # fmt: skip


# --- the two systems on the same weights --------------------------------------------------------------


def archsmith_model(bench: Bench, cfg, source: torch.nn.Module | None = None) -> torch.nn.Module:
    """archsmith's model of ``cfg`` in bf16 on the card, with ``source``'s weights when given."""
    torch.manual_seed(0)
    model = build_model(cfg, device=bench.device, dtype=torch.bfloat16)
    if source is not None:
        model.load_state_dict(source.state_dict())
    if hasattr(model, "attention_kernel"):  # FlexAttention switch (model/masks.py)
        model.attention_kernel = bench.args.attention_kernel
        bench.paths["attention_kernel"] = bench.args.attention_kernel
    else:
        bench.paths["attention_kernel"] = "absent (dense masks / SDPA only)"
    return model


def transformers_model(bench: Bench, model: torch.nn.Module, directory: Path) -> torch.nn.Module:
    """``model`` exported with to_hf and loaded back by transformers (its default SDPA attention)."""
    plan = to_hf(model, directory, force=True)
    hf = transformers.AutoModelForCausalLM.from_pretrained(
        directory, dtype=torch.bfloat16, attn_implementation="sdpa", trust_remote_code=plan.remote_code
    )
    hf.generation_config.eos_token_id = None  # never stop early: every call decodes all its tokens
    bench.paths[f"transformers class ({'window' if model.config.sliding_window else 'full'})"] = plan.architecture
    return hf.to(bench.device)


def forward_kwargs(bench: Bench, model: torch.nn.Module) -> dict:
    """``check_inputs=False`` (no host sync for the token-id range check) when the model takes it."""
    if "check_inputs" not in inspect.signature(model.forward).parameters:
        bench.paths["check_inputs"] = "absent (checked every call)"
        return {}
    bench.paths["check_inputs"] = "on" if bench.args.check_inputs else "off"
    return {} if bench.args.check_inputs else {"check_inputs": False}


def compiled(bench: Bench, model: torch.nn.Module) -> torch.nn.Module:
    """archsmith's model compiled as --compile says: per block (regional) or whole."""
    if bench.args.compile == "full":
        bench.paths["compile"] = "torch.compile(model)"
        return torch.compile(model)
    if hasattr(model, "compile_blocks"):
        bench.paths["compile"] = "model.compile_blocks()"
        return model.compile_blocks()
    for block in model.layers:  # what compile_blocks does, for a model without it
        block.compile()
    bench.paths["compile"] = "block.compile() per layer"
    return model


# --- training -----------------------------------------------------------------------------------------


def train_row(bench: Bench, model: torch.nn.Module, step: Callable[[torch.Tensor], torch.Tensor], batch: int, seq: int, flops_per_token: float) -> Row:
    """Time ``step(ids) -> loss`` (forward and backward) plus a fused AdamW step; the median after warm-up."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.0, fused=bench.cuda)
    vocab = model.config.vocab_size
    g = torch.Generator(device=bench.device).manual_seed(1)
    ids = torch.randint(0, vocab, (batch, seq), device=bench.device, generator=g)
    warmup, steps = (2, 3) if bench.args.quick else (3, 10)
    times, losses = [], []
    for _ in range(warmup + steps):
        bench.sync()
        start = time.perf_counter()
        loss = step(ids)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        bench.sync()
        times.append(time.perf_counter() - start)
        losses.append(loss.detach())
    del optimizer
    tokens_per_s = batch * seq / statistics.median(times[warmup:])
    peak = bench.gpu.bf16_dense_flops if bench.gpu else None
    return Row("", "", "", tokens_per_s, None, mfu=peak and tokens_per_s * flops_per_token / peak,
               first_call_s=times[0], loss=losses[0].item(), times_s=times[warmup:])  # fmt: skip


def train_workloads(bench: Bench, name: str, ours: torch.nn.Module, hf: torch.nn.Module, batch: int, seq: int) -> None:
    """Eager rows for both, then compiled rows (compile_blocks changes ``ours`` in place: they come last)."""
    cfg = ours.config
    window = cfg.sliding_window
    flops = flop_counts(cfg, seq if window is None else min(seq, window))["palm"].training_per_token
    kwargs = forward_kwargs(bench, ours)
    ours.train()
    hf.train()

    def ours_step(model):
        return lambda ids: model(ids, labels=ids, **kwargs).loss

    def hf_step(model):
        return lambda ids: model(input_ids=ids, labels=ids, use_cache=False).loss

    bench.measure(name, "transformers", "eager", False, hf, lambda: train_row(bench, hf, hf_step(hf), batch, seq, flops))
    bench.measure(name, "archsmith", "eager", False, ours, lambda: train_row(bench, ours, ours_step(ours), batch, seq, flops))
    if bench.wanted(name, full_only=True):
        hf_compiled = torch.compile(hf)
        bench.measure(name, "transformers", "torch.compile(model)", True, hf,
                      lambda: train_row(bench, hf, hf_step(hf_compiled), batch, seq, flops))  # fmt: skip
    ours_compiled = compiled(bench, ours)
    bench.measure(name, "archsmith", bench.paths["compile"], True, ours,
                  lambda: train_row(bench, ours, ours_step(ours_compiled), batch, seq, flops))  # fmt: skip


# --- decoding -----------------------------------------------------------------------------------------


def decode_kwargs(bench: Bench, model: torch.nn.Module) -> dict:
    """The decode fast path as --decode asks, where ``generate`` has a switch for it."""
    params = inspect.signature(model.generate).parameters
    if "compile" not in params:
        bench.paths["decode"] = "generate() as it is (no compile switch)"
        return {}
    bench.paths["decode"] = f"generate(compile={bench.args.decode == 'compiled'})"
    return {"compile": bench.args.decode == "compiled"}


def decode_row(bench: Bench, model: torch.nn.Module, generate: Callable[[torch.Tensor, int], torch.Tensor], batch: int, new: int, same_shape_warmup: bool) -> Row:
    """Time one ``generate(prompt, new)`` call after a warm-up call (of the same length when
    ``same_shape_warmup``: compiled paths capture their shapes on the first call)."""
    cfg = model.config
    prompt_len = bench.sizes.prompt
    g = torch.Generator(device=bench.device).manual_seed(2)
    prompt = torch.randint(0, cfg.vocab_size, (batch, prompt_len), device=bench.device, generator=g)
    bench.sync()
    start = time.perf_counter()
    generate(prompt, new if same_shape_warmup else min(new, 16))
    bench.sync()
    first = time.perf_counter() - start
    times = []
    for _ in range(1 if bench.args.quick else 3):
        start = time.perf_counter()
        out = generate(prompt, new)
        bench.sync()
        times.append(time.perf_counter() - start)
        assert out.shape == (batch, prompt_len + new), f"generate returned {tuple(out.shape)}"
    seconds = statistics.median(times)
    moved = new * _weight_bytes(model) + sum(kv_cache_bytes(cfg, prompt_len + i, batch, "bf16") for i in range(new))
    peak = bench.gpu.hbm_bytes_per_s if bench.gpu else None
    return Row("", "", "", batch * new / seconds, None, hbm_bytes_per_s=moved / seconds,
               roofline_tokens_per_s=peak and batch * new / (moved / peak), first_call_s=first, times_s=times)  # fmt: skip


def decode_workloads(bench: Bench, ours: torch.nn.Module, hf: torch.nn.Module) -> None:
    ours.eval()
    hf.eval()
    kwargs = decode_kwargs(bench, ours)
    fast = kwargs.get("compile", False)

    def ours_generate(prompt, new):
        return ours.generate(prompt, max_new_tokens=new, **kwargs)

    def hf_generate(cache: str | None):
        def run(prompt, new):
            return hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=new, min_new_tokens=new,
                               do_sample=False, pad_token_id=0, cache_implementation=cache)  # fmt: skip

        return run

    def rows(name: str, batch: int, new: int, hf_dynamic: bool) -> None:
        if hf_dynamic:
            bench.measure(name, "transformers", "dynamic cache", False, hf, lambda: decode_row(bench, ours, hf_generate(None), batch, new, False))
        if bench.wanted(name.rsplit("-", 1)[0], full_only=True):
            bench.measure(name, "transformers", "static cache" + (", auto compile" if bench.cuda else ""), bench.cuda, hf,
                          lambda: decode_row(bench, ours, hf_generate("static"), batch, new, True))  # fmt: skip
        bench.measure(name, "archsmith", bench.paths["decode"], fast, ours, lambda: decode_row(bench, ours, ours_generate, batch, new, fast))

    if bench.wanted("decode-b1"):
        for new in bench.sizes.decode_b1:  # transformers' default cache grows by torch.cat: too slow for the longest
            rows(f"decode-b1-{new}", 1, new, hf_dynamic=new == min(bench.sizes.decode_b1))
    if bench.wanted("decode-b16"):
        batch, new = bench.sizes.decode_b16
        rows(f"decode-b16-{new}", batch, new, hf_dynamic=not bench.args.quick)


# --- the report -----------------------------------------------------------------------------------------


def _line(r: Row) -> str:
    extra = []
    if r.mfu is not None:
        extra.append(f"MFU {r.mfu:.1%}")
    if r.hbm_bytes_per_s is not None:
        extra.append(f"HBM {r.hbm_bytes_per_s / 1e9:,.0f} GB/s")
    if r.peak_memory_bytes is not None:
        extra.append(f"peak {r.peak_memory_bytes / 2**30:.1f} GiB")
    return f"{r.workload:16s} {r.system:12s} {r.tokens_per_s:10,.1f} tok/s  {', '.join(extra)}  ({r.variant})"


def markdown(result: dict, sizes: Sizes) -> str:
    env, rows = result["environment"], [Row(**r) for r in result["rows"]]
    gpu = env["gpu_spec"]
    lines = [
        f"# archsmith vs transformers on one {env['card']}",
        "",
        f"{env['model']}, bf16, random weights exported with `to_hf` and loaded with `from_pretrained` (the same "
        f"weights on both sides). torch {env['torch']} (CUDA {env['cuda']}), transformers {env['transformers']}, "
        f"Python {env['python']}, archsmith {env['archsmith_commit'] or '(no git)'}; {env['date']}; `{env['command']}` "
        f"({env['wall_s']:.0f} s).",
        "",
        "| workload | system | how | tokens/s | x transformers eager | x transformers best | MFU | HBM GB/s (roofline tok/s) "
        "| peak GiB | first call s |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        hbm = "-" if r.hbm_bytes_per_s is None else f"{r.hbm_bytes_per_s / 1e9:,.0f}"
        if r.roofline_tokens_per_s is not None:
            hbm += f" ({r.roofline_tokens_per_s:,.0f})"
        lines.append(
            f"| {r.workload} | {r.system} | {r.variant} | {r.tokens_per_s:,.1f} | {_ratio(r, _find(rows, r.workload, 'transformers', False))} | "
            f"{_ratio(r, _find(rows, r.workload, 'transformers'))} | {'-' if r.mfu is None else format(r.mfu, '.1%')} | {hbm} | "
            f"{'-' if r.peak_memory_bytes is None else format(r.peak_memory_bytes / 2**30, '.2f')} | "
            f"{'-' if r.first_call_s is None else format(r.first_call_s, '.1f')} |"
        )
    b, s = sizes.train
    wb, ws = sizes.window_train
    lines += [
        "",
        f"- train: batch {b} x seq {s}; train-window: sliding window {sizes.window}, batch {wb} x seq {ws}. Forward, "
        "backward and a fused AdamW step (lr 0: the same work, unchanged weights); tokens/s from the median step after warm-up.",
        f"- decode-bB-N: batch B, prompt {sizes.prompt}, N new greedy tokens; tokens/s = B x N / the wall time of one "
        "generate call, prefill included.",
        "- x transformers eager: over transformers' uncompiled row of the workload (eager training, its default dynamic "
        "cache); best: over its fastest row in this run"
        + (" (--quick runs its eager rows only, so best is eager too)." if "--quick" in env["command"].split()
           else " (torch.compile, static cache with its automatic compile)."),
        "- MFU: PaLM's convention (Chowdhery et al. 2022, appendix B, as nanoGPT's estimate_mfu): 6N + 12·L·H·Q·T FLOPs "
        "per token, N = all parameters with the tied LM-head matmul counted, T = the sequence, or the window on "
        f"windowed layers; over {'-' if gpu is None else format(gpu['bf16_dense_flops'] / 1e12, ',.0f')} TFLOP/s dense bf16.",
        "- HBM GB/s: every weight plus the KV cache at each step's length, read once per step, over the wall time "
        f"(prefill included: a lower bound); roofline = the tokens/s at the card's "
        f"{'-' if gpu is None else format(gpu['hbm_bytes_per_s'] / 1e12, '.1f')} TB/s.",
        "- peak GiB: the allocator's peak during the row less what was allocated before it, plus the row's own weights.",
        "- first call s: the first training step or generate call (compilation and CUDA-graph capture show here).",
    ]
    if result["paths"]:
        lines += ["", "Fast paths: " + "; ".join(f"{k}: {v}" for k, v in result["paths"].items()) + "."]
    losses = [f"{r.workload} {r.system} ({r.variant}) {r.loss:.4f}" for r in rows if r.loss is not None]
    if losses:
        lines += ["", "First-step losses (the same batch and weights on both sides): " + "; ".join(losses) + "."]
    if result["failed"]:
        lines += ["", "Failed: " + "; ".join(result["failed"]) + "."]
    if result["skipped"]:
        lines += ["", "Not run (past the time budget): " + "; ".join(result["skipped"]) + "."]
    tests = result.get("tests")
    if tests:
        lines += ["", "## GPU tests", "", f"`{tests['command']}`: {tests['outcome']} ({tests['wall_s']:.0f} s)."]
        lines += [f"- failed: `{name}`" for name in tests["failed"]]
        lines += [f"- cut by the timeout: `{name}`" for name in tests.get("unfinished", [])]
        if tests.get("log"):
            lines += ["", f"The whole output: `{tests['log']}`."]
    if sizes == ISSUE:
        lines += ["", "## Issue 10's targets", "", "| target | measured | met |", "|---|---:|---|"]
        for text, value, goal in targets(rows):
            shown = "not measured" if value is None else f"{value:,.3g}" if value < 100 else f"{value:,.0f}"
            lines.append(f"| {text} | {shown} | {'-' if value is None else 'yes' if value >= goal else 'no'} |")
    return "\n".join(lines) + "\n"


def _find(rows: list[Row], workload: str, system: str, compiled: bool | None = None) -> Row | None:
    """The fastest row of ``system`` on ``workload`` (compiled or not, when given)."""
    found = [r for r in rows if r.workload == workload and r.system == system and compiled in (None, r.compiled)]
    return max(found, key=lambda r: r.tokens_per_s, default=None)


def _ratio(row: Row, base: Row | None) -> str:
    return "-" if base is None else f"{row.tokens_per_s / base.tokens_per_s:.2f}x"


def targets(rows: list[Row]) -> list[tuple[str, float | None, float]]:
    """Issue 10's targets: (what, the measured value or None, the goal it must reach)."""

    def tps(workload, system, compiled=None):
        row = _find(rows, workload, system, compiled)
        return None if row is None else row.tokens_per_s

    def over(a, b):
        return None if a is None or b is None else a / b

    compiled_train = _find(rows, "train", "archsmith", True)
    window = _find(rows, "train-window", "archsmith")
    return [
        ("train: archsmith eager / transformers eager >= 1.3", over(tps("train", "archsmith", False), tps("train", "transformers", False)), 1.3),
        ("train: archsmith compiled / transformers eager >= 1.5", over(tps("train", "archsmith", True), tps("train", "transformers", False)), 1.5),
        ("train: archsmith compiled / transformers compiled >= 1.25", over(tps("train", "archsmith", True), tps("train", "transformers", True)), 1.25),
        ("train: archsmith compiled MFU >= 0.62", compiled_train and compiled_train.mfu, 0.62),
        ("train-window: archsmith tokens/s >= 70,000", tps("train-window", "archsmith"), 70_000),
        ("train-window: archsmith MFU (windowed FLOPs) >= 0.55", window and window.mfu, 0.55),
        ("decode-b1-1024: archsmith tokens/s >= 1,000", tps("decode-b1-1024", "archsmith"), 1_000),
        ("decode-b1: flat in length, tokens/s at 1024 / at 256 new >= 0.9 (our reading of 'flat')",
         over(tps("decode-b1-1024", "archsmith"), tps("decode-b1-256", "archsmith")), 0.9),  # fmt: skip
        ("decode-b16-256: archsmith tokens/s (whole batch) >= 8,000", tps("decode-b16-256", "archsmith"), 8_000),
    ]


# --- helpers ----------------------------------------------------------------------------------------------


def _weight_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())  # parameters() yields a tied weight once


def _git_commit() -> str | None:
    """The source's commit: ARCHSMITH_COMMIT where the tree is a copy whose git metadata is not its own;
    else git's HEAD, with "+changes" when the code (src/, benchmarks/) differs from it, so that a run of
    uncommitted code (or of a copy on a device whose git metadata is an older commit's) never reads as a
    run of that commit."""
    if os.environ.get("ARCHSMITH_COMMIT"):
        return os.environ["ARCHSMITH_COMMIT"]
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=root, timeout=10)
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "src", "benchmarks/*.py"],
                                 capture_output=True, text=True, cwd=root, timeout=10)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.stdout.strip()
    if not commit or head.returncode != 0:
        return None
    return commit + ("+changes" if changed.returncode != 0 or changed.stdout.strip() else "")


GPU_TESTS = ("tests/test_gpu.py", "tests/test_decode_gpu.py", "tests/test_training_paths.py", "tests/test_masks.py",
             "tests/test_moe_model.py")  # fmt: skip
# A test's outcome line: "[gw0] [ 5%] PASSED tests/x.py::test_y[id]" (xdist) or "tests/x.py::test_y[id] PASSED".
_TEST_ID = r"(tests/[^\s:]+::\S+)"
_STATUS = re.compile(rf"\b(PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS) {_TEST_ID}|{_TEST_ID} (PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS)\b")


def run_gpu_tests(bench: Bench) -> None:
    """The GPU tests in a subprocess (one per test file would cost a CUDA start each), verbose, so that
    each test's outcome is read from the stream as it runs: a run cut by --tests-timeout-s still names
    its failures. With pytest-xdist installed, four workers share the card."""
    import importlib.util

    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "pytest", "-v", "-p", "no:cacheprovider", "--tb=line", "-k", "cuda or gpu", *GPU_TESTS]
    if importlib.util.find_spec("xdist") is not None:
        command += ["-n", "4"]
    env = {**os.environ, "PYTHONPATH": str(root / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    print(f"GPU tests: python {shlex.join(command[1:])}", flush=True)
    start = time.perf_counter()
    # A session of its own, so that a timeout stops pytest's xdist workers too (they hold the GPU and the pipe).
    process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)  # fmt: skip
    try:
        output, outcome = process.communicate(timeout=bench.args.tests_timeout_s)[0], None
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, outcome = process.communicate()[0], f"timed out after {bench.args.tests_timeout_s:.0f} s"
    log = bench.out.with_name(bench.out.name + "_tests.log")  # the whole output: a failure's reason is only there
    log.write_text(output)
    counts: dict[str, set[str]] = {}
    for match in _STATUS.finditer(output):
        status, name = (match.group(1), match.group(2)) if match.group(1) else (match.group(4), match.group(3))
        counts.setdefault(status, set()).add(name)
    summary = ", ".join(f"{len(names)} {status.lower()}" for status, names in sorted(counts.items())) or "no test ran"
    ended = set().union(*counts.values())
    # Verbose xdist names each test as a worker starts it; one with no outcome was cut by the timeout.
    started = {match.group(1) for match in re.finditer(rf"^{_TEST_ID}\s*$", output, re.MULTILINE)}
    bench.tests = {
        "command": "python -m pytest " + shlex.join(command[3:]),
        "outcome": summary if outcome is None else f"{outcome}; {summary} by then",
        "failed": sorted(counts.get("FAILED", set()) | counts.get("ERROR", set())),
        "unfinished": sorted(started - ended),
        "log": log.name,
        "wall_s": time.perf_counter() - start,
    }
    print(f"GPU tests: {bench.tests['outcome']}", *bench.tests["failed"], sep="\n", flush=True)
    if bench.tests["unfinished"]:
        print("GPU tests cut by the timeout:", *bench.tests["unfinished"], sep="\n", flush=True)
    bench.write()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every archsmith row, transformers' eager rows, fewer steps")
    parser.add_argument("--only", nargs="+", choices=("train", "train-window", "decode-b1", "decode-b16"), help="these workloads only")
    parser.add_argument("--budget-s", type=float, help="start no row after this many seconds (default 180 quick, 480 full)")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="a small model of the same structure (a dry run)")
    parser.add_argument("--out", default=str(RESULTS), help="directory for gpu_<card>.json and .md")
    parser.add_argument("--compile", choices=("regional", "full"), default="regional", help="how archsmith's compiled rows compile")
    parser.add_argument("--attention-kernel", choices=("auto", "dense", "flex"), default="auto", help="archsmith's masked attention")
    parser.add_argument("--check-inputs", action="store_true", help="keep archsmith's per-call input checks in training")
    parser.add_argument("--decode", choices=("compiled", "eager"), default="compiled", help="archsmith's decode step")
    parser.add_argument("--tests", choices=("gpu", "none"), default="gpu", help="run the GPU tests after the rows")
    parser.add_argument("--tests-timeout-s", type=float, default=300.0, help="the GPU tests' time limit")
    args = parser.parse_args()
    args.argv = sys.argv[1:]
    if args.budget_s is None:
        args.budget_s = 180.0 if args.quick else 480.0
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    bench = Bench(args)
    print(f"{bench.card}: torch {torch.__version__}, transformers {transformers.__version__}; results -> {bench.out}.{{json,md}}", flush=True)

    cfg = bench_config(args.tiny)
    sizes = bench.sizes
    with tempfile.TemporaryDirectory() as tmp:
        ours = archsmith_model(bench, cfg)
        hf = transformers_model(bench, ours, Path(tmp) / "full")
        if bench.wanted("train"):  # on a copy: compiling the blocks changes the model in place
            train_workloads(bench, "train", archsmith_model(bench, cfg, source=ours), hf, *sizes.train)
        if bench.wanted("train-window"):
            windowed = archsmith_model(bench, cfg.replace(sliding_window=sizes.window), source=ours)
            hf_windowed = transformers_model(bench, windowed, Path(tmp) / "window")
            train_workloads(bench, "train-window", windowed, hf_windowed, *sizes.window_train)
            del windowed, hf_windowed
        if bench.wanted("decode-b1") or bench.wanted("decode-b16"):
            decode_workloads(bench, ours, hf)
    bench.write()
    if args.tests == "gpu":
        run_gpu_tests(bench)
    else:  # no tests' output next to these results but an earlier run's
        bench.out.with_name(bench.out.name + "_tests.log").unlink(missing_ok=True)
    print(f"wrote {bench.out}.json and .md ({time.perf_counter() - bench.started:.0f} s)")


if __name__ == "__main__":
    main()
