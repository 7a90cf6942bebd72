"""The archsmith CLI: every command, its --json form, and exit code 2 on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from archsmith import ArchConfig, count_params, load_config
from archsmith.cli import app

runner = CliRunner()
TINY = ArchConfig(vocab_size=256, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                  max_position_embeddings=128)


def run(*args: str):
    return runner.invoke(app, list(args))


@pytest.fixture
def tiny_file(tmp_path):
    path = tmp_path / "tiny.json"
    TINY.save(path)
    return str(path)


def test_presets_table_and_json():
    result = run("presets")
    assert result.exit_code == 0 and "llama-3.1-8b" in result.stdout
    rows = json.loads(run("presets", "--json").stdout)
    assert len(rows) >= 25
    by_name = {r["name"]: r for r in rows}
    assert by_name["llama-3.1-8b"]["total"] == 8_030_261_248  # Llama-3.1-8B's published count


def test_count_json_has_integer_breakdown(tiny_file):
    result = run("count", tiny_file, "--json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    # by hand: embedding 256*64; attention 2 layers x 4 x 64^2; gated FFN 2 x 3 x 64 x 128; norms 2 x 2 x 64 + 64;
    # dense: no router, every parameter active
    assert data == {"embedding": 16384, "attention": 32768, "ffn": 49152, "norm": 320, "lm_head": 0, "router": 0,
                    "inactive": 0, "total": 98624, "non_embedding": 82240, "active": 98624,
                    "active_non_embedding": 82240}


def test_count_table_for_a_preset():
    result = run("count", "llama-3.1-8b")
    assert result.exit_code == 0
    assert "8,030,261,248" in result.stdout  # Llama-3.1-8B's published parameter count


def test_validate_ok_and_warning(tmp_path):
    path = tmp_path / "gpt2ish.json"
    TINY.replace(vocab_size=50257).save(path)
    result = run("validate", str(path))
    assert result.exit_code == 0 and "valid" in result.stdout and "50304" in result.stdout
    data = json.loads(run("validate", str(path), "--json").stdout)
    assert data["valid"] is True and len(data["warnings"]) == 1


def test_validate_bad_config_exits_2_with_fixes(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({**TINY.to_dict(), "hidden_size": 4097, "num_attention_heads": 32,
                                "num_key_value_heads": 5, "head_dim": None}))
    result = run("validate", str(path))
    assert result.exit_code == 2
    assert "num_key_value_heads=4 or 8" in result.stderr
    assert "hidden_size=4096, num_attention_heads=32 (head_dim 128)" in result.stderr
    assert "Traceback" not in result.output


def test_validate_tp_degree(tiny_file):
    assert run("validate", tiny_file, "--tp", "4").exit_code == 0
    result = run("validate", tiny_file, "--tp", "3")
    assert result.exit_code == 2 and "tensor-parallel degree 3" in result.stderr


def test_estimate_json_and_table(tiny_file):
    data = json.loads(run("estimate", tiny_file, "--seq", "64", "--batch", "2", "--json").stdout)
    assert isinstance(data["kv_cache_bytes"], int)
    # 2 (k and v) * 2 layers * 4 kv heads * 16 head_dim * 2 bytes * 64 tokens * 2 sequences
    assert data["kv_cache_bytes"] == 2 * 2 * 4 * 16 * 2 * 64 * 2
    assert set(data["flops"]) >= {"6N", "kaplan", "palm", "exact_causal"}
    table = run("estimate", tiny_file, "--seq", "64")
    assert table.exit_code == 0 and "exact_causal" in table.stdout and "KV cache" in table.stdout


def test_estimate_bad_dtype_exits_2(tiny_file):
    result = run("estimate", tiny_file, "--dtype", "int3")
    assert result.exit_code == 2 and "int3" in result.stderr


def test_compare_side_by_side(tiny_file):
    result = run("compare", "llama-3.1-8b", "mistral-7b-v0.1", "--seq", "4096")
    assert result.exit_code == 0 and "llama-3.1-8b" in result.stdout.lower()
    data = json.loads(run("compare", "llama-3.1-8b", tiny_file, "--json", "--seq", "128").stdout)
    assert [d["params"]["total"] for d in data] == [8030261248, 98624]


def test_compare_needs_two(tiny_file):
    result = run("compare", tiny_file)
    assert result.exit_code == 2 and "at least two" in result.stderr


@pytest.mark.parametrize(
    "args, needle",
    [
        (("count", "no-such-model"), "no-such-model"),
        (("count", "/nonexistent/config.json"), "/nonexistent/config.json"),
        (("estimate", "llama-3.1-8b", "--seq", "0"), "seq"),
    ],
)
def test_bad_input_exits_2_without_traceback(args, needle):
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr and "Traceback" not in result.output


def test_broken_json_file_exits_2(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"hidden_size": 64,')
    result = run("count", str(path))
    assert result.exit_code == 2 and "broken JSON" in result.stderr


def test_real_process_exit_code_and_no_torch(tmp_path):
    """The installed console script: exit 2 and a clean message; count never imports torch."""
    bad = subprocess.run([sys.executable, "-m", "archsmith", "count", "no-such-model"], capture_output=True, text=True)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and "no-such-model" in bad.stderr
    probe = ("import sys; from archsmith.cli import main; sys.argv=['archsmith','count','llama-3.1-70b','--json'];"
             "\ntry: main()\nexcept SystemExit: pass\nassert 'torch' not in sys.modules, 'count imported torch'")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

