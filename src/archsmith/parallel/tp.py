"""Tensor parallelism for archsmith's Transformer: the plan, as data, and how it is applied.

The plan follows Megatron-LM's layout with sequence parallelism, as torchtitan applies it:

    embed_tokens        vocab-parallel (rows split), output split over the sequence
    *_norm, norm        sequence parallel: each rank normalises its slice of the tokens
    attn, mlp           gather the sequence before the branch
    qkv, gate_up        column-parallel (each rank computes its heads / its FFN slice): the fused
                        rows are laid out so that a contiguous split holds whole units (q/k/v grouped
                        per KV head, gate/up alternating; model/attention.py, model/ffn.py)
    o, down             row-parallel, reduce-scattered back onto the sequence
    q_norm, k_norm      per-head norms on the rank's own heads
    lm_head             column-parallel over the vocabulary; the loss runs on the split
                        logits under ``torch.distributed.tensor.parallel.loss_parallel()``

Which style a module gets is decided by its name alone (:data:`LAYER_PLAN`, :data:`TOP_PLAN`),
so a renamed or fused projection changes one table here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.tensor import DTensor, Partial, Replicate, Shard, distribute_tensor
from torch.distributed.tensor.parallel import (
    ColwiseParallel,
    ParallelStyle,
    PrepareModuleInput,
    RowwiseParallel,
    SequenceParallel,
    parallelize_module,
)

from ..config import ArchConfig

# Module name (inside a block, or at the top) -> the kind of split it gets. Modules a config
# does not build are simply absent from the model and skipped.
LAYER_PLAN: dict[str, str] = {
    "attn_norm": "sequence",
    "mlp_norm": "sequence",
    "attn_out_norm": "sequence",
    "mlp_out_norm": "sequence",
    "attn": "gather_attention_input",
    "attn.qkv_proj": "colwise_qkv",
    "attn.q_norm": "per_head_norm",
    "attn.k_norm": "per_head_norm",
    "attn.o_proj": "rowwise",
    "mlp": "gather_mlp_input",
    "mlp.gate_up_proj": "colwise",
    "mlp.up_proj": "colwise",  # a plain MLP's
    "mlp.down_proj": "rowwise",
}
TOP_PLAN: dict[str, str] = {
    "embed_tokens": "vocab_embedding",
    "embed_positions": "vocab_embedding",  # a learned position table splits its rows the same way
    "embed_norm": "sequence",
    "norm": "sequence",
    "lm_head": "vocab_head",
}


class ReplicatedKV(ParallelStyle):
    """The fused qkv_proj with fewer KV heads than tensor-parallel ranks.

    Each KV head is read by the query heads of ``tp / kv_heads`` ranks, so no split of the rows
    gives every rank its own: each rank keeps the whole weight (a replicated DTensor whose
    gradient is the sum of every rank's part, ``Partial``) and multiplies by its rows only, its
    query heads and then its group's key and value: KV heads replicated, as Megatron-LM and vLLM
    do. The output is one group, so :func:`apply_tp` sets the attention's ``q_per_kv`` to match.
    """

    def __init__(self, kv_heads: int, q_per_kv: int, head_dim: int):
        super().__init__()
        self.kv_heads, self.q_per_kv, self.head_dim = kv_heads, q_per_kv, head_dim

    def _apply(self, module: nn.Module, device_mesh: DeviceMesh) -> nn.Module:
        share = device_mesh.size() // self.kv_heads  # ranks whose query heads read one KV head
        group, part = divmod(device_mesh.get_local_rank(), share)
        d, per_rank = self.head_dim, self.q_per_kv // share
        start = group * (self.q_per_kv + 2) * d  # the group's rows: its query heads, its key, its value
        queries = slice(start + part * per_rank * d, start + (part + 1) * per_rank * d)
        key_value = slice(start + self.q_per_kv * d, start + (self.q_per_kv + 2) * d)

        def own_rows(t: torch.Tensor | None) -> torch.Tensor | None:
            if t is None:
                return None
            local = t.to_local(grad_placements=[Partial()])
            return torch.cat([local[queries], local[key_value]])

        def forward(x: torch.Tensor) -> torch.Tensor:
            x = x.to_local(grad_placements=[Partial()]) if isinstance(x, DTensor) else x
            return F.linear(x, own_rows(module.weight), own_rows(module.bias))

        for name, param in list(module.named_parameters(recurse=False)):
            module.register_parameter(name, nn.Parameter(distribute_tensor(param, device_mesh, [Replicate()])))
        module.forward = forward
        return module


def _style(kind: str, cfg: ArchConfig, tp: int, loss_parallel: bool) -> ParallelStyle:
    if kind == "sequence":  # the residual stream stays a plain tensor: this rank's slice of the tokens
        return SequenceParallel(use_local_output=True)
    if kind == "per_head_norm":  # input: the rank's own heads, a plain tensor [b, t, heads, head_dim]
        return SequenceParallel(sequence_dim=2, use_local_output=True)
    if kind == "gather_attention_input":  # Block calls attn(x, rope, mask, cache)
        return PrepareModuleInput(input_layouts=(Shard(1), None, None, None), desired_input_layouts=(Replicate(), None, None, None))
    if kind == "gather_mlp_input":
        return PrepareModuleInput(input_layouts=(Shard(1),), desired_input_layouts=(Replicate(),))
    if kind == "colwise":
        return ColwiseParallel()
    if kind == "colwise_qkv":  # whole KV groups per rank when they split evenly
        kv = cfg.num_key_value_heads
        return ColwiseParallel() if kv % tp == 0 else ReplicatedKV(kv, cfg.num_attention_heads // kv, cfg.head_dim)
    if kind == "rowwise":
        return RowwiseParallel(output_layouts=Shard(1))
    if kind == "vocab_embedding":
        return RowwiseParallel(input_layouts=Replicate(), output_layouts=Shard(1))
    if kind == "vocab_head":
        return ColwiseParallel(
            input_layouts=Shard(1),
            output_layouts=Shard(-1) if loss_parallel else Replicate(),
            use_local_output=not loss_parallel,
        )
    raise AssertionError(f"unknown tensor-parallel kind {kind!r}")


def tp_plan(model: nn.Module, tp: int, loss_parallel: bool = True) -> dict[str, ParallelStyle]:
    """The ``parallelize_module`` plan for ``model`` (fully qualified module names -> styles)."""
    cfg = model.config
    present = dict(model.named_modules())
    plan = {name: _style(kind, cfg, tp, loss_parallel) for name, kind in TOP_PLAN.items() if name in present}
    for i in range(len(model.layers)):
        for name, kind in LAYER_PLAN.items():
            if f"layers.{i}.{name}" in present:
                plan[f"layers.{i}.{name}"] = _style(kind, cfg, tp, loss_parallel)
    return plan


def apply_tp(model: nn.Module, mesh: DeviceMesh, loss_parallel: bool = True) -> None:
    """Split ``model`` over the 1-D ``mesh`` in place (a tied LM head stays tied)."""
    tied = model.config.tie_word_embeddings
    if tied:  # split each module on its own, then point the head back at the (same-split) embedding
        model.lm_head.weight = nn.Parameter(model.embed_tokens.weight.detach())
    parallelize_module(model, mesh, tp_plan(model, mesh.size(), loss_parallel))
    if tied:
        model.tie_weights()
    kv = model.config.num_key_value_heads
    if kv % mesh.size():  # ReplicatedKV: each rank's q/k/v is one group with its share of the query heads
        for block in model.layers:
            block.attn.q_per_kv //= mesh.size() // kv
