"""The GPU benchmark scripts still run: their CPU dry runs (--device cpu --tiny) on the code as it is now,
so that a device session does not find one broken. They measure nothing here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

SCRIPTS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_decode_profile_dry_run_writes_its_variant_and_a_kernel_table(tmp_path):
    command = [sys.executable, str(SCRIPTS / "decode_profile.py"), "--device", "cpu", "--tiny", "--prompt", "4", "--new", "8",
               "--runs", "1", "--argmax", "one-pass", "--inductor", "max_autotune_gemm=False", "--flex-decode-options", '{"SPLIT_KV": 8}', "--tag", "no.gemm.autotune", "--out", str(tmp_path)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decode_profile_cpu_tiny_no.gemm.autotune.json", "decode_profile_cpu_tiny_no.gemm.autotune.md"]
    result = json.loads((tmp_path / "decode_profile_cpu_tiny_no.gemm.autotune.json").read_text())
    assert result["variant"] == {"argmax": "one-pass", "blas": "cublas", "inductor.max_autotune_gemm": False, "flex_decode_options": {"SPLIT_KV": 8}}
    assert result["shape"] == {"batch": 1, "prompt": 4, "new": 8}
    assert len(result["tokens_per_s"]) == 1 and result["tokens_per_s"][0] > 0
    profiled = result["profiled"]
    assert profiled["kernels_per_step"] > 0 and profiled["top"]
    assert abs(profiled["wall_us_per_step"] - profiled["kernel_us_per_step"] - profiled["idle_us_per_step"]) < 1e-6
    assert "| µs per step |" in (tmp_path / "decode_profile_cpu_tiny_no.gemm.autotune.md").read_text()


def test_decode_profile_refuses_settings_it_cannot_apply(tmp_path):
    """Unknown settings (in a known section or not), a value of the wrong type, the CUDA-graph switch the
    step's own options set, a CUDA library on the CPU, and a run with no decode step: refused before anything
    runs, nothing written."""
    for args, message in (
        (["--inductor", "triton.no_such_setting=1"], "has no triton.no_such_setting"),
        (["--inductor", "no_such_section.x=1"], "has no no_such_section.x"),
        (["--inductor", "max_autotune_gemm=1"], "is a bool, not 1"),
        (["--inductor", "triton.cudagraphs=False"], "set by the step's own options"),
        (["--new", "1"], "1 is below 2"),
        (["--flex-decode-options", "[8]"], "not a JSON object of options"),
        (["--blas", "cublaslt"], "chooses a CUDA library; this run is on cpu"),
    ):
        command = [sys.executable, str(SCRIPTS / "decode_profile.py"), "--device", "cpu", "--tiny", *args, "--out", str(tmp_path)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode != 0 and message in done.stderr and "Traceback" not in done.stderr, done.stderr[-1000:]
    assert not list(tmp_path.iterdir())


def test_decode_profile_setting_of_a_step_option_replaces_the_steps_own(monkeypatch):
    """The compiled step passes its own options to torch.compile, which override the global Inductor
    config: an --inductor setting of one of them (PDL off, for the A/B) must reach the step's options."""
    import argparse
    import importlib

    import torch._inductor.config as inductor

    from archsmith.model import generation

    monkeypatch.syspath_prepend(str(SCRIPTS))
    decode_profile = importlib.import_module("decode_profile")
    monkeypatch.setattr(generation, "CUDA_STEP_OPTIONS", dict(generation.CUDA_STEP_OPTIONS))
    monkeypatch.setattr(inductor.triton, "enable_pdl", inductor.triton.enable_pdl)  # restored afterwards
    args = argparse.Namespace(argmax="two-pass", blas="cublas", inductor=[("triton.enable_pdl", False)],
                              flex_decode_options=None, device="cpu")  # fmt: skip
    variant = decode_profile.apply(args)
    assert generation.CUDA_STEP_OPTIONS["triton.enable_pdl"] is False
    assert generation.cuda_step_options()["triton.enable_pdl"] is False
    assert variant["inductor.triton.enable_pdl"] is False


