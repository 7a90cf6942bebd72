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
from ..hub import download_checkpoint, parse_hub_id
from ..files import OutputDir, os_failure
from ..progress import working
from ..sizing import count_params
from .checkpoint import DEFAULT_MAX_SHARD_BYTES, PICKLE, PICKLE_INDEX, SAFETENSORS, SAFETENSORS_INDEX
from .configs import SUPPORTED_MODEL_TYPES, from_hf_config
from ..dtypes import canonical_dtype, torch_dtype_name
from ..jsonfile import read_json
from .export_config import REMOTE_MODEL_TYPE, ExportPlan, plan_export
from .weights import REMOTE

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
EXPORT_DTYPES = ("fp32", "bf16", "fp16")  # what safetensors exports here are written in (dtypes.py names)


# --- reading ------------------------------------------------------------------------------------


def importable_model_types() -> tuple[str, ...]:
    return SUPPORTED_MODEL_TYPES + (REMOTE_MODEL_TYPE,)


def read_hf_config(directory: Path) -> tuple[ArchConfig, str]:
    """The ArchConfig of an HF model directory's config.json and the weight layout to read."""
    path = directory / "config.json"
    if not path.is_file():
        raise LoadError(f"{directory} has no config.json; fix: point at a directory written by save_pretrained or archsmith export")
    d = read_json(path)
    model_type = d.get("model_type") if isinstance(d, dict) else None
    if not isinstance(model_type, str) or model_type not in importable_model_types():
        raise UnsupportedError(
            f"{path}: model_type {model_type!r} cannot be imported; supported model types: "
            f"{', '.join(importable_model_types())}; fix: convert the model to one of these first"
        )
    try:
        cfg = from_hf_config(d)
    except ConfigError as e:
        raise ConfigError([f"{path}: {p}" for p in e.problems]) from None
    return cfg, REMOTE if model_type == REMOTE_MODEL_TYPE else model_type


def _torch_dtype(dtype: Any) -> torch.dtype | None:
    import torch

    if dtype is None:
        return None
    return getattr(torch, torch_dtype_name(canonical_dtype(dtype, allowed=EXPORT_DTYPES)))


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def from_hf(
    path: str | Path, device: Any = None, dtype: Any = None, allow_pickle: bool = False, progress: bool = False
) -> Transformer:
    """Load an HF model directory (config.json + safetensors) into an archsmith model, in eval mode as
    transformers' ``from_pretrained`` returns it; ``path`` may also be a Hub id, ``org/name`` or
    ``org/name@revision``, whose files are downloaded first.

    ``dtype`` None keeps the checkpoint's own dtype, so import -> export -> import is bit
    for bit. Pickle checkpoints (pytorch_model.bin) are refused (and, from the Hub, not
    downloaded) unless ``allow_pickle``. ``progress`` shows a bar on a terminal while a large
    checkpoint loads.
    """
    directory = _checkpoint_directory(path, allow_pickle)  # before importing torch: a bad id fails fast
    from ..model import build_model
    from .checkpoint import load_tensors
    from .weights import from_hf_state

    if not _is_dir(directory):
        raise LoadError(f"{directory} is not a directory; fix: give the directory that holds config.json and the weights, "
                        "or a Hub id (org/name)")
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


def _refuse_meta(model: Any) -> None:
    """A model built on the meta device has shapes but no values: there is nothing to write."""
    if any(p.is_meta for p in model.parameters()):
        raise InputError(
            "the model is on the meta device (shapes without weights), so there are no weights to export; "
            "fix: model.to_empty(device='cpu'); model.init_weights(), or load weights first"
        )


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

    _refuse_meta(model)
    state = model.state_dict()
    bad = first_nonfinite(state)
    if bad is not None:
        raise InputError(
            f"weight {bad} of the model holds NaN or inf, which no checkpoint should carry; "
            "fix: find where training or editing diverged and export a finite model"
        )
    plan, cfg, export_dtype = export_plan(model, dtype, token_ids)
    tensors = to_hf_state({n: t.detach().to("cpu", export_dtype) for n, t in state.items()}, cfg, weight_layout(plan))

    with out.write() as staging:
        write_export_files(staging, plan, cfg, copy_files)
        save_tensors(tensors, staging, max_shard_bytes, progress=f"writing {out.target.name}" if progress else None)
    return plan


def export_plan(model: Transformer, dtype: Any, token_ids: dict[str, Any] | None = None) -> tuple[ExportPlan, ArchConfig, Any]:
    """What exporting ``model`` in ``dtype`` (None: its own) writes: the plan, the config with
    that dtype, and the dtype."""
    export_dtype = _torch_dtype(dtype) or next(model.parameters()).dtype
    cfg = model.config.replace(torch_dtype=_dtype_name(export_dtype))
    plan = plan_export(cfg)
    if token_ids:
        plan = dataclasses.replace(plan, config={**plan.config, **token_ids})
    return plan, cfg, export_dtype


