"""The GPU benchmark scripts still run: their CPU dry runs (--device cpu --tiny) on the code as it is now,
so that a device session does not find one broken. They measure nothing here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_decode_profile_dry_run_writes_its_variant_and_a_kernel_table(tmp_path):
    command = [sys.executable, str(SCRIPTS / "decode_profile.py"), "--device", "cpu", "--tiny", "--prompt", "4", "--new", "8",
               "--runs", "1", "--argmax", "one-pass", "--inductor", "max_autotune_gemm=False", "--tag", "ab", "--out", str(tmp_path)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((tmp_path / "decode_profile_cpu_tiny_ab.json").read_text())
    assert result["variant"] == {"argmax": "one-pass", "inductor.max_autotune_gemm": False}
    assert result["shape"] == {"batch": 1, "prompt": 4, "new": 8}
    assert len(result["tokens_per_s"]) == 1 and result["tokens_per_s"][0] > 0
    profiled = result["profiled"]
    assert profiled["launches_per_step"] > 0 and profiled["top"]
    assert abs(profiled["wall_us_per_step"] - profiled["kernel_us_per_step"] - profiled["idle_us_per_step"]) < 1e-6
    assert "| µs per step |" in (tmp_path / "decode_profile_cpu_tiny_ab.md").read_text()


def test_decode_profile_refuses_an_unknown_inductor_setting(tmp_path):
    command = [sys.executable, str(SCRIPTS / "decode_profile.py"), "--device", "cpu", "--tiny", "--inductor", "triton.no_such_setting=1",
               "--out", str(tmp_path)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "has no triton.no_such_setting" in done.stderr
    assert not list(tmp_path.iterdir())
