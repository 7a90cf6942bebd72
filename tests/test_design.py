"""The designer: hardware rules and monotone growth over a sweep, the 1% bound, realism against real
models, context-aware attention, the failure rules, and the JSON schema.

What each sentence of the prose claims is checked in tests/test_design_claims.py.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from archsmith import ArchConfig, ConfigError, count_params
from archsmith.cli import app
from archsmith.design import STYLES, Request, design, design_request, parse_param_count
from archsmith.design.rules import HEADS_8_FROM, HIDDEN_256_FROM, LAYERS_4_FROM, ffn_multiple
from archsmith.hf.export_config import plan_export
from archsmith.presets import get_preset
from archsmith.sizing import kv_cache_bytes

# --- parameter counts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, count",
    [("7B", 7_000_000_000), ("125M", 125_000_000), ("1.5T", 1_500_000_000_000), ("350M", 350_000_000),
     ("7e9", 7_000_000_000), ("7_000_000", 7_000_000), (" 2.5b ", 2_500_000_000), (10**13, 10**13)],
)
def test_parse_param_count(text, count):
    assert parse_param_count(text) == count


@pytest.mark.parametrize("bad", ["", "abc", "7X", "-5M", "0", True, 1.5, "1e400", "350k", "2000T", 10**30])
def test_parse_param_count_rejects(bad):
    with pytest.raises(ConfigError, match="fix|must"):
        parse_param_count(bad)


# --- the sweep: every rule of point 1 and 2, and the 1% bound ----------------------------------------------

SWEEP_TARGETS = [round(10 ** (7 + k / 6)) for k in range(0, 37)]  # 10M .. 10T, 6 per decade
SWEEP_FLAGS = [{}, {"tp": 2}, {"tp": 8}, {"tie": True}, {"context": 4096}, {"context": 131072}, {"latency": True}]


def _pow2(n: int) -> bool:
    return n > 0 and n & (n - 1) == 0


def assert_hardware_rules(d) -> None:
    """Point 1 of the issue, derived from the design's config and its real (non-embedding) size."""
    c, style, tp = d.config, d.style, d.request.tp or 1
    size = d.params.non_embedding
    heads, kv, hd = c.num_attention_heads, c.num_key_value_heads, c.head_dim
    assert hd == style.head_dim in (64, 128)
    assert heads % kv == 0 and kv % tp == 0 and heads % tp == 0
    assert kv == heads or _pow2(kv // tp), (heads, kv, tp)  # a power of two (times TP), or MHA
    if style.heads_follow_hidden:  # GPT-2's class: heads = hidden / 64
        assert heads * hd == c.hidden_size
    else:
        assert heads % 4 == 0
        if size >= 1.5 * HEADS_8_FROM:
            assert heads % 8 == 0
    assert c.hidden_size % 128 == 0
    if size >= 1.5 * HIDDEN_256_FROM:
        assert c.hidden_size % 256 == 0
    if size >= 1.5 * LAYERS_4_FROM:
        assert c.num_hidden_layers % 4 == 0
    assert c.num_hidden_layers % 2 == 0
    assert c.vocab_size % (128 * tp) == 0
    multiple = d.facts["ffn"]["multiple"]
    assert c.intermediate_size % multiple == 0 and multiple % tp == 0
    hardware = ffn_multiple(tp)  # 256 and 128 x TP
    if multiple != hardware:  # a finer FFN only where one hardware step moves the total by over 2%
        step = count_params(c.replace(intermediate_size=c.intermediate_size + hardware)).total - d.params.total
        assert multiple < hardware and step > 0.02 * d.target
    lo, hi = d.facts["shape"]["band"]
    aspect = c.hidden_size / c.num_hidden_layers
    assert (lo <= aspect <= hi) == (not any(w.startswith("hidden/layers") for w in d.warnings))
    ratio = c.intermediate_size / c.hidden_size
    band = style.ffn_band
    assert (band[0] <= ratio <= band[1]) == (not any(w.startswith("intermediate_size") for w in d.warnings))


@pytest.mark.parametrize("style", sorted(STYLES))
def test_sweep_rules_monotone_growth_and_the_1_percent_bound(style):
    for flags in SWEEP_FLAGS:
        previous = None
        for target in SWEEP_TARGETS:
            try:
                d = design_request(Request(target=target, style=style, **flags), candidates=1)
            except ConfigError as e:
                text = str(e)
                # Refused only when the vocabulary leaves no room, or a learned table would pass GPT-3's length.
                assert "too small for vocab" in text or "learned positions" in text, text
                assert previous is None or "learned positions" in text, (style, flags, target, text)
                continue
            assert abs(d.error) <= 0.01, (style, flags, target, d.error)
            assert_hardware_rules(d)
            shape = (d.config.hidden_size, d.config.num_hidden_layers, d.config.num_attention_heads)
            if previous is not None:
                assert all(a >= b for a, b in zip(shape, previous)), (style, flags, target, previous, shape)
            previous = shape
        assert previous is not None or style == "gpt2", (style, flags)


def test_growth_continues_past_the_largest_real_model():
    shapes = [design_request(Request(target=t)).config for t in (405 * 10**9, 10**12, 10**13)]
    assert [c.hidden_size for c in shapes] == sorted({c.hidden_size for c in shapes})
    assert [c.num_hidden_layers for c in shapes] == sorted({c.num_hidden_layers for c in shapes})


def test_ffn_ratio_stays_near_the_family_from_1b():
    for style in STYLES:
        for target in (10**9, 3 * 10**9, 10**10, 3 * 10**10, 10**11):
            d = design_request(Request(target=target, style=style))
            ratio = d.config.intermediate_size / d.config.hidden_size
            assert abs(math.log(ratio / STYLES[style].ffn_ratio)) <= math.log(1.25), (style, target, ratio)


# --- realism: real models of every family -----------------------------------------------------------------

REAL = [(style, name) for style in STYLES for name in STYLES[style].family]


def test_realism_table_has_at_least_25_models_across_families():
    assert len(REAL) >= 25 and len({s for s, _ in REAL}) == len(STYLES)


# Designed at their own count, vocab and tying, these come out as the real shape itself (the README says so).
REPRODUCED = {"llama-3.1-8b", "llama-2-7b", "mistral-7b-v0.1", "qwen2.5-3b", "gpt2", "gpt3-125m"}


def _shape(c) -> tuple:
    return c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads, c.intermediate_size


def _design_like(style: str, name: str):
    real = get_preset(name)
    return real, design_request(Request(target=count_params(real).total, style=style, vocab=real.vocab_size,
                                        tie=real.tie_word_embeddings))


@pytest.mark.parametrize("style, name", REAL, ids=[n for _, n in REAL])
def test_real_models_are_reproduced_or_listed(style, name):
    real, d = _design_like(style, name)
    assert abs(d.error) <= 0.01
    if name in REPRODUCED:
        assert _shape(d.config) == _shape(real)
    else:  # listed beside the design, with its own shape, within 1% of the target
        listed = next(c for c in d.candidates if c.canonical and c.label == name)
        assert _shape(listed.config) == _shape(real) and abs(listed.error) <= 0.01


def test_the_reproduced_set_is_exactly_the_documented_one():
    reproduced = {name for style, name in REAL if _shape(_design_like(style, name)[1].config) == _shape(get_preset(name))}
    assert reproduced == REPRODUCED


def test_llama_31_8b_is_reproduced_exactly():
    d = design_request(Request(target=8_030_261_248))
    c = d.config
    assert (c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads, c.intermediate_size) == (
        4096, 32, 32, 8, 14336)
    assert d.reference["model"] == "llama-3.1-8b" and d.reference["differences"] == []


def test_reference_is_in_the_styles_own_family_with_the_real_count():
    assert design_request(Request(target=7 * 10**9, style="mistral")).reference["model"] == "mistral-7b-v0.1"
    gpt2 = design_request(Request(target=125 * 10**6, style="gpt2")).reference
    assert gpt2["model"] in STYLES["gpt2"].family
    assert gpt2["params"] == count_params(get_preset(gpt2["model"])).total
    small = design_request(Request(target=124_439_808, style="gpt2", vocab=50257))
    assert any(c.label == "gpt2" and c.total == 124_439_808 + 47 * 768 for c in small.candidates)


# --- candidates ------------------------------------------------------------------------------------------------


def test_candidates_are_exact_and_their_tradeoffs_are_computed():
    d = design("7B", candidates=4, context=32768)
    assert d.candidates[0].label == "design" and d.candidates[0].config == d.config
    assert len([c for c in d.candidates if not c.canonical]) == 4
    build_model = pytest.importorskip("archsmith.model").build_model
    for c in d.candidates:
        assert c.total == sum(p.numel() for p in build_model(c.config, device="meta").parameters())
        cfg = c.config  # K and V, every layer, bf16, 32,768 tokens (the llama3 style has no window)
        assert c.kv_cache_bytes == 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * cfg.head_dim * 2 * 32768
        assert c.decode_bytes_per_token == 2 * c.total + c.kv_cache_bytes
        assert all(c.config.num_hidden_layers % s == 0 for s in c.pipeline_stages)
        assert c.config.num_key_value_heads % c.max_tp == 0 and c.config.num_attention_heads % c.max_tp == 0
        if not c.canonical:
            assert abs(c.error) <= 0.01


# --- context- and serving-aware attention -------------------------------------------------------------------


def test_long_context_turns_llama2_mha_into_gqa_that_fits():
    short = design_request(Request(target=7 * 10**9, style="llama2"))
    long = design_request(Request(target=7 * 10**9, style="llama2", context=131072))
    assert short.config.attention_kind == "MHA"
    assert long.config.attention_kind == "GQA" and long.facts["attention"]["rule"] == "memory"
    a = long.facts["attention"]
    assert (a["weights_bytes"] + a["cache_bytes"]) / a["gpus"] <= a["budget_bytes"]
    # one more KV-head doubling would not have fitted
    bigger = kv_cache_bytes(long.config.replace(num_key_value_heads=2 * a["kv_heads"]), 131072, 1, "bf16")
    assert (a["weights_bytes"] + bigger) / a["gpus"] > a["budget_bytes"]


def test_batch_and_gpu_change_the_kv_heads():
    # By hand, 8B at 131,072 tokens: 8 KV heads cache 2 x 32 layers x 8 x 128 x 2 B = 128 KiB a token, 16 GiB a
    # sequence. An H200 keeps 0.9 x 141e9 = 126.9e9 B beside ~16e9 B of weights: batch 2 (34.4e9 B) fits,
    # batch 8 (137e9 B) does not, and 4 KV heads (68.7e9 B) do.
    def kv(**kw):
        return design_request(Request(target=8 * 10**9, context=131072, **kw))

    assert kv(gpu="h200", batch=2).config.num_key_value_heads == 8
    eight = kv(gpu="h200", batch=8)
    assert eight.config.num_key_value_heads == 4 and eight.facts["attention"]["fits"]
    # the 40 GB A100 keeps 36e9 B: batch 2 with 8 KV heads (50.4e9 B with the weights) does not fit, 4 do
    assert kv(gpu="a100-40gb", batch=2).config.num_key_value_heads == 4


def test_rope_scaling_follows_the_familys_semantics():
    llama = design_request(Request(target=8 * 10**9, context=131072)).config.rope_scaling
    assert llama == {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192}  # Llama 3.1's own values
    qwen = design_request(Request(target=7 * 10**9, style="qwen2", context=131072)).config
    assert qwen.rope_scaling["rope_type"] == "yarn" and qwen.rope_scaling["factor"] == 4 and qwen.rope_theta == 1e6
    assert design_request(Request(target=7 * 10**9)).config.rope_scaling is None
    assert design_request(Request(target=7 * 10**9, extrapolate=True)).config.position_embedding == "alibi"


def test_learned_positions_never_pass_the_familys_length():
    assert design_request(Request(target=125 * 10**6, style="gpt2", context=2048)).config.max_position_embeddings == 2048
    with pytest.raises(ConfigError, match="--extrapolate"):
        design_request(Request(target=125 * 10**6, style="gpt2", context=131072))


def test_latency_asks_for_mqa_and_tp_keeps_a_kv_head_per_gpu():
    assert design_request(Request(target=7 * 10**9, latency=True)).config.num_key_value_heads == 1
    d = design_request(Request(target=7 * 10**9, latency=True, tp=4))
    assert d.config.num_key_value_heads == 4 and "TP=4" in d.justification["attention"]


# --- style conventions ------------------------------------------------------------------------------------------


def test_style_conventions():
    gpt2 = design_request(Request(target=125 * 10**6, style="gpt2")).config
    assert (gpt2.norm_type, gpt2.norm_bias, gpt2.mlp_type, gpt2.hidden_act) == ("layernorm", True, "plain", "gelu_new")
    assert gpt2.qkv_bias and gpt2.attn_out_bias and gpt2.mlp_bias and gpt2.tie_word_embeddings
    assert plan_export(gpt2).architecture == "GPT2LMHeadModel"
    mistral = design_request(Request(target=7 * 10**9, style="mistral")).config
    assert mistral.sliding_window == 4096 and plan_export(mistral).architecture == "MistralForCausalLM"
    qwen3 = design_request(Request(target=4 * 10**9, style="qwen3")).config
    assert qwen3.qk_norm == "head" and qwen3.head_dim == 128
    llama = design_request(Request(target=8 * 10**9)).config
    assert (llama.vocab_size, llama.rope_theta, llama.norm_type, llama.hidden_act) == (128256, 500000.0, "rmsnorm", "silu")
    assert plan_export(llama).architecture == "LlamaForCausalLM"


def test_vocab_is_padded_and_says_so():
    d = design_request(Request(target=125 * 10**6, style="gpt2"))
    assert d.config.vocab_size == 50304 and "padded to 50,304" in d.justification["vocab"]
    d = design_request(Request(target=10**9, vocab=32001, tp=2))
    assert d.config.vocab_size == 32256 and "a multiple of 256" in d.justification["vocab"]


# --- the failure rules, literally ---------------------------------------------------------------------------------


def test_kv_heads_are_snapped_and_the_snap_reported():
    d = design_request(Request(target=7 * 10**9, heads=32, kv_heads=5))
    assert d.config.num_key_value_heads == 4
    assert any("--kv-heads 5" in w and "snapped to 4" in w for w in d.warnings)


def test_hidden_not_divisible_by_heads_proposes_head_dim_64_or_128():
    with pytest.raises(ConfigError) as e:
        design("7B", hidden=4097, heads=32)
    text = str(e.value)
    assert "--hidden 4096 --heads 32 (head_dim 128)" in text and "--hidden 4096 --heads 64 (head_dim 64)" in text
    assert "head_dim 17" not in text and "241" not in text


def test_20_percent_rule_cuts_layers_first_with_hidden_fixed_and_warns():
    d = design_request(Request(target=10**9, hidden=4096, heads=32))
    rule = [s for s in d.steps if s.startswith("20% rule")]
    assert rule and any("layers" in s and "->" in s for s in rule)
    assert d.config.hidden_size == 4096 and abs(d.error) <= 0.01
    assert any(w.startswith("hidden/layers") for w in d.warnings)  # 2-ish layers at hidden 4096: far too shallow
    assert "20% rule" in d.justification["width_depth"]


def test_20_percent_rule_cuts_width_when_layers_are_fixed():
    free = design_request(Request(target=10**9))
    d = design_request(Request(target=10**9, layers=64))
    assert any(s.startswith("20% rule: width") for s in d.steps)
    assert d.config.num_hidden_layers == 64 and d.config.hidden_size < free.config.hidden_size
    assert abs(d.error) <= 0.01


def test_no_20_percent_rule_without_fixed_dimensions():
    for t in (10**8, 10**9, 10**10, 10**11, 10**12):
        assert not any(s.startswith("20% rule") for s in design_request(Request(target=t)).steps)


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (dict(heads=30, tp=4), "--heads 28 or 32"),
        (dict(style="lama3"), "did you mean llama3"),
        (dict(hidden=4097), "--hidden 4096 or 4224"),
        (dict(layers=0), "positive integer"),
        (dict(heads=10**12), "at most 4,096"),
        (dict(kv_heads=1_000_000_000), "at most 4,096"),
        (dict(params="1e400"), "finite"),
    ],
)
def test_impossible_requests_name_the_fix(kwargs, expected):
    kwargs = {"params": "7B", **kwargs}
    with pytest.raises(ConfigError) as e:
        design(**kwargs)
    assert expected in str(e.value)


