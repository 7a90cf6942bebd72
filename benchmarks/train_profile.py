"""Where a training step's time goes: tokens/s and MFU, then one profiled step split into kinds of kernel
(matmuls, attention, Triton's fused kernels, the optimizer, the rest), with the kernels that take it.
Variants run one per process, so that an A/B compares the same card in the same way:

    python benchmarks/train_profile.py                                      # llama-3.2-1b, batch 8 x 2048, compile_blocks()
    python benchmarks/train_profile.py --workload train-window              # a 1024-token window, batch 2 x 8192
    python benchmarks/train_profile.py --compile full                       # torch.compile(model) instead
    python benchmarks/train_profile.py --inductor triton.enable_pdl=True --tag pdl   # a torch._inductor.config setting
    python benchmarks/train_profile.py --functorch activation_memory_budget=0.9 --tag budget   # a partitioner setting
    python benchmarks/train_profile.py --sdpa-backend flash --tag fa2       # FlashAttention-2 instead of torch's choice
    python benchmarks/train_profile.py --workload train-window --flex-options '{"BLOCK_M1": 32}' --tag m1-32   # FlexAttention's
    python benchmarks/train_profile.py --gc off --tag gc-off                # no garbage collection while timed
    python benchmarks/train_profile.py --preset qwen3-0.6b --batch 4        # another model, another batch
    python benchmarks/train_profile.py --device cpu --tiny --out /tmp/prof  # a dry run of the script itself

--sdpa-backend acts where SDPA runs (the train workload's causal attention: the kernel table shows which kernel
ran); --flex-options where FlexAttention runs (train-window, whose window is shorter than its sequence), and the
results say whether a FlexAttention kernel ran. --gc off asks whether Python's garbage collector makes the slow steps
(in the H200 runs every fourth step was 12-20 ms slower: benchmarks/results/train_ab_h200.md).

It builds a preset (--preset, by default llama-3.2-1b) in bf16 with random weights, as
benchmarks/gpu_bench.py does (the same sizes unless --batch or --seq say otherwise, the same loss call with
check_inputs=False, a fused AdamW step at lr 0), times --steps steps after --warmup, then profiles one more
step. It writes benchmarks/results/train_profile_<card>[_<preset>][_tiny]_<workload>[_b<batch>x<seq>][_full|_eager][_<tag>].{json,md}
(the batch and length named when not the workload's default).

- tokens/s: batch x seq / the median step (forward, backward, optimizer step); MFU in PaLM's convention
  over the card's dense bf16 peak, as gpu_bench.
- kernel ms: the GPU time of every kernel, memcpy and memset of the profiled step, by kind (a kernel's
  name decides: see KINDS); idle ms: the profiled step's wall time less its kernel time (the profiler
  slows the step: compare variants by tokens/s, kernel time and kernel count). Kernels overlap only under
  programmatic dependent launch (triton.enable_pdl, off by default in training): the sum then counts the
  overlap twice and idle time reads low, so compare such a variant by its tokens/s.
On the CPU (a dry run) the table holds CPU operators and their self time instead of kernels.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.attention.flex_attention as flex_module
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).parent))
from decode_profile import (  # noqa: E402
    _flex_with_options, at_least, inductor_setting, kernel_options, kernel_table, output_arguments, set_config, set_inductor,
    timed, write_results,
)
from gpu_bench import ISSUE, SMALL, bench_config, gpu_spec, run_environment  # noqa: E402  (sibling scripts)

from archsmith.hardware import normalize_gpu_name  # noqa: E402
from archsmith.model import build_model, masks  # noqa: E402
from archsmith.sizing import flop_counts  # noqa: E402

# A kernel's kind, by the first pattern found in its name. Attention comes first: FlashAttention's kernels
# name cutlass types in their template arguments, and a compiled FlexAttention kernel is a Triton template
# named for flex_attention. Then matmuls, Inductor's own matmul templates (max_autotune_gemm) among them.
KINDS = (
    ("attention", ("flash", "fmha", "cudnn", "flex_attention", "attention")),
    ("matmul", ("gemm", "nvjet", "cutlass", "xmma", "splitkreduce", "cublas", "aten::mm", "aten::addmm", "aten::bmm",
                "triton_tem_fused_mm", "triton_tem_fused_addmm", "triton_tem_fused_bmm")),
    ("optimizer", ("multi_tensor", "adam")),
    ("triton (fused)", ("triton_",)),
)


# --sdpa-backend: the one backend SDPA may use (torch.nn.attention.sdpa_kernel); it fails where that one cannot run.
SDPA_BACKENDS = {"default": None, "flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
                 "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}  # fmt: skip


def kind_of(name: str) -> str:
    lowered = name.lower()
    return next((kind for kind, patterns in KINDS if any(p in lowered for p in patterns)), "other")


def apply(args: argparse.Namespace) -> dict:
    """Switch the variant on before anything compiles; what was switched, for the results. torch.compile's
    autograd cache is off for every run: its key leaves out SDPA's backend switches, so a warm cache would
    hand one backend's graph to another."""
    import torch._functorch.config as functorch

    if hasattr(functorch, "enable_autograd_cache"):  # older torch has no such cache
        functorch.enable_autograd_cache = False
    variant = {"compile": args.compile, **set_inductor(args.inductor), **set_config(functorch, "functorch", args.functorch)}
    if args.sdpa_backend != "default":
        variant["sdpa_backend"] = args.sdpa_backend
    if args.gc != "on":
        variant["gc"] = args.gc
    if not args.flex_options:
        return variant
    known = getattr(flex_module, "FlexKernelOptions", None)  # a TypedDict of the option names in recent torch
    unknown = sorted(set(args.flex_options) - set(getattr(known, "__annotations__", args.flex_options)))
    if unknown:
        raise SystemExit(f"--flex-options: torch {torch.__version__}'s FlexAttention has no option {', '.join(unknown)}")
    variant["flex_options"] = args.flex_options
    masks.flex_attention = functools.partial(_flex_with_options, masks.flex_attention, args.flex_options, one_query=False)
    return variant


