"""Which keys each query sees, and the attention kernel that runs under that mask.

A mask is built once per forward and kind of layer (full or sliding), never per head or
per layer, and it picks one of three kernels:

- **SDPA causal** (flash on GPU): nothing to mask beyond causality, so no mask at all.
- **FlexAttention** (CUDA, by default): a ``BlockMask`` for causality, the sliding window and
  padding, so fully hidden blocks are skipped and no [queries, keys] tensor exists; ALiBi
  and logit softcapping are ``score_mod`` functions applied inside the kernel.
- **dense** (CPU, and the reference): a bool mask or an additive float bias
  [batch or 1, heads or 1, queries, keys] for SDPA; softcapping takes a plain matmul.

Visibility and the ALiBi bias are each written once, as functions of (batch, head, query,
key) indices in FlexAttention's ``mask_mod``/``score_mod`` form. FlexAttention calls them
per block; the dense path evaluates the same functions on broadcast index grids, so the
two paths cannot disagree about who sees whom.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import torch
import torch.nn.functional as F
from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention

from ..errors import InputError

KERNELS = ("auto", "dense", "flex")

# (batch, head, query, key) index tensors -> a bool (visible) or a float (bias), elementwise.
IndexFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class AttentionMask:
    """How one kind of layer attends in this forward.

    ``causal``: SDPA's causal mask (queries and keys are the same tokens). ``tensor`` (dense):
    a bool mask ``[batch or 1, 1, seq, keys]`` (True = attend) or an additive float bias
    ``[batch or 1, heads or 1, seq, keys]``. ``block_mask`` (flex): FlexAttention's block mask,
    with ``alibi`` the bias its score_mod adds. None of them: every query sees every key.
    """

    causal: bool = False
    tensor: torch.Tensor | None = None
    block_mask: BlockMask | None = None
    alibi: IndexFn | None = None


def check_kernel(kernel: str) -> str:
    if kernel not in KERNELS:
        raise InputError(
            f"attention_kernel={kernel!r} is not one of {', '.join(KERNELS)}; fix: 'auto' (FlexAttention on CUDA "
            "where a mask is needed), 'dense' (the reference masks everywhere) or 'flex' (FlexAttention, also on CPU)"
        )
    return kernel


def flex_runs(kernel: str, device: torch.device, head_dims: tuple[int, ...], dropout: float) -> bool:
    """Whether masked attention runs on FlexAttention.

    ``auto``: on CUDA, for head dims of a power of two from 16 to 256 (what its Triton kernels
    take without padding tricks that vary between torch versions). Never with attention dropout,
    which FlexAttention does not implement, nor where autograd would need its backward on CPU,
    which torch does not have (``flex`` on CPU is for comparing forwards).
    """
    if dropout > 0 or kernel == "dense" or (device.type == "cpu" and torch.is_grad_enabled()):
        return False
    if kernel == "flex":
        return True
    return device.type == "cuda" and all(16 <= d <= 256 and d & (d - 1) == 0 for d in head_dims)


def build_mask(
    seq: int,
    kv_len: int,
    window: int | None,
    key_valid: torch.Tensor | None,
    key_positions: torch.Tensor,
    slopes: torch.Tensor | None,
    dtype: torch.dtype,
    device: torch.device,
    alibi_before_scale_dim: int | None = None,
    flex: bool = False,
    softcap: bool = False,
) -> AttentionMask:
    """The mask for ``seq`` queries that are the last ``seq`` of ``kv_len`` keys.

    Keys and queries are indexed by their slot in the token stream, as HF's masks are:
    key j is visible to query i iff j <= i, i - j < window (sliding layers) and j is not
    padding (``key_valid``, ``[batch, kv_len]``). ``key_positions`` [batch or 1, kv_len] are
    the keys' positions (ALiBi's distances); ``slopes`` the ALiBi slope of each head.
    ``flex``: build FlexAttention's block mask (for more than one query: a single decoding
    query's dense mask is one row, and cheaper than a block mask). ``softcap``: the layers
    cap their logits, which only the flex kernel fuses (so it then runs even when causal).
    """
    needs_window = window is not None and kv_len > window
    if key_valid is None and not needs_window and slopes is None and not (flex and softcap and seq > 1):
        if seq == kv_len:
            return AttentionMask(causal=seq > 1)
        if seq == 1:
            return AttentionMask()
    offset = kv_len - seq
    visible = _visibility(offset, window if needs_window else None, key_valid)
    alibi = None
    if slopes is not None:
        alibi = _alibi(slopes.to(device), key_positions, key_positions[:, offset:], dtype, alibi_before_scale_dim)
    if flex and seq > 1:
        batch = None if key_valid is None else key_valid.shape[0]
        # Built by a compiled kernel outside a compiled region: uncompiled, create_block_mask evaluates
        # the mask on the whole [queries, keys] grid (gigabytes of index tensors at 16k tokens).
        # (torch.compile(create_block_mask), which torch 2.13 suggests instead, had not returned
        # after 80 s at 16k tokens on an H200 with torch 2.11.)
        if device.type == "cuda" and not torch.compiler.is_compiling():
            with recompile_limit_at_least(FLEX_RECOMPILE_LIMIT):
                block_mask = create_block_mask(visible, batch, None, seq, kv_len, device=device, _compile=True)
        else:
            block_mask = create_block_mask(visible, batch, None, seq, kv_len, device=device)
        return AttentionMask(block_mask=block_mask, alibi=alibi)

    allowed = _on_grid(visible, 1 if key_valid is None else key_valid.shape[0], 1, seq, kv_len, device)
    if alibi is None:
        return AttentionMask(tensor=allowed)
    bias = _on_grid(alibi, key_positions.shape[0], len(slopes), seq, kv_len, device)
    return AttentionMask(tensor=torch.where(allowed, bias, float("-inf")).to(dtype))


def step_mask(
    visible: torch.Tensor,
    key_positions: torch.Tensor,
    query_positions: torch.Tensor,
    slopes: torch.Tensor | None,
    dtype: torch.dtype,
    alibi_before_scale_dim: int | None = None,
    flex: bool = False,
) -> AttentionMask:
    """The mask of a decode step over a static cache's slots (model/cache.py), in any order:
    ``visible`` [batch, slots] already says which slots the one query sees (causality and the
    window are the cache's: a slot holds a past token or nothing); ALiBi as in :func:`build_mask`,
    from each slot's position ``key_positions`` [batch, slots] and ``query_positions`` [batch or 1, 1].

    ``flex``: a block mask, for generate(compile=True)'s compiled step on CUDA only (a user's own compiled
    loop is not asked: it may trace with dynamic shapes, under which a compiled step failed on an H200
    with torch 2.11, while archsmith compiles its step static). FlexAttention then runs its decoding kernel,
    which splits the slots over the GPU; SDPA's fused kernels give one query's row to one thread
    block per KV head (on an H200, 21 µs a layer over 1,280 slots, a quarter of a 1B model's step).
    Eagerly, building a block mask each step costs more than it saves; on the CPU, torch 2.13's
    Inductor has no decoding kernel to lower it to. Not with ALiBi: torch 2.11's decoding kernel
    fails to compile its score_mod ("XBLOCK is not defined" in the Triton template)."""
    alibi = None
    if slopes is not None:
        alibi = _alibi(slopes.to(visible.device), key_positions, query_positions, dtype, alibi_before_scale_dim)
    if flex and alibi is None and visible.is_cuda and torch.compiler.is_compiling():

        def seen(b: torch.Tensor, h: torch.Tensor, q_idx: torch.Tensor, kv_idx: torch.Tensor) -> torch.Tensor:
            return visible[b, kv_idx]

        block_mask = create_block_mask(seen, visible.shape[0], None, 1, visible.shape[1], device=visible.device)
        return AttentionMask(block_mask=block_mask, alibi=alibi)
    allowed = visible[:, None, None, :]
    if slopes is None:
        return AttentionMask(tensor=allowed)
    bias = _on_grid(alibi, key_positions.shape[0], len(slopes), 1, visible.shape[1], visible.device)
    return AttentionMask(tensor=torch.where(allowed, bias, float("-inf")).to(dtype))


def _visibility(offset: int, window: int | None, key_valid: torch.Tensor | None) -> IndexFn:
    """FlexAttention's mask_mod: query ``q_idx`` sits at key slot ``offset + q_idx``."""

    def visible(b: torch.Tensor, h: torch.Tensor, q_idx: torch.Tensor, kv_idx: torch.Tensor) -> torch.Tensor:
        q = q_idx + offset
        seen = kv_idx <= q
        if window is not None:  # q - kv_idx < window, written so no [queries, keys] integer tensor is formed
            seen = seen & (kv_idx > q - window)
        if key_valid is not None:
            # A padding query may look at every earlier slot, so that no softmax row is empty
            # (an all-masked row gives NaN in SDPA); its output is never used.
            seen = seen & (key_valid[b, kv_idx] | ~key_valid[b, q])
        return seen

    return visible


def _alibi(
    slopes: torch.Tensor,
    key_positions: torch.Tensor,
    query_positions: torch.Tensor,
    dtype: torch.dtype,
    before_scale_dim: int | None,
) -> IndexFn:
    """The ALiBi bias of query ``q_idx`` on key ``kv_idx`` (added to the scaled logits), from
    their positions ([rows, keys] and [rows, queries], rows 1 or the batch).

    The paper's form, ``slope * (key_position - query_position)``: it equals HF Bloom's
    ``slope * key_position`` after the softmax (a constant per query row cancels) and keeps
    the numbers near the diagonal small in bf16.

    ``before_scale_dim`` (Falcon): the bias is Falcon's instead, ``slope * key_position``
    formed in bfloat16 exactly as transformers' Falcon forms it (absolute positions: the
    rounding of a relative one differs), divided by sqrt(head_dim) because Falcon adds it to
    q·k before the softmax scale. It depends on the key alone: [rows, heads, keys], precomputed.
    """
    shared = key_positions.shape[0] == 1  # one row of positions for the whole batch
    key_bias = None
    if before_scale_dim is not None:
        absolute = slopes.bfloat16()[None, :, None] * key_positions[:, None, :]  # [rows, heads, keys]
        key_bias = absolute.to(dtype) / math.sqrt(before_scale_dim)

    def bias(b: torch.Tensor, h: torch.Tensor, q_idx: torch.Tensor, kv_idx: torch.Tensor) -> torch.Tensor:
        row = 0 if shared else b
        if key_bias is not None:
            return key_bias[row, h, kv_idx]
        relative = (key_positions[row, kv_idx] - query_positions[row, q_idx]).float()
        return slopes[h] * relative

    return bias


def _on_grid(fn: IndexFn, batch: int, heads: int, seq: int, kv_len: int, device: torch.device) -> torch.Tensor:
    """``fn`` at every (batch, head, query, key): broadcast index grids, [batch, heads, seq, kv_len]
    (or 1 on an axis ``fn`` does not read)."""
    b = torch.arange(batch, device=device)[:, None, None, None]
    h = torch.arange(heads, device=device)[None, :, None, None]
    q = torch.arange(seq, device=device)[None, None, :, None]
    k = torch.arange(kv_len, device=device)[None, None, None, :]
    return fn(b, h, q, k)


# --- the kernels ----------------------------------------------------------------------------


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: AttentionMask,
    scale: float,
    dropout: float = 0.0,
    softcap: float | None = None,
) -> torch.Tensor:
    """softmax(q·kᵀ · scale [capped] + mask) · v for q [b, heads, seq, d], k/v [b, kv_heads, keys, d]:
    [b, heads, seq, v_dim]. Grouped query heads share their key/value head without copies."""
    # A Python bool: a compiled step shared by models of other head counts sees symbolic shapes,
    # SDPA's enable_gqa takes no SymBool, and only a branch (not bool()) makes torch.compile decide it.
    gqa = True if k.shape[1] != q.shape[1] else False  # noqa: SIM210
    if mask.block_mask is not None:
        return _flex(q, k, v, mask, scale, softcap, gqa)
    if softcap is not None:
        return _softcapped(q, k, v, mask, scale, dropout, softcap)
    # One query (a decode step; never mask.causal, which build_mask sets only for more than one).
    if q.shape[2] == 1 and (gqa or _by_matmul(q, k, dropout)):
        return _one_query(q, k, v, mask, scale, dropout)
    return F.scaled_dot_product_attention(
        q, k, v, attn_mask=mask.tensor, dropout_p=dropout, is_causal=mask.causal, scale=scale, enable_gqa=gqa
    )


