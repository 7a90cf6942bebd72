"""Weight initialisation that gives a sharded model the weights of one process."""

from __future__ import annotations

import torch


def normal_(weight: torch.Tensor, std: float) -> None:
    """Draw ``weight`` ~ N(0, std) from torch's global RNG.

    A sharded weight (a DTensor, see ``archsmith.parallel``) draws its whole tensor on its
    device and keeps its own shard: every rank draws the same numbers, so a sharded model
    starts from exactly the weights one process would build with the same seed. Only one
    weight is whole at a time.
    """
    if torch.distributed.is_available():
        from torch.distributed.tensor import DTensor, distribute_tensor

        if isinstance(weight, DTensor):
            full = torch.empty(weight.shape, dtype=weight.dtype, device=weight.to_local().device).normal_(0.0, std)
            weight.copy_(distribute_tensor(full, weight.device_mesh, weight.placements, src_data_rank=None))
            return
    weight.normal_(0.0, std)