def first_step(step: Callable[[], float], sdpa_backend: str) -> float:
    """The first (compiling) step; a backend that cannot run the model's attention ends the run with torch's reason."""
    if sdpa_backend == "default":
        return step()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return step()
        except RuntimeError as error:
            reasons = [str(w.message) for w in caught if "attention" in str(w.message).lower()] or [str(error).splitlines()[0]]
            raise SystemExit(f"--sdpa-backend {sdpa_backend} cannot run this model's attention: " + " | ".join(reasons)) from None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=("train", "train-window"), default="train")
    parser.add_argument("--compile", choices=("regional", "full", "eager"), default="regional",
                        help="model.compile_blocks() (as gpu_bench), torch.compile(model), or none")  # fmt: skip
    parser.add_argument("--batch", type=at_least(1), help="sequences per step (default: gpu_bench's, 8 or 2 for the window)")
    parser.add_argument("--seq", type=at_least(2), help="tokens per sequence (default: gpu_bench's, 2048 or 8192 for the window)")
    parser.add_argument("--warmup", type=at_least(1), default=3)
    parser.add_argument("--steps", type=at_least(1), default=10, help="timed steps after the warm-up")
    parser.add_argument("--inductor", type=inductor_setting, action="append", default=[], metavar="KEY=VALUE",
                        help="a torch._inductor.config setting (repeatable)")  # fmt: skip
    parser.add_argument("--functorch", type=inductor_setting, action="append", default=[], metavar="KEY=VALUE",
                        help="a torch._functorch.config setting (repeatable): the partitioner's recompute choices")  # fmt: skip
    parser.add_argument("--sdpa-backend", choices=tuple(SDPA_BACKENDS), default="default",
                        help="the only SDPA backend allowed (causal attention without a mask); default: torch's choice")  # fmt: skip
    parser.add_argument("--flex-options", type=kernel_options, default=None, metavar="JSON",
                        help="kernel options for FlexAttention's training kernels, e.g. '{\"BLOCK_M1\": 32}'")  # fmt: skip
    parser.add_argument("--gc", choices=("on", "off"), default="on",
                        help="Python's garbage collector while timed (off: after the compile, frozen and disabled)")  # fmt: skip
    output_arguments(parser)
    args = parser.parse_args()
    started = time.perf_counter()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    variant = apply(args)

    sizes = SMALL if args.tiny else ISSUE
    cfg = bench_config(args.tiny, args.preset)
    batch, seq = sizes.train
    if args.workload == "train-window":
        cfg, (batch, seq) = cfg.replace(sliding_window=sizes.window), sizes.window_train
    default_shape = (batch, seq)
    batch, seq = args.batch or batch, args.seq or seq
    torch.manual_seed(0)
    model = build_model(cfg, device=device, dtype=torch.bfloat16).train()
    forward = {"regional": lambda m: m.compile_blocks(), "full": torch.compile, "eager": lambda m: m}[args.compile](model)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.0, fused=cuda)
    backends = contextlib.nullcontext if args.sdpa_backend == "default" else functools.partial(sdpa_kernel, SDPA_BACKENDS[args.sdpa_backend])
    ids = torch.randint(0, cfg.vocab_size, (batch, seq), device=device, generator=torch.Generator(device).manual_seed(1))

    def train_step() -> None:
        with backends():  # entered at every step: the first one compiles under it
            forward(ids, labels=ids, check_inputs=False).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def step() -> float:
        return timed(train_step, device)[0]

    first = first_step(step, args.sdpa_backend)  # compiles
    if args.gc == "off":  # what survives the compile is frozen out of every collection, and none runs while timed
        gc.collect()
        gc.freeze()
        gc.disable()
    times = [step() for _ in range(args.warmup - 1 + args.steps)][args.warmup - 1 :]
    with profile(activities=[ProfilerActivity.CUDA if cuda else ProfilerActivity.CPU]) as prof:
        profiled = step()
    kernel_us, kernels, every = kernel_table(prof, cuda, 1, sys.maxsize)
    kinds: dict[str, float] = {}
    for k in every:
        kind = kind_of(k["name"])
        kinds[kind] = kinds.get(kind, 0.0) + k["us_per_step"] / 1e3
    card = torch.cuda.get_device_name(device) if cuda else "cpu"
    gpu = gpu_spec(card) if cuda else None
    window = cfg.sliding_window
    flops = flop_counts(cfg, seq if window is None else min(seq, window))["palm"].training_per_token
    tokens_per_s = batch * seq / statistics.median(times)
    result = {
        "environment": run_environment(card, "train_profile.py", sys.argv[1:], args.tiny, args.preset),
        "workload": {"name": args.workload, "batch": batch, "seq": seq, "sliding_window": window},
        # Whether --flex-options had a kernel to act on: a FlexAttention kernel in the profiled step. (A counter
        # in the patched call would be a Python side effect inside the compiled blocks, which Dynamo guards on.)
        "variant": variant if not args.flex_options
        else {**variant, "flex_kernels_ran": any("flex_attention" in k["name"] for k in every)},
        "first_step_s": first,
        "step_s": times,
        "tokens_per_s_median": tokens_per_s,
        "mfu": gpu and tokens_per_s * flops / gpu.bf16_dense_flops,
        "profiled": {
            "wall_ms": profiled * 1e3,
            "kernel_ms": kernel_us / 1e3,
            "idle_ms": profiled * 1e3 - kernel_us / 1e3,
            "kernels": kernels,
            "kinds_ms": dict(sorted(kinds.items(), key=lambda kv: -kv[1])),
            "what": "CUDA kernels" if cuda else "CPU operators (a dry run)",
            "top": every[: args.rows],
        },
        "wall_s": round(time.perf_counter() - started, 1),
    }
    compiled = "" if args.compile == "regional" else f"_{args.compile}"  # the default unnamed, as gpu_bench's rows
    shape = "" if (batch, seq) == default_shape else f"_b{batch}x{seq}"
    written = write_results(args, f"train_profile_{normalize_gpu_name(card)}", result, markdown(result), f"_{args.workload}{shape}{compiled}")
    p = result["profiled"]
    mfu = "" if result["mfu"] is None else f", MFU {result['mfu']:.1%}"
    print(f"{card} {args.workload} {variant}: {tokens_per_s:,.0f} tokens/s{mfu}; profiled step {p['wall_ms']:.1f} ms = "
          f"{p['kernel_ms']:.1f} kernels + {p['idle_ms']:.1f} idle, {p['kernels']:.0f} kernels; -> {written}")  # fmt: skip


