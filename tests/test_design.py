"""The designer: the 1% bound from 10M to 1T, the dimension rules, the 20% rule, realism against
real models, the JSON schema and the impossible-request errors."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archsmith import ArchConfig, ConfigError, count_params
from archsmith.design import (
    STYLES,
    RealModel,
    Request,
    Width,
    _config,
    design,
    design_request,
    parse_param_count,
)
from archsmith.hf.export_config import plan_export


def shape(d) -> tuple:
    c = d.config
    return c.hidden_size, c.num_hidden_layers, c.num_attention_heads, c.num_key_value_heads, c.intermediate_size


def assert_aligned(d) -> None:
    """The alignment rules every free dimension obeys."""
    c = d.config
    assert c.hidden_size % 64 == 0
    if d.target >= 2e9:
        assert c.hidden_size % 128 == 0 and c.head_dim == 128
    assert c.num_attention_heads * c.head_dim == c.hidden_size
    assert c.num_attention_heads % c.num_key_value_heads == 0
    assert c.intermediate_size % (256 if c.hidden_size >= 1024 else 64) == 0
    if d.request.tp:
        assert c.num_attention_heads % d.request.tp == 0 and c.num_key_value_heads % d.request.tp == 0


# --- parameter counts --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, count",
    [("7B", 7_000_000_000), ("125M", 125_000_000), ("1.5T", 1_500_000_000_000), ("350k", 350_000),
     ("7e9", 7_000_000_000), ("7_000_000", 7_000_000), (" 2.5b ", 2_500_000_000), (1234, 1234)],
)
def test_parse_param_count(text, count):
    assert parse_param_count(text) == count


@pytest.mark.parametrize("bad", ["", "abc", "7X", "-5M", "0", True, 1.5])
def test_parse_param_count_rejects(bad):
    with pytest.raises(ConfigError, match="fix|must"):
        parse_param_count(bad)


# --- the 1% bound --------------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log_target=st.floats(math.log(1e7), math.log(1e12)))
def test_default_style_hits_any_target_within_1_percent(log_target):
    target = round(math.exp(log_target))
    d = design_request(Request(target=target))
    assert abs(d.params.total - target) / target <= 0.01
    assert count_params(d.config).total == d.params.total
    assert_aligned(d)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    style=st.sampled_from(sorted(STYLES)),
    vocab=st.sampled_from([None, 8192, 32000, 49152, 50257, 128256, 151936, 256000]),
    tie=st.sampled_from([None, True, False]),
    log_target=st.floats(math.log(1e7), math.log(1e12)),
)
def test_every_style_vocab_and_tie_within_1_percent_or_too_small(style, vocab, tie, log_target):
    target = round(math.exp(log_target))
    try:
        d = design_request(Request(target=target, style=style, vocab=vocab, tie=tie))
    except ConfigError as e:
        # Refused only when the embeddings at the narrowest width (hidden 64) leave no room.
        v = vocab or STYLES[style].vocab_size
        untied = tie is False or (tie is None and target >= STYLES[style].tie_below)
        narrowest = v * 64 * (2 if untied else 1)
        assert narrowest > 0.9 * target, str(e)
        assert "too small for vocab" in str(e)
        return
    assert abs(d.error) <= 0.01
    assert d.config.vocab_size == (vocab or STYLES[style].vocab_size)
    if tie is not None:
        assert d.config.tie_word_embeddings is tie
    assert_aligned(d)


# --- dimension rules ------------------------------------------------------------------------------------


def test_head_dim_64_for_small_128_from_2b():
    assert design_request(Request(target=125 * 10**6)).config.head_dim == 64
    assert design_request(Request(target=10**9)).config.head_dim == 64
    assert design_request(Request(target=7 * 10**9)).config.head_dim == 128


def test_attention_variant_by_scale_and_style():
    small = design_request(Request(target=125 * 10**6))  # llama3 below 1B: MHA
    assert small.config.attention_kind == "MHA"
    llama = design_request(Request(target=8 * 10**9))  # llama3 keeps 8 KV heads
    assert llama.config.num_key_value_heads == 8
    mistral = design_request(Request(target=7 * 10**9, style="mistral"))  # generic: heads/4 at >= 7B
    assert mistral.config.num_key_value_heads == mistral.config.num_attention_heads // 4
    assert design_request(Request(target=3 * 10**9, style="mistral")).config.attention_kind == "MHA"
    assert design_request(Request(target=7 * 10**9, style="llama2")).config.attention_kind == "MHA"
    assert design_request(Request(target=10**9, style="gpt2")).config.attention_kind == "MHA"


def test_latency_asks_for_mqa_and_tp_keeps_a_kv_head_per_gpu():
    assert design_request(Request(target=7 * 10**9, latency=True)).config.num_key_value_heads == 1
    d = design_request(Request(target=7 * 10**9, latency=True, tp=4))
    assert d.config.num_key_value_heads == 4
    assert "TP=4" in d.justification["attention"]


@pytest.mark.parametrize("tp", [2, 4, 8])
def test_tp_divides_heads_and_kv_heads(tp):
    for target in (10**9, 7 * 10**9, 7 * 10**10):
        d = design_request(Request(target=target, tp=tp))
        assert_aligned(d)
        assert abs(d.error) <= 0.01


def test_tp_pads_the_style_vocab_when_needed():
    d = design_request(Request(target=125 * 10**6, style="gpt2", tp=2))
    assert d.config.vocab_size == 50304 and "padded" in d.justification["vocab"]


def test_positions_follow_context_and_extrapolation():
    assert design_request(Request(target=7 * 10**9)).config.rope_scaling is None
    long = design_request(Request(target=7 * 10**9, context=131072)).config
    assert long.rope_scaling["rope_type"] == "llama3" and long.rope_scaling["factor"] == 16
    assert long.max_position_embeddings == 131072
    qwen = design_request(Request(target=7 * 10**9, style="qwen2", context=131072)).config
    assert qwen.rope_scaling["rope_type"] == "yarn" and qwen.rope_theta == 1e6
    assert design_request(Request(target=7 * 10**9, extrapolate=True)).config.position_embedding == "alibi"
    assert design_request(Request(target=125 * 10**6, style="gpt2")).config.position_embedding == "learned"


def test_style_conventions():
    gpt2 = design_request(Request(target=125 * 10**6, style="gpt2")).config
    assert (gpt2.norm_type, gpt2.norm_bias, gpt2.mlp_type, gpt2.hidden_act) == ("layernorm", True, "plain", "gelu_new")
    assert gpt2.qkv_bias and gpt2.attn_out_bias and gpt2.mlp_bias and gpt2.tie_word_embeddings
    assert plan_export(gpt2).architecture == "GPT2LMHeadModel"
    mistral = design_request(Request(target=7 * 10**9, style="mistral")).config
    assert mistral.sliding_window == 4096 and plan_export(mistral).architecture == "MistralForCausalLM"
    qwen = design_request(Request(target=10**9, style="qwen2")).config
    assert qwen.qkv_bias and qwen.tie_word_embeddings and qwen.norm_eps == 1e-6
    assert not design_request(Request(target=8 * 10**9, style="qwen2")).config.tie_word_embeddings
    llama = design_request(Request(target=8 * 10**9)).config
    assert (llama.vocab_size, llama.rope_theta, llama.norm_type, llama.hidden_act) == (128256, 500000.0, "rmsnorm", "silu")
    assert plan_export(llama).architecture == "LlamaForCausalLM"


@settings(max_examples=40, deadline=None)
@given(
    layers=st.one_of(st.none(), st.integers(8, 48)),
    heads=st.one_of(st.none(), st.sampled_from([16, 24, 32, 40])),
    kv=st.one_of(st.none(), st.sampled_from([1, 4, 8])),
    log_target=st.floats(math.log(3e9), math.log(3e10)),
)
def test_given_dimensions_are_honoured(layers, heads, kv, log_target):
    target = round(math.exp(log_target))
    try:
        d = design_request(Request(target=target, layers=layers, heads=heads, kv_heads=kv))
    except ConfigError as e:
        assert "fix" in str(e)
        return
    assert abs(d.error) <= 0.01
    if layers:
        assert d.config.num_hidden_layers == layers
    if heads:
        assert d.config.num_attention_heads == heads
    if kv:
        assert d.config.num_key_value_heads == kv


def test_given_hidden_head_dim_and_tie_are_honoured():
    d = design_request(Request(target=7 * 10**9, hidden=4096, head_dim=64, tie=True))
    c = d.config
    assert (c.hidden_size, c.head_dim, c.num_attention_heads, c.tie_word_embeddings) == (4096, 64, 64, True)
    assert abs(d.error) <= 0.01


# --- the 20% rule ---------------------------------------------------------------------------------------


def test_20_percent_rule_cuts_layers_first_when_hidden_is_fixed():
    # hidden 4096 with Llama 3's 128K vocab: the curve's 25 layers would be ~6x a 1B target.
    d = design_request(Request(target=10**9, hidden=4096, heads=32))
    rule = [s for s in d.steps if s.startswith("20% rule")]
    assert rule and "reduced layers" in rule[-1]
    assert d.config.hidden_size == 4096 and d.config.num_hidden_layers <= 3
    assert abs(d.error) <= 0.01


def test_20_percent_rule_cuts_hidden_when_layers_are_fixed():
    free = design_request(Request(target=10**9))
    d = design_request(Request(target=10**9, layers=32))
    rule = [s for s in d.steps if s.startswith("20% rule")]
    assert rule and "reduced width" in rule[-1]
    assert d.config.num_hidden_layers == 32 and d.config.hidden_size < free.config.hidden_size
    assert abs(d.error) <= 0.01


def test_20_percent_rule_with_a_large_vocab_alone():
    # A 300M target with a 256K vocab at fixed hidden 1024: the embedding alone is 262M.
    d = design_request(Request(target=300 * 10**6, vocab=256000, hidden=1024, heads=16))
    assert any(s.startswith("20% rule: reduced layers") for s in d.steps)
    assert d.config.hidden_size == 1024 and abs(d.error) <= 0.01


def test_no_20_percent_rule_when_the_start_fits():
    assert not any(s.startswith("20% rule") for s in design_request(Request(target=8 * 10**9)).steps)


# --- realism ---------------------------------------------------------------------------------------------

# Real shapes from each model's config.json (links in archsmith.design for the curve models).
REAL = [
    ("llama3", RealModel("Llama-3.2-1B", "meta-llama/Llama-3.2-1B", 128256, 2048, 16, 32, 8, 8192, True)),
    ("llama3", RealModel("Llama-3.2-3B", "meta-llama/Llama-3.2-3B", 128256, 3072, 28, 24, 8, 8192, True)),
    ("llama3", RealModel("Llama-3.1-8B", "meta-llama/Llama-3.1-8B", 128256, 4096, 32, 32, 8, 14336, False)),
    ("llama3", RealModel("Llama-3.1-70B", "meta-llama/Llama-3.1-70B", 128256, 8192, 80, 64, 8, 28672, False)),
    ("llama3", RealModel("Llama-3.1-405B", "meta-llama/Llama-3.1-405B", 128256, 16384, 126, 128, 8, 53248, False)),
    ("llama2", RealModel("Llama-2-7B", "meta-llama/Llama-2-7b-hf", 32000, 4096, 32, 32, 32, 11008, False)),
    ("llama2", RealModel("Llama-2-13B", "meta-llama/Llama-2-13b-hf", 32000, 5120, 40, 40, 40, 13824, False)),
    ("llama2", RealModel("Llama-2-70B", "meta-llama/Llama-2-70b-hf", 32000, 8192, 80, 64, 8, 28672, False)),
    ("llama2", RealModel("OLMo-2-7B", "allenai/OLMo-2-1124-7B", 100352, 4096, 32, 32, 32, 11008, False)),
    ("mistral", RealModel("Mistral-7B-v0.1", "mistralai/Mistral-7B-v0.1", 32000, 4096, 32, 32, 8, 14336, False)),
    ("qwen2", RealModel("Qwen2.5-0.5B", "Qwen/Qwen2.5-0.5B", 151936, 896, 24, 14, 2, 4864, True)),
    ("qwen2", RealModel("Qwen2.5-1.5B", "Qwen/Qwen2.5-1.5B", 151936, 1536, 28, 12, 2, 8960, True)),
    ("qwen2", RealModel("Qwen2.5-7B", "Qwen/Qwen2.5-7B", 151936, 3584, 28, 28, 4, 18944, False)),
    ("qwen2", RealModel("Qwen2.5-72B", "Qwen/Qwen2.5-72B", 151936, 8192, 80, 64, 8, 29568, False)),
    ("qwen3", RealModel("Qwen3-8B", "Qwen/Qwen3-8B", 151936, 4096, 36, 32, 8, 12288, False)),
    ("llama3", RealModel("SmolLM-135M", "HuggingFaceTB/SmolLM-135M", 49152, 576, 30, 9, 3, 1536, True)),
    ("llama3", RealModel("SmolLM-360M", "HuggingFaceTB/SmolLM-360M", 49152, 960, 32, 15, 5, 2560, True)),
    ("llama3", RealModel("SmolLM-1.7B", "HuggingFaceTB/SmolLM-1.7B", 49152, 2048, 24, 32, 32, 8192, True)),
    ("gpt2", RealModel("GPT-2", "openai-community/gpt2", 50257, 768, 12, 12, 12, 3072, True)),
    ("gpt2", RealModel("GPT-2 medium", "openai-community/gpt2-medium", 50257, 1024, 24, 16, 16, 4096, True)),
]
# Real models the family curves do not follow, and why (the designer still hits their size):
# GPT-2 large/XL are deeper and thinner than GPT-3's curve (36 and 48 layers where GPT-3 used 24);
# TinyLlama puts 22 layers where Llama-3.2-1B puts 16.
DEPARTURES = [
    ("gpt2", RealModel("GPT-2 large", "openai-community/gpt2-large", 50257, 1280, 36, 20, 20, 5120, True)),
    ("gpt2", RealModel("GPT-2 XL", "openai-community/gpt2-xl", 50257, 1600, 48, 25, 25, 6400, True)),
    ("llama2", RealModel("TinyLlama-1.1B", "TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T", 32000, 2048, 22, 32,
                         4, 5632, False)),
]


def real_total(style: str, m: RealModel, context: int) -> int:
    base = {**STYLES[style].config, "vocab_size": m.vocab_size, "max_position_embeddings": context,
            "tie_word_embeddings": m.tie_word_embeddings}
    width = Width(m.hidden_size, m.num_attention_heads, m.hidden_size // m.num_attention_heads)
    return count_params(_config(base, width, m.num_key_value_heads, m.num_hidden_layers, m.intermediate_size)).total


def design_like(style: str, m: RealModel):
    context = STYLES[style].context
    target = real_total(style, m, context)
    return target, design_request(Request(target=target, style=style, vocab=m.vocab_size, tie=m.tie_word_embeddings))


@pytest.mark.parametrize("style, model", REAL, ids=[m.name for _, m in REAL])
def test_realism_against_real_models(style, model):
    target, d = design_like(style, model)
    c = d.config
    assert abs(d.params.total - target) / target <= 0.01
    assert abs(c.hidden_size / model.hidden_size - 1) <= 0.25
    assert abs(c.num_hidden_layers / model.num_hidden_layers - 1) <= 0.25
    assert abs(c.intermediate_size / model.intermediate_size - 1) <= 0.35
    assert c.vocab_size == model.vocab_size and c.tie_word_embeddings == model.tie_word_embeddings


@pytest.mark.parametrize("style, model", DEPARTURES, ids=[m.name for _, m in DEPARTURES])
def test_known_departures_still_hit_the_size(style, model):
    target, d = design_like(style, model)
    assert abs(d.error) <= 0.01
    assert abs(d.config.num_hidden_layers / model.num_hidden_layers - 1) > 0.25  # documented above


def test_llama3_designs_land_on_llama3_shapes():
    # The issue's check: with vocab 128256, 8B and 70B land on Llama 3's shapes, 1B near Llama-3.2-1B.
    assert shape(design_request(Request(target=8 * 10**9, vocab=128256))) == (4096, 32, 32, 8, 14336)
    hidden, layers, heads, kv, _ = shape(design_request(Request(target=70 * 10**9, vocab=128256)))
    assert (hidden, layers, heads, kv) == (8192, 80, 64, 8)
    hidden, layers, *_ = shape(design_request(Request(target=10**9, vocab=128256)))
    assert abs(hidden / 2048 - 1) <= 0.25 and abs(layers / 16 - 1) <= 0.25


def test_report_says_how_the_design_differs_from_the_nearest_real_model():
    d = design_request(Request(target=7 * 10**9))
    assert d.reference["model"] == "Llama-3.1-8B"
    assert any(line.startswith("intermediate_size") for line in d.reference["differences"])
    exact = design_request(Request(target=8_030_261_248))
    assert exact.reference["differences"] == []


def test_aspect_ratio_within_real_range():
    for target in (10**8, 10**9, 10**10, 10**11, 10**12):
        c = design_request(Request(target=target)).config
        assert 15 <= c.hidden_size / c.num_hidden_layers <= 210


# --- JSON schema -----------------------------------------------------------------------------------------


def test_json_schema():
    d = design("7B")
    data = json.loads(json.dumps(d.to_dict()))
    for key in ("config", "hf_config", "params", "justification", "scaling", "target", "error_pct", "estimate"):
        assert key in data
    assert ArchConfig.from_dict(data["config"]) == d.config
    assert data["hf_config"] == plan_export(d.config).config
    assert isinstance(data["params"]["total"], int) and data["params"]["total"] == count_params(d.config).total
    assert set(data["justification"]) >= {"attention", "positions", "norm", "ffn", "width_depth", "tying"}
    assert all(isinstance(v, str) and v for v in data["justification"].values())
    assert [s["factor"] for s in data["scaling"]] == [2, 10]
    for entry in data["scaling"]:
        assert {"factor", "config", "hf_config", "params", "changes"} <= set(entry)
        cfg = ArchConfig.from_dict(entry["config"])
        assert entry["params"]["total"] == count_params(cfg).total
        assert abs(entry["params"]["total"] / (entry["factor"] * d.target) - 1) <= 0.01


def test_justification_is_tied_to_this_designs_numbers():
    d = design("8B", context=32768)
    gib = d.kv_cache_by_attention
    assert gib["GQA"] < gib["MHA"]
    text = d.justification["attention"]
    assert "32,768" in text and f"{gib['GQA'] / 2**30:.2f} GiB" in text and f"{gib['MHA'] / 2**30:.2f} GiB" in text
    assert "14,336" in d.justification["ffn"]
    assert "untied" in d.justification["tying"]


def test_scaling_notes_say_what_changed():
    d = design("1B")
    assert len(d.scaling) == 2
    ten = d.scaling[1]
    assert ten.design.config.head_dim == 128
    assert any("head_dim 64 -> 128" in line for line in ten.changes)
    assert any("untied" in line for line in ten.changes)  # 10B unties in the llama3 style


# --- impossible requests ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        (dict(hidden=4097, heads=32), "--hidden 4096 or 4128"),
        (dict(heads=32, kv_heads=5), "--kv-heads 4 or 8"),
        (dict(heads=30, tp=4), "--heads 28 or 32"),
        (dict(kv_heads=2, tp=4), "--kv-heads 4"),
        (dict(vocab=50257, tp=2), "--vocab 50304"),
        (dict(style="lama3"), "did you mean llama3"),
        (dict(hidden=4097), "--hidden 4096"),
        (dict(layers=0), "positive integer"),
    ],
)
def test_impossible_requests_name_the_fix(kwargs, expected):
    with pytest.raises(ConfigError) as e:
        design("7B", **kwargs)
    assert expected in str(e.value)


def test_target_too_small_for_the_vocab():
    with pytest.raises(ConfigError, match="too small for vocab 128,256") as e:
        design("5M")
    assert "--params 8.32M or more" in str(e.value)
    with pytest.raises(ConfigError, match="--tie"):
        design("12M", tie=False)


# --- no torch, and the built model agrees --------------------------------------------------------------------


def test_design_imports_no_torch():
    code = "import sys; from archsmith.design import design; design('7B').to_dict(); assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("kwargs", [dict(params="125M"), dict(params="7B", style="qwen2"),
                                    dict(params="350M", style="gpt2")])
def test_meta_model_has_the_designed_count(kwargs):
    pytest.importorskip("torch")
    build_model = pytest.importorskip("archsmith.model").build_model
    d = design(**kwargs)
    model = build_model(d.config, device="meta")
    assert sum(p.numel() for p in model.parameters()) == d.params.total


def test_warns_when_the_vocab_squeezes_a_tiny_model():
    d = design_request(Request(target=10**7))  # Llama 3's 128K vocab in a 10M model
    assert abs(d.error) <= 0.01
    assert any("embeddings are 83%" in w for w in d.warnings)
    assert any("far deeper than any real model" in w for w in d.warnings)
    assert not design_request(Request(target=10**9)).warnings