def test_train_profile_dry_run_writes_its_variant_and_kernel_time_by_kind(tmp_path):
    command = [sys.executable, str(SCRIPTS / "train_profile.py"), "--device", "cpu", "--tiny", "--workload", "train-window",
               "--warmup", "1", "--steps", "2", "--inductor", "max_autotune_gemm=False", "--functorch", "activation_memory_budget=0.9",
               "--sdpa-backend", "flash", "--flex-options", '{"BLOCK_M1": 32}', "--gc", "off", "--tag", "x.y", "--out", str(tmp_path)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    name = "train_profile_cpu_tiny_train-window_x.y"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{name}.json", f"{name}.md"]
    result = json.loads((tmp_path / f"{name}.json").read_text())
    assert result["variant"] == {"compile": "regional", "inductor.max_autotune_gemm": False, "functorch.activation_memory_budget": 0.9,
                                 "sdpa_backend": "flash", "gc": "off", "flex_options": {"BLOCK_M1": 32},
                                 "flex_kernels_ran": False}  # fmt: skip  (the CPU trains through dense masks)
    assert result["workload"] == {"name": "train-window", "batch": 1, "seq": 128, "sliding_window": 32}
    assert len(result["step_s"]) == 2 and result["tokens_per_s_median"] > 0 and result["mfu"] is None
    assert {"matmul", "attention"} <= set(result["profiled"]["kinds_ms"])  # the CPU's aten::mm and SDPA
    assert "| ms | calls | kind | kernel |" in (tmp_path / f"{name}.md").read_text()


def test_train_profile_refuses_a_setting_it_cannot_apply(tmp_path):
    for args, message in (
        (["--inductor", "triton.no_such=1"], "torch._inductor.config has no triton.no_such"),
        (["--functorch", "no_such=1"], "torch._functorch.config has no no_such"),
        (["--functorch", "activation_memory_budget=True"], "activation_memory_budget is a float, not True"),
        (["--sdpa-backend", "fa3"], "invalid choice: 'fa3'"),
        (["--flex-options", "[8]"], "not a JSON object of options"),
        (["--flex-options", '{"BLOCK_Q": 32}'], "FlexAttention has no option BLOCK_Q"),
        (["--sdpa-backend", "efficient"], "--sdpa-backend efficient cannot run this model's attention"),  # none on the CPU
    ):
        command = [sys.executable, str(SCRIPTS / "train_profile.py"), "--device", "cpu", "--tiny", *args, "--out", str(tmp_path)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode != 0 and message in done.stderr and "Traceback" not in done.stderr, done.stderr[-1000:]
    assert not list(tmp_path.iterdir())


def test_train_profile_switches_on_its_variant_before_anything_compiles(monkeypatch):
    """train_profile.apply: the autograd cache off (its key leaves out SDPA's backend), and --flex-options on
    the FlexAttention calls of more than one query only."""
    import argparse
    import importlib

    import torch._functorch.config as functorch

    from archsmith.model import masks

    monkeypatch.syspath_prepend(str(SCRIPTS))
    train_profile = importlib.import_module("train_profile")
    seen = []
    monkeypatch.setattr(masks, "flex_attention", lambda q, k, v, **kwargs: seen.append(kwargs.get("kernel_options")))
    monkeypatch.setattr(functorch, "enable_autograd_cache", True)
    args = argparse.Namespace(compile="regional", inductor=[], functorch=[], sdpa_backend="default", gc="on", flex_options={"BLOCK_M1": 32})
    variant = train_profile.apply(args)
    assert functorch.enable_autograd_cache is False
    assert variant == {"compile": "regional", "flex_options": {"BLOCK_M1": 32}}
    many, one = torch.zeros(1, 1, 4, 8), torch.zeros(1, 1, 1, 8)
    masks.flex_attention(many, many, many)
    masks.flex_attention(one, one, one)
    assert seen == [{"BLOCK_M1": 32}, None]


def test_train_profile_sorts_real_cuda_kernel_names_into_their_kinds(monkeypatch):
    """Names of the forms a CUDA profile shows: FlashAttention's carry cutlass types and Inductor's matmul
    templates are Triton kernels, so the order of the patterns decides."""
    import importlib

    monkeypatch.syspath_prepend(str(SCRIPTS))
    kind_of = importlib.import_module("train_profile").kind_of
    names = {
        "void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<128, 128, 64, 4, false, false, cutlass::bfloat16_t>>": "attention",
        "void pytorch_flash::flash_bwd_dq_dk_dv_loop_seqk_parallel_kernel<Flash_bwd_kernel_traits<cutlass::bfloat16_t>>": "attention",
        "fmha_cutlassF_bf16_aligned_64x64_rf_sm80(PyTorchMemEffAttention::AttentionKernel<cutlass::bfloat16_t>)": "attention",
        "cudnn_generated_fort_native_sdpa_sm90_knob_7_64x128x128_4x1x1_kernel0_0": "attention",
        "triton_tem_fused_flex_attention_backward_zeros_1": "attention",
        "nvjet_sm90_tst_256x128_64x4_2x1_v_bz_coopA_TNN": "matmul",
        "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x64_warpgroupsize1x1x1": "matmul",
        "void cublasLt::splitKreduce_kernel<32, 16, int, float, __nv_bfloat16, float>": "matmul",
        "triton_tem_fused_addmm_t_5": "matmul",
        "void at::native::(anonymous namespace)::multi_tensor_apply_kernel<FusedAdamMathFunctor<float, 4>>": "optimizer",
        "triton_red_fused__log_softmax_backward_data_nll_loss_backward_0": "triton (fused)",
        "Memcpy DtoD (Device -> Device)": "other",
    }
    assert {name: kind_of(name) for name in names} == names


def test_results_name_a_run_of_uncommitted_code_as_such(tmp_path):
    """The commit a results file records: git's HEAD for a clean tree, HEAD + "+changes" once the code
    differs from it (a device copy carries an older commit's git metadata), ARCHSMITH_COMMIT when set."""
    import os

    import pytest

    root = SCRIPTS.parent
    if not (root / ".git").exists():
        pytest.skip("not a git checkout")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True, timeout=120)
    (clone / "benchmarks" / "gpu_bench.py").write_text((SCRIPTS / "gpu_bench.py").read_text())  # the script as it is here
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.com", "commit", "-qam", "the script under test", "--allow-empty"],
                   cwd=clone, check=True, timeout=60)  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "ARCHSMITH_COMMIT"} | {"PYTHONPATH": str(clone / "src")}

    def recorded(**extra) -> str:
        probe = "import sys; sys.path.insert(0, 'benchmarks'); import gpu_bench; print(gpu_bench._git_commit())"
        done = subprocess.run([sys.executable, "-c", probe], cwd=clone, env=env | extra, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return done.stdout.strip()

    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True, check=True).stdout.strip()
    assert recorded() == head
    init = clone / "src" / "archsmith" / "__init__.py"
    init.write_text(init.read_text() + "\n# changed\n")
    assert recorded() == head + "+changes"
    assert recorded(ARCHSMITH_COMMIT="abc1234") == "abc1234"


