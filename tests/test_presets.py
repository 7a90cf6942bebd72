"""Presets: published shapes whose counts equal transformers' models of the same config.json."""

from __future__ import annotations

import pytest
import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM

from archsmith import ArchConfig, ConfigError, count_params
from archsmith.presets import _PRESET_LIST, GPT3_PAPER, PRESETS, get_preset
from test_hf_configs import transformers_loadable

transformers.logging.set_verbosity_error()

# Counts as published (model cards, the Pythia paper's table), an independent check of the
# numbers typed into presets.py: transformers can only confirm that we read them right.
PUBLISHED_TOTALS = {
    "gpt2": 124_439_808,
    "gpt2-xl": 1_557_611_200,
    "llama-2-7b": 6_738_415_616,
    "llama-3.1-8b": 8_030_261_248,
    "llama-3.2-1b": 1_235_814_400,
    "mistral-7b-v0.1": 7_241_732_096,
    "pythia-160m": 162_322_944,
    "pythia-1b": 1_011_781_632,
    "pythia-6.9b": 6_857_302_016,
    "qwen2.5-7b": 7_615_616_512,
    "gemma-7b": 8_537_680_896,
    "phi-3-mini-4k": 3_821_079_552,
    "bloom-560m": 559_214_592,
    "opt-125m": 125_239_296,
    "opt-350m": 331_196_416,  # its 512-wide embedding with project_in/project_out
}


def test_at_least_25_presets_with_source_links():
    assert len(PRESETS) >= 25
    names = [p.name for p in _PRESET_LIST]
    assert len(set(names)) == len(names), "two presets share a name; the PRESETS dict would keep only the last"
    for name, preset in PRESETS.items():
        assert name == name.lower()
        # The Hub's config.json, or for a model never released (GPT-3) the paper that states its shape.
        hub = preset.source.startswith("https://huggingface.co/") and preset.source.endswith("/config.json")
        assert hub or (name.startswith("gpt3-") and preset.source == GPT3_PAPER), name


@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_count_equals_transformers(name):
    cfg = get_preset(name)
    hf = PRESETS[name].hf_config
    width = next(hf[k] for k in ("hidden_size", "n_embd", "d_model") if k in hf)  # GPT-2 and MPT have their own names
    assert (cfg.hidden_size, cfg.vocab_size) == (width, hf["vocab_size"])
    hf_config = AutoConfig.for_model(**transformers_loadable(PRESETS[name].hf_config))
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config)
    assert count_params(cfg).total == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name, total", PUBLISHED_TOTALS.items())
def test_preset_matches_published_count(name, total):
    assert count_params(get_preset(name)).total == total


def test_presets_are_not_mutated_by_reading():
    before = {name: repr(p.hf_config) for name, p in PRESETS.items()}
    for name in PRESETS:
        get_preset(name)
    assert {name: repr(p.hf_config) for name, p in PRESETS.items()} == before


def test_unknown_preset_suggests_close_names():
    with pytest.raises(ConfigError, match="did you mean llama-3.1-8b"):
        get_preset("llama-3.1-8")
    with pytest.raises(ConfigError, match="known presets: .*gpt2"):
        get_preset("no-such-model-anywhere")
