"""One transformer block: attention and MLP branches on the residual stream.

Where the norms sit (``norm_scheme``), with the parameter names each one gets:

    pre        x + f(attn_norm(x))                         Llama, GPT-2
    post       attn_norm(x + f(x))                         original Transformer, OPT-350m
    peri       x + attn_out_norm(f(attn_norm(x)))          Gemma 2/3 "sandwich", Peri-LN
    reordered  x + attn_out_norm(f(x))                     OLMo-2
    normed_residual  h + f(h), h = attn_norm(x)            BLOOM's apply_residual_connection_post_layernorm

(the MLP branch likewise with mlp_norm / mlp_out_norm; in a sparse layer the MLP is a
Mixture-of-Experts, whose router logits go to ``router_logits`` when a list is passed).
``parallel_residual`` computes both
branches from the same input, x + attn(attn_norm(x)) + mlp(mlp_norm(x)) (GPT-NeoX), or with
one shared norm (``parallel_shared_norm``: GPT-J, Falcon). Each branch output is multiplied by
``residual_multiplier`` (Granite) before it joins the stream.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..config import ArchConfig
from .attention import Attention
from .ffn import MLP
from .masks import AttentionMask
from .mla import LatentAttention
from .moe import MoE
from .norms import Norm


class Block(nn.Module):
    def __init__(self, cfg: ArchConfig, layer_idx: int):
        super().__init__()
        self.scheme = cfg.norm_scheme
        self.parallel = cfg.parallel_residual
        self.attn = LatentAttention(cfg, layer_idx) if cfg.is_mla else Attention(cfg, layer_idx)
        self.mlp = MoE(cfg) if cfg.layer_is_sparse(layer_idx) else MLP(cfg)
        h = cfg.hidden_size
        has_input_norms = cfg.norm_scheme != "reordered"
        self.attn_norm = Norm(h, cfg) if has_input_norms else None
        self.mlp_norm = Norm(h, cfg) if has_input_norms and not cfg.parallel_shared_norm else None
        has_output_norms = cfg.norm_scheme in ("peri", "reordered")
        self.attn_out_norm = Norm(h, cfg) if has_output_norms else None
        self.mlp_out_norm = Norm(h, cfg) if has_output_norms else None
        # hidden_dropout: on each branch output, just before it joins the residual stream.
        self.drop = nn.Dropout(cfg.hidden_dropout)
        self.residual_multiplier = cfg.residual_multiplier
        # Activation checkpointing (set by archsmith.parallel): keep only the block's input
        # and recompute the rest in the backward pass. A flag rather than a wrapper module, so
        # parameter names (and with them checkpoints) stay the same.
        self.checkpointing = False

    def forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor] | None,
        mask: AttentionMask,
        cache=None,
        router_logits: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        if self.checkpointing and torch.is_grad_enabled():
            x, logits = checkpoint(self._forward, x, rope, mask, cache, use_reentrant=False)
        else:
            x, logits = self._forward(x, rope, mask, cache)
        if router_logits is not None and logits is not None:
            router_logits.append(logits)
        return x

    def _forward(
        self,
        x: torch.Tensor,
        rope: tuple[torch.Tensor, torch.Tensor] | None,
        mask: AttentionMask,
        cache=None,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The block's output and, for a sparse layer, its router logits (returned rather than
        collected here, so that a checkpointed block's recomputation adds none twice)."""
        logits = None

        def attend(h: torch.Tensor) -> torch.Tensor:
            return self.attn(h, rope, mask, cache)

        def feed_forward(h: torch.Tensor) -> torch.Tensor:
            nonlocal logits
            if not isinstance(self.mlp, MoE):
                return self.mlp(h)
            out, logits = self.mlp(h)
            return out

        if self.parallel:  # only defined for pre-norm (config validation)
            h = self.attn_norm(x)
            mlp_in = h if self.mlp_norm is None else self.mlp_norm(x)
            return x + self.out(attend(h)) + self.out(feed_forward(mlp_in)), logits
        x = self._residual(x, attend, self.attn_norm, self.attn_out_norm)
        return self._residual(x, feed_forward, self.mlp_norm, self.mlp_out_norm), logits

    def _residual(
        self,
        x: torch.Tensor,
        branch: Callable[[torch.Tensor], torch.Tensor],
        norm: Norm | None,
        out_norm: Norm | None,
    ) -> torch.Tensor:
        if self.scheme == "post":
            return norm(x + self.out(branch(x)))
        if self.scheme == "normed_residual":  # the normed input is the residual
            h = norm(x)
            return h + self.out(branch(h))
        h = branch(x if norm is None else norm(x))
        if out_norm is not None:
            h = out_norm(h)
        return x + self.out(h)

    def out(self, h: torch.Tensor) -> torch.Tensor:
        """A branch output as it joins the residual stream."""
        if self.residual_multiplier != 1.0:
            h = h * self.residual_multiplier
        return self.drop(h)
