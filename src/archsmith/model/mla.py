"""Multi-head latent attention (MLA, DeepSeek-V2/V3), caching the compressed latent.

Each token is projected to one latent ``c`` of ``kv_lora_rank`` features (normalised) and one
RoPE key ``k_rope`` of ``qk_rope_head_dim`` features shared by every head. ``kv_b_proj`` then
expands ``c`` into each head's no-RoPE key and its value:

    k_h = [W_UK_h c, k_rope]      v_h = W_UV_h c      q_h = [q_nope_h, q_rope_h]

The cache stores only ``c`` and ``k_rope`` (kv_lora_rank + qk_rope_head_dim per token per
layer, 576 for DeepSeek-V3 against 40,960 for its expanded keys and values), as DeepSeek's
inference code, vLLM, SGLang and FlashMLA do. Two ways to attend over it, equal up to rounding:

- expanded (training, prefill, chunks): run kv_b_proj over every key, then ordinary attention;
- absorbed (one-token decode steps): ``q_nope_h · W_UK_h c = (W_UK_hᵀ q_nope_h) · c``, so W_UK folds into the
  query and W_UV into the output, and the heads attend directly to the cached latents as one
  shared key/value head (MQA with keys [c, k_rope] and values c). A decoding step then costs
  O(cached tokens · kv_lora_rank) per head instead of re-expanding every cached token.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ArchConfig
from .masks import AttentionMask, attend
from .norms import Norm
from .positions import apply_rope, yarn_get_mscale

# DeepSeek's code (and transformers') builds the latent norms with RMSNorm's default eps,
# whatever the config's rms_norm_eps.
LATENT_NORM_EPS = 1e-6


def softmax_scale(cfg: ArchConfig) -> float:
    """1/sqrt(head_dim), times yarn_get_mscale(factor, mscale_all_dim)² under YaRN with
    ``mscale_all_dim``, as DeepseekV3Attention computes it (DeepSeek-V2/V3's long-context
    temperature on every feature; the RoPE tables carry mscale / mscale_all_dim on the rotated ones)."""
    scale = cfg.head_dim**-0.5
    scaling = cfg.rope_scaling or {}
    if scaling.get("mscale_all_dim"):  # only yarn has the key
        scale *= yarn_get_mscale(scaling["factor"], scaling["mscale_all_dim"]) ** 2
    return scale


class LatentAttention(nn.Module):
    """MLA with the projections named as in DeepSeek's checkpoints (q_proj or q_a_proj/q_a_layernorm/
    q_b_proj; kv_a_proj_with_mqa, kv_a_layernorm, kv_b_proj; o_proj)."""

    def __init__(self, cfg: ArchConfig, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.num_heads = cfg.num_attention_heads
        self.nope_dim, self.rope_dim, self.v_dim = cfg.qk_nope_head_dim, cfg.qk_rope_head_dim, cfg.v_head_dim
        self.rank = cfg.kv_lora_rank
        self.scale = softmax_scale(cfg)
        self.dropout = cfg.attention_dropout
        self.rope_interleaved = cfg.rope_interleaved

        h, n, q_dim = cfg.hidden_size, cfg.num_attention_heads, cfg.q_dim
        self.q_lora = cfg.q_lora_rank is not None
        if not self.q_lora:
            self.q_proj = nn.Linear(h, q_dim, bias=False)
        else:
            self.q_a_proj = nn.Linear(h, cfg.q_lora_rank, bias=cfg.qkv_bias)
            self.q_a_layernorm = _latent_norm(cfg.q_lora_rank, cfg)
            self.q_b_proj = nn.Linear(cfg.q_lora_rank, q_dim, bias=False)
        self.kv_a_proj_with_mqa = nn.Linear(h, self.rank + self.rope_dim, bias=cfg.qkv_bias)
        self.kv_a_layernorm = _latent_norm(self.rank, cfg)
        self.kv_b_proj = nn.Linear(self.rank, n * (self.nope_dim + self.v_dim), bias=False)
        self.o_proj = nn.Linear(n * self.v_dim, h, bias=cfg.attn_out_bias)

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor] | None,
        mask: AttentionMask,
        cache=None,
    ) -> torch.Tensor:
        """``x`` [batch, seq, hidden] -> [batch, seq, hidden]. ``cache``: a KVCache to extend with latents."""
        b, t, _ = x.shape
        q = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x))) if self.q_lora else self.q_proj(x)
        q_nope, q_rope = q.view(b, t, self.num_heads, -1).transpose(1, 2).split([self.nope_dim, self.rope_dim], dim=-1)
        latent, k_rope = self.kv_a_proj_with_mqa(x).split([self.rank, self.rope_dim], dim=-1)
        latent = self.kv_a_layernorm(latent)[:, None]  # [b, 1, t, rank]: one "head" shared by all
        k_rope = k_rope[:, None]
        cos, sin = rope
        # Interleaved RoPE here, where transformers de-interleaves q and k alike: their dot products agree.
        q_rope = apply_rope(q_rope, cos, sin, self.rope_interleaved)
        k_rope = apply_rope(k_rope, cos, sin, self.rope_interleaved)

        if cache is not None:
            latent, k_rope = cache.update(self.layer_idx, latent, k_rope)
        if cache is not None and cache.decoding:
            out = self._absorbed(q_nope, q_rope, latent, k_rope, mask)
        else:
            out = self._expanded(q_nope, q_rope, latent, k_rope, mask)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, self.num_heads * self.v_dim))

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: AttentionMask) -> torch.Tensor:
        return attend(q, k, v, mask, self.scale, self.dropout if self.training else 0.0)

    def _expanded(self, q_nope, q_rope, latent, k_rope, mask: AttentionMask) -> torch.Tensor:
        """kv_b_proj over every key's latent, then per-head attention: [b, heads, seq, v_head_dim]."""
        b, _, s, _ = latent.shape
        kv = self.kv_b_proj(latent[:, 0]).view(b, s, self.num_heads, -1).transpose(1, 2)
        k_nope, v = kv.split([self.nope_dim, self.v_dim], dim=-1)
        k = torch.cat([k_nope, k_rope.expand(-1, self.num_heads, -1, -1)], dim=-1)
        return self._attend(torch.cat([q_nope, q_rope], dim=-1), k, v, mask)

    def _absorbed(self, q_nope, q_rope, latent, k_rope, mask: AttentionMask) -> torch.Tensor:
        """W_UK folded into the query, W_UV into the output: the heads attend to the latents themselves."""
        w = self.kv_b_proj.weight.view(self.num_heads, self.nope_dim + self.v_dim, self.rank)
        w_uk, w_uv = w[:, : self.nope_dim], w[:, self.nope_dim :]
        q_latent = torch.einsum("bhtd,hdr->bhtr", q_nope, w_uk)
        q = torch.cat([q_latent, q_rope], dim=-1)  # [b, heads, t, rank + rope]
        k = torch.cat([latent, k_rope], dim=-1)  # [b, 1, s, rank + rope]
        out_latent = self._attend(q, k, latent, mask)  # [b, heads, t, rank]
        return torch.einsum("bhtr,hvr->bhtv", out_latent, w_uv)


def _latent_norm(width: int, cfg: ArchConfig) -> Norm:
    return Norm(width, cfg, eps=LATENT_NORM_EPS)
