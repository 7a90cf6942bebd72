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
        self.q_proj = nn.Linear(h, q_dim, bias=cfg.qkv_bias)
        self.k_proj = nn.Linear(h, kv_dim, bias=cfg.qkv_bias)
        self.v_proj = nn.Linear(h, kv_dim, bias=cfg.qkv_bias)
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
        q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        if self.clip_qkv is not None:  # OLMo-1, MPT: before any qk-norm
            q, k, v = (p.clamp(-self.clip_qkv, self.clip_qkv) for p in (q, k, v))
        if self.qk_norm == "full":
            q, k = self.q_norm(q), self.k_norm(k)
        # Head counts come from the projections: under tensor parallelism (archsmith.parallel)
        # each rank holds only its own query and KV heads.
        q = q.view(b, t, -1, self.head_dim)
        k = k.view(b, t, -1, self.head_dim)
        v = v.view(b, t, -1, self.head_dim)
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