def test_every_preset_has_a_tiny_model_of_its_structure(monkeypatch):
    """--tiny (a CPU dry run) of any --preset: small, and the same kind of model: attention (MHA, GQA or MQA;
    MLA and its query bottleneck), Mixture-of-Experts or dense and its expert groups, positions and RoPE
    scaling, windows, layers that differ (sliding and full, RoPE and NoPE, dense and sparse), norms and MLP."""
    import importlib

    from archsmith.presets import preset_names

    monkeypatch.syspath_prepend(str(SCRIPTS))
    gpu_bench = importlib.import_module("gpu_bench")
    for name in preset_names():
        full, tiny = gpu_bench.bench_config(False, name), gpu_bench.bench_config(True, name)
        assert tiny.hidden_size == 128 and tiny.num_hidden_layers == 2 and tiny.vocab_size == 1024, name
        assert (tiny.is_mla, tiny.is_moe, tiny.q_lora_rank is None) == (full.is_mla, full.is_moe, full.q_lora_rank is None), name
        kind = lambda c: "mha" if c.num_key_value_heads == c.num_attention_heads else "mqa" if c.num_key_value_heads == 1 else "gqa"  # noqa: E731
        assert full.is_mla or kind(tiny) == kind(full), name
        same = ("position_embedding", "norm_type", "norm_scheme", "mlp_type", "hidden_act", "tie_word_embeddings", "qk_norm",
                "parallel_residual", "attn_logit_softcapping", "final_logit_softcapping", "scoring_func")  # fmt: skip
        assert all(getattr(tiny, f) == getattr(full, f) for f in same), name
        assert (tiny.sliding_window is None) == (full.sliding_window is None), name
        assert (tiny.sliding_rope_theta, tiny.rope_theta) == (full.sliding_rope_theta, full.rope_theta), name
        mixed = lambda c, kind: len({kind(c, i) for i in range(c.num_hidden_layers)}) > 1  # noqa: E731
        for kind in (lambda c, i: c.layer_is_sliding(i), lambda c, i: c.layer_has_rope(i), lambda c, i: c.layer_is_sparse(i)):
            assert mixed(tiny, kind) == mixed(full, kind), name  # sliding and full, RoPE and NoPE, dense and sparse layers
        scaling = lambda c: (c.rope_scaling or {}).get("rope_type")  # noqa: E731
        assert scaling(tiny) == (None if scaling(full) == "longrope" else scaling(full)), name
        assert (tiny.n_group > 1) == (full.n_group > 1), name