def _one_query(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: AttentionMask, scale: float, dropout: float) -> torch.Tensor:
    """One query per row (a decode step), with the query heads that share a key/value head folded
    into the query axis, through SDPA or, where :func:`_by_matmul` says, two matmuls. Folded, SDPA
    needs no ``enable_gqa``, which on GPU it runs with a mask only on the math path (copying every key
    once per query head), and the masked fused kernels apply. A single query has no causal structure
    to lose."""
    b, n_heads, _, _ = q.shape
    n_kv = k.shape[1]
    bias = mask.tensor
    if bias is not None and bias.shape[1] != 1:  # a per-head ALiBi bias [batch, heads, 1, keys] folds alike
        bias = bias.reshape(bias.shape[0], n_kv, n_heads // n_kv, -1)
    folded = q.reshape(b, n_kv, n_heads // n_kv, -1)
    if _by_matmul(q, k, dropout):
        out = attend_by_matmul(folded, k, v, bias, scale)
    else:
        out = F.scaled_dot_product_attention(folded, k, v, attn_mask=bias, dropout_p=dropout, scale=scale)
    return out.reshape(b, n_heads, 1, -1)


def _by_matmul(q: torch.Tensor, k: torch.Tensor, dropout: float) -> bool:
    """Whether one query's attention runs as matmuls (:func:`attend_by_matmul`) rather than SDPA: on CUDA,
    without dropout, for keys wider than FlashAttention's and cuDNN's 256, which is MLA's absorbed decoding
    (576-wide keys: latent and RoPE key). On an H200 an 8-layer MLA model (rank 512) decoded 256 tokens after
    an 8,192-token prompt at 146 tokens/s through SDPA, about 0.7 ms a layer a step, and at 901 by matmuls
    (benchmarks/results/mla_decode_ab_h200.md). Which SDPA kernel ran was not profiled; the likely cause is
    that SDPA's kernels give one query row's keys to one thread block per key/value head, where matmuls
    spread the keys over the GPU."""
    return q.is_cuda and dropout == 0 and k.shape[-1] > 256


def attend_by_matmul(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, scale: float) -> torch.Tensor:
    """softmax(q·kᵀ · scale + mask) · v for q [b, heads, queries, d], k/v [b, heads, keys, d] (the same heads),
    as two matmuls with the softmax between them, in float32 for half-precision inputs (as SDPA's math path
    computes them) and in the inputs' own dtype for float32 and float64. ``mask``: None, bool (True =
    visible) or an additive float bias, broadcasting to [b, heads, queries, keys]. Unlike SDPA, a query that
    sees no key gets NaN, not zeros: a decode step's query always sees its own slot."""
    compute = torch.promote_types(q.dtype, torch.float32)
    scores = torch.matmul(q.to(compute), k.to(compute).transpose(-1, -2)) * scale
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask.to(compute)
    return torch.matmul(torch.softmax(scores, dim=-1), v.to(compute)).to(q.dtype)


def _flex(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: AttentionMask, scale: float, softcap: float | None, gqa: bool
) -> torch.Tensor:
    alibi = mask.alibi

    def score_mod(score: torch.Tensor, b: torch.Tensor, h: torch.Tensor, q_idx: torch.Tensor, kv_idx: torch.Tensor) -> torch.Tensor:
        if softcap is not None:  # Gemma 2: cap first, then mask (the dense path's order)
            score = torch.tanh(score / softcap) * softcap
        if alibi is not None:
            score = score + alibi(b, h, q_idx, kv_idx)
        return score

    modded = softcap is not None or alibi is not None
    # Uncompiled, flex_attention is a slow reference that materialises every score: on CUDA
    # outside a compiled region it runs through its own compiled kernel.
    kernel = _compiled_flex() if q.is_cuda and not torch.compiler.is_compiling() else flex_attention
    return kernel(q, k, v, score_mod=score_mod if modded else None, block_mask=mask.block_mask, scale=scale, enable_gqa=gqa)


# How many graphs FlexAttention's pieces compiled outside a compiled region (the kernel, the block
# mask) may keep; torch's default is 8 per function, and each model's score_mod and mask_mod, dtype,
# head layout and shape is a graph of its own. Past the limit torch quietly runs the uncompiled
# function instead, which for FlexAttention materialises every [query, key] score: at 16k tokens an
# out-of-memory, not a slowdown.
FLEX_RECOMPILE_LIMIT = 64


def recompile_limit_at_least(limit: int):
    """Dynamo's recompile limit per function, raised to ``limit`` for the calls inside (never lowered)."""
    name = "recompile_limit" if hasattr(torch._dynamo.config, "recompile_limit") else "cache_size_limit"  # older torch
    return torch._dynamo.config.patch(**{name: max(getattr(torch._dynamo.config, name), limit)})


@cache
def _compiled_flex() -> Callable[..., torch.Tensor]:
    """flex_attention compiled, a graph per shape: dynamic=False, as every GPU session ran it. (With
    automatic dynamic shapes a second length would make the length symbolic; not yet verified on a
    GPU: a test of it failed on an H200 for a reason the run did not record.)"""
    compiled = torch.compile(flex_attention, dynamic=False)

    def call(*args, **kwargs) -> torch.Tensor:
        with recompile_limit_at_least(FLEX_RECOMPILE_LIMIT):
            return compiled(*args, **kwargs)

    return call


def _softcapped(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: AttentionMask, scale: float, dropout: float, softcap: float
) -> torch.Tensor:
    """Gemma 2's eager attention: scores * scale, cap * tanh(scores / cap), mask, fp32 softmax.

    The query heads sharing one key/value head are folded into the sequence axis, so one
    batched matmul serves every group without copying keys or values.
    """
    b, n_heads, t, d = q.shape
    n_kv, s = k.shape[1], k.shape[2]
    q = q.reshape(b, n_kv, (n_heads // n_kv) * t, d)
    scores = (torch.matmul(q, k.transpose(-1, -2)) * scale).view(b, n_heads, t, s)
    scores = torch.tanh(scores / softcap) * softcap
    if mask.causal:
        visible = torch.ones(t, s, dtype=torch.bool, device=q.device).tril(diagonal=s - t)
        scores = scores.masked_fill(~visible, float("-inf"))
    elif mask.tensor is not None and mask.tensor.dtype == torch.bool:
        scores = scores.masked_fill(~mask.tensor, float("-inf"))
    elif mask.tensor is not None:
        scores = scores + mask.tensor
    probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
    probs = F.dropout(probs, p=dropout)
    out = torch.matmul(probs.view(b, n_kv, -1, s), v)
    return out.view(b, n_heads, t, v.shape[-1])