def test_target_too_small_for_the_vocab():
    with pytest.raises(ConfigError, match="too small for vocab 128,256") as e:
        design("5M")
    assert "--params" in str(e.value) and "smaller --vocab" in str(e.value)


def test_extreme_targets_answer():
    for target in ("10M", "10T", "100T"):
        d = design(target, vocab=8192) if target == "10M" else design(target)
        assert abs(d.error) <= 0.01


# --- budgets -----------------------------------------------------------------------------------------------------


def test_params_design_reports_the_chinchilla_token_count():
    d = design("7B")
    n, tokens = d.params.total, d.budget["tokens"]
    assert d.budget["training_flops"] == pytest.approx(6 * n * tokens)
    # Compute-optimal along C = 6ND means the loss's two terms fall at the same rate:
    # alpha A / N^alpha == beta B / D^beta (Hoffmann et al. 2022, approach 3: E, A, B, alpha, beta below).
    A, B, alpha, beta = 406.4, 410.7, 0.34, 0.28
    assert alpha * A / n**alpha == pytest.approx(beta * B / tokens**beta, rel=1e-6)
    assert d.budget["predicted_loss"] == pytest.approx(1.69 + A / n**alpha + B / tokens**beta)


def test_flops_budget_designs_the_compute_optimal_size():
    laws = pytest.importorskip("archsmith.scaling_laws")
    d = design(flops=1e23)
    # Chinchilla approach 3, by hand: N = G (C/6)^(beta/(alpha+beta)), G = (alpha A / (beta B))^(1/(alpha+beta))
    G = (0.34 * 406.4 / (0.28 * 410.7)) ** (1 / 0.62)
    n_opt = G * (1e23 / 6) ** (0.28 / 0.62)
    assert abs(d.params.total / n_opt - 1) <= 0.01
    assert 6 * n_opt * d.budget["tokens"] == pytest.approx(1e23, rel=1e-9)
    assert laws.compute_optimal(1e23).params == pytest.approx(n_opt, rel=1e-9)
    hours = design(gpu_hours=100_000, gpu="h100", mfu=0.4)
    assert hours.budget["gpu_hours"] == pytest.approx(100_000, rel=0.02)
    with pytest.raises(ConfigError, match="one budget"):
        design("7B", flops=1e23)