def test_profiles_of_another_preset_name_it_in_their_files(tmp_path):
    """--preset deepseek-v2-lite (MLA and Mixture-of-Experts) through both scripts' dry runs: the preset in
    the file names and in the results' model."""
    for script, extra, name in (
        ("decode_profile.py", ["--prompt", "4", "--new", "4", "--runs", "1"], "decode_profile_cpu_deepseek-v2-lite_tiny"),
        ("train_profile.py", ["--warmup", "1", "--steps", "1", "--batch", "1", "--seq", "16"], "train_profile_cpu_deepseek-v2-lite_tiny_train_b1x16"),
    ):
        command = [sys.executable, str(SCRIPTS / script), "--device", "cpu", "--tiny", "--preset", "deepseek-v2-lite", *extra,
                   "--out", str(tmp_path)]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        result = json.loads((tmp_path / f"{name}.json").read_text())
        assert result["environment"]["model"] == "deepseek-v2-lite (tiny)"
    assert json.loads((tmp_path / "train_profile_cpu_deepseek-v2-lite_tiny_train_b1x16.json").read_text())["workload"]["seq"] == 16


def test_flex_options_go_to_the_calls_they_name(monkeypatch):
    """--flex-decode-options reach one-query calls only (the decoding kernel), train_profile's --flex-options the
    others (the training kernels; on the CPU no training call reaches FlexAttention, so the dry run cannot show it)."""
    import functools
    import importlib

    monkeypatch.syspath_prepend(str(SCRIPTS))
    decode_profile = importlib.import_module("decode_profile")
    seen = []

    def flex(q, k, v, **kwargs):
        seen.append(kwargs.get("kernel_options"))

    one, many = torch.zeros(1, 1, 1, 8), torch.zeros(1, 1, 4, 8)
    decoding = functools.partial(decode_profile._flex_with_options, flex, {"SPLIT_KV": 8})
    training = functools.partial(decode_profile._flex_with_options, flex, {"BLOCK_M1": 32}, one_query=False)
    for call in (decoding, training):
        call(one, one, one, kernel_options={"a": 1})
        call(many, many, many)
    assert seen == [{"a": 1, "SPLIT_KV": 8}, None, {"a": 1}, {"BLOCK_M1": 32}]
