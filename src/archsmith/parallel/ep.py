"""Expert parallelism: each rank of the data-parallel dimension holds num_experts / ep of every
sparse layer's experts, and the routed tokens travel to them and back by all-to-all.

The experts' stacked weights become DTensors split on the expert dimension (``Shard(0)``), so
initialisation, distributed checkpoints and exports see the whole tensors. FSDP leaves them
alone (each rank's experts are its own already). In the forward pass, ``Experts.run_sorted``
(rows sorted by expert) is replaced by:

    counts per expert  --all-to-all-->  counts each rank sends to each of my experts
    rows               --all-to-all-->  rows for my experts, grouped by (source rank, expert)
    regroup by expert, run my experts (the same grouped matmul as one process), undo the regroup
    results            --all-to-all-->  back to the ranks that own the tokens

An expert's gradient then sums the contributions of every rank's tokens; it is divided by the
degree so that it matches the data-parallel mean FSDP takes for every other weight.
Tensor parallelism does not split the experts (check_tensor_parallel refuses MoE configs).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol
from torch import nn
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.tensor import Shard, distribute_tensor

from ..model.moe import Experts


def expert_modules(model: nn.Module) -> list[Experts]:
    return [m for m in model.modules() if isinstance(m, Experts)]


def apply_ep(model: nn.Module, mesh: DeviceMesh) -> set[nn.Parameter]:
    """Split every sparse layer's experts over the 1-D ``mesh``; returns the expert parameters
    (for FSDP to leave alone)."""
    params = set()
    for experts in expert_modules(model):
        for name, param in list(experts.named_parameters(recurse=False)):
            sharded = nn.Parameter(distribute_tensor(param, mesh, [Shard(0)]))
            experts.register_parameter(name, sharded)
            params.add(sharded)
        experts.run_sorted = _ExpertExchange(experts, mesh)
    return params


class _ExpertExchange:
    """``Experts.run_sorted`` with this rank's share of the experts (see the module docstring)."""

    def __init__(self, experts: Experts, mesh: DeviceMesh):
        self.experts, self.group, self.degree = experts, mesh.get_group(), mesh.size()

    def __call__(self, inputs: torch.Tensor, counts: torch.Tensor, sorted_experts: torch.Tensor) -> torch.Tensor:
        experts, ep = self.experts, self.degree
        local = experts.num_experts // ep
        received_counts = torch.empty_like(counts)  # [source rank, my expert]
        dist.all_to_all_single(received_counts, counts, group=self.group)
        send = counts.view(ep, local).sum(1).tolist()
        receive = received_counts.view(ep, local).sum(1).tolist()
        received = funcol.all_to_all_single_autograd(inputs, receive, send, self.group)

        received = funcol.wait_tensor(received)
        expert_of_row = torch.repeat_interleave(torch.arange(local, device=inputs.device).repeat(ep), received_counts)
        regroup = expert_of_row.argsort(stable=True)
        first = experts.gate_up_proj if experts.gated else experts.up_proj
        # FSDP casts the weights it manages to its compute dtype; these it does not manage.
        first, down = (_MeanGradient.apply(w.to_local(), ep).to(inputs.dtype) for w in (first, experts.down_proj))
        out = experts.grouped_mlp(received[regroup], received_counts.view(ep, local).sum(0), expert_of_row[regroup], first, down)
        out = torch.empty_like(out).index_copy(0, regroup, out)
        return funcol.wait_tensor(funcol.all_to_all_single_autograd(out, send, receive, self.group))


class _MeanGradient(torch.autograd.Function):
    """Identity forward; the backward divides by the degree: an expert's gradient sums every
    rank's tokens, and FSDP averages the other gradients over the same ranks. (In the graph,
    not a parameter hook: ``to_empty`` replaces parameters and their hooks.)"""

    @staticmethod
    def forward(ctx, weight: torch.Tensor, degree: int) -> torch.Tensor:
        ctx.degree = degree
        return weight.view_as(weight)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad / ctx.degree, None
