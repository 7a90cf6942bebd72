"""archsmith <-> HuggingFace model directories: ``from_hf``, ``to_hf`` and the CLI's ``export``.

An export directory holds what ``AutoModelForCausalLM.from_pretrained`` reads:
config.json (from :func:`plan_export`), model.safetensors (sharded with an index
when large) and generation_config.json, plus archsmith.json with the exact
ArchConfig and, for remote code, configuration_archsmith.py and modeling_archsmith.py.
The target is taken with :class:`archsmith.files.OutputDir`: written beside it and renamed
into place, so an interrupted export never leaves a half-written model behind and nothing
written into the target by anyone else is ever deleted without ``force``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..config import ArchConfig
from ..errors import ConfigError, InputError, LoadError, UnsupportedError
from ..files import OutputDir, os_failure
from ..jsonfile import read_json
from . import arcee, gemma2, mpt, opt, stablelm
from .checkpoint import DEFAULT_MAX_SHARD_BYTES, PICKLE, PICKLE_INDEX, SAFETENSORS, SAFETENSORS_INDEX
from .common import typo_problems
from .configs import SUPPORTED_MODEL_TYPES, from_hf_config
from .export_config import REMOTE_MODEL_TYPE, ExportPlan, plan_export
from .weights import LAYOUTS, REMOTE

if TYPE_CHECKING:
    import torch

    from ..model import Transformer

ARCHSMITH_FILE = "archsmith.json"
TOKEN_ID_KEYS = ("bos_token_id", "eos_token_id", "pad_token_id")
# A converted checkpoint keeps its tokenizer: these files travel with the weights.
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
    "vocab.json", "merges.txt", "added_tokens.json", "chat_template.jinja",
)  # fmt: skip
_DTYPES = {"float32": "float32", "fp32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16", "float16": "float16", "fp16": "float16"}


# --- reading ------------------------------------------------------------------------------------


# Classes archsmith exports to beyond the families hf/configs.py reads; read here so that
# every export imports back.
_EXPORT_ONLY_FAMILIES = {m.MODEL_TYPE: m for m in (gemma2, stablelm, arcee, mpt, opt)}


def importable_model_types() -> tuple[str, ...]:
    return tuple(t for t in SUPPORTED_MODEL_TYPES if t in LAYOUTS) + tuple(_EXPORT_ONLY_FAMILIES) + (REMOTE_MODEL_TYPE,)


def config_from_hf_dict(d: dict[str, Any]) -> ArchConfig:
    """The ArchConfig of any config.json that from_hf imports (remote-code exports included)."""
    model_type = d.get("model_type")
    if model_type == REMOTE_MODEL_TYPE:
        return ArchConfig.from_dict(d["archsmith"])
    family = _EXPORT_ONLY_FAMILIES.get(model_type)
    if family is None:
        return from_hf_config(d)
    typos = typo_problems(d, family.FIELDS, model_type)
    if typos:
        raise ConfigError(typos)
    return family.config_from_hf(d)


def read_hf_config(directory: Path) -> tuple[ArchConfig, str]:
    """The ArchConfig of an HF model directory's config.json and the weight layout to read."""
    path = directory / "config.json"
    if not path.is_file():
        raise LoadError(f"{directory} has no config.json; fix: point at a directory written by save_pretrained or archsmith export")
    d = read_json(path)
    model_type = d.get("model_type") if isinstance(d, dict) else None
    if model_type not in importable_model_types():
        raise UnsupportedError(
            f"{path}: model_type {model_type!r} cannot be imported; supported model types: "
            f"{', '.join(importable_model_types())}; fix: convert the model to one of these first"
        )
    return config_from_hf_dict(d), REMOTE if model_type == REMOTE_MODEL_TYPE else model_type


def _torch_dtype(dtype: Any) -> torch.dtype | None:
    import torch

    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ConfigError(f"dtype {dtype!r} is not supported; fix: use one of {', '.join(_DTYPES)}")
    return getattr(torch, _DTYPES[dtype])


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def from_hf(
    path: str | Path, device: Any = None, dtype: Any = None, allow_pickle: bool = False, progress: bool = False
) -> Transformer:
    """Load a local HF model directory (config.json + safetensors) into an archsmith model, in
    eval mode as transformers' ``from_pretrained`` returns it.

    ``dtype`` None keeps the checkpoint's own dtype, so import -> export -> import is bit
    for bit. Pickle checkpoints (pytorch_model.bin) are refused unless ``allow_pickle``.
    ``progress`` shows a bar on a terminal while a large checkpoint loads.
    """
    from ..model import build_model
    from .checkpoint import load_tensors
    from .weights import from_hf_state

    directory = Path(path)
    if not _is_dir(directory):
        raise LoadError(f"{directory} is not a directory; fix: give the directory that holds config.json and the weights")
    cfg, layout = read_hf_config(directory)
    hf = load_tensors(directory, allow_pickle, progress=progress)
    floating = Counter(t.dtype for t in hf.values() if t.is_floating_point())
    target = _torch_dtype(dtype) or (floating.most_common(1)[0][0] if floating else None)
    if target is not None:
        cfg = cfg.replace(torch_dtype=_dtype_name(target))
    model = build_model(cfg, device=device or "cpu", dtype=target)
    shapes = {n: tuple(t.shape) for n, t in model.state_dict().items()}
    state = from_hf_state(hf, cfg, layout, shapes)
    model.load_state_dict(state, strict=True)
    return model.eval()


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError as e:  # e.g. a name longer than the file system allows
        raise os_failure(e, f"reading {path}") from None


