"""Read and write HuggingFace weight files: safetensors (single or sharded), pickle only on request.

A checkpoint is a flat ``{name: tensor}`` dict. Reading checks every safetensors
header against the file before touching the data (the checks the safetensors library
makes, done here first), so a truncated download or a corrupt or hostile file is
reported by file and tensor name instead of as a torch or Rust error. A shard index may
only name files inside the model directory, and only safetensors files unless pickles
are allowed. Weights that are NaN or inf are refused. Writing shards above ``max_shard_bytes`` with the ``model.safetensors.index.json``
that ``from_pretrained`` expects.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LoadError
from ..files import os_failure, usable_name
from ..jsonfile import read_json
from ..progress import byte_progress

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
_MAX_DIM = 2**63 - 1  # safetensors reads sizes and offsets as 64-bit integers
_REDOWNLOAD = "fix: re-export or re-download it"


# --- reading ------------------------------------------------------------------------------------


def weight_files(directory: Path, allow_pickle: bool = False) -> list[Path]:
    """The weight files of an HF model directory, safetensors preferred.

    A pickle checkpoint can run code when unpickled, so it is refused unless the
    caller opts in (and is then read with ``torch.load(weights_only=True)``).
    """
    for name in (SAFETENSORS_INDEX, SAFETENSORS, PICKLE_INDEX, PICKLE):
        path = directory / name
        if path.is_symlink() or path.exists():  # a dangling link, a directory or a FIFO is no weight file
            if not path.is_file():
                raise LoadError(f"{path} is there but is not a readable file (a broken link, a directory or a "
                                f"device); fix: {_REDOWNLOAD}")
    if (directory / SAFETENSORS_INDEX).is_file():
        return _files_from_index(directory, SAFETENSORS_INDEX, allow_pickle)
    if (directory / SAFETENSORS).is_file():
        return [_inside(directory, SAFETENSORS, str(directory / SAFETENSORS))]
    pickles = [_inside(directory, PICKLE, str(directory / PICKLE))] if (directory / PICKLE).is_file() else []
    if (directory / PICKLE_INDEX).is_file():
        pickles = _files_from_index(directory, PICKLE_INDEX, allow_pickle=True)  # refused just below
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


def _files_from_index(directory: Path, index_name: str, allow_pickle: bool) -> list[Path]:
    index = directory / index_name
    data = read_json(index)
    weight_map = data.get("weight_map") if isinstance(data, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(f, str) for f in weight_map.values()):
        raise LoadError(
            f"{index} is not a valid shard index (its weight_map must map each tensor name to a file name); "
            f"{_REDOWNLOAD}"
        )
    files = {}
    for tensor, name in weight_map.items():
        if name not in files:
            files[name] = _shard(directory, index, tensor, name, allow_pickle)
    return [files[name] for name in sorted(files)]


def _shard(directory: Path, index: Path, tensor: str, name: str, allow_pickle: bool) -> Path:
    """The file an index entry names, refused unless it is a safetensors file (or pickles are
    allowed) inside the model directory."""
    entry = f"{index} maps {tensor} to {name!r}"
    path = _inside(directory, name, entry)
    if not name.endswith(".safetensors") and not allow_pickle:
        raise LoadError(
            f"{entry}, which is not a safetensors file and may be a pickle that runs code when loaded; "
            "fix: convert the checkpoint to safetensors, or pass allow_pickle=True (CLI: --allow-pickle) if you "
            "trust its source (it is then read with torch.load(weights_only=True))"
        )
    try:
        present = path.is_file()
    except OSError as e:  # e.g. a name longer than the file system allows
        raise os_failure(e, f"reading {path}") from None
    if not present:
        raise LoadError(f"{index} maps {tensor} to {name}, which is missing; fix: download every shard")
    return path


def _inside(directory: Path, name: str, entry: str) -> Path:
    """``directory / name``, refused unless it resolves inside ``directory`` (a shard path must never
    reach another checkpoint or a system file). Symlinks into the HuggingFace cache's blob store
    are inside: a snapshot directory is made of them."""
    refuse = LoadError(
        f"{entry}, which is outside the model directory {directory}; weight files must lie in that directory; "
        "fix: re-download the checkpoint from a source you trust"
    )
    if not usable_name(name):
        raise LoadError(f"{entry}, which cannot be a file name (a NUL byte or an unencodable character); {_REDOWNLOAD}")
    if Path(name).is_absolute() or ".." in Path(name).parts:
        raise refuse
    try:
        resolved = (directory / name).resolve()
        home = directory.resolve()
    except OSError as e:
        raise os_failure(e, f"reading {directory / name}") from None
    except RuntimeError:  # what Path.resolve raises on a symlink loop before Python 3.13
        raise LoadError(f"{entry}, which is a symlink loop; {_REDOWNLOAD}") from None
    roots = [home]
    if home.parent.name == "snapshots":  # <cache>/models--org--name/snapshots/<revision>
        roots.append(home.parent.parent / "blobs")
    if not any(resolved.is_relative_to(root) for root in roots):
        raise refuse
    return directory / name


def read_safetensors_header(path: Path) -> dict[str, dict]:
    """The tensor entries of a safetensors file, checked as the safetensors library checks them:
    known dtypes, non-negative integer shapes, byte ranges that match the shapes and tile the data
    exactly (no overlap, no gap, nothing appended)."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            prefix = f.read(8)
            if len(prefix) < 8:
                raise LoadError(f"{path} is truncated ({size} bytes, no header); {_REDOWNLOAD}")
            (header_len,) = struct.unpack("<Q", prefix)
            if header_len > min(_HEADER_LIMIT, size - 8):
                raise LoadError(
                    f"{path} is truncated or not a safetensors file (header of {header_len} bytes in a file of {size}); "
                    f"{_REDOWNLOAD}"
                )
            raw = f.read(header_len)
    except OSError as e:
        raise os_failure(e, f"reading {path}") from None
    header = _parse_header(path, raw)
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise LoadError(f"{path} has a corrupt header (__metadata__ must map names to strings); {_REDOWNLOAD}")
    ranges = sorted((_check_entry(path, name, entry), name) for name, entry in header.items())
    _check_tiling(path, ranges, size - 8 - header_len)
    return header


