"""``partial_rotary_factor`` read exactly as each transformers class reads it.

The llama-like classes (llama, mistral, qwen2, qwen3, gemma, gemma2, olmo2, arcee) build
default RoPE over the whole head: their ``compute_default_rope_parameters`` never reads the
factor, so a config.json that carries it is valid and the factor changes nothing. With a
scaled rope type they do read it (``modeling_rope_utils.ROPE_INIT_FUNCTIONS``) but still rotate
the whole head, and fail on the first forward pass, so archsmith refuses that file. Phi-3,
StableLM and GPT-NeoX rotate only the factor's share of each head, and archsmith must too.

Each case writes the config.json by hand, with the factor where a hub file would carry it
(4.x top level, 4.x ``rope_scaling``, 5.x ``rope_parameters``), next to perturbed tiny
weights, and both transformers (``from_pretrained``) and archsmith (``from_hf``) read that file.
"""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from archsmith import ConfigError, count_params, load_config
from archsmith.cli import app
from archsmith.hf.convert import from_hf
from hf_testing import TOLERANCE, input_ids, max_logit_diff, perturb, quiet_transformers

transformers = pytest.importorskip("transformers")
quiet_transformers()

HEAD_DIM = 16
_TINY = dict(
    vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=False, pad_token_id=None,
)  # fmt: skip
# What each family needs besides: an explicit head_dim where the class default is not hidden/heads,
# and Gemma 2's query scaling equal to head_dim (archsmith refuses anything else).
_FAMILY_KEYS = {
    "llama": {},
    "mistral": {},
    "qwen2": {},
    "qwen3": {"head_dim": HEAD_DIM},
    "gemma": {"head_dim": HEAD_DIM},
    "gemma2": {"head_dim": HEAD_DIM, "query_pre_attn_scalar": HEAD_DIM},
    "olmo2": {},
    "arcee": {},
}
IGNORING = list(_FAMILY_KEYS)


def _placed(factor: float, where: str, scaling: dict | None = None) -> dict:
    """The rope keys of a config.json with ``partial_rotary_factor`` at ``where``."""
    rope = {"rope_type": "default"} if scaling is None else dict(scaling)
    if where == "top-level":  # 4.x: rope_theta and partial_rotary_factor beside the rest
        out = {"rope_theta": 10000.0, "partial_rotary_factor": factor}
        return out if scaling is None else {**out, "rope_scaling": rope}
    if where == "rope_scaling":  # 4.x: the factor inside rope_scaling
        return {"rope_theta": 10000.0, "rope_scaling": {**rope, "partial_rotary_factor": factor}}
    assert where == "rope_parameters"  # 5.x
    return {"rope_parameters": {**rope, "rope_theta": 10000.0, "partial_rotary_factor": factor}}


PLACES = ["top-level", "rope_scaling", "rope_parameters"]


def _checkpoint(path, config: dict) -> None:
    """Perturbed weights of ``config``'s model and ``config`` itself, verbatim, as config.json."""
    hf_config = transformers.AutoConfig.for_model(**config)
    model = transformers.AutoModelForCausalLM.from_config(hf_config, attn_implementation="eager")
    perturb(model)
    model.save_pretrained(path, safe_serialization=True)
    (path / "config.json").write_text(json.dumps(config))  # save_pretrained moves the rope keys


def _hf_from(path) -> torch.nn.Module:
    return transformers.AutoModelForCausalLM.from_pretrained(path, attn_implementation="eager").eval()


def _rotated_dims(hf_model) -> int:
    """How many dims of each head transformers' rotary embedding rotates (two per frequency)."""
    return 2 * next(m for m in hf_model.modules() if hasattr(m, "inv_freq")).inv_freq.numel()


# --- families whose class ignores the factor with default RoPE ---------------------------------


@pytest.mark.parametrize("where", PLACES)
@pytest.mark.parametrize("model_type", IGNORING)
def test_ignored_factor_imports_with_transformers_logits(model_type, where, tmp_path):
    config = {"model_type": model_type, **_TINY, **_FAMILY_KEYS[model_type], **_placed(0.5, where)}
    _checkpoint(tmp_path, config)
    hf_model = _hf_from(tmp_path)
    assert _rotated_dims(hf_model) == HEAD_DIM  # the class rotates the whole head whatever the file says

    ours = from_hf(tmp_path).eval()
    assert ours.config.partial_rotary_factor == 1.0
    assert max_logit_diff(ours, hf_model, input_ids()) <= TOLERANCE


