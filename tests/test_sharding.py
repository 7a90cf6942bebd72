"""archsmith.sharding (per-GPU memory under FSDP2 x TP) and the CLI that shows it, without torch.

That the per-GPU parameter count equals what a sharded model really holds on each rank is
checked on gloo jobs in tests/parallel_cases.py; benchmarks/scale_bench.py compares the
totals with the peak measured on GPUs (benchmarks/results/scale_bench.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from archsmith import ConfigError, count_params, load_config
from archsmith.cli import app
from archsmith.config import tensor_parallel_degrees
from archsmith.sharding import gpu_memory, replicated_params_per_layer
from archsmith.sizing import expert_params

runner = CliRunner()


@pytest.mark.parametrize("name", ["llama-3.2-1b", "llama-3.1-8b", "gpt2", "gemma-2b", "qwen2.5-0.5b"])
def test_one_gpu_holds_every_parameter_once(name):
    cfg = load_config(name)
    m = gpu_memory(cfg, fsdp=1, tp=1, seq_len=128)
    assert m.params_per_gpu == count_params(cfg).total
    assert (m.weights, m.gradients, m.optimizer) == (4 * m.params_per_gpu, 4 * m.params_per_gpu, 8 * m.params_per_gpu)


def test_tensor_parallel_splits_all_but_the_replicated_parameters():
    cfg = load_config("llama-3.1-8b")
    total = count_params(cfg).total
    for tp in (2, 8, 16):  # 8 KV heads: split up to 8, replicated at 16
        outer_norm = cfg.hidden_size  # the final RMSNorm, whole on every rank
        replicated = cfg.num_hidden_layers * replicated_params_per_layer(cfg, tp) + outer_norm
        assert gpu_memory(cfg, 1, tp, 128).params_per_gpu == (total - replicated) // tp + replicated
    # at 16 the fused q/k/v projection is whole on every rank (parallel/tp.py's ReplicatedKV)
    fused_qkv = cfg.hidden_size * (cfg.q_dim + 2 * cfg.kv_dim)
    assert replicated_params_per_layer(cfg, 16) - replicated_params_per_layer(cfg, 8) == fused_qkv


def test_fsdp_divides_the_states_and_checkpointing_the_activations():
    cfg = load_config("llama-3.2-1b")
    one, four = gpu_memory(cfg, 1, 1, 2048, 4), gpu_memory(cfg, 4, 1, 2048, 4)
    assert four.params_per_gpu == -(-one.params_per_gpu // 4)
    assert four.activations == one.activations and four.gathered == one.gathered  # per FSDP rank, not split
    assert gpu_memory(cfg, 1, 1, 2048, 4, checkpointing=True).activations < one.activations / 2


def test_impossible_layouts_are_refused_with_fixes():
    with pytest.raises(ConfigError, match="num_attention_heads=32 is not divisible by the tensor-parallel degree 3"):
        gpu_memory(load_config("llama-3.1-8b"), 2, 3, 2048)
    with pytest.raises(ConfigError, match="ALiBi"):
        gpu_memory(load_config("bloom-560m"), 1, 2, 512)


def test_estimate_cli_prints_per_gpu_memory_without_torch():
    result = runner.invoke(app, ["estimate", "llama-3.1-8b", "--fsdp", "2", "--tp", "2", "--seq", "2048", "--checkpointing", "--json"])
    assert result.exit_code == 0, result.output
    per_gpu = json.loads(result.output)["per_gpu"]
    assert per_gpu == gpu_memory(load_config("llama-3.1-8b"), 2, 2, 2048, 1, True).to_dict()
    text = runner.invoke(app, ["estimate", "llama-3.1-8b", "--fsdp", "2", "--tp", "2", "--seq", "2048"])
    assert "per GPU: FSDP2 over 2 x tensor parallel over 2" in text.output and "AdamW m, v (fp32 shard)" in text.output
    bad = runner.invoke(app, ["estimate", "llama-3.1-8b", "--tp", "3"])
    assert bad.exit_code == 2 and "tensor-parallel degree 3" in bad.output
    probe = ("import sys; from archsmith.cli import main; sys.argv=['archsmith','estimate','llama-3.1-8b','--fsdp','8',"
             "'--tp','2','--json']\ntry: main()\nexcept SystemExit: pass\nassert 'torch' not in sys.modules, 'imported torch'")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_validate_lists_the_tensor_parallel_degrees_and_why():
    result = runner.invoke(app, ["validate", "llama-3.2-1b"])
    assert result.exit_code == 0
    assert "tp=16: 2 query heads per device; each KV head replicated on 2 devices" in result.output
    verdict = json.loads(runner.invoke(app, ["validate", "qwen2.5-0.5b", "--json"]).output)
    assert verdict["tensor_parallel"] == {str(d): why for d, why in tensor_parallel_degrees(load_config("qwen2.5-0.5b")).items()}
    assert list(verdict["tensor_parallel"]) == ["1", "2"]  # 14 heads: 7 does not divide the 2 KV heads or the vocab


def test_expert_parallel_keeps_each_gpus_experts_whole():
    cfg = load_config("mixtral-8x7b")
    total = count_params(cfg).total
    experts = cfg.num_sparse_layers * cfg.num_experts * expert_params(cfg)
    m = gpu_memory(cfg, fsdp=8, tp=1, seq_len=4096, ep=8)
    assert m.params_per_gpu == -(-(total - experts) // 8) + experts // 8
    assert gpu_memory(cfg, 8, 1, 4096).params_per_gpu == -(-total // 8)  # without EP, FSDP shards the experts too
    with pytest.raises(ConfigError, match="num_experts=8 does not split evenly over the expert-parallel degree 3"):
        gpu_memory(cfg, 3, 1, 4096, ep=3)
    with pytest.raises(ConfigError, match="--ep 4 must equal --fsdp 8"):
        gpu_memory(cfg, 8, 1, 4096, ep=4)
    verdict = json.loads(runner.invoke(app, ["validate", "mixtral-8x7b", "--json"]).output)
    assert list(verdict["expert_parallel"]) == ["1", "2", "4", "8"] and list(verdict["tensor_parallel"]) == ["1"]


def test_mla_shards_for_sizing_but_the_parallel_plan_refuses_its_tensor_parallelism():
    from archsmith.config import check_parallel_plan, check_tensor_parallel

    cfg = load_config("deepseek-v3")
    assert check_tensor_parallel(cfg.replace(num_experts=0, num_experts_per_tok=0, n_shared_experts=0,
                                             moe_intermediate_size=None, shared_expert_intermediate_size=None,
                                             first_k_dense_replace=0), 8) == []  # fmt: skip
    assert any("MLA attention" in p for p in check_parallel_plan(cfg, 8))
    assert list(tensor_parallel_degrees(cfg)) == [1]


def test_parallel_plan_refuses_tensor_parallelism_it_does_not_split():
    """Per-head qk-norm weights and OPT-350m's projections are not in the TP plan: refused with a fix,
    while FSDP alone (tp=1) stays allowed."""
    from archsmith.config import check_parallel_plan

    base = load_config("llama-3.2-1b")
    for change, phrase in ((dict(qk_norm="per_head"), "per-head qk-norm"), (dict(word_embed_proj_dim=512), "project_in")):
        cfg = base.replace(**change)
        problems = check_parallel_plan(cfg, 2)
        assert any(phrase in p and "fix: tensor-parallel degree 1" in p for p in problems), problems
        assert check_parallel_plan(cfg, 1) == []


def test_parallel_plan_needs_whole_gate_up_pairs_per_rank():
    """The fused gate/up rows alternate, so a gated MLP's intermediate_size must split evenly (a plain
    MLP's up_proj may split unevenly, as before)."""
    from archsmith.config import check_parallel_plan

    cfg = load_config("llama-3.2-1b").replace(intermediate_size=8190)
    assert check_parallel_plan(cfg, 2) == []
    (problem,) = check_parallel_plan(cfg, 4)
    assert "intermediate_size=8190" in problem and "fix: intermediate_size=8188 or 8192" in problem
    assert check_parallel_plan(cfg.replace(mlp_type="plain", hidden_act="gelu"), 4) == []