def _parse_header(path: Path, raw: bytes) -> dict:
    def no_constants(name: str):  # NaN and Infinity are not JSON; safetensors refuses them
        raise ValueError(name)

    try:
        header = json.loads(raw.decode("utf-8"), parse_constant=no_constants)
    except (UnicodeDecodeError, ValueError, RecursionError):  # ValueError covers JSONDecodeError and huge ints
        header = None
    if not raw.startswith(b"{") or not isinstance(header, dict):
        raise LoadError(f"{path} has a corrupt header (not a JSON object); {_REDOWNLOAD}")
    return header


def _is_size(value: object) -> bool:
    return type(value) is int and 0 <= value <= _MAX_DIM  # bool is a subclass of int, and refused


def _check_entry(path: Path, name: str, entry: object) -> tuple[int, int]:
    """The byte range of one tensor entry, after checking it against its dtype and shape."""
    corrupt = f"{path}: tensor {name} has a corrupt header entry"
    # Other keys are ignored, as the safetensors library ignores them.
    if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= entry.keys():
        raise LoadError(f"{corrupt} (it needs dtype, shape and data_offsets); {_REDOWNLOAD}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str) or dtype not in _DTYPE_BYTES:
        raise LoadError(f"{path}: tensor {name} has unknown dtype {dtype!r}; fix: re-export it as float32 or bfloat16")
    if not isinstance(shape, list) or not all(_is_size(d) for d in shape):
        raise LoadError(f"{corrupt} (shape {shape!r} is not a list of non-negative integers); {_REDOWNLOAD}")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_is_size(o) for o in offsets):
        raise LoadError(f"{corrupt} (data_offsets {offsets!r} is not two non-negative integers); {_REDOWNLOAD}")
    count, nonzero = 1, 1
    for dim in shape:
        count *= dim
        nonzero *= dim or 1
    if nonzero > _MAX_DIM:  # even an empty tensor: its strides (torch) or running product (safetensors) overflow
        raise LoadError(f"{corrupt} (shape {shape} is too large for any tensor); {_REDOWNLOAD}")
    start, end = offsets
    if end - start != count * _DTYPE_BYTES[dtype]:
        raise LoadError(f"{path}: tensor {name} has a corrupt header (shape {shape} does not match its byte range); {_REDOWNLOAD}")
    return start, end


def _check_tiling(path: Path, ranges: list[tuple[tuple[int, int], str]], data_size: int) -> None:
    """Tensors sorted by offset must follow each other with no overlap or gap and end where the file does."""
    position = 0
    for (start, end), name in ranges:
        if start != position:
            what = "overlaps the tensor before it" if start < position else f"leaves a gap of {start - position} bytes before it"
            raise LoadError(f"{path}: tensor {name} {what} (bytes {start}..{end}); {_REDOWNLOAD}")
        position = end
    if position > data_size:
        name = ranges[-1][1]
        raise LoadError(
            f"{path} is truncated: tensor {name} needs bytes up to {position} but the file holds {data_size}; "
            f"{_REDOWNLOAD}"
        )
    if position < data_size:
        raise LoadError(f"{path} has {data_size - position} bytes after its last tensor; {_REDOWNLOAD}")


