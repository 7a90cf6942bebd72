"""Where a compiled decode step's time goes: tokens/s, then one profiled generate split into kernel time
and idle time per decode step, with the kernels that take it. Variants run one per process, so that an
A/B compares the same card in the same way:

    python benchmarks/decode_profile.py                                # llama-3.2-1b, batch 1, prompt 128, 1024 new
    python benchmarks/decode_profile.py --argmax one-pass --tag torch-argmax     # the greedy choice as torch's argmax
    python benchmarks/decode_profile.py --inductor triton.enable_pdl=False --tag no-pdl   # an Inductor setting
    python benchmarks/decode_profile.py --flex-decode-options '{"SPLIT_KV": 8}' --tag split8   # FlexAttention's decoding kernel
    python benchmarks/decode_profile.py --blas cublaslt --tag cublaslt     # the library behind the step's matmuls
    python benchmarks/decode_profile.py --preset deepseek-v2-lite --prompt 8192 --new 256   # another model (MLA and MoE)
    python benchmarks/decode_profile.py --device cpu --tiny --out /tmp/prof          # a dry run of the script itself

It builds a preset (--preset, by default llama-3.2-1b) in bf16 with random weights and runs
``generate(compile=True)``: a warm-up call of the measured length (the compiled step captures its cache's
shape), then --runs timed calls, then one call under torch.profiler. It writes benchmarks/results/decode_profile_<card>[_<preset>][_tiny][_<tag>].{json,md}.

- tokens/s: batch x new tokens / the wall time of one ``generate`` call, prefill included (as gpu_bench).
- kernel µs per step: the GPU time of every kernel, memcpy and memset of the profiled call (prefill
  included), over its decode steps (new - 1: the prefill gives the first new token). The step is one CUDA
  graph on one stream, so its kernels do not overlap, except where programmatic dependent launch
  (triton.enable_pdl, on by default on Hopper) lets a Triton kernel start before the previous one ends:
  the sum counts that overlap twice and idle time reads low, so compare variants by their tokens/s.
- idle µs per step: the profiled call's wall time less its kernel time: launch gaps between the graph's
  kernels, the host's per-token work when it falls behind, and the profiler's own overhead (the profiled
  call is slower than the timed ones).
- kernels per step: the kernels that ran (inside the CUDA graph: not launches from the host), over the steps.
On the CPU (a dry run) the table holds CPU operators and their self time instead of kernels.
--inductor takes any torch._inductor.config setting but triton.cudagraphs, which the step's own options
set on GPU (generation.CUDA_STEP_OPTIONS; a setting among those replaces the step's). --flex-decode-options are kernel options for FlexAttention's decoding
kernel (torch/_inductor/kernel/flex/flex_decoding.py: SPLIT_KV, by default 2 x (SMs // (batch x KV heads));
BLOCK_N, num_warps, num_stages), given to the step's one-query attention calls only; the step uses that
kernel on CUDA only. --blas picks the library behind the matmuls that the step leaves to aten
(torch.backends.cuda.preferred_blas_library): cuBLAS by default, or cuBLASLt, whose heuristics may pick
other kernels for one-row products.
"""

from __future__ import annotations

import argparse
import ast
import functools
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).parent))
from gpu_bench import PRESET, RESULTS, bench_config, run_environment  # noqa: E402  (a sibling script, not a package)

from archsmith.hardware import normalize_gpu_name  # noqa: E402
from archsmith.model import build_model, generation, masks  # noqa: E402
from archsmith.presets import preset_names  # noqa: E402


def inductor_setting(text: str) -> tuple[str, object]:
    """``KEY=VALUE`` for torch._inductor.config, VALUE a Python literal (True, 4, "TRITON")."""
    key, sep, value = text.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    try:
        return key.strip(), ast.literal_eval(value.strip())
    except (ValueError, SyntaxError):
        raise argparse.ArgumentTypeError(f"{value!r} is not a Python literal (True, 4, 'TRITON')") from None


def step_inductor_setting(text: str) -> tuple[str, object]:
    """:func:`inductor_setting`, but for triton.cudagraphs, which the decode step's own options set."""
    if text.partition("=")[0].strip() == "triton.cudagraphs":
        raise argparse.ArgumentTypeError("triton.cudagraphs is set by the step's own options: the step is a CUDA graph")
    return inductor_setting(text)


def kernel_options(text: str) -> dict:
    """A JSON object of FlexAttention kernel options, e.g. '{"SPLIT_KV": 8}'."""
    try:
        options = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not JSON: {error}") from None
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise argparse.ArgumentTypeError(f"{text!r} is not a JSON object of options")
    return options


def at_least(minimum: int):
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below {minimum}")
        return value

    return parse


