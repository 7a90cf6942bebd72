"""Training throughput and peak memory under FSDP2 / tensor parallel, against ``archsmith estimate``.

One run = one layout of one model shape, launched with torchrun (one process per GPU):

    torchrun --nproc_per_node=N benchmarks/scale_bench.py --model llama-3.2-1b --tp 1 --batch 4 --seq 2048 \
        [--checkpointing] --out DIR

It builds the preset's shape on the meta device, parallelizes it (FSDP2 over world/tp ranks, bf16
params / fp32 reduce; TP over tp ranks), materialises and initialises it on the GPUs, and runs
AdamW (fused) steps on random tokens: tokens/s per GPU (median step after warm-up) and the peak
of torch's allocator per GPU over the measured steps, beside the per-GPU prediction of
``archsmith.sharding.gpu_memory``. Each run writes DIR/<name>.json; ``--report DIR`` turns every
json there into benchmarks/results/scale_bench.{json,md} (scaling efficiency against the 1-GPU run
of the same shape).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def run(args: argparse.Namespace) -> None:
    import torch
    import torch.distributed as dist
    from torch.distributed.tensor.parallel import loss_parallel

    from archsmith import build_model, load_config
    from archsmith.parallel import device_mesh, parallelize
    from archsmith.sharding import gpu_memory

    cuda = args.device == "cuda"  # --device cpu: a dry run of the script itself (gloo, no memory figures)
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if cuda:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    cfg = load_config(args.model)
    mesh = device_mesh(args.device, tp=args.tp)
    model = build_model(cfg, device="meta")
    parallelize(model, mesh, tp=args.tp > 1, fsdp=True, activation_checkpointing=args.checkpointing, compile=args.compile)
    model.to_empty(device=args.device)
    torch.manual_seed(0)
    model.init_weights()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=cuda)
    dp = mesh["dp"].get_local_rank()
    gen = torch.Generator(device=args.device).manual_seed(1000 + dp)  # one batch per FSDP rank, shared within TP

    times = []
    for step in range(args.warmup + args.steps):
        if step == args.warmup and cuda:
            sync()
            torch.cuda.reset_peak_memory_stats()
        ids = torch.randint(0, cfg.vocab_size, (args.batch, args.seq), device=args.device, generator=gen)
        sync()
        start = time.perf_counter()
        with loss_parallel():
            loss = model(ids, labels=ids).loss
            loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        sync()
        if step >= args.warmup:
            times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() if cuda else 0
    reserved = torch.cuda.max_memory_reserved() if cuda else 0
    peaks = [torch.zeros(2, dtype=torch.int64, device=args.device) for _ in range(world)]
    dist.all_gather(peaks, torch.tensor([peak, reserved], device=args.device))
    predicted = gpu_memory(cfg, world // args.tp, args.tp, args.seq, args.batch, args.checkpointing)
    step_s = statistics.median(times)
    tokens = args.batch * args.seq * (world // args.tp)
    if rank == 0:
        result = {
            "model": args.model, "world": world, "fsdp": world // args.tp, "tp": args.tp, "batch": args.batch,
            "seq": args.seq, "checkpointing": args.checkpointing, "compile": args.compile, "steps": args.steps, "warmup": args.warmup,
            "step_s_median": step_s, "step_s_all": times, "tokens_per_s_per_gpu": tokens / step_s / world,
            "loss_last": loss.float().full_tensor().item() if hasattr(loss, "full_tensor") else loss.item(),
            "peak_allocated_per_gpu": [int(p[0]) for p in peaks], "peak_reserved_per_gpu": [int(p[1]) for p in peaks],
            "predicted": predicted.to_dict(),
            "card": torch.cuda.get_device_name() if cuda else platform.processor(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "python": platform.python_version(), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        }  # fmt: skip
        name = f"{Path(args.model).name.removesuffix('.json')}_b{args.batch}_s{args.seq}_fsdp{world // args.tp}_tp{args.tp}{'_ac' if args.checkpointing else ''}{'_compiled' if args.compile else ''}"
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"{name}: {result['tokens_per_s_per_gpu']:,.0f} tokens/s/GPU, step {step_s * 1e3:.0f} ms, peak "
              f"{peak / 2**30:.2f} GiB, predicted {predicted.total / 2**30:.2f} GiB", flush=True)
    dist.destroy_process_group()


def _gib(x: float) -> str:
    return f"{x / 2**30:.2f}"


def report(directory: Path) -> None:
    from archsmith import load_config
    from archsmith.sharding import gpu_memory

    runs = [json.loads(p.read_text()) for p in sorted(directory.glob("*.json"))]
    if not runs:
        raise SystemExit(f"no run files (*.json) in {directory}")
    for r in runs:  # the prediction of the code as it is now (torch-free: no GPU needed to redo it)
        r["predicted"] = gpu_memory(load_config(r["model"]), r["fsdp"], r["tp"], r["seq"], r["batch"], r["checkpointing"]).to_dict()
    def key(r: dict) -> tuple:
        return r["model"], r["batch"], r["seq"], r["checkpointing"], r.get("compile", False)

    baseline = {key(r): r for r in runs if r["world"] == 1}
    rows = []
    for r in runs:
        base = baseline.get(key(r))
        r["scaling_efficiency"] = None if base is None else r["tokens_per_s_per_gpu"] / base["tokens_per_s_per_gpu"]
        peak = max(r["peak_allocated_per_gpu"])
        r["prediction_error"] = r["predicted"]["total"] / peak - 1
        p = r["predicted"]
        rows.append(
            f"| {r['model']} | {r['fsdp']} x {r['tp']} | {r['batch']} x {r['seq']}{' AC' if r['checkpointing'] else ''}{' compiled' if r.get('compile') else ''} "
            f"| {r['tokens_per_s_per_gpu']:,.0f} | {r['step_s_median'] * 1e3:,.0f} | {_gib(peak)} | {_gib(max(r['peak_reserved_per_gpu']))} "
            f"| {_gib(p['total'])} ({_gib(p['weights'] + p['gradients'] + p['optimizer'])} + {_gib(p['gathered'])} + {_gib(p['activations'])}) "
            f"| {r['prediction_error']:+.1%} | {'-' if r['scaling_efficiency'] is None else format(r['scaling_efficiency'], '.1%')} |"
        )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "scale_bench.json").write_text(json.dumps(runs, indent=2) + "\n")
    env = runs[0]
    header = (
        "| model | FSDP x TP | batch x seq | tokens/s/GPU | step ms | peak allocated GiB/GPU | peak reserved GiB/GPU "
        "| predicted GiB (states + gathered + activations) | predicted vs peak | scaling vs 1 GPU |\n|" + "---|" * 10
    )
    text = (
        f"# archsmith.parallel on GPUs: throughput and memory against the prediction\n\n"
        f"Card: {env['card']}; torch {env['torch']}, CUDA {env['cuda']}, Python {env['python']}; {env['date'][:10]}.\n"
        f"Command per row: `torchrun --nproc_per_node=FSDPxTP benchmarks/scale_bench.py --model M --tp TP --batch B --seq S "
        f"[--checkpointing]`; AdamW (fused), bf16 compute / fp32 reduce, random tokens, median of the measured steps.\n\n"
        f"{header}\n" + "\n".join(rows) + "\n"
    )
    notes = directory / "NOTES.md"  # what the numbers mean and what was not run, written by hand
    if notes.is_file():
        text += "\n" + notes.read_text()
    (RESULTS / "scale_bench.md").write_text(text)
    print(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="llama-3.2-1b")
    parser.add_argument("--tp", type=int, default=1)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seq", type=int, default=2048)
    parser.add_argument("--checkpointing", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile each block")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--out", default="scale_runs")
    parser.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    parser.add_argument("--report", type=Path, help="write benchmarks/results/ from the run files in this directory")
    args = parser.parse_args()
    if args.report:
        report(args.report)
    else:
        run(args)


if __name__ == "__main__":
    main()