def markdown(r: dict) -> str:
    env, w, p = r["environment"], r["workload"], r["profiled"]
    window = f", sliding window {w['sliding_window']}" if w["sliding_window"] else ""
    mfu = "" if r["mfu"] is None else f" (MFU {r['mfu']:.1%}, PaLM's convention)"
    lines = [
        f"# Training step on {env['card']}",
        "",
        f"{env['model']}, bf16, random weights; {w['name']}: batch {w['batch']} x seq {w['seq']}{window}; forward, backward "
        f"and a fused AdamW step. torch {env['torch']} (CUDA {env['cuda']}), Python {env['python']}, archsmith "
        f"{env['archsmith_commit'] or '(no git)'}; {env['date']}; `{env['command']}`.",
        "",
        "Variant: " + ", ".join(f"{k} = {v}" for k, v in r["variant"].items()) + ".",
        "",
        f"- tokens/s: {r['tokens_per_s_median']:,.0f}{mfu}, the median of {len(r['step_s'])} steps "
        f"({', '.join(f'{t * 1e3:.1f}' for t in r['step_s'])} ms); the first step"
        f"{'' if r['variant']['compile'] == 'eager' else ', which compiles'}: {r['first_step_s']:.1f} s.",
        f"- one profiled step: {p['wall_ms']:.1f} ms of wall time = {p['kernel_ms']:.1f} ms of {p['what']} + "
        f"{p['idle_ms']:.1f} ms idle; {p['kernels']:.0f} kernels. By kind (ms): "
        + ", ".join(f"{k} {v:.1f}" for k, v in p["kinds_ms"].items()) + ".",
        "",
        "| ms | calls | kind | kernel |",
        "|---:|---:|---|---|",
    ]
    lines += [f"| {k['us_per_step'] / 1e3:.2f} | {k['calls_per_step']:.0f} | {kind_of(k['name'])} | `{k['name'][:110]}` |" for k in p["top"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
