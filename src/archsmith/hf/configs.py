"""HF config.json (as a dict) -> ArchConfig, dispatched on ``model_type``.

Each supported family has its own module with its own defaults and quirks; this module
only picks the right one, checks the value types of the fields every reader reads, and
refuses the rest with the list of what is supported. archsmith's own remote-code exports
(``model_type: archsmith``) carry the whole ArchConfig under the ``archsmith`` key.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from ..errors import ConfigError, UnsupportedError
from .common import field_type_problems, typo_problems
from .export_config import REMOTE_MODEL_TYPE
from . import (
    arcee, bloom, gemma, gemma2, gpt2, gpt_neox, llama, mistral, mixtral, mpt, olmo2, opt, phi3, qwen2, qwen2_moe, qwen3,
    qwen3_moe, stablelm,
)  # fmt: skip

_FAMILIES = {
    m.MODEL_TYPE: m
    for m in (
        llama, mistral, qwen2, qwen3, gemma, gemma2, gpt2, gpt_neox, bloom, phi3, olmo2, stablelm, arcee, mpt, opt,
        mixtral, qwen2_moe, qwen3_moe,
    )  # fmt: skip
}

SUPPORTED_MODEL_TYPES: tuple[str, ...] = tuple(_FAMILIES)


def from_hf_config(d: dict[str, Any]) -> ArchConfig:
    """The ArchConfig of a transformers 4.x or 5.x config.json, with that model type's defaults."""
    if not isinstance(d, dict):
        raise ConfigError(f"an HF config must be a JSON object, got {type(d).__name__}")
    model_type = d.get("model_type")
    if model_type == REMOTE_MODEL_TYPE:
        return _remote_config(d)
    if not isinstance(model_type, str) or model_type not in _FAMILIES:
        raise UnsupportedError(
            f"model_type {model_type!r} is not supported; supported model types: {', '.join(SUPPORTED_MODEL_TYPES)}; "
            "fix: convert the model to one of these or describe it as an archsmith JSON config"
        )
    family = _FAMILIES[model_type]
    # Typos and invalid values are reported together, so one run shows every problem.
    typos = typo_problems(d, family.FIELDS, model_type)
    wrong_types = field_type_problems(d)
    if wrong_types:  # the reader would do arithmetic on these values
        raise ConfigError(typos + wrong_types)
    try:
        cfg = family.config_from_hf(d)
    except ConfigError as e:
        raise ConfigError(typos + e.problems) from None
    if typos:
        raise ConfigError(typos)
    return cfg


def _remote_config(d: dict[str, Any]) -> ArchConfig:
    section = d.get(REMOTE_MODEL_TYPE)
    if section is None:
        raise ConfigError(
            f"model_type {REMOTE_MODEL_TYPE!r} but no {REMOTE_MODEL_TYPE!r} object with the ArchConfig; "
            "fix: re-export the model with archsmith export, or give its archsmith.json"
        )
    return ArchConfig.from_dict(section)
