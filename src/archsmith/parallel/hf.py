"""HF checkpoints in and out of a sharded model, one tensor at a time.

``load_hf``: each rank reads from the safetensors files only the slices its shards hold
(memory-mapped, so only those bytes). Tensors HF stores fused, split or transposed (GPT-2's
c_attn, NeoX's query_key_value, one tensor per expert where archsmith stacks them) are read
whole, one unit at a time, then cut.

``to_hf``: every parameter is gathered (``full_tensor``) in turn on all ranks, and rank 0
writes the export one safetensors shard at a time, so no process ever holds more than one
shard of the model. The directory is published atomically, as ``archsmith.to_hf`` does.
"""

from __future__ import annotations

from contextlib import ExitStack, nullcontext
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.distributed.tensor import DTensor
from torch.distributed.tensor._utils import compute_local_shape_and_global_offset

from ..errors import ArchsmithError, InputError, LoadError
from ..files import OutputDir
from ..hf.checkpoint import (
    DEFAULT_MAX_SHARD_BYTES,
    first_nonfinite,
    nbytes,
    read_safetensors_header,
    shard_files,
    weight_files,
    write_index,
    write_shard,
)
from ..hf.convert import export_plan, read_hf_config, weight_layout, write_export_files
from ..hf.weights import check_hf_tensors, hf_units, stored_as_is, to_hf_state, unpack_hf_tensors
from ..model import Transformer
from ..model.positions import RotaryEmbedding

# safetensors dtype codes -> torch (integers too, so that the checks can name a non-float tensor)
_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
           "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
           "BOOL": torch.bool}  # fmt: skip


def _params(model: Transformer) -> dict[str, torch.Tensor]:
    """What a checkpoint holds: every parameter (the tied head under its own name too) and the
    persistent buffers (DeepSeek-V3's router correction bias), by state-dict name."""
    tensors = dict(model.named_parameters(remove_duplicate=False))
    for prefix, module in model.named_modules():
        for name, buffer in module.named_buffers(recurse=False):
            if name not in module._non_persistent_buffers_set:
                tensors[f"{prefix}.{name}" if prefix else name] = buffer
    return tensors


def _local_box(param: torch.Tensor) -> tuple[slice, ...]:
    """The region of the full tensor that this rank's part of ``param`` holds."""
    if not isinstance(param, DTensor):
        return tuple(slice(0, n) for n in param.shape)
    shape, offset = compute_local_shape_and_global_offset(param.shape, param.device_mesh, param.placements)
    return tuple(slice(o, o + n) for o, n in zip(offset, shape))


def _local(param: torch.Tensor) -> torch.Tensor:
    return param.to_local() if isinstance(param, DTensor) else param