def weight_layout(plan: ExportPlan) -> str:
    """The weights.py layout an export plan writes (remote code keeps archsmith's own names)."""
    return REMOTE if plan.remote_code else plan.model_type


def write_export_files(staging: Path, plan: ExportPlan, cfg: ArchConfig, copy_files: Sequence[Path] = ()) -> None:
    """Everything of an export but the weights: config.json, generation_config.json,
    archsmith.json, remote code when the plan needs it, and ``copy_files``."""
    _write_json(staging / "config.json", plan.config)
    _write_json(staging / "generation_config.json", _generation_config(plan.config))
    _write_json(staging / ARCHSMITH_FILE, cfg.to_dict())
    if plan.remote_code:
        from .remote import write_remote_code

        write_remote_code(staging)
    for extra in copy_files:
        shutil.copyfile(extra, staging / extra.name)


def _checkpoint_directory(
    source: str | Path, allow_pickle: bool, extra_files: Sequence[str] = (), progress: bool = True
) -> Path:
    """``source`` as a local path; or, when no such path exists and it reads as a Hub id, the
    snapshot directory that huggingface_hub downloads it into (see ``archsmith.hub``)."""
    path = Path(source)
    try:
        exists = path.exists()
    except OSError as e:  # e.g. a name longer than the file system allows
        raise os_failure(e, f"reading {path}") from None
    hub = parse_hub_id(source) if isinstance(source, str) and not exists else None
    return path if hub is None else download_checkpoint(hub, allow_pickle, extra_files, progress)


def _is_hf_checkpoint(path: Path) -> bool:
    weights = (SAFETENSORS, SAFETENSORS_INDEX, PICKLE, PICKLE_INDEX)
    try:
        # Any entry by a weight file's name counts (a broken link too): loading then says what is wrong with
        # it, rather than exporting random weights as if the directory held none.
        return path.is_dir() and (path / "config.json").is_file() and any(
            (path / w).is_symlink() or (path / w).exists() for w in weights)
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
    """``archsmith export``: an HF directory with weights, or a Hub id (whose config, weights and
    tokenizer files are downloaded), is converted; anything else that ``load_config`` reads
    (preset, archsmith JSON, HF config) is built with random weights from ``seed``. The
    returned plan's reason says which path was taken and why. ``progress`` shows bars on a
    terminal while a large checkpoint is read and written."""
    from ..loading import load_config
    from ..presets import PRESETS

    out = OutputDir(outdir, force)  # refuse before spending time on a big model
    source_path = _checkpoint_directory(source, allow_pickle, TOKENIZER_FILES, progress)
    import torch  # after the download, so that a bad Hub id is reported without waiting for torch

    from ..model import build_model

    token_ids, copy_files = None, []
    if source not in PRESETS and _is_hf_checkpoint(source_path):  # a preset wins, as in load_config
        model = from_hf(source_path, dtype=dtype, allow_pickle=allow_pickle, progress=progress)
        source_config = read_json(source_path / "config.json")
        token_ids = {k: source_config[k] for k in TOKEN_ID_KEYS if k in source_config}
        copy_files = [source_path / f for f in TOKENIZER_FILES if (source_path / f).is_file()]
        origin = f"Converted the weights of {source}."
    else:
        cfg = load_config(source)
        torch.manual_seed(seed)
        # Without --dtype, the dtype the config says its weights are meant for, if an export can hold it.
        if dtype is None and cfg.torch_dtype is not None:
            try:
                canonical_dtype(cfg.torch_dtype, allowed=EXPORT_DTYPES)
            except ConfigError:
                raise ConfigError(
                    f"{source}: its torch_dtype={cfg.torch_dtype!r} is not one an export is written in "
                    f"({', '.join(EXPORT_DTYPES)}); fix: pass --dtype bf16 (or fp32, fp16)"
                ) from None
        init_dtype = _torch_dtype(dtype or cfg.torch_dtype) or torch.float32
        params = count_params(cfg).total
        with working(f"initialising {params:,} random weights" if progress else None,
                     params * torch.finfo(init_dtype).bits // 8):
            model = build_model(cfg, device="cpu", dtype=init_dtype)  # build_model initialises the weights
        origin = f"{source} has no weights, so the export holds random weights (init_weights, seed {seed})."
    plan = _write_hf(model, out, dtype, DEFAULT_MAX_SHARD_BYTES, progress, token_ids, copy_files)
    return dataclasses.replace(plan, reason=f"{origin} {plan.reason}")
