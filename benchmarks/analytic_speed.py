"""How fast the analytic commands answer, against the cost of importing torch.

The promise: `archsmith count`, `validate`, `estimate` and `design` never import torch and answer in a
fraction of a torch import. This was a timed test once; timings belong here, where a noisy machine
cannot turn the suite red. Each command runs as a fresh process (what a user types), best of N.

    PYTHONPATH=src python benchmarks/analytic_speed.py [--repeat 5] [--out benchmarks/results/analytic_speed.md]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import date

COMMANDS = {
    "import torch": [sys.executable, "-c", "import torch"],
    "archsmith count llama-3.1-70b --json": [sys.executable, "-m", "archsmith", "count", "llama-3.1-70b", "--json"],
    "archsmith validate llama-3.1-8b": [sys.executable, "-m", "archsmith", "validate", "llama-3.1-8b"],
    "archsmith estimate llama-3.1-8b --json": [sys.executable, "-m", "archsmith", "estimate", "llama-3.1-8b", "--json"],
    "archsmith design --params 7B --json": [sys.executable, "-m", "archsmith", "design", "--params", "7B", "--json"],
}


def best_of(cmd: list[str], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--out", default=None, help="write a Markdown table here")
    args = parser.parse_args()
    import torch  # only for its version; the timed runs are separate processes

    results = {name: best_of(cmd, args.repeat) for name, cmd in COMMANDS.items()}
    base = results["import torch"]
    lines = [
        "# Analytic commands against `import torch` (fresh process each, best of "
        f"{args.repeat})",
        "",
        f"{date.today()}, Python {platform.python_version()}, torch {torch.__version__}, "
        f"{platform.machine()} with {os.cpu_count()} cores. `PYTHONPATH=src python benchmarks/analytic_speed.py`.",
        "",
        "| command | seconds | vs import torch |",
        "|---|---|---|",
    ]
    lines += [f"| `{name}` | {t:.3f} | {t / base:.2f}x |" for name, t in results.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
