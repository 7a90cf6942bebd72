"""Causal self-attention (MHA, GQA, MQA): projections, optional qk-norm, RoPE, and the
attention kernel that masks.py picks (SDPA's causal path, FlexAttention or a dense mask).
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ArchConfig
from .masks import AttentionMask, attend
from .norms import Norm
from .positions import apply_rope


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

        out = attend(q, k, v, mask, self.scale, self.dropout if self.training else 0.0, self.softcap)
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
