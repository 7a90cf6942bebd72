"""Tensor parallelism for archsmith's Transformer: the plan, as data, and how it is applied.

The plan follows Megatron-LM's layout with sequence parallelism, as torchtitan applies it:

    embed_tokens        vocab-parallel (rows split), output split over the sequence
    *_norm, norm        sequence parallel: each rank normalises its slice of the tokens
    attn, mlp           gather the sequence before the branch
    q/k/v, gate/up      column-parallel (each rank computes its heads / its FFN slice)
    o, down             row-parallel, reduce-scattered back onto the sequence
    q_norm, k_norm      per-head norms on the rank's own heads
    lm_head             column-parallel over the vocabulary; the loss runs on the split
                        logits under ``torch.distributed.tensor.parallel.loss_parallel()``

Which style a module gets is decided by its name alone (:data:`LAYER_PLAN`, :data:`TOP_PLAN`),
so a renamed or fused projection (issue 10's fused qkv) changes one table here.
"""

from __future__ import annotations

from torch import nn
from torch.distributed.device_mesh import DeviceMesh
from torch.distributed.tensor import Partial, Replicate, Shard, distribute_module, distribute_tensor
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
    "attn.q_proj": "colwise",
    "attn.k_proj": "colwise_kv",
    "attn.v_proj": "colwise_kv",
    "attn.q_norm": "per_head_norm",
    "attn.k_norm": "per_head_norm",
    "attn.o_proj": "rowwise",
    "mlp": "gather_mlp_input",
    "mlp.gate_proj": "colwise",
    "mlp.up_proj": "colwise",
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
    """k_proj / v_proj with fewer KV heads than tensor-parallel ranks.

    Every rank keeps the whole (small) projection, computes all KV heads and keeps the one
    its query heads read: KV heads replicated, as Megatron-LM and vLLM do. The weight is a
    replicated DTensor whose gradient is the sum of every rank's part (``Partial``).
    """

    def __init__(self, kv_heads: int, head_dim: int):
        super().__init__()
        self.kv_heads, self.head_dim = kv_heads, head_dim

    def _apply(self, module: nn.Module, device_mesh: DeviceMesh) -> nn.Module:
        tp = device_mesh.size()
        head = device_mesh.get_local_rank() // (tp // self.kv_heads)  # the KV head of this rank's query heads
        width = self.head_dim

        def replicate(name, mod, mesh):
            for pname, param in list(mod.named_parameters(recurse=False)):
                mod.register_parameter(pname, nn.Parameter(distribute_tensor(param, mesh, [Replicate()])))

        def own_head(mod, outputs, mesh):
            local = outputs.to_local(grad_placements=[Partial()])
            return local[..., head * width : (head + 1) * width]

        return distribute_module(module, device_mesh, replicate, output_fn=own_head)


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
    if kind == "colwise_kv":
        kv = cfg.num_key_value_heads
        return ColwiseParallel() if kv % tp == 0 else ReplicatedKV(kv, cfg.head_dim)
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
