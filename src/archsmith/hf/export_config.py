"""Choose the HuggingFace class that expresses an ArchConfig exactly, and write its config.json.

The candidates are the registered families (registry.py), tried in ``export_rank`` order.
Each family's declaration (families/<model_type>.py) says what its modeling file in
transformers hard-codes (``facts``: the only value of a field the class can run), what one
key ties together (e.g. Llama's single ``attention_bias`` sets q/k/v *and* o) and its other
``checks``. The first candidate with no problem wins; when none fits, the model is exported
as remote code (a self-contained modeling file next to the weights), never approximated.

The facts were read from transformers 5.x ``models/<family>/modeling_*.py`` and are
checked by tests/test_hf_parity.py, which compares logits of both implementations.

Pure Python, no torch: the designer calls :func:`plan_export` to tell a user which
class a design will load as.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import metadata
from typing import Any

from ..config import ArchConfig
from .registry import FAMILIES

REMOTE_ARCHITECTURE = "ArchsmithForCausalLM"
REMOTE_MODEL_TYPE = "archsmith"


@dataclass(frozen=True)
class ExportPlan:
    """How a config will be exported: which class, the config.json content, and why."""

    architecture: str  # e.g. "LlamaForCausalLM", or "ArchsmithForCausalLM" for remote code
    model_type: str  # "llama", ..., or "archsmith"
    config: dict  # the complete config.json content
    remote_code: bool
    reason: str  # why this class / path was chosen, in one or two sentences


def _transformers_version() -> str:
    try:
        return metadata.version("transformers")
    except metadata.PackageNotFoundError:  # export works without transformers installed
        return "5.0.0"


def _dtype(cfg: ArchConfig) -> str:
    return cfg.torch_dtype or "float32"


def _common(cfg: ArchConfig, architecture: str, model_type: str) -> dict[str, Any]:
    dtype = _dtype(cfg)
    return {
        "architectures": [architecture],
        "model_type": model_type,
        "torch_dtype": dtype,  # 4.x name
        "dtype": dtype,  # 5.x name
        "transformers_version": _transformers_version(),
        "use_cache": True,
        "bos_token_id": None,
        "eos_token_id": None,
        "pad_token_id": None,
    }


def _describe(cfg: ArchConfig) -> str:
    norm = f"{cfg.norm_scheme}-{'RMSNorm' if cfg.norm_type == 'rmsnorm' else 'LayerNorm'}"
    mlp = f"{cfg.mlp_type} {cfg.hidden_act} MLP"
    pos = {"rope": "RoPE", "alibi": "ALiBi", "learned": "learned positions", "none": "no positions"}[cfg.position_embedding]
    return f"{norm}, {mlp}, {pos}, {cfg.attention_kind}"


def remote_config(cfg: ArchConfig) -> dict[str, Any]:
    """config.json of a remote-code export: the whole ArchConfig under "archsmith", plus the
    keys that transformers itself reads (generation, cache sizing)."""
    return {
        **_common(cfg, REMOTE_ARCHITECTURE, REMOTE_MODEL_TYPE),
        "auto_map": {
            "AutoConfig": "configuration_archsmith.ArchsmithConfig",
            "AutoModelForCausalLM": "modeling_archsmith.ArchsmithForCausalLM",
        },
        "archsmith": {**cfg.to_dict(), "torch_dtype": _dtype(cfg)},
        "vocab_size": cfg.vocab_size,
        "hidden_size": cfg.hidden_size,
        "num_hidden_layers": cfg.num_hidden_layers,
        "num_attention_heads": cfg.num_attention_heads,
        "num_key_value_heads": cfg.num_key_value_heads,
        "head_dim": cfg.head_dim,
        "max_position_embeddings": cfg.max_position_embeddings,
        "tie_word_embeddings": cfg.tie_word_embeddings,
    }


def plan_export(cfg: ArchConfig) -> ExportPlan:
    """The HF class that runs ``cfg`` exactly, or remote code when none does."""
    rejected = []
    for family in FAMILIES:
        problems = family.export_problems(cfg)
        if not problems:
            config = {**_common(cfg, family.architecture, family.model_type), **family.hf_config(cfg)}
            reason = (
                f"{family.architecture} runs this architecture ({_describe(cfg)}) exactly: every archsmith field "
                f"maps onto a {family.model_type} config key or is what its modeling code hard-codes."
            )
            reason += family.note(cfg)
            if rejected:  # say why the more common classes before it did not fit
                _, arch, problems = rejected[0]
                reason += f" ({arch} cannot express {', '.join(problems[:2])}.)"
            return ExportPlan(family.architecture, family.model_type, config, False, reason)
        rejected.append((len(problems), family.architecture, problems))
    _, closest, problems = min(rejected, key=lambda r: r[0])
    reason = (
        f"No transformers class runs this architecture ({_describe(cfg)}) exactly (the closest, {closest}, cannot "
        f"express {', '.join(problems[:3])}), so it is exported with self-contained remote code: load it with "
        "trust_remote_code=True."
    )
    return ExportPlan(REMOTE_ARCHITECTURE, REMOTE_MODEL_TYPE, remote_config(cfg), True, reason)
