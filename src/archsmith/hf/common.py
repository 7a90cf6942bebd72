"""Shared reading of HuggingFace config.json files: typo checks, RoPE, dtype, refusals.

Each family module (llama.py, gpt2.py, ...) reads its own fields with its own
defaults; this module holds what every family does the same way, following
transformers 5.23 (``PreTrainedConfig`` and ``RotaryEmbeddingConfigMixin``).
No torch or transformers import: reading a config must stay instant.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import closest_name
from ..errors import ConfigError, UnsupportedError

# Fields every transformers config accepts (PreTrainedConfig and its generation/tokenizer
# leftovers that hub files still carry). They never change the architecture.
BASE_FIELDS = frozenset(
    {
        "model_type",
        "architectures",
        "transformers_version",
        "dtype",
        "torch_dtype",  # the 4.x name of dtype
        "_name_or_path",
        "id2label",
        "label2id",
        "problem_type",
        "return_dict",
        "output_hidden_states",
        "output_attentions",
        "chunk_size_feed_forward",
        "is_encoder_decoder",
        "tokenizer_class",
        "task_specific_params",
        "auto_map",
    }
)

# Where the RoPE settings live in 4.x files (top level) besides 5.x's ``rope_parameters``.
ROPE_FIELDS = frozenset({"rope_parameters", "rope_scaling", "rope_theta", "partial_rotary_factor"})

# Scaled RoPE types that transformers gives an ``original_max_position_embeddings`` by default.
_ROPE_TYPES_WITH_ORIGINAL_LENGTH = ("llama3", "yarn", "longrope")


def typo_problems(d: dict[str, Any], known: frozenset[str], model_type: str) -> list[str]:
    """Unknown keys are normal in hub files, but one a typo away from a known field is an error.

    transformers would keep ``num_hiden_layers`` as a stray attribute and silently use the
    default layer count; we refuse instead.
    """
    problems = []
    for key in d:
        if key in known:
            continue
        close = closest_name(key, known)
        if close is not None:
            problems.append(
                f"{key}: did you mean {close}? ({model_type} has no field {key!r}, so transformers would "
                f"ignore it and use the default {close}); fix: rename the key"
            )
    return problems


def read_dtype(d: dict[str, Any]) -> str | None:
    """5.x ``dtype`` wins over 4.x ``torch_dtype`` when a file has both, as in transformers."""
    dtype = d.get("dtype")
    return dtype if dtype is not None else d.get("torch_dtype")


@dataclass(frozen=True)
class Rope:
    """RoPE settings resolved to ArchConfig fields."""

    theta: float
    scaling: dict[str, Any] | None  # ArchConfig.rope_scaling: None for unscaled ("default") RoPE
    partial_rotary_factor: float


def read_rope(
    d: dict[str, Any],
    *,
    max_position_embeddings: int,
    theta_key: str = "rope_theta",
    partial_key: str = "partial_rotary_factor",
    default_partial: float = 1.0,
    original_max_position_embeddings: int | None = None,
    type_aliases: dict[str, str] | None = None,
) -> Rope:
    """RoPE from a 4.x file (``rope_theta`` + ``rope_scaling`` with ``type`` or ``rope_type``)
    or a 5.x file (``rope_parameters`` holding rope_type, rope_theta, ...).

    Mirrors ``convert_rope_params_to_dict`` + ``standardize_rope_params``: a non-empty
    ``rope_scaling`` replaces ``rope_parameters``; values inside the dict win over the top-level
    ``rope_theta``/``partial_rotary_factor``; ``rope_type`` wins over the old ``type``; llama3,
    yarn and longrope get ``original_max_position_embeddings`` (default: max_position_embeddings,
    or the family's top-level value, which then wins, as Phi-3 does).
    """
    given = d.get("rope_scaling") or d.get("rope_parameters") or {}
    if not isinstance(given, dict):
        raise ConfigError(f"rope_parameters/rope_scaling must be an object, got {given!r}; fix: give an object or null")
    params = dict(given)  # never mutate the caller's dict (presets are shared)
    rope_type = params.pop("rope_type", None)
    old_type = params.pop("type", None)
    rope_type = rope_type if rope_type is not None else (old_type if old_type is not None else "default")
    rope_type = (type_aliases or {}).get(rope_type, rope_type)
    theta = params.pop("rope_theta", d.get(theta_key, 10000.0))
    partial = params.pop("partial_rotary_factor", d.get(partial_key, default_partial))
    if rope_type == "default":
        return Rope(theta=theta, scaling=None, partial_rotary_factor=partial)
    if rope_type in _ROPE_TYPES_WITH_ORIGINAL_LENGTH:
        if original_max_position_embeddings is not None:
            params["original_max_position_embeddings"] = original_max_position_embeddings
        else:
            params.setdefault("original_max_position_embeddings", max_position_embeddings)
    return Rope(theta=theta, scaling={"rope_type": rope_type, **params}, partial_rotary_factor=partial)


def refuse_unless(condition: bool, model_type: str, what: str, fix: str) -> None:
    """Raise UnsupportedError for an HF setting that changes the model but has no ArchConfig knob."""
    if not condition:
        raise UnsupportedError(f"{model_type}: {what} is not supported by archsmith; fix: {fix}")


def layer_window(
    sliding_window: int | None, layer_types: list[str] | None
) -> tuple[int | None, tuple[str, ...] | None]:
    """ArchConfig's (sliding_window, layer_types) in canonical form, so equal models compare equal:
    no sliding layer -> (None, None); every layer sliding -> (window, None); a mix -> both."""
    if sliding_window is None or layer_types is None:
        return sliding_window, None
    if "sliding_attention" not in layer_types:
        return None, None
    if all(t == "sliding_attention" for t in layer_types):
        return sliding_window, None
    return sliding_window, tuple(layer_types)