def apply(args: argparse.Namespace) -> dict:
    """Switch the variant on before anything compiles; what was switched, for the results."""
    variant = {"argmax": args.argmax, "blas": args.blas}
    if args.blas != "cublas":
        if torch.device(args.device).type != "cuda":
            raise SystemExit(f"--blas {args.blas} chooses a CUDA library; this run is on {args.device}")
        torch.backends.cuda.preferred_blas_library(args.blas)
    if args.argmax == "one-pass":  # torch's own: one thread block per row
        generation._argmax = lambda logits: logits.argmax(dim=-1)
    variant.update(set_inductor(args.inductor))
    for key, value in args.inductor:
        if key in generation.CUDA_STEP_OPTIONS:  # the step's own compile options would override the global setting
            generation.CUDA_STEP_OPTIONS[key] = value
    if torch.device(args.device).type == "cuda":
        variant["cuda_step_options"] = generation.cuda_step_options()
    if args.flex_decode_options:
        variant["flex_decode_options"] = args.flex_decode_options
        masks.flex_attention = functools.partial(_flex_with_options, masks.flex_attention, args.flex_decode_options)
    return variant


def set_inductor(settings: list[tuple[str, object]]) -> dict:
    """Each (KEY, VALUE) into torch._inductor.config, checked against the setting's type; what was set, for the
    results. Refuses (SystemExit) a setting this torch lacks or a value of another type."""
    import torch._inductor.config as inductor

    return set_config(inductor, "inductor", settings)


def set_config(config, label: str, settings: list[tuple[str, object]]) -> dict:
    """:func:`set_inductor` for any of torch's config modules (``config``, named ``torch._<label>.config``)."""
    done = {}
    for key, value in settings:
        owner, _, name = key.rpartition(".")
        target = config
        for part in filter(None, owner.split(".")):
            target = getattr(target, part, None)
        current = getattr(target, name, AttributeError)
        if current is AttributeError:
            raise SystemExit(f"torch._{label}.config has no {key} in torch {torch.__version__}")
        if current is not None and type(value) is not type(current) and not (type(current) is float and type(value) is int):
            raise SystemExit(f"torch._{label}.config.{key} is a {type(current).__name__}, not {value!r}")
        setattr(target, name, value)
        done[f"{label}.{key}"] = value
    return done


def _flex_with_options(flex_attention, options: dict, q, k, v, one_query: bool = True, **kwargs):
    """``flex_attention``, with ``options`` for one-query calls (the decode step's decoding kernel), or with
    ``one_query=False`` for the others (training's and prefill's kernels)."""
    if (q.shape[-2] == 1) == one_query:
        kwargs["kernel_options"] = {**(kwargs.get("kernel_options") or {}), **options}
    return flex_attention(q, k, v, **kwargs)


def output_arguments(parser: argparse.ArgumentParser) -> None:
    """The options this script and train_profile.py share: the model, the variant's tag, the table, the
    device, the output."""
    parser.add_argument("--preset", choices=preset_names(), default=PRESET, metavar="NAME",
                        help=f"the model, an archsmith preset (default {PRESET}; `archsmith presets` lists them)")  # fmt: skip
    parser.add_argument("--tag", default="", help="a suffix for the result files' name (the variant)")
    parser.add_argument("--rows", type=int, default=30, help="kernels listed")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="a small model of the same structure (a dry run)")
    parser.add_argument("--out", default=str(RESULTS))


def write_results(args: argparse.Namespace, stem: str, result: dict, markdown: str, what: str = "") -> Path:
    """``result`` as <out>/<stem>[_<preset>][_tiny]<what>[_<tag>].json (the preset named when it is not the
    default) and its ``markdown`` as .md beside it; the .md's path."""
    preset = "" if args.preset == PRESET else f"_{args.preset}"
    name = f"{stem}{preset}{'_tiny' if args.tiny else ''}{what}{'_' + args.tag if args.tag else ''}"
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / f"{name}.md").write_text(markdown)
    return out / f"{name}.md"


def timed(run: Callable[[], object], device: torch.device) -> tuple[float, object]:
    """Seconds of wall time that ``run()`` takes on ``device`` (the GPU's queue drained before and after),
    and what it returned."""
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = run()
    if cuda:
        torch.cuda.synchronize(device)
    return time.perf_counter() - start, out


