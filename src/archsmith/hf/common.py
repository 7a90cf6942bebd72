"""Shared reading of HuggingFace config.json files: typo checks, RoPE, dtype, refusals.

Each family declaration (families/llama.py, families/gpt2.py, ...) reads its own keys with
its own defaults; this module holds what every family does the same way, following
transformers 5.23 (``PreTrainedConfig`` and ``RotaryEmbeddingConfigMixin``).
No torch or transformers import: reading a config must stay instant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from ..config import MAX_LAYERS, MAX_SIZE, ROPE_SCALING_TYPES, closest_name
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


# --- value types of the fields the readers read ---------------------------------------------
#
# Every family reader does arithmetic and comparisons on its fields (hidden // heads,
# 4 * hidden, a per-layer list of length num_hidden_layers) before ArchConfig validates the
# result. field_type_problems checks each field's value against its kind here, once, before
# any reader runs, so that no value reaches Python's own errors (a ZeroDivisionError, a
# TypeError, a list of 2**40 layer types).


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _size(v: Any) -> str | None:
    return None if _is_int(v) and 1 <= v <= MAX_SIZE else f"an integer from 1 to {MAX_SIZE:,}"


def _layers(v: Any) -> str | None:
    return None if _is_int(v) and 1 <= v <= MAX_LAYERS else f"an integer from 1 to {MAX_LAYERS:,}"


def _count(v: Any) -> str | None:
    return None if _is_int(v) and 0 <= v <= MAX_SIZE else f"an integer from 0 to {MAX_SIZE:,}"


def _number(v: Any) -> str | None:
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    return None if ok else "a finite number"


def _flag(v: Any) -> str | None:
    return None if isinstance(v, bool) else "true or false"


def _text(v: Any) -> str | None:
    return None if isinstance(v, str) else "a string"


def _names(v: Any) -> str | None:
    return None if isinstance(v, list) and all(isinstance(x, str) for x in v) else "a list of strings"


def _object(v: Any) -> str | None:
    return None if isinstance(v, dict) else "an object"


def _or_null(check: Callable[[Any], str | None]) -> Callable[[Any], str | None]:
    def check_or_null(v: Any) -> str | None:
        problem = check(v)
        return None if v is None or problem is None else f"{problem} or null"

    return check_or_null


_FIELD_KINDS: dict[Callable[[Any], str | None], tuple[str, ...]] = {
    _size: (
        "vocab_size", "hidden_size", "n_embd", "n_embed", "d_model", "intermediate_size", "ffn_dim",
        "num_attention_heads", "n_head", "n_heads", "max_position_embeddings", "n_positions", "max_seq_len",
        "word_embed_proj_dim", "original_max_position_embeddings", "kv_lora_rank", "qk_nope_head_dim",
        "qk_rope_head_dim", "v_head_dim",
    ),
    _or_null(_size): ("num_key_value_heads", "head_dim", "n_inner", "q_lora_rank"),
    _or_null(_count): ("sliding_window",),  # Qwen2MoeConfig saves 0 for "no window"
    _layers: ("num_hidden_layers", "n_layer", "n_layers"),
    _count: ("max_window_layers", "num_experts", "num_local_experts", "first_k_dense_replace"),  # qwen-MoE: 0 experts = dense
    _number: (
        "rope_theta", "rotary_emb_base", "partial_rotary_factor", "rotary_pct", "rms_norm_eps", "layer_norm_eps",
        "layer_norm_epsilon", "initializer_range", "init_std", "attention_dropout", "hidden_dropout", "attn_pdrop",
        "resid_pdrop", "embd_pdrop", "emb_pdrop", "dropout", "expansion_ratio", "embedding_fraction",
        "query_pre_attn_scalar",
    ),
    _or_null(_number): ("attn_logit_softcapping", "final_logit_softcapping"),
    _flag: (
        "attention_bias", "mlp_bias", "tie_word_embeddings", "use_parallel_residual", "use_sliding_window",
        "use_qkv_bias", "qk_layernorm", "do_layer_norm_before", "_remove_final_layer_norm", "enable_bias",
        "layer_norm_elementwise_affine", "no_bias", "add_cross_attention", "scale_attn_weights",
        "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "apply_residual_connection_post_layernorm",
    ),
    _or_null(_flag): ("use_bidirectional_attention", "rope_interleave"),
    _text: ("hidden_act", "activation_function"),
    _or_null(_text): ("hidden_activation",),
    _or_null(_names): ("layer_types",),
    _or_null(_object): ("rope_scaling", "rope_parameters", "attn_config"),
}  # fmt: skip
FIELD_CHECKS: dict[str, Callable[[Any], str | None]] = {
    name: check for check, names in _FIELD_KINDS.items() for name in names
}
# Fields the readers pass through untouched or only compare with ==/None (token ids, cache and
# training switches, dtype, which ArchConfig checks itself): no kind needed.
UNCHECKED_FIELDS = frozenset(
    {
        "bos_token_id", "eos_token_id", "pad_token_id", "use_cache", "is_decoder", "classifier_dropout",
        "pretraining_tp", "slow_but_exact", "init_device", "learned_pos_emb", "logit_scale", "norm_type",
        "cache_implementation", "n_ctx", "layerdrop", "summary_type", "summary_use_proj", "summary_activation",
        "summary_proj_to_labels", "summary_first_dropout",
    }
)  # fmt: skip


def field_type_problems(d: dict[str, Any]) -> list[str]:
    """One problem per field whose value is not of its kind (see FIELD_CHECKS)."""
    problems = []
    for key, value in d.items():
        check = FIELD_CHECKS.get(key)
        expected = check(value) if check else None
        if expected:
            text = repr(value)
            shown = text if len(text) <= 60 else text[:57] + "..."
            problems.append(f"{key}={shown} must be {expected}; fix: give {key} {expected}")
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
    model_type: str,
    partial_rotary: bool,
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

    ``partial_rotary`` is a fact of the family's class: whether it rotates only
    ``partial_rotary_factor`` of each head. Phi-3, StableLM and GPT-NeoX do (their
    ``compute_default_rope_parameters`` and their attention both read the factor). The
    llama-like classes do not, and the reader takes exactly what they read: their default RoPE
    (``compute_default_rope_parameters``) uses the whole head_dim, so the factor is ignored, as
    transformers ignores it; their scaled RoPE (``ROPE_INIT_FUNCTIONS``) does read it, but their
    ``apply_rotary_pos_emb`` multiplies the whole head by the shorter cos/sin and fails on the
    first forward pass, so there is no model to match and the file is refused.
    """
    given = d.get("rope_scaling") or d.get("rope_parameters") or {}
    if not isinstance(given, dict):
        raise ConfigError(f"rope_parameters/rope_scaling must be an object, got {given!r}; fix: give an object or null")
    params = dict(given)  # never mutate the caller's dict (presets are shared)
    rope_type = params.pop("rope_type", None)
    old_type = params.pop("type", None)
    rope_type = rope_type if rope_type is not None else (old_type if old_type is not None else "default")
    if not isinstance(rope_type, str):
        raise ConfigError(f"rope_type={rope_type!r} must be a string; fix: e.g. \"default\", \"linear\" or \"yarn\"")
    rope_type = (type_aliases or {}).get(rope_type, rope_type)
    theta = params.pop("rope_theta", d.get(theta_key, 10000.0))
    partial = params.pop("partial_rotary_factor", d.get(partial_key, default_partial))
    if not partial_rotary:
        if rope_type in ROPE_SCALING_TYPES and partial != 1.0:
            raise ConfigError(
                f"{model_type}: partial_rotary_factor={partial!r} with rope_type {rope_type!r}: transformers' "
                f"{model_type} class then builds frequencies for only part of each head but rotates the whole "
                f"head, and fails on its first forward pass (it ignores the factor only with default RoPE); "
                f"fix: remove partial_rotary_factor ({model_type} rotates the whole head), or use a family that "
                f"rotates part of it (phi3, stablelm, gpt_neox)"
            )
        partial = 1.0
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
