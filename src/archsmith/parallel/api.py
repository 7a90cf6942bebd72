"""``parallelize``: tensor parallel, expert parallel, activation checkpointing, compile and FSDP2,
in torchtitan's order."""

from __future__ import annotations

import torch
from torch.distributed.device_mesh import DeviceMesh, init_device_mesh
from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

from ..config import check_expert_parallel, check_parallel_plan
from ..errors import ConfigError, InputError
from ..model import Transformer
from .ep import apply_ep
from .tp import apply_tp

DP, TP = "dp", "tp"  # the mesh dimension names parallelize reads


def device_mesh(device_type: str, tp: int = 1) -> DeviceMesh:
    """A 2-D ("dp", "tp") mesh over every process of the job: ``world // tp`` FSDP groups of
    ``tp`` ranks (ranks of one tensor-parallel group are neighbours, so on one host)."""
    world = torch.distributed.get_world_size()
    if tp < 1 or world % tp:
        raise InputError(f"tp={tp} does not divide the world size {world}; fix: a tp that divides {world}")
    return init_device_mesh(device_type, (world // tp, tp), mesh_dim_names=(DP, TP))


def _dim(mesh: DeviceMesh, name: str) -> DeviceMesh:
    return mesh if mesh.ndim == 1 else mesh[name]


def parallelize(
    model: Transformer,
    mesh: DeviceMesh,
    *,
    tp: bool = False,
    fsdp: bool = True,
    ep: bool = False,
    compile: bool = False,
    activation_checkpointing: bool = False,
    param_dtype: torch.dtype | None = torch.bfloat16,
    reduce_dtype: torch.dtype | None = torch.float32,
    loss_parallel: bool = True,
) -> Transformer:
    """Shard ``model`` in place over ``mesh`` and return it.

    ``mesh``: 1-D (one of tp / fsdp) or 2-D with dims named "dp" and "tp" (:func:`device_mesh`).
    Build the model on the meta device, parallelize it, then ``model.to_empty(device=...)`` and
    ``model.init_weights()``: the weights equal those of one process with the same seed.

    - ``tp``: tensor + sequence parallel over the "tp" dim (plan in ``archsmith.parallel.tp``);
      with ``loss_parallel`` the logits stay split over the vocabulary, so compute the loss under
      ``torch.distributed.tensor.parallel.loss_parallel()``.
    - ``ep``: expert parallel over the "dp" dim (needs ``fsdp``): each rank keeps
      num_experts / dp of every sparse layer's experts, tokens reach them by all-to-all
      (``archsmith.parallel.ep``).
    - ``activation_checkpointing``: each block keeps only its input for the backward pass.
    - ``compile``: ``torch.compile`` per block (names, and so checkpoints, unchanged).
    - ``fsdp``: FSDP2 ``fully_shard`` on every block, then the root, over the "dp" dim, with
      ``param_dtype`` for compute and ``reduce_dtype`` for gradient reduction (None: the
      parameters' own dtype, e.g. fp32 throughout).
    """
    if tp and fsdp and mesh.ndim != 2:
        raise InputError(f"tp and fsdp together need a 2-D mesh named ({DP!r}, {TP!r}); fix: archsmith.parallel.device_mesh(device_type, tp=N)")
    cfg = model.config
    if tp:
        degree = _dim(mesh, TP).size()
        problems = check_parallel_plan(cfg, degree)
        if problems:
            raise ConfigError(problems)
        apply_tp(model, _dim(mesh, TP), loss_parallel)
    expert_params: set = set()
    if ep:
        if not fsdp:
            raise InputError("ep=True splits the experts over the FSDP ranks, so it needs fsdp=True; fix: parallelize(..., fsdp=True, ep=True)")
        problems = check_expert_parallel(cfg, _dim(mesh, DP).size())
        if problems:
            raise ConfigError(problems)
        expert_params = apply_ep(model, _dim(mesh, DP))
    for block in model.layers:
        block.checkpointing = activation_checkpointing
    if compile:
        model.compile_blocks()
    if fsdp:
        policy = MixedPrecisionPolicy(param_dtype=param_dtype, reduce_dtype=reduce_dtype)
        for block in model.layers:
            fully_shard(block, mesh=_dim(mesh, DP), mp_policy=policy, ignored_params=expert_params)
        fully_shard(model, mesh=_dim(mesh, DP), mp_policy=policy, ignored_params=expert_params)
    return model