def kernel_table(prof, cuda: bool, steps: int, rows: int) -> tuple[float, float, list[dict]]:
    """Total kernel µs per step, kernels per step, and the ``rows`` largest kernels (CPU operators on the CPU)."""
    events = prof.key_averages()
    if cuda:
        timed = [(getattr(e, "self_device_time_total", None) or getattr(e, "self_cuda_time_total", 0), e.count, e.key) for e in events]
    else:
        timed = [(e.self_cpu_time_total, e.count, e.key) for e in events]
    timed = sorted((t for t in timed if t[0] > 0), reverse=True)
    total = sum(t[0] for t in timed)
    table = [{"us_per_step": us / steps, "calls_per_step": n / steps, "name": name} for us, n, name in timed[:rows]]
    return total / steps, sum(t[1] for t in timed) / steps, table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--prompt", type=int, default=128)
    parser.add_argument("--new", type=at_least(2), default=1024, help="new tokens per generate call (2 or more: a decode step)")
    parser.add_argument("--runs", type=at_least(1), default=3, help="timed calls after the warm-up")
    parser.add_argument("--argmax", choices=("two-pass", "one-pass"), default="two-pass",
                        help="the compiled step's greedy choice: archsmith's (two-pass) or torch's argmax")  # fmt: skip
    parser.add_argument("--inductor", type=step_inductor_setting, action="append", default=[], metavar="KEY=VALUE",
                        help="a torch._inductor.config setting for the compiled step (repeatable)")  # fmt: skip
    parser.add_argument("--flex-decode-options", type=kernel_options, default=None, metavar="JSON",
                        help="kernel options for FlexAttention's decoding kernel in the step, e.g. '{\"SPLIT_KV\": 8}'")  # fmt: skip
    parser.add_argument("--blas", choices=("cublas", "cublaslt"), default="cublas",
                        help="the library behind the step's aten matmuls (torch.backends.cuda.preferred_blas_library)")  # fmt: skip
    output_arguments(parser)
    args = parser.parse_args()
    started = time.perf_counter()
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    variant = apply(args)

    cfg = bench_config(args.tiny, args.preset)
    torch.manual_seed(0)
    model = build_model(cfg, device=device, dtype=torch.bfloat16).eval()
    prompt = torch.randint(0, cfg.vocab_size, (args.batch, args.prompt), device=device, generator=torch.Generator(device).manual_seed(2))

    def timed_generate() -> float:
        seconds, out = timed(lambda: model.generate(prompt, max_new_tokens=args.new, compile=True), device)
        assert out.shape == (args.batch, args.prompt + args.new)
        return seconds

    first = timed_generate()  # compiles and captures the step for this cache shape
    times = [timed_generate() for _ in range(args.runs)]
    with profile(activities=[ProfilerActivity.CUDA if cuda else ProfilerActivity.CPU]) as prof:
        profiled = timed_generate()
    tokens, steps = args.batch * args.new, args.new - 1  # the prefill gives each row its first new token
    kernel_us, kernels, table = kernel_table(prof, cuda, steps, args.rows)
    card = torch.cuda.get_device_name(device) if cuda else "cpu"
    result = {
        "environment": run_environment(card, "decode_profile.py", sys.argv[1:], args.tiny, args.preset),
        "shape": {"batch": args.batch, "prompt": args.prompt, "new": args.new},
        "variant": variant,
        "first_call_s": first,
        "tokens_per_s": [tokens / t for t in times],
        "tokens_per_s_median": tokens / statistics.median(times),
        "profiled": {
            "wall_us_per_step": profiled * 1e6 / steps,
            "kernel_us_per_step": kernel_us,
            "idle_us_per_step": profiled * 1e6 / steps - kernel_us,
            "kernels_per_step": kernels,
            "what": "CUDA kernels" if cuda else "CPU operators (a dry run)",
            "top": table,
        },
        "wall_s": round(time.perf_counter() - started, 1),
    }
    written = write_results(args, f"decode_profile_{normalize_gpu_name(card)}", result, markdown(result))
    p = result["profiled"]
    print(f"{card} {variant}: {result['tokens_per_s_median']:,.1f} tokens/s; profiled step {p['wall_us_per_step']:.0f} µs = "
          f"{p['kernel_us_per_step']:.0f} kernels + {p['idle_us_per_step']:.0f} idle, {p['kernels_per_step']:.0f} kernels; -> {written}")  # fmt: skip


def markdown(r: dict) -> str:
    env, shape, p = r["environment"], r["shape"], r["profiled"]
    lines = [
        f"# Compiled decode step on {env['card']}",
        "",
        f"{env['model']}, bf16, random weights; batch {shape['batch']}, prompt {shape['prompt']}, {shape['new']} new tokens "
        f"(greedy, `generate(compile=True)`). torch {env['torch']} (CUDA {env['cuda']}), Python {env['python']}, archsmith "
        f"{env['archsmith_commit'] or '(no git)'}; {env['date']}; `{env['command']}`.",
        "",
        "Variant: " + ", ".join(f"{k} = {v}" for k, v in r["variant"].items()) + ".",
        "",
        f"- tokens/s (whole batch, prefill included): {', '.join(f'{t:,.1f}' for t in r['tokens_per_s'])} (median "
        f"{r['tokens_per_s_median']:,.1f}); the first call, which compiles: {r['first_call_s']:.1f} s.",
        f"- one profiled call, per decode step (prefill included): {p['wall_us_per_step']:.0f} µs of wall time = "
        f"{p['kernel_us_per_step']:.0f} µs of {p['what']} + {p['idle_us_per_step']:.0f} µs idle; "
        f"{p['kernels_per_step']:.0f} kernels. The profiler slows the call: compare variants by their tokens/s, kernel time "
        "and kernel count.",
        "",
        "| µs per step | calls per step | kernel |",
        "|---:|---:|---|",
    ]
    lines += [f"| {k['us_per_step']:.1f} | {k['calls_per_step']:.2f} | `{k['name'][:120]}` |" for k in p["top"]]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
