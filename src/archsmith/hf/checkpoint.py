"""Read and write HuggingFace weight files: safetensors (single or sharded), pickle only on request.

A checkpoint is a flat ``{name: tensor}`` dict. Reading checks every safetensors
header against the file before touching the data, so a truncated download or a
corrupt file is reported by file and tensor name instead of as a torch or Rust
error. Writing shards above ``max_shard_bytes`` with the ``model.safetensors.index.json``
that ``from_pretrained`` expects.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable

from ..errors import LoadError

if TYPE_CHECKING:
    import torch

SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
PICKLE = "pytorch_model.bin"
PICKLE_INDEX = "pytorch_model.bin.index.json"
DEFAULT_MAX_SHARD_BYTES = 5 * 1024**3  # transformers' own default shard size (5 GB)

# Bytes per element of each safetensors dtype code.
_DTYPE_BYTES = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
    "F8_E4M3": 1, "F8_E5M2": 1,
}  # fmt: skip
_HEADER_LIMIT = 100 * 1024**2  # safetensors' own cap on the JSON header


# --- reading ------------------------------------------------------------------------------------


def weight_files(directory: Path, allow_pickle: bool = False) -> list[Path]:
    """The weight files of an HF model directory, safetensors preferred.

    A pickle checkpoint can run code when unpickled, so it is refused unless the
    caller opts in (and is then read with ``torch.load(weights_only=True)``).
    """
    if (directory / SAFETENSORS_INDEX).is_file():
        return _files_from_index(directory, SAFETENSORS_INDEX)
    if (directory / SAFETENSORS).is_file():
        return [directory / SAFETENSORS]
    pickles = [directory / PICKLE] if (directory / PICKLE).is_file() else []
    if (directory / PICKLE_INDEX).is_file():
        pickles = _files_from_index(directory, PICKLE_INDEX)
    if pickles and not allow_pickle:
        raise LoadError(
            f"{directory} holds only a pickle checkpoint ({pickles[0].name}), which can run arbitrary code "
            "when loaded; fix: convert it to safetensors, or pass allow_pickle=True (CLI: --allow-pickle) "
            "if you trust its source (it is then read with torch.load(weights_only=True))"
        )
    if pickles:
        return pickles
    raise LoadError(
        f"{directory} has no weights ({SAFETENSORS}, {SAFETENSORS_INDEX} or {PICKLE}); "
        "fix: point at a directory written by save_pretrained or archsmith export"
    )


def _files_from_index(directory: Path, index_name: str) -> list[Path]:
    index = directory / index_name
    try:
        weight_map = json.loads(index.read_text())["weight_map"]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise LoadError(f"{index} is not a valid shard index ({e}); fix: re-export or re-download it") from None
    files = []
    for name in sorted(set(weight_map.values())):
        path = directory / name
        if not path.is_file():
            tensor = next(t for t, f in weight_map.items() if f == name)
            raise LoadError(f"{index} maps {tensor} to {name}, which is missing; fix: download every shard")
        files.append(path)
    return files


def read_safetensors_header(path: Path) -> dict[str, dict]:
    """The tensor entries of a safetensors file, each checked against the file's size."""
    size = path.stat().st_size
    with path.open("rb") as f:
        prefix = f.read(8)
        if len(prefix) < 8:
            raise LoadError(f"{path} is truncated ({size} bytes, no header); fix: re-export or re-download it")
        (header_len,) = struct.unpack("<Q", prefix)
        if header_len > min(_HEADER_LIMIT, size - 8):
            raise LoadError(
                f"{path} is truncated or not a safetensors file (header of {header_len} bytes in a file of {size}); "
                "fix: re-export or re-download it"
            )
        try:
            header = json.loads(f.read(header_len))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise LoadError(f"{path} has a corrupt header; fix: re-export or re-download it") from None
    if not isinstance(header, dict):
        raise LoadError(f"{path} has a corrupt header; fix: re-export or re-download it")
    header.pop("__metadata__", None)
    data_size = size - 8 - header_len
    for name, entry in header.items():
        _check_entry(path, name, entry, data_size)
    return header


def _check_entry(path: Path, name: str, entry: object, data_size: int) -> None:
    try:
        dtype, shape, (start, end) = entry["dtype"], entry["shape"], entry["data_offsets"]  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        raise LoadError(f"{path}: tensor {name} has a corrupt header entry; fix: re-export or re-download it") from None
    if dtype not in _DTYPE_BYTES:
        raise LoadError(f"{path}: tensor {name} has unknown dtype {dtype!r}; fix: re-export it as float32 or bfloat16")
    count = 1
    for dim in shape:
        count *= dim
    if end - start != count * _DTYPE_BYTES[dtype] or start < 0:
        raise LoadError(f"{path}: tensor {name} has a corrupt header (shape {shape} does not match its byte range)")
    if end > data_size:
        raise LoadError(
            f"{path} is truncated: tensor {name} needs bytes up to {end} but the file holds {data_size}; "
            "fix: re-export or re-download it"
        )


def load_tensors(directory: Path, allow_pickle: bool = False) -> dict[str, torch.Tensor]:
    """Every tensor of an HF model directory, on CPU, in its stored dtype."""
    import torch
    from safetensors.torch import load_file

    tensors: dict[str, torch.Tensor] = {}
    for path in weight_files(directory, allow_pickle):
        if path.suffix == ".safetensors":
            read_safetensors_header(path)
            part = load_file(str(path))
        else:
            try:
                part = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as e:  # unpickling errors come in many types
                raise LoadError(f"{path} could not be read as a weights-only checkpoint ({e}); fix: convert it to safetensors") from None
        duplicates = tensors.keys() & part.keys()
        if duplicates:
            raise LoadError(f"tensor {sorted(duplicates)[0]} appears in two weight files; fix: re-export the checkpoint")
        tensors.update(part)
    return tensors


# --- writing ------------------------------------------------------------------------------------


def _shards(tensors: dict[str, torch.Tensor], max_shard_bytes: int) -> list[list[str]]:
    """Tensor names grouped into shards in order, each shard at most ``max_shard_bytes``
    (a single tensor larger than that gets a shard of its own)."""
    shards: list[list[str]] = [[]]
    size = 0
    for name, t in tensors.items():
        nbytes = t.numel() * t.element_size()
        if shards[-1] and size + nbytes > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes
    return shards


def save_tensors(
    tensors: dict[str, torch.Tensor],
    directory: Path,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    progress: Callable[[list], Iterable] | None = None,
) -> list[Path]:
    """Write ``tensors`` as model.safetensors, or as shards plus an index when they exceed
    ``max_shard_bytes``. ``progress(names)`` may wrap the shard loop to show a bar."""
    from safetensors.torch import save_file

    shards = _shards(tensors, max_shard_bytes)
    files = [SAFETENSORS] if len(shards) == 1 else [
        f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))
    ]  # fmt: skip
    steps = zip(files, shards)
    if progress is not None:
        steps = progress(list(steps))
    for filename, names in steps:
        # safetensors refuses views into shared storage; contiguous copies keep every byte.
        save_file({n: tensors[n].contiguous() for n in names}, str(directory / filename), metadata={"format": "pt"})
    if len(shards) > 1:
        index = {
            "metadata": {"total_size": sum(t.numel() * t.element_size() for t in tensors.values())},
            "weight_map": {n: f for f, names in zip(files, shards) for n in names},
        }
        (directory / SAFETENSORS_INDEX).write_text(json.dumps(index, indent=2) + "\n")
    return [directory / f for f in files]
