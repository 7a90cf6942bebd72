"""Causal self-attention (MHA, GQA, MQA) and the masks it runs under.

The fast path is ``F.scaled_dot_product_attention`` with ``enable_gqa`` (no repeated
key/value copies) and SDPA's own causal mask. An explicit mask is built once per forward
and attention kind (full or sliding), never per head, only when something needs it:
padding, a sliding window that is shorter than the keys, ALiBi, or queries that start
after the keys (chunked decoding). Logit softcapping (Gemma 2) has no fused kernel, so it
takes a plain matmul path, still with all heads in one batched matmul.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ArchConfig
from .norms import Norm
from .positions import apply_rope


@dataclass(frozen=True)
class AttentionMask:
    """Which keys each query may see.

    ``causal``: SDPA's causal mask (queries and keys are the same tokens). ``tensor``: a
    bool mask ``[batch or 1, 1, seq, keys]`` (True = attend) or an additive float bias
    ``[batch or 1, heads or 1, seq, keys]``. Neither: every query sees every key.
    """

    causal: bool = False
    tensor: torch.Tensor | None = None


def build_mask(
    seq: int,
    kv_len: int,
    window: int | None,
    key_valid: torch.Tensor | None,
    key_positions: torch.Tensor | None,
    slopes: torch.Tensor | None,
    dtype: torch.dtype,
    device: torch.device,
    alibi_before_scale_dim: int | None = None,
) -> AttentionMask:
    """The mask for ``seq`` queries that are the last ``seq`` of ``kv_len`` keys.

    Keys and queries are indexed by their slot in the token stream, as HF's masks are:
    key j is visible to query i iff j <= i, i - j < window (sliding layers) and j is not
    padding (``key_valid``, ``[batch, kv_len]``). With ALiBi (``slopes`` per head) the bias
    is ``slope * (key_position - query_position)``: the paper's form, which equals HF
    Bloom's ``slope * key_position`` after the softmax (a constant per query row cancels)
    and keeps the numbers near the diagonal small in bf16.

    ``alibi_before_scale_dim`` (Falcon): the bias is Falcon's instead, ``slope * key_position``
    formed in bfloat16 exactly as transformers' Falcon forms it (absolute positions: the rounding
    of a relative one differs), divided by sqrt(head_dim) because Falcon adds it to q·k before
    the softmax scale.
    """
    needs_window = window is not None and kv_len > window
    if key_valid is None and not needs_window and slopes is None:
        if seq == kv_len:
            return AttentionMask(causal=seq > 1)
        if seq == 1:
            return AttentionMask()
    q_idx = torch.arange(kv_len - seq, kv_len, device=device)[:, None]
    k_idx = torch.arange(kv_len, device=device)[None, :]
    allowed = k_idx <= q_idx
    if needs_window:
        allowed = allowed & (q_idx - k_idx < window)
    allowed = allowed[None, None]
    if key_valid is not None:
        query_valid = key_valid[:, -seq:]
        # A padding query may look at every earlier slot, so that no softmax row is empty
        # (an all-masked row gives NaN); its output is never used.
        allowed = allowed & (key_valid[:, None, None, :] | ~query_valid[:, None, :, None])
    if slopes is None:
        return AttentionMask(tensor=allowed)
    return _alibi(allowed, key_positions, key_positions[:, -seq:], slopes, dtype, alibi_before_scale_dim)


def step_mask(
    visible: torch.Tensor,
    key_positions: torch.Tensor,
    query_positions: torch.Tensor,
    slopes: torch.Tensor | None,
    dtype: torch.dtype,
    alibi_before_scale_dim: int | None = None,
) -> AttentionMask:
    """The mask of a decode step over a static cache's slots (model/cache.py), in any order:
    ``visible`` [batch, slots] already says which slots the one query sees (causality and the
    window are the cache's: a slot holds a past token or nothing); ALiBi as in :func:`build_mask`,
    from each slot's position ``key_positions`` [batch, slots] and ``query_positions`` [batch, 1]."""
    allowed = visible[:, None, None, :]
    if slopes is None:
        return AttentionMask(tensor=allowed)
    return _alibi(allowed, key_positions, query_positions, slopes, dtype, alibi_before_scale_dim)


def _alibi(
    allowed: torch.Tensor,
    key_positions: torch.Tensor,
    query_positions: torch.Tensor,
    slopes: torch.Tensor,
    dtype: torch.dtype,
    alibi_before_scale_dim: int | None,
) -> AttentionMask:
    """The additive ALiBi bias [batch, heads, seq, keys], -inf where ``allowed`` is False."""
    slopes = slopes.to(allowed.device)
    if alibi_before_scale_dim is not None:
        absolute = slopes.bfloat16()[None, :, None, None] * key_positions[:, None, None, :]  # [b, h, 1, kv_len]
        bias = absolute.to(dtype) / math.sqrt(alibi_before_scale_dim)
        return AttentionMask(tensor=bias.masked_fill(~allowed, float("-inf")).to(dtype))
    relative = (key_positions[:, None, :] - query_positions[:, :, None]).float()  # [b, seq, kv_len]
    bias = slopes[None, :, None, None] * relative[:, None]
    return AttentionMask(tensor=bias.masked_fill(~allowed, float("-inf")).to(dtype))


def one_query_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: AttentionMask, scale: float, dropout_p: float = 0.0
) -> torch.Tensor:
    """SDPA for a decode step (one query per row, ``q`` [batch, heads, 1, d]) over ``k``/``v``
    [batch, kv_heads, keys, d], with the query heads that share a key/value head folded into the
    query axis. SDPA then needs no ``enable_gqa``, which on GPU it runs with a mask only on the
    math path (copying every key once per query head); folded, the masked fused kernels apply."""
    b, n_heads, _, _ = q.shape
    n_kv = k.shape[1]
    bias = mask.tensor
    if bias is not None and bias.shape[1] != 1:  # a per-head ALiBi bias [batch, heads, 1, keys] folds alike
        bias = bias.reshape(b, n_kv, n_heads // n_kv, -1)
    out = F.scaled_dot_product_attention(q.reshape(b, n_kv, n_heads // n_kv, -1), k, v, attn_mask=bias, dropout_p=dropout_p, scale=scale)
    return out.reshape(b, n_heads, 1, -1)


class Attention(nn.Module):
    """q/k/v/o projections, optional qk-norm, RoPE, and attention over the (cached) keys."""

    def __init__(self, cfg: ArchConfig, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.head_dim = cfg.head_dim
        self.scale = cfg.head_dim**-0.5 if cfg.attention_scale is None else cfg.attention_scale
        if cfg.scale_attn_by_inverse_layer_idx:  # GPT-2's option: deeper layers get flatter scores
            self.scale /= float(layer_idx + 1)
        self.clip_qkv = cfg.clip_qkv
        self.softcap = cfg.attn_logit_softcapping
        self.dropout = cfg.attention_dropout
        self.rope_interleaved = cfg.rope_interleaved
        self.qk_norm = cfg.qk_norm

        h, q_dim, kv_dim = cfg.hidden_size, cfg.q_dim, cfg.kv_dim
        # q, k and v come from one matmul (one weight read, one kernel). Its rows are grouped per
        # KV head, [kv_heads, (the q_per_kv query heads that read it, its key, its value), head_dim]
        # (Megatron-LM's and GPT-NeoX's layout): any split of the rows into whole groups, which is
        # what tensor parallelism does, holds matching queries, keys and values. hf/weights.py
        # splits it into HF's separate q/k/v tensors and joins them back.
        self.q_per_kv = cfg.num_attention_heads // cfg.num_key_value_heads
        self.qkv_proj = nn.Linear(h, q_dim + 2 * kv_dim, bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(q_dim, h, bias=cfg.attn_out_bias)
        if cfg.qk_norm == "head":  # Qwen3: one norm over head_dim, shared by all heads
            self.q_norm, self.k_norm = Norm(cfg.head_dim, cfg), Norm(cfg.head_dim, cfg)
        elif cfg.qk_norm == "per_head":  # StableLM-2-12B, Cohere: over head_dim, a weight per head
            self.q_norm = Norm(cfg.head_dim, cfg, heads=cfg.num_attention_heads)
            self.k_norm = Norm(cfg.head_dim, cfg, heads=cfg.num_key_value_heads)
        elif cfg.qk_norm == "full":  # OLMo-2: over all heads together, before splitting them
            self.q_norm, self.k_norm = Norm(q_dim, cfg), Norm(kv_dim, cfg)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor] | None,
        mask: AttentionMask,
        cache=None,
    ) -> torch.Tensor:
        """``x`` [batch, seq, hidden] -> [batch, seq, hidden]. ``cache``: a KVCache to extend."""
        b, t, _ = x.shape
        q, k, v = self._project(x)
        if self.qk_norm == "full":  # over all heads together
            q = self.q_norm(q.flatten(2)).view(q.shape)
            k = self.k_norm(k.flatten(2)).view(k.shape)
        if self.qk_norm in ("head", "per_head"):  # before RoPE, as Qwen3 and StableLM do
            q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
        if rope is not None:
            cos, sin = rope
            q = apply_rope(q, cos, sin, self.rope_interleaved)
            k = apply_rope(k, cos, sin, self.rope_interleaved)
        if cache is not None:
            k, v = cache.update(self.layer_idx, k, v)

        if self.softcap is None and cache is not None and cache.decoding:
            out = one_query_attention(q, k, v, mask, self.scale, self.dropout if self.training else 0.0)
        elif self.softcap is None:
            out = F.scaled_dot_product_attention(
                q,
                k,
                v,
                attn_mask=mask.tensor,
                dropout_p=self.dropout if self.training else 0.0,
                is_causal=mask.causal,
                scale=self.scale,
                enable_gqa=k.shape[1] != q.shape[1],
            )
        else:
            out = self._softcapped_attention(q, k, v, mask)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, -1))

    def _project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q [batch, seq, heads, head_dim] and k, v [batch, seq, kv_heads, head_dim] from one matmul.

        The number of groups comes from the projection's width: under tensor parallelism
        (archsmith.parallel) each rank holds only its own groups (or, with fewer KV heads than
        ranks, one group with its share of the query heads: parallel/tp.py sets ``q_per_kv``).
        """
        b, t, _ = x.shape
        qkv = self.qkv_proj(x)
        if self.clip_qkv is not None:  # OLMo-1, MPT: before any qk-norm
            qkv = qkv.clamp(-self.clip_qkv, self.clip_qkv)
        qkv = qkv.view(b, t, -1, self.q_per_kv + 2, self.head_dim)
        q, k, v = qkv.split([self.q_per_kv, 1, 1], dim=3)
        # Query head i reads KV head i // q_per_kv, which is what SDPA's enable_gqa expects.
        return q.flatten(2, 3), k.squeeze(3), v.squeeze(3)

    def _softcapped_attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: AttentionMask) -> torch.Tensor:
        """Gemma 2's eager attention: scores * scale, cap * tanh(scores / cap), mask, fp32 softmax.

        The query heads sharing one key/value head are folded into the sequence axis, so one
        batched matmul serves every group without copying keys or values.
        """
        b, n_heads, t, d = q.shape
        n_kv, s = k.shape[1], k.shape[2]
        q = q.reshape(b, n_kv, (n_heads // n_kv) * t, d)
        scores = (torch.matmul(q, k.transpose(-1, -2)) * self.scale).view(b, n_heads, t, s)
        scores = torch.tanh(scores / self.softcap) * self.softcap
        if mask.causal:
            visible = torch.ones(t, s, dtype=torch.bool, device=q.device).tril(diagonal=s - t)
            scores = scores.masked_fill(~visible, float("-inf"))
        elif mask.tensor is not None and mask.tensor.dtype == torch.bool:
            scores = scores.masked_fill(~mask.tensor, float("-inf"))
        elif mask.tensor is not None:
            scores = scores + mask.tensor
        probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        probs = F.dropout(probs, p=self.dropout, training=self.training)
        out = torch.matmul(probs.view(b, n_kv, -1, s), v)
        return out.view(b, n_heads, t, d)
