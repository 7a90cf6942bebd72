"""Per-GPU training memory under FSDP2 x tensor parallelism, without torch.

The layout is the one ``archsmith.parallel.parallelize`` builds: FSDP2 over ``fsdp`` ranks
with bf16 compute parameters and fp32 gradient reduction (MixedPrecisionPolicy), fp32
master weights, gradients and AdamW states sharded over all ``fsdp x tp`` ranks, and
Megatron-style tensor + sequence parallelism over ``tp`` ranks. ``batch`` counts the
sequences each FSDP rank (each tensor-parallel group) trains on per step.

Every figure is a prediction with its assumptions listed beside it (``assumptions``);
``benchmarks/scale_bench.py`` compares them with the peak measured on GPUs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from .config import ArchConfig, check_expert_parallel, check_parallel_plan
from .errors import ConfigError
from .sizing import (
    DTYPE_BYTES,
    count_params,
    expert_params,
    head_activation_bytes_per_token,
    layer_activation_bytes_per_token,
    norm_params,
    norms_per_layer,
    qk_norm_params_per_layer,
)

COMPUTE = "bf16"  # FSDP2's param_dtype in parallelize's default policy


def replicated_params_per_layer(cfg: ArchConfig, tp: int) -> int:
    """Parameters of one block that every tensor-parallel rank holds whole: the norms, the
    row-parallel biases (o and down, added once after the reduction) and, with fewer KV
    heads than ranks, the fused q/k/v projection (parallel/tp.py's ReplicatedKV)."""
    h = cfg.hidden_size
    replicated = norms_per_layer(cfg) * norm_params(cfg, h) + qk_norm_params_per_layer(cfg)
    replicated += h * (int(cfg.attn_out_bias) + int(cfg.mlp_bias))
    if tp > 1 and cfg.num_key_value_heads % tp:
        replicated += (h + int(cfg.qkv_bias)) * (cfg.q_dim + 2 * cfg.kv_dim)
    return replicated


def outer_params_per_rank(cfg: ArchConfig, tp: int) -> int:
    """Embedding, positions, LM head and the outer norms on one tensor-parallel rank."""
    p = count_params(cfg)
    outer_norms = norm_params(cfg, cfg.hidden_size) * (int(cfg.final_norm) + int(cfg.embedding_norm))
    return (p.embedding + p.lm_head) // tp + outer_norms


@dataclass(frozen=True)
class GpuMemory:
    """Bytes on one GPU at the peak of a training step (AdamW, FSDP2 x TP)."""

    fsdp: int
    tp: int
    ep: int
    batch: int
    seq_len: int
    checkpointing: bool
    params_per_gpu: int  # this GPU's shard of the parameters
    weights: int  # fp32 master shard
    gradients: int  # fp32 gradient shard
    optimizer: int  # AdamW exp_avg and exp_avg_sq shards, fp32
    gathered: int  # bf16 all-gathered parameters and gradients in flight (see assumptions)
    activations: int  # what the backward pass keeps, plus the loss's backward transient
    assumptions: tuple[str, ...]

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.gathered + self.activations

    def to_dict(self) -> dict:
        d = asdict(self)
        d["assumptions"] = list(self.assumptions)
        return {**d, "total": self.total}


def gpu_memory(
    cfg: ArchConfig, fsdp: int, tp: int, seq_len: int, batch: int = 1, checkpointing: bool = False, ep: int = 1
) -> GpuMemory:
    """Predicted per-GPU training memory of ``cfg`` on ``fsdp x tp`` GPUs (see the module doc);
    ``ep`` > 1: the routed experts split over the FSDP ranks instead (ep must equal fsdp)."""
    problems = [f"--{name} {value} must be at least 1" for name, value in (("fsdp", fsdp), ("tp", tp), ("ep", ep)) if value < 1]
    if not problems:
        problems += check_parallel_plan(cfg, tp) + check_expert_parallel(cfg, ep)
        if ep > 1 and ep != fsdp:
            problems.append(f"--ep {ep} must equal --fsdp {fsdp}: archsmith.parallel splits the experts over the FSDP "
                            f"ranks; fix: --ep {fsdp}, or --fsdp {ep}")
    if problems:
        raise ConfigError(problems)
    p = DTYPE_BYTES[COMPUTE]
    h, L, V = cfg.hidden_size, cfg.num_hidden_layers, cfg.vocab_size
    outer_norms = norm_params(cfg, h) * (int(cfg.final_norm) + int(cfg.embedding_norm))
    replicated = L * replicated_params_per_layer(cfg, tp) + outer_norms
    per_rank = (count_params(cfg).total - replicated) // tp + replicated  # before FSDP
    experts = cfg.num_sparse_layers * cfg.num_experts * expert_params(cfg) if ep > 1 else 0  # left to EP, not FSDP
    shard = -(-(per_rank - experts) // fsdp) + experts // ep
    outer = outer_params_per_rank(cfg, tp)
    block = (per_rank - outer - experts) // L  # the mean block FSDP gathers
    tokens = batch * seq_len

    # Sequence parallelism splits the residual stream and the norms over tp, tensor parallelism
    # the heads and the FFN; the column-parallel matmuls keep their all-gathered input whole.
    gathered_inputs = p * 2 * h * (tp - 1) // tp
    sparse = cfg.num_sparse_layers
    kinds = [(n, layer_activation_bytes_per_token(cfg, COMPUTE, sparse=is_sparse))
             for n, is_sparse in ((sparse, True), (L - sparse, False)) if n]  # fmt: skip
    per_gpu = [b // tp + gathered_inputs for _, b in kinds]
    # Outside the blocks, sizing's count (transformers' loss: bf16 logits and their fp32 log-softmax)
    # less both, plus what archsmith's loss holds when the backward pass starts: the bf16 gradient
    # of the logits, written by the forward pass, and its scaled copy (model/transformer.py; the
    # compiled loss likewise keeps the bf16 logits and makes their gradient). A training loop that
    # keeps only the loss drops the logits themselves; float32 exists a chunk at a time.
    head = (head_activation_bytes_per_token(cfg, COMPUTE) - (p + 4) * V + 2 * p * V) // tp
    if checkpointing:
        kept = L * p * h // tp + max(per_gpu)  # every block's input, and one block recomputed
    else:
        kept = sum(n * b for (n, _), b in zip(kinds, per_gpu))
    activations = tokens * (kept + head)
    # FSDP2 all-gathers a block's bf16 parameters when it runs and prefetches the next; in the
    # backward pass the block's bf16 gradients and their fp32 copy (reduce dtype) exist too.
    # The root group (embedding, head, final norm) stays gathered through the whole step.
    gathered = p * outer + (p + p + 4 + p) * block

    assumptions = (
        f"FSDP2 over {fsdp} rank(s) with MixedPrecisionPolicy(param_dtype=bf16, reduce_dtype=fp32): fp32 master "
        "weights, fp32 gradients and fp32 AdamW exp_avg/exp_avg_sq, each sharded over all "
        f"{fsdp * tp} GPUs (4 + 4 + 8 bytes per parameter of the shard; padding to a multiple of {fsdp} rows ignored)",
        f"tensor parallel over {tp} rank(s): heads, FFN, embedding and LM head split; norms, o/down biases"
        + (" and the replicated fused q/k/v projection" if tp > 1 and cfg.num_key_value_heads % tp else "")
        + " whole on every rank",
        "gathered: the root group's bf16 parameters (embedding, LM head, final norm; kept all step), plus one block's "
        "bf16 parameters, the next block's (prefetched), and that block's bf16 gradients with their fp32 copy for "
        "the reduce-scatter",
        f"activations: {batch} x {seq_len} tokens per FSDP rank; per block, sizing's Korthikanti-style count "
        "(flash attention, no seq x seq scores) divided by tp, plus the all-gathered inputs of the attention and "
        "MLP branches kept whole; "
        + ("full activation checkpointing: every block's input and one block recomputed; " if checkpointing else "")
        + "outside the blocks, the loss's bf16 gradient of the logits and its scaled copy (4 bytes per "
        "vocabulary entry per token, split over tp; the loop holds only the loss, so the logits are not kept, "
        "and the loss's float32 temporaries, a chunk's copy and log-softmax of at most 512 MiB, are not counted)",
        "not counted: the CUDA context and NCCL buffers (about 0.5-1 GiB, outside torch's allocator), allocator "
        "fragmentation and cached blocks, the optimizer's and collectives' temporaries (fused AdamW has none), "
        "the eager gate/up weight gradient's zero-filled halves (a block's gate/up weight, briefly), "
        "norm and attention statistics",
    ) + ((f"expert parallel over the {ep} FSDP ranks: each GPU holds {cfg.num_experts // ep} of every sparse layer's "
          f"{cfg.num_experts} routed experts whole (weights, gradients, AdamW states), outside FSDP; the routed "
          "tokens' all-to-all buffers are not counted",) if ep > 1 else ())
    return GpuMemory(
        fsdp=fsdp, tp=tp, ep=ep, batch=batch, seq_len=seq_len, checkpointing=checkpointing, params_per_gpu=shard,
        weights=4 * shard, gradients=4 * shard, optimizer=8 * shard, gathered=gathered, activations=activations,
        assumptions=assumptions,
    )  # fmt: skip