# --- JSON and CLI -------------------------------------------------------------------------------------------------


def test_json_schema():
    d = design("7B")
    data = json.loads(json.dumps(d.to_dict()))
    for key in ("config", "hf_config", "params", "justification", "scaling", "target", "error_pct", "estimate",
                "candidates", "facts", "budget", "reference", "warnings", "search"):
        assert key in data
    assert ArchConfig.from_dict(data["config"]) == d.config
    hf = data["hf_config"]
    assert hf["architectures"] == ["LlamaForCausalLM"]
    assert (hf["hidden_size"], hf["num_hidden_layers"], hf["intermediate_size"]) == (
        d.config.hidden_size, d.config.num_hidden_layers, d.config.intermediate_size)
    assert [s["factor"] for s in data["scaling"]] == [2, 10]
    for entry in data["scaling"]:
        cfg = ArchConfig.from_dict(entry["config"])
        assert entry["params"]["total"] == count_params(cfg).total
        assert abs(entry["params"]["total"] / (entry["factor"] * d.target) - 1) <= 0.01


def test_cli_design_flags_and_bad_input():
    runner = CliRunner()
    ok = runner.invoke(app, ["design", "--params", "1B", "--candidates", "2", "--gpu", "h200", "--json"])
    assert ok.exit_code == 0, ok.output
    data = json.loads(ok.output)
    assert data["facts"]["attention"]["gpu"] == "h200" and data["facts"]["attention"]["gpu_memory"] == 141 * 10**9
    assert len([c for c in data["candidates"] if not c["canonical"]]) == 2
    for args in (["--params", "1e400"], ["--heads", str(10**12)], ["--params", "1B", "--hidden", "4097", "--heads", "32"]):
        bad = runner.invoke(app, ["design", *args])
        assert bad.exit_code == 2 and "Traceback" not in bad.output, (args, bad.output)


def test_design_imports_no_torch():
    code = "import sys; from archsmith.design import design; design('7B').to_dict(); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("kwargs", [dict(params="125M"), dict(params="7B", style="qwen2"),
                                    dict(params="350M", style="gpt2"), dict(params="3B", style="qwen3")])
def test_meta_model_has_the_designed_count(kwargs):
    build_model = pytest.importorskip("archsmith.model").build_model
    d = design(**kwargs)
    model = build_model(d.config, device="meta")
    assert sum(p.numel() for p in model.parameters()) == d.params.total