# 0.19 of 16 dims would be 3, an odd rotary dimension archsmith refuses where it applies: here the
# class ignores the factor, so the file is valid and counts like any other.
@pytest.mark.parametrize("factor", [0.5, 0.19])
@pytest.mark.parametrize("model_type", IGNORING)
def test_ignored_factor_counts_as_transformers(model_type, factor, tmp_path):
    config = {"model_type": model_type, **_TINY, **_FAMILY_KEYS[model_type], **_placed(factor, "top-level")}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    hf_config = transformers.AutoConfig.from_pretrained(tmp_path)
    with torch.device("meta"):
        expected = sum(p.numel() for p in transformers.AutoModelForCausalLM.from_config(hf_config).parameters())

    cfg = load_config(path)
    assert cfg.partial_rotary_factor == 1.0
    assert count_params(cfg).total == expected
    assert cfg == load_config(tmp_path)  # the directory form reads the same file

    result = CliRunner().invoke(app, ["count", str(path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total"] == expected


@pytest.mark.parametrize("where", PLACES)
@pytest.mark.parametrize("model_type", IGNORING)
def test_factor_with_scaled_rope_is_refused_as_transformers_cannot_run_it(model_type, where, tmp_path):
    """With a scaled rope type these classes do read the factor, build cos/sin for half the head,
    and then multiply the whole head by them: no forward pass runs, so there is nothing to match."""
    scaling = {"rope_type": "linear", "factor": 2.0}
    config = {"model_type": model_type, **_TINY, **_FAMILY_KEYS[model_type], **_placed(0.5, where, scaling)}
    _checkpoint(tmp_path, config)
    hf_model = _hf_from(tmp_path)
    assert _rotated_dims(hf_model) == HEAD_DIM // 2
    with pytest.raises(RuntimeError, match="must match the size"), torch.no_grad():
        hf_model(input_ids())

    with pytest.raises(ConfigError) as refused:
        load_config(tmp_path / "config.json")
    message = str(refused.value)
    assert f"{model_type}: partial_rotary_factor=0.5 with rope_type 'linear'" in message
    assert "fix: remove partial_rotary_factor" in message
    with pytest.raises(ConfigError):
        from_hf(tmp_path)


@pytest.mark.parametrize("model_type", IGNORING)
def test_factor_of_one_with_scaled_rope_still_imports(model_type, tmp_path):
    scaling = {"rope_type": "linear", "factor": 2.0}
    config = {"model_type": model_type, **_TINY, **_FAMILY_KEYS[model_type], **_placed(1.0, "rope_parameters", scaling)}
    _checkpoint(tmp_path, config)
    hf_model = _hf_from(tmp_path)
    ours = from_hf(tmp_path).eval()
    assert ours.config.rope_scaling == {"rope_type": "linear", "factor": 2.0}
    assert max_logit_diff(ours, hf_model, input_ids()) <= TOLERANCE


# --- families whose class rotates only part of each head ---------------------------------------

_LONGROPE = {
    "rope_type": "longrope", "short_factor": [1.0, 1.1, 1.2, 1.5], "long_factor": [1.0, 2.0, 3.0, 4.0],
    "original_max_position_embeddings": 16,
}  # fmt: skip
_NO_KV = {k: v for k, v in _TINY.items() if k != "num_key_value_heads"}  # GPT-NeoX is multi-head only
APPLYING = {
    "phi3-top-level": ("phi3", _TINY, _placed(0.5, "top-level")),
    "phi3-rope_parameters": ("phi3", _TINY, _placed(0.5, "rope_parameters")),
    "phi3-longrope": ("phi3", _TINY, _placed(0.5, "rope_parameters", _LONGROPE)),
    "stablelm-top-level": ("stablelm", _TINY, _placed(0.5, "top-level")),
    "stablelm-rope_parameters": ("stablelm", _TINY, _placed(0.5, "rope_parameters")),
    "stablelm-linear": ("stablelm", _TINY, _placed(0.5, "top-level", {"rope_type": "linear", "factor": 2.0})),
    "gpt_neox-rotary_pct": ("gpt_neox", _NO_KV, {"rotary_emb_base": 10000.0, "rotary_pct": 0.5}),
    "gpt_neox-rope_parameters": ("gpt_neox", _NO_KV, _placed(0.5, "rope_parameters")),
}


@pytest.mark.parametrize("case", list(APPLYING))
def test_applying_families_still_rotate_part_of_the_head(case, tmp_path):
    model_type, tiny, rope = APPLYING[case]
    _checkpoint(tmp_path, {"model_type": model_type, **tiny, **rope})
    hf_model = _hf_from(tmp_path)
    assert _rotated_dims(hf_model) == HEAD_DIM // 2

    ours = from_hf(tmp_path).eval()
    assert (ours.config.partial_rotary_factor, ours.config.rotary_dim) == (0.5, HEAD_DIM // 2)
    assert max_logit_diff(ours, hf_model, input_ids()) <= TOLERANCE
    assert count_params(load_config(tmp_path / "config.json")).total == sum(p.numel() for p in hf_model.parameters())