# --- writing ------------------------------------------------------------------------------------


def _generation_config(config: dict[str, Any]) -> dict[str, Any]:
    return {
        "_from_model_config": True,
        "bos_token_id": config.get("bos_token_id"),
        "eos_token_id": config.get("eos_token_id"),
        "pad_token_id": config.get("pad_token_id"),
        "transformers_version": config["transformers_version"],
    }


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def to_hf(
    model: Transformer,
    path: str | Path,
    dtype: Any = None,
    force: bool = False,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    progress: bool = False,
    token_ids: dict[str, Any] | None = None,
    copy_files: Sequence[Path] = (),
) -> ExportPlan:
    """Write ``model`` as an HF model directory loadable by ``AutoModelForCausalLM.from_pretrained``
    (with ``trust_remote_code=True`` when the plan says remote code). Returns the plan.

    ``token_ids`` (bos/eos/pad_token_id) go into config.json and generation_config.json;
    ``copy_files`` (e.g. a converted checkpoint's tokenizer files) are copied alongside.
    ``progress`` shows a bar on a terminal while a large model is written.
    """
    return _write_hf(model, OutputDir(path, force), dtype, max_shard_bytes, progress, token_ids, copy_files)


def _write_hf(
    model: Transformer,
    out: OutputDir,
    dtype: Any,
    max_shard_bytes: int,
    progress: bool,
    token_ids: dict[str, Any] | None,
    copy_files: Sequence[Path],
) -> ExportPlan:
    from .checkpoint import first_nonfinite, save_tensors
    from .weights import to_hf_state

    state = model.state_dict()
    bad = first_nonfinite(state)
    if bad is not None:
        raise InputError(
            f"weight {bad} of the model holds NaN or inf, which no checkpoint should carry; "
            "fix: find where training or editing diverged and export a finite model"
        )
    export_dtype = _torch_dtype(dtype) or next(iter(state.values())).dtype
    cfg = model.config.replace(torch_dtype=_dtype_name(export_dtype))
    plan = plan_export(cfg)
    if token_ids:
        plan = dataclasses.replace(plan, config={**plan.config, **token_ids})
    tensors = to_hf_state({n: t.detach().to("cpu", export_dtype) for n, t in state.items()}, cfg, REMOTE if plan.remote_code else plan.model_type)

    with out.write() as staging:
        _write_json(staging / "config.json", plan.config)
        _write_json(staging / "generation_config.json", _generation_config(plan.config))
        _write_json(staging / ARCHSMITH_FILE, cfg.to_dict())
        if plan.remote_code:
            from .remote import write_remote_code

            write_remote_code(staging)
        for extra in copy_files:
            shutil.copyfile(extra, staging / extra.name)
        save_tensors(tensors, staging, max_shard_bytes, progress=f"writing {out.target.name}" if progress else None)
    return plan


def _is_hf_checkpoint(path: Path) -> bool:
    weights = (SAFETENSORS, SAFETENSORS_INDEX, PICKLE, PICKLE_INDEX)
    try:
        return path.is_dir() and (path / "config.json").is_file() and any((path / w).is_file() for w in weights)
    except OSError as e:  # e.g. a name longer than the file system allows
        raise os_failure(e, f"reading {path}") from None


def export(
    source: str | Path,
    outdir: str | Path,
    dtype: Any = None,
    seed: int = 0,
    force: bool = False,
    allow_pickle: bool = False,
    progress: bool = True,
) -> ExportPlan:
    """``archsmith export``: an HF directory with weights is converted; anything else that
    ``load_config`` reads (preset, archsmith JSON, HF config) is built with random weights
    from ``seed``. The returned plan's reason says which path was taken and why.
    ``progress`` shows bars on a terminal while a large checkpoint is read and written."""
    import torch

    from ..loading import load_config
    from ..model import build_model

    out = OutputDir(outdir, force)  # refuse before spending time on a big model
    source_path = Path(source)
    token_ids, copy_files = None, []
    if _is_hf_checkpoint(source_path):
        model = from_hf(source_path, dtype=dtype, allow_pickle=allow_pickle, progress=progress)
        source_config = read_json(source_path / "config.json")
        token_ids = {k: source_config[k] for k in TOKEN_ID_KEYS if k in source_config}
        copy_files = [source_path / f for f in TOKENIZER_FILES if (source_path / f).is_file()]
        origin = f"Converted the weights of {source_path}."
    else:
        cfg = load_config(source)
        torch.manual_seed(seed)
        # Without --dtype, the dtype the config says its weights are meant for.
        model = build_model(cfg, device="cpu", dtype=_torch_dtype(dtype or cfg.torch_dtype) or torch.float32)
        model.init_weights()
        origin = f"{source} has no weights, so the export holds random weights (init_weights, seed {seed})."
    plan = _write_hf(model, out, dtype, DEFAULT_MAX_SHARD_BYTES, progress, token_ids, copy_files)
    return dataclasses.replace(plan, reason=f"{origin} {plan.reason}")
