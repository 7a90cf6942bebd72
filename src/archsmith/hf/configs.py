"""HF config.json (as a dict) -> ArchConfig, dispatched on ``model_type``.

Each supported family is declared in its own module (families/, found by registry.py);
this module only picks the right one, checks the value types of the fields every reader
reads, and refuses the rest with the list of what is supported. archsmith's own remote-code exports
(``model_type: archsmith``) carry the whole ArchConfig under the ``archsmith`` key.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from ..errors import ConfigError, UnsupportedError
from .common import field_type_problems, typo_problems
from .export_config import REMOTE_MODEL_TYPE
from .registry import BY_MODEL_TYPE, SUPPORTED_MODEL_TYPES


def from_hf_config(d: dict[str, Any]) -> ArchConfig:
    """The ArchConfig of a transformers 4.x or 5.x config.json, with that model type's defaults."""
    if not isinstance(d, dict):
        raise ConfigError(f"an HF config must be a JSON object, got {type(d).__name__}")
    model_type = d.get("model_type")
    if model_type == REMOTE_MODEL_TYPE:
        return _remote_config(d)
    if not isinstance(model_type, str) or model_type not in BY_MODEL_TYPE:
        raise UnsupportedError(
            f"model_type {model_type!r} is not supported; supported model types: {', '.join(SUPPORTED_MODEL_TYPES)}; "
            "fix: convert the model to one of these or describe it as an archsmith JSON config"
        )
    family = BY_MODEL_TYPE[model_type]
    # Typos and invalid values are reported together, so one run shows every problem.
    typos = typo_problems(d, family.known_keys, model_type)
    wrong_types = field_type_problems(d)
    if wrong_types:  # the reader would do arithmetic on these values
        raise ConfigError(typos + wrong_types)
    try:
        cfg = family.read(d)
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