def load_tensors(directory: Path, allow_pickle: bool = False, progress: bool = False) -> dict[str, torch.Tensor]:
    """Every tensor of an HF model directory, on CPU, in its stored dtype. ``progress`` shows a
    bar on a terminal while a large checkpoint loads."""
    files = weight_files(directory, allow_pickle)
    tensors: dict[str, torch.Tensor] = {}
    sizes = {path: path.stat().st_size for path in files}
    with byte_progress(f"loading {directory.name}" if progress else None, sum(sizes.values())) as advance:
        for path in files:
            part = _read_weight_file(path)
            bad = first_nonfinite(part)
            if bad is not None:
                raise LoadError(f"{path}: tensor {bad} holds NaN or inf; fix: use a checkpoint whose weights are finite")
            duplicates = tensors.keys() & part.keys()
            if duplicates:
                raise LoadError(f"tensor {sorted(duplicates)[0]} appears in two weight files; fix: re-export the checkpoint")
            tensors.update(part)
            advance(sizes[path])
    return tensors


def _read_weight_file(path: Path) -> dict[str, torch.Tensor]:
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if path.suffix == ".safetensors":
        read_safetensors_header(path)
        try:
            return load_file(str(path))
        except (SafetensorError, OSError, RuntimeError) as e:  # what our header checks could not foresee (torch: RuntimeError)
            raise LoadError(f"{path} could not be read as safetensors ({e}); {_REDOWNLOAD}") from None
    try:
        part = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors come in many types
        raise LoadError(f"{path} could not be read as a weights-only checkpoint ({e}); fix: convert it to safetensors") from None
    if not isinstance(part, dict) or not all(isinstance(n, str) and isinstance(t, torch.Tensor) for n, t in part.items()):
        raise LoadError(f"{path} is not a dict of named tensors; fix: convert the checkpoint to safetensors")
    return part


def first_nonfinite(tensors: dict[str, torch.Tensor]) -> str | None:
    """The name of the first floating tensor holding NaN or inf, or None."""
    import torch

    for name, t in tensors.items():
        if t.is_floating_point():
            # torch has no isfinite for every 8-bit float; those are small enough to widen.
            values = t.float() if t.element_size() == 1 else t
            if not torch.isfinite(values).all():
                return name
    return None


# --- writing ------------------------------------------------------------------------------------


def _shards(tensors: dict[str, torch.Tensor], max_shard_bytes: int) -> list[list[str]]:
    """Tensor names grouped into shards in order, each shard at most ``max_shard_bytes``
    (a single tensor larger than that gets a shard of its own)."""
    shards: list[list[str]] = [[]]
    size = 0
    for name, t in tensors.items():
        if shards[-1] and size + nbytes(t) > max_shard_bytes:
            shards.append([])
            size = 0
        shards[-1].append(name)
        size += nbytes(t)
    return shards


def shard_files(tensors: dict[str, torch.Tensor], max_shard_bytes: int) -> list[tuple[str, list[str]]]:
    """(file name, tensor names) of each file ``tensors`` are written to: model.safetensors, or
    numbered shards of at most ``max_shard_bytes`` each. Only shapes and dtypes are read, so
    meta tensors plan a write whose values are produced one shard at a time."""
    shards = _shards(tensors, max_shard_bytes)
    if len(shards) == 1:
        return [(SAFETENSORS, shards[0])]
    return [(f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors", names) for i, names in enumerate(shards)]


def write_shard(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """One safetensors file; LoadError naming it when the write fails."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    try:
        # safetensors refuses views into shared storage; contiguous copies keep every byte.
        save_file({n: t.contiguous() for n, t in tensors.items()}, str(path), metadata={"format": "pt"})
    except SafetensorError as e:  # the library reports I/O failures (disk full, ...) as its own error
        raise LoadError(f"writing {path.name} failed ({e}); fix: check the free disk space and permissions") from None


def write_index(directory: Path, files: list[tuple[str, list[str]]], total_bytes: int) -> None:
    """``model.safetensors.index.json`` for a sharded write (nothing for a single file)."""
    if len(files) > 1:
        index = {
            "metadata": {"total_size": total_bytes},
            "weight_map": {n: f for f, names in files for n in names},
        }
        (directory / SAFETENSORS_INDEX).write_text(json.dumps(index, indent=2) + "\n")


def nbytes(t: torch.Tensor) -> int:
    return t.numel() * t.element_size()


def save_tensors(
    tensors: dict[str, torch.Tensor],
    directory: Path,
    max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES,
    progress: str | None = None,
) -> list[Path]:
    """Write ``tensors`` as model.safetensors, or as shards plus an index when they exceed
    ``max_shard_bytes``. With a ``progress`` description, a bar shows on a terminal."""
    files = shard_files(tensors, max_shard_bytes)
    total = sum(nbytes(t) for t in tensors.values())
    with byte_progress(progress, total) as advance:
        for filename, names in files:
            write_shard(directory / filename, {n: tensors[n] for n in names})
            advance(sum(nbytes(tensors[n]) for n in names))
    write_index(directory, files, total)
    return [directory / f for f, _ in files]