@torch.no_grad()
def load_hf(model: Transformer, directory: str | Path) -> Transformer:
    """Fill the (sharded, materialised: ``to_empty`` is enough) ``model`` with the weights of an HF
    model directory whose config.json describes ``model.config``; every rank reads only its own
    slices."""
    from safetensors import safe_open

    directory = Path(directory)
    cfg, layout = read_hf_config(directory)
    if cfg.replace(torch_dtype=None) != model.config.replace(torch_dtype=None):
        raise LoadError(f"{directory}/config.json describes another architecture than the model's config; fix: build the "
                        f"model from archsmith.load_config({str(directory)!r})")
    params = _params(model)
    shapes = {n: tuple(p.shape) for n, p in params.items()}
    where, meta = {}, {}
    for path in weight_files(directory):
        if path.suffix != ".safetensors":
            raise LoadError(f"{path} is not safetensors, which a sharded load needs (it reads slices); fix: convert it")
        for name, entry in read_safetensors_header(path).items():
            where[name] = path
            meta[name] = torch.empty(entry["shape"], dtype=_DTYPES.get(entry["dtype"], torch.uint8), device="meta")
    check_hf_tensors(meta, cfg, layout, shapes)

    with ExitStack() as files:
        opened = {p: files.enter_context(safe_open(str(p), framework="pt")) for p in set(where.values())}
        for parts, hf_names in hf_units(cfg, layout, shapes):
            if stored_as_is(layout, parts, hf_names):
                values = {parts[0]: opened[where[hf_names[0]]].get_slice(hf_names[0])[_local_box(params[parts[0]])]}
            else:  # fused, split or transposed: read its tensors whole (one unit at a time), then cut
                whole = unpack_hf_tensors({h: opened[where[h]].get_tensor(h) for h in hf_names}, cfg, layout, parts, shapes)
                values = {n: whole[n][_local_box(params[n])] for n in parts}
            for name, value in values.items():
                if not torch.isfinite(value).all():
                    more = ", ..." if len(hf_names) > 1 else ""
                    raise LoadError(f"the checkpoint's {hf_names[0]}{more} (for {name}) holds NaN or inf; fix: use a "
                                    "checkpoint whose weights are finite")
                _local(params[name]).copy_(value)
    model.tie_weights()
    for module in model.modules():  # tables no checkpoint holds, garbage after to_empty
        if isinstance(module, RotaryEmbedding):
            module.reset_tables()
    return model


@torch.no_grad()
def to_hf(model: Transformer, path: str | Path, dtype: Any = None, force: bool = False,
          max_shard_bytes: int = DEFAULT_MAX_SHARD_BYTES) -> Any:
    """Export the sharded ``model`` as an HF directory (as ``archsmith.to_hf`` writes it); call on
    every rank. Returns the export plan."""
    params = _params(model)
    if any(_local(p).is_meta for p in params.values()):
        raise InputError("the model is on the meta device, so there are no weights to export; fix: "
                         "model.to_empty(device=...) and model.init_weights() (or load_hf) first")
    plan, cfg, export_dtype = export_plan(model, dtype)
    layout = weight_layout(plan)
    meta = {n: torch.empty(p.shape, dtype=export_dtype, device="meta") for n, p in params.items()}
    hf_meta = to_hf_state(meta, cfg, layout)
    files = shard_files(hf_meta, max_shard_bytes)
    shapes = {n: tuple(p.shape) for n, p in params.items()}
    sources = {hf: parts for parts, hf_names in hf_units(cfg, layout, shapes) for hf in hf_names}
    writer = dist.get_rank() == 0
    failure: Exception | None = None  # rank 0's error; the others keep gathering so that nobody waits forever
    with OutputDir(path, force).write() if writer else nullcontext(None) as staging:
        try:
            if writer:
                write_export_files(staging, plan, cfg)
        except (ArchsmithError, OSError) as e:
            failure = e
        for filename, hf_names in files:
            gathered = {n: _full(params[n], export_dtype) for hf in hf_names for n in sources[hf]}
            if not writer or failure:
                continue
            made = to_hf_state(gathered, cfg, layout)  # a stacked expert tensor makes more than this shard holds
            tensors = {hf: made[hf] for hf in hf_names}
            bad = first_nonfinite(tensors)
            try:
                if bad is not None:
                    raise InputError(f"weight {bad} of the model holds NaN or inf, which no checkpoint should carry; "
                                     "fix: find where training or editing diverged and export a finite model")
                write_shard(staging / filename, tensors)
            except (ArchsmithError, OSError) as e:
                failure = e
        if writer and not failure:
            write_index(staging, files, sum(nbytes(t) for t in hf_meta.values()))
        verdict = [None if failure is None else str(failure)]
        dist.broadcast_object_list(verdict, src=0)
        if failure is not None:
            raise failure
        if verdict[0] is not None:
            raise LoadError(f"rank 0 could not write the export: {verdict[0]}")
    return plan


def _full(param: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    full = param.full_tensor() if isinstance(param, DTensor) else param
    return full.detach().to("cpu", dtype)
