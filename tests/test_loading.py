"""load_config: every kind of source, and an error that names the problem for every bad one."""

from __future__ import annotations

import json

import pytest

from archsmith import ArchConfig, ConfigError, LoadError, UnsupportedError, count_params, load_config
from archsmith.hf import SUPPORTED_MODEL_TYPES
from archsmith.presets import PRESETS, get_preset

SMALL = ArchConfig(vocab_size=256, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128)


def test_preset_name():
    cfg = load_config("llama-3.1-8b")
    # Llama-3.1-8B's published shape (its config.json on the Hub), not the preset read back through itself.
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads) == (4096, 32, 32, 8)
    assert (cfg.intermediate_size, cfg.vocab_size, cfg.rope_theta) == (14336, 128256, 500000.0)
    assert cfg.rope_scaling["rope_type"] == "llama3" and cfg.rope_scaling["factor"] == 8.0
    assert cfg.name == "llama-3.1-8b"


def test_archsmith_json_file(tmp_path):
    path = tmp_path / "small.json"
    SMALL.save(path)
    assert load_config(path) == SMALL
    assert load_config(str(path)) == SMALL


def test_hf_config_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(PRESETS["qwen2.5-0.5b"].hf_config))
    cfg = load_config(path)  # Qwen2.5-0.5B's published shape and count
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads) == (896, 24, 14, 2)
    assert (cfg.intermediate_size, cfg.vocab_size, cfg.rope_theta) == (4864, 151936, 1e6)
    assert cfg.tie_word_embeddings and cfg.qkv_bias and count_params(cfg).total == 494_032_768


def test_directory_with_hf_config(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(PRESETS["gpt2"].hf_config))
    cfg = load_config(tmp_path)  # GPT-2's published shape and count
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.intermediate_size) == (768, 12, 12, 3072)
    assert cfg.position_embedding == "learned" and cfg.max_position_embeddings == 1024
    assert count_params(cfg).total == 124_439_808


def test_directory_prefers_archsmith_json(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(PRESETS["gpt2"].hf_config))
    SMALL.save(tmp_path / "archsmith.json")
    assert load_config(tmp_path) == SMALL


def test_directory_without_a_config(tmp_path):
    with pytest.raises(LoadError, match="neither archsmith.json nor config.json"):
        load_config(tmp_path)


def test_missing_path_names_it_and_what_was_expected(tmp_path):
    missing = tmp_path / "nope" / "config.json"
    with pytest.raises(LoadError) as e:
        load_config(missing)
    assert str(missing) in str(e.value)
    assert "fix: give a preset name, an archsmith JSON config, an HF config.json" in str(e.value)


def test_misspelt_preset_name_suggests_the_preset():
    with pytest.raises(LoadError, match="did you mean the preset gpt2-xl"):
        load_config("gpt2-xxl")


def test_unsupported_model_type_lists_the_supported_ones(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "mamba", "hidden_size": 768}))
    with pytest.raises(UnsupportedError) as e:
        load_config(path)
    message = str(e.value)
    assert str(path) in message and "'mamba' is not supported" in message
    assert all(t in message for t in SUPPORTED_MODEL_TYPES)


def test_typo_in_hf_config(tmp_path):
    d = dict(PRESETS["llama-2-7b"].hf_config)
    d["num_hiden_layers"] = d.pop("num_hidden_layers")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ConfigError, match="num_hiden_layers: did you mean num_hidden_layers\\?"):
        load_config(path)


def test_broken_json_names_line_and_column(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{\n  "model_type": "llama",\n  "hidden_size": 4096,,\n}\n')
    with pytest.raises(ConfigError, match=r"config.json: broken JSON at line 3, column 23"):
        load_config(path)


def test_json_that_is_not_an_object(tmp_path):
    path = tmp_path / "config.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must be a JSON object, got list"):
        load_config(path)


def test_unknown_key_in_archsmith_file(tmp_path):
    d = SMALL.to_dict()
    d["hiden_size"] = d.pop("hidden_size")
    path = tmp_path / "small.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ConfigError, match="hiden_size: unknown key; did you mean hidden_size\\?"):
        load_config(path)


def test_wrong_type_names_the_key(tmp_path):
    d = SMALL.to_dict()
    d["num_hidden_layers"] = "2"
    path = tmp_path / "small.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ConfigError, match="num_hidden_layers: expected an integer, got str"):
        load_config(path)


def test_typos_and_invalid_values_are_reported_together(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({"model_type": "llama", "hidden_size": 4096, "num_attention_heads": 32,
                                "num_key_value_heads": 5, "num_hiden_layers": 32, "intermediate_size": 11008,
                                "vocab_size": 32000}))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    problems = info.value.problems
    assert len(problems) == 2
    assert "did you mean num_hidden_layers?" in problems[0] and "num_key_value_heads=4 or 8" in problems[1]
