"""Hostile and careless input: every class either gives an archsmith error with a fix or a valid
result, never another exception, and no work grows with an absurd size.

Covers config files (HF and archsmith JSON), ArchConfig construction, RoPE keys, size bounds,
dtype spellings, the CLI contract, model inputs and generation arguments; and fuzzes config
dicts with hypothesis.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from archsmith import ArchConfig, ArchsmithError, ConfigError, LoadError, UnsupportedError, count_params, estimate
from archsmith import load_config
from archsmith.cli import app
from archsmith.config import MAX_LAYERS, MAX_SIZE, check_tensor_parallel, nearest_divisors, validate
from archsmith.errors import InputError
from archsmith.hf import from_hf_config
from archsmith.model import build_model

FIXTURES = Path(__file__).parent / "fixtures" / "hf_configs"
TINY = dict(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
            max_position_embeddings=32)  # fmt: skip
runner = CliRunner()


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def write(tmp_path: Path, text: str | bytes, name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# --- config files ------------------------------------------------------------------------------


# (fixture, field, value): sizes zero, null or a string in the readers that did arithmetic on them
SIZE_CASES = [
    (name, field, value)
    for name, field in (
        ("pythia-160m", "hidden_size"), ("pythia-160m", "num_attention_heads"), ("bloom-560m", "n_embed"),
        ("bloom-560m", "hidden_size"), ("gpt2", "n_embd"), ("mpt-7b", "n_heads"), ("mpt-7b", "d_model"),
        ("gemma-2-2b", "num_hidden_layers"), ("gemma-2-2b", "head_dim"), ("qwen2-0.5b-sliding", "num_hidden_layers"),
        ("qwen2-0.5b-sliding", "max_window_layers"), ("opt-125m", "hidden_size"), ("llama-3.1-8b", "vocab_size"),
    )
    for value in (0, None, "4096", -1, 2**63, 1.5)
    if not (value is None and field == "head_dim")  # null head_dim means "derive it", a valid choice
    and not (value == 0 and field == "max_window_layers")  # 0: every layer slides
]  # fmt: skip


@pytest.mark.parametrize("name, field, value", SIZE_CASES)
def test_bad_sizes_in_hf_files_are_config_errors(name, field, value):
    with pytest.raises(ConfigError, match=field):
        from_hf_config({**fixture(name), field: value})


@pytest.mark.parametrize(
    "name, change, error",
    [
        ("llama-3.1-8b", {"model_type": ["llama"]}, UnsupportedError),
        ("llama-3.1-8b", {"model_type": None}, UnsupportedError),
        ("llama-3.1-8b", {"rope_scaling": {"rope_type": ["llama3"], "factor": 8.0}}, ConfigError),
        ("llama-3.1-8b", {"rope_scaling": {"type": {"a": 1}, "factor": 8.0}}, ConfigError),
        ("llama-3.1-8b", {"rope_scaling": [1, 2]}, ConfigError),
        ("gemma-2-2b", {"layer_types": 5}, ConfigError),
        ("qwen2-0.5b-sliding", {"layer_types": [1, 2]}, ConfigError),
        ("mistral-7b-v0.1", {"layer_types": "sliding_attention"}, ConfigError),
        ("mpt-7b", {"attn_config": "alibi"}, ConfigError),
        ("gpt2", {"activation_function": 3}, ConfigError),
        ("llama-3.1-8b", {"torch_dtype": "int8"}, ConfigError),
        ("llama-3.1-8b", {"rope_theta": "big"}, ConfigError),
        ("llama-3.1-8b", {"tie_word_embeddings": "yes"}, ConfigError),
    ],
)
def test_wrong_kinds_in_hf_files_are_archsmith_errors(name, change, error):
    with pytest.raises(error):
        from_hf_config({**fixture(name), **change})


def test_archsmith_model_type_without_its_section():
    with pytest.raises(ConfigError, match="'archsmith' object"):
        from_hf_config({"model_type": "archsmith", "hidden_size": 64})


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,  # RecursionError inside json
        '{"vocab_size": ' + "9" * 5000 + "}",  # beyond Python's int-str digit limit
        '{"hidden_size": 1e400}',  # parses as inf
        '{"vocab_size": NaN}',
        '{"model_type": "llama", "hidden_size": ' + "1" * 4000 + "}",
    ],
    ids=["deep", "5000-digits", "inf", "nan", "4000-digit-size"],
)
def test_hostile_json_gives_config_errors(tmp_path, text):
    with pytest.raises(ConfigError):
        load_config(write(tmp_path, text))
    with pytest.raises(ConfigError):
        ArchConfig.from_json(text)


def test_non_utf8_and_too_long_names_are_load_errors(tmp_path):
    with pytest.raises(LoadError, match="UTF-8"):
        load_config(write(tmp_path, b'{"model_type": "llama", "name": "\xff\xfe"}'))
    with pytest.raises(LoadError, match="path"):
        load_config("x" * 5000)


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: ArchConfig(hidden_sise=1), "hidden_sise: unknown key; did you mean hidden_size"),
        (lambda: ArchConfig(**TINY).replace(foo=1), "foo: unknown key"),
        (lambda: ArchConfig(**TINY).replace(num_hiden_layers=3), "did you mean num_hidden_layers"),
        (lambda: ArchConfig.from_dict({**TINY, "vocab_sise": 3}), "did you mean vocab_size"),
        (lambda: ArchConfig.from_dict({**TINY, 7: 3}), "7: unknown key"),
        # a did-you-mean skips names too different in length: no quadratic edit distance on a huge key
        (lambda: ArchConfig.from_dict({**TINY, "x" * 10**6: 3}), "unknown key; known keys"),
    ],
)
def test_unknown_fields_are_config_errors_with_did_you_mean(build, match):
    with pytest.raises(ConfigError, match=match):
        build()


# --- RoPE keys, dtype, bounds (section 3) -------------------------------------------------------

ROPE_BASES = {
    "linear": {"rope_type": "linear", "factor": 2.0},
    "dynamic": {"rope_type": "dynamic", "factor": 2.0},
    "yarn": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8, "beta_fast": 32.0,
             "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 0.0, "attention_factor": 1.0, "truncate": True},
    "llama3": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 8},
    "longrope": {"rope_type": "longrope", "short_factor": [1.0] * 4, "long_factor": [2.0] * 4, "factor": 4.0,
                 "original_max_position_embeddings": 8, "attention_factor": 1.2},
}  # fmt: skip
BAD_ROPE_VALUES = [math.nan, math.inf, -math.inf, -1.0, "2", None, True, [1.0]]
ROPE_CASES = [
    (kind, key, bad)
    for kind, base in ROPE_BASES.items()
    for key in base
    if key != "rope_type"
    for bad in BAD_ROPE_VALUES
    # mscale 0 and truncate flags are legitimate; a bool is a legitimate truncate
    if not (key == "truncate" and isinstance(bad, bool))
]


@pytest.mark.parametrize("kind, key, bad", ROPE_CASES)
def test_every_rope_key_is_validated(kind, key, bad):
    with pytest.raises(ConfigError, match=key):
        ArchConfig(**TINY, rope_scaling={**ROPE_BASES[kind], key: bad})


@pytest.mark.parametrize("kind", ROPE_BASES)
def test_valid_rope_bases_build(kind):
    assert ArchConfig(**TINY, rope_scaling=ROPE_BASES[kind]).rope_type == kind


def test_llama3_freq_factors_must_be_ordered():
    with pytest.raises(ConfigError, match="high_freq_factor=1.0 must exceed low_freq_factor=4.0"):
        ArchConfig(**TINY, rope_scaling={**ROPE_BASES["llama3"], "low_freq_factor": 4.0, "high_freq_factor": 1.0})


@pytest.mark.parametrize("value", [math.nan, math.inf, 0.0, -0.02, 5.0])
def test_initializer_range_is_finite_and_sane(value):
    with pytest.raises(ConfigError, match="initializer_range"):
        ArchConfig(**TINY, initializer_range=value)


@pytest.mark.parametrize(
    "spelling, stored",
    [("bf16", "bfloat16"), ("torch.bfloat16", "bfloat16"), ("BFloat16", "bfloat16"), ("half", "float16"),
     ("fp16", "float16"), ("float", "float32"), ("fp32", "float32"), ("torch.float32", "float32")],
)  # fmt: skip
def test_one_dtype_vocabulary_everywhere(spelling, stored):
    cfg = ArchConfig(**TINY, torch_dtype=spelling)
    assert cfg.torch_dtype == stored
    assert estimate(cfg, 16, dtype=spelling).dtype == {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}[stored]
    assert str(build_model(cfg, device="meta", dtype=spelling).embed_tokens.weight.dtype) == f"torch.{stored}"
    result = runner.invoke(app, ["estimate", "gpt2", "--dtype", spelling, "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["dtype"] == estimate(cfg, 16, dtype=stored).dtype


@pytest.mark.parametrize("value", ["bogus", "int8", "", 16])
def test_torch_dtype_must_name_a_dtype(value):
    with pytest.raises(ConfigError, match="torch_dtype"):
        ArchConfig(**TINY, torch_dtype=value)


@pytest.mark.parametrize(
    "changes, field",
    [
        ({"num_hidden_layers": 2**63}, "num_hidden_layers"),
        ({"num_hidden_layers": MAX_LAYERS + 1}, "num_hidden_layers"),
        ({"head_dim": 2**40 + 1}, "head_dim"),
        ({"num_attention_heads": 2**40, "num_key_value_heads": 1}, "num_attention_heads"),
        ({"vocab_size": 2**63}, "vocab_size"),
        ({"vocab_size": MAX_SIZE + 1}, "vocab_size"),
        ({"max_position_embeddings": 10**30}, "max_position_embeddings"),
        ({"sliding_window": 2**40}, "sliding_window"),
        ({"num_attention_heads": 2**20, "num_key_value_heads": 1, "head_dim": 2**20}, r"num_attention_heads \* head_dim"),
    ],
)
def test_sizes_have_an_upper_bound_that_says_why(changes, field):
    with pytest.raises(ConfigError, match=field) as e:
        ArchConfig(**{**TINY, **changes})
    assert "int64" in str(e.value) or "in memory" in str(e.value)


def test_the_largest_sizes_are_sized_without_per_layer_work():
    """At the bounds, counting and estimating are arithmetic (a loop per layer or per divisor
    would be millions of steps here)."""
    cfg = ArchConfig(vocab_size=MAX_SIZE, hidden_size=MAX_SIZE - 1, num_hidden_layers=MAX_LAYERS,
                     num_attention_heads=3, intermediate_size=MAX_SIZE, max_position_embeddings=MAX_SIZE,
                     sliding_window=4096)  # fmt: skip
    assert count_params(cfg).total > 2**70
    assert estimate(cfg, seq_len=MAX_SIZE, batch=2**20).kv_cache_bytes == 2**20 * 2 * cfg.kv_dim * 2 * MAX_LAYERS * 4096
    (problem,) = check_tensor_parallel(cfg, 3)  # 3 heads shard over 3 devices; the prime vocab does not
    assert "vocab_size=2147483647 is not divisible by the tensor-parallel degree 3" in problem
    assert nearest_divisors(MAX_SIZE, 1000) == [1, MAX_SIZE]  # 2**31 - 1 is prime


def test_absurd_head_counts_suggest_fixes_cheaply():
    with pytest.raises(ConfigError, match="num_key_value_heads=1 or 2147483647"):
        ArchConfig(**{**TINY, "hidden_size": MAX_SIZE, "num_attention_heads": MAX_SIZE, "num_key_value_heads": 5})


# --- the CLI contract -----------------------------------------------------------------------------


def test_validate_json_prints_a_verdict_also_when_invalid(tmp_path):
    path = write(tmp_path, json.dumps({**TINY, "num_key_value_heads": 3}))
    result = runner.invoke(app, ["validate", str(path), "--json"])
    assert result.exit_code == 2
    verdict = json.loads(result.stdout)
    assert verdict["valid"] is False and verdict["warnings"] == []
    (problem,) = verdict["problems"]
    assert "not divisible by num_key_value_heads=3" in problem["problem"]
    assert problem["fix"] == "num_key_value_heads=2 or 4"
    ok = json.loads(runner.invoke(app, ["validate", "gpt2", "--json"]).stdout)
    assert ok["valid"] is True and ok["problems"] == [] and ok["warnings"][0]["fix"] == "pad it to vocab_size=50304"


def test_usage_errors_and_bad_input_are_told_apart():
    usage = runner.invoke(app, ["count", "gpt2", "--no-such-option"])
    bad = runner.invoke(app, ["count", "no-such-preset"])
    assert usage.exit_code == bad.exit_code == 2
    assert "Usage:" in usage.output and "No such option" in usage.output
    assert bad.stderr.startswith("error:") and "Usage:" not in bad.output


@pytest.mark.parametrize(
    "args, option",
    [
        (["design", "--params", "1e400"], "--params"),
        (["design", "--params", "1e16"], "--params"),
        (["design", "--params", "7B", "--heads", str(10**12)], "--heads"),
        (["design", "--params", "7B", "--kv-heads", "1000000000"], "--kv-heads"),
        (["design", "--params", "7B", "--layers", str(2**63)], "--layers"),
        (["export", "gpt2", "out", "--seed", str(2**64)], "--seed"),
        (["validate", "gpt2", "--tp", "0"], "--tp"),
    ],
)
def test_absurd_cli_values_exit_2_at_parsing(args, option):
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and f"Invalid value for '{option}'" in result.output


def test_version():
    from archsmith import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.strip() == f"archsmith {__version__}"


def test_export_json(tmp_path):
    path = write(tmp_path, ArchConfig(**TINY).to_json(), "tiny.json")
    result = runner.invoke(app, ["export", str(path), str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["architecture"], data["model_type"], data["remote_code"]) == ("LlamaForCausalLM", "llama", False)
    assert data["outdir"] == str(tmp_path / "out") and (tmp_path / "out" / "config.json").is_file()


@pytest.mark.parametrize("name", ["gemma-2-2b", "stablelm-2-1.6b", "afm-4.5b", "mpt-7b", "opt-125m"])
def test_every_importable_family_file_is_counted_validated_and_estimated(name):
    path = str(FIXTURES / f"{name}.json")
    for command in (["count", path, "--json"], ["validate", path, "--json"], ["estimate", path, "--json"]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
    assert json.loads(runner.invoke(app, ["count", path, "--json"]).stdout) == count_params(load_config(path)).to_dict()


# --- model inputs and generation ------------------------------------------------------------------


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_model(ArchConfig(**TINY)).eval()


def ids(batch: int = 2, seq: int = 5, dtype: torch.dtype = torch.long) -> torch.Tensor:
    return torch.randint(0, 64, (batch, seq)).to(dtype)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: m(ids(dtype=torch.int8)), "integer tensor.*torch.int8"),
        (lambda m: m(ids(dtype=torch.int16)), "torch.int16"),
        (lambda m: m(ids(dtype=torch.uint8)), "torch.uint8"),
        (lambda m: m(ids().to(torch.complex64)), "complex64"),
        (lambda m: m(ids().tolist()), "list"),
        (lambda m: m(ids(batch=0)), "batch >= 1"),
        (lambda m: m(ids(), position_ids=torch.arange(5).expand(3, 5)), "position_ids have shape"),
        (lambda m: m(ids(), position_ids=torch.arange(5.0)), "position_ids must be an integer tensor"),
        (lambda m: m(ids(), position_ids=torch.arange(5) - 1), "position_ids contain -1"),
        (lambda m: m(ids(), labels=torch.full((2, 5), 64)), "labels contain 64"),
        (lambda m: m(ids(), labels=torch.full((2, 5), -5)), "labels contain -5"),
        (lambda m: m(ids(), labels=ids().float()), "labels must be an integer tensor"),
        (lambda m: m(ids(), attention_mask=[1, 1]), "attention_mask"),
        (lambda m: m.generate(ids(), 2, temperature=math.nan), "temperature=nan"),
        (lambda m: m.generate(ids(), 2, temperature="hot"), "temperature='hot'"),
        (lambda m: m.generate(ids(), 2, eos_token_id=[]), r"eos_token_id=\[\]"),
        (lambda m: m.generate(ids(), 2, eos_token_id=[1, "2"]), "eos_token_id"),
        (lambda m: m.generate(ids(), 2, eos_token_id=64), "eos_token_id 64 is outside"),
        (lambda m: m.generate(ids(), 2, top_p="0.9"), "top_p='0.9'"),
        (lambda m: m.generate(ids(), 2, top_p=math.nan), "top_p=nan"),
        (lambda m: m.generate(ids(), 2, top_k=2.5), "top_k=2.5"),
        (lambda m: m.generate(ids(), 2, top_k=True), "top_k=True"),
        (lambda m: m.generate(ids(), 2.0), "max_new_tokens=2.0"),
        (lambda m: m.generate(ids(), 2, temperature=1.0, generator=0), "generator"),
    ],
)
def test_bad_model_inputs_are_input_errors(model, call, match):
    with pytest.raises(InputError, match=match):
        call(model)


def test_valid_edge_inputs_still_work(model):
    labels = ids()
    labels[:, :2] = -100  # ignored positions
    assert model(ids(dtype=torch.int32), labels=labels.int()).loss.isfinite()
    assert model(ids(), position_ids=torch.arange(5)[None]).shape == (2, 5, 64)
    assert model.generate(ids(), 2, eos_token_id=(3, 4)).shape[1] <= 7


def test_to_hf_of_a_meta_model_says_how_to_materialise(tmp_path):
    from archsmith.hf.convert import to_hf

    with pytest.raises(InputError, match="meta device.*to_empty"):
        to_hf(build_model(ArchConfig(**TINY), device="meta"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


# --- fuzzing: an archsmith error or a valid result, never another exception ----------------------

HOSTILE = st.one_of(
    st.sampled_from([0, -1, 1, 2, 3, 2**31, 2**63, 2**40 + 1, 10**30, 0.0, -0.5, 1e308, math.nan, math.inf,
                     None, True, False, "", "7", "llama", [], [1], ["full_attention"], {}, {"rope_type": []}]),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.lists(st.sampled_from(["full_attention", "sliding_attention", 3, None]), max_size=4),
)  # fmt: skip
HF_FILES = sorted(p.name for p in FIXTURES.glob("*.json"))


def _outcome_is_archsmith(make) -> None:
    """``make()`` raises an archsmith error, or gives a config that sizes without one."""
    try:
        cfg = make()
    except ArchsmithError:
        return
    count_params(cfg)
    validate(cfg, tp=2) if not check_tensor_parallel(cfg, 2) else None
    try:
        estimate(cfg, seq_len=min(cfg.max_position_embeddings, 4096))
    except ConfigError:
        pass


@settings(max_examples=150, deadline=None)
@given(name=st.sampled_from(HF_FILES), data=st.data())
def test_fuzz_hf_config_dicts(name, data):
    d = json.loads((FIXTURES / name).read_text())
    keys = data.draw(st.lists(st.sampled_from(sorted(d) + ["rope_scaling", "layer_types", "head_dim"]), max_size=4))
    for key in keys:
        d[key] = data.draw(HOSTILE)
    text = json.dumps(d)  # also through the JSON reader, as a file would go
    _outcome_is_archsmith(lambda: from_hf_config(d))
    _outcome_is_archsmith(lambda: ArchConfig.from_json(text) if "model_type" not in d else from_hf_config(json.loads(text)))


ROPE_KEYS = sorted({k for base in ROPE_BASES.values() for k in base})


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_fuzz_archsmith_config_dicts(data):
    d = ArchConfig(**TINY).to_dict()
    for key in data.draw(st.lists(st.sampled_from(sorted(d)), max_size=4)):
        d[key] = data.draw(HOSTILE)
    if data.draw(st.booleans()):
        base = dict(data.draw(st.sampled_from(list(ROPE_BASES.values()))))
        for key in data.draw(st.lists(st.sampled_from(ROPE_KEYS), max_size=2)):
            base[key] = data.draw(HOSTILE)
        d["rope_scaling"] = base
    _outcome_is_archsmith(lambda: ArchConfig.from_dict(d))


def test_from_hf_reads_config_json_through_the_one_json_reader(tmp_path):
    from archsmith import from_hf

    write(tmp_path, b'{"model_type": "llama", "name": "\xff"}')
    with pytest.raises(LoadError, match="UTF-8"):
        from_hf(tmp_path)
    write(tmp_path, "[" * 100_000)
    with pytest.raises(ConfigError, match="nested too deeply"):
        from_hf(tmp_path)
    write(tmp_path, json.dumps({"model_type": "archsmith"}))
    with pytest.raises(ConfigError, match="'archsmith' object"):
        from_hf(tmp_path)


# --- found by a hostile verification after the merge ------------------------------------------------


def test_a_model_too_big_to_allocate_is_an_input_error_with_the_size():
    from archsmith.model import build_model

    huge = ArchConfig(vocab_size=64, hidden_size=2**20, num_hidden_layers=1, num_attention_heads=1,
                      intermediate_size=2**31 - 1)
    with pytest.raises(InputError, match="more than cpu could allocate; fix: build it on device='meta'"):
        build_model(huge)


def test_a_cache_of_another_model_is_an_input_error():
    import torch

    from archsmith.model import build_model
    from archsmith.model.generation import KVCache

    cfg = ArchConfig(vocab_size=64, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64)
    model = build_model(cfg)
    ids = torch.randint(0, 64, (1, 4))
    for cache in ("x", KVCache(cfg.replace(num_hidden_layers=1), max_len=8)):
        with pytest.raises(InputError, match="fix: pass cache=KVCache"):
            model(ids, cache=cache)


@pytest.mark.parametrize("args", [["--seq", str(10**30)], ["--seq", str(2**63)], ["--batch", str(2**40)]])
def test_estimate_refuses_absurd_sequence_and_batch(args):
    from typer.testing import CliRunner

    from archsmith.cli import app

    result = CliRunner().invoke(app, ["estimate", "llama-3.1-8b", *args])
    assert result.exit_code == 2 and "Traceback" not in result.output
