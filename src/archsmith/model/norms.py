"""RMSNorm and LayerNorm with every knob of ArchConfig, casting in the order each HF family does.

Where the weight is applied relative to the cast back to the input dtype matters in
bf16, and HF families disagree:

    Llama, Qwen, Mistral     normalise in fp32, cast to the input dtype, then * weight
    OLMo-2, Gemma (1 + w)    normalise in fp32, * weight in fp32, then cast
    GPT-2, NeoX, Bloom       nn.LayerNorm on the input dtype (torch accumulates in fp32)

``norm_weight_in_fp32`` picks the second order; LayerNorm without it is plain
``F.layer_norm``. On a GPU the first order runs as torch's one fused RMSNorm, which rounds once
at the end: equal in float32, and in bf16 within one ulp of the cast-then-scale order.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ArchConfig


class Norm(nn.Module):
    """One normalisation over the last dimension (``width`` features).

    Parameters: ``weight`` unless ``norm_weight`` is false (a non-parametric norm, OLMo-1),
    ``bias`` iff ``norm_bias``. With ``norm_unit_offset`` the scale is ``1 + weight`` and the
    weight starts at zero (Gemma).

    ``heads``: a separate weight per head, [heads, width], for inputs [..., heads, width]
    and never a bias (the per-head qk-norms of StableLM-2-12B and Cohere have none).
    """

    def __init__(self, width: int, cfg: ArchConfig, heads: int | None = None, eps: float | None = None):
        super().__init__()
        self.width = width
        self.layernorm = cfg.norm_type == "layernorm"
        self.eps = cfg.norm_eps if eps is None else eps  # a few norms hard-code theirs (MLA's latent norms)
        self.unit_offset = cfg.norm_unit_offset
        self.weight_in_fp32 = cfg.norm_weight_in_fp32
        shape = (width,) if heads is None else (heads, width)
        self.weight = nn.Parameter(torch.empty(shape)) if cfg.norm_weight else None
        self.bias = nn.Parameter(torch.empty(width)) if cfg.norm_bias and heads is None else None
        self.reset_parameters()

    @torch.no_grad()
    def reset_parameters(self) -> None:
        """Identity at init: scale 1 (weight 0 with the unit offset), bias 0."""
        if self.weight is not None:
            self.weight.fill_(0.0 if self.unit_offset else 1.0)
        if self.bias is not None:
            self.bias.zero_()

    def _scale(self, fp32: bool) -> torch.Tensor | None:
        if self.weight is None:
            return None
        weight = self.weight.float() if fp32 else self.weight
        return 1.0 + weight if self.unit_offset else weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (self.width,)
        per_head = self.weight is not None and self.weight.dim() > 1  # F.layer_norm/rms_norm take one weight row only
        if self.layernorm:
            fp32 = self.weight_in_fp32
            h = x.float() if fp32 else x
            if per_head:
                return (F.layer_norm(h, shape, eps=self.eps) * self._scale(fp32)).to(x.dtype)
            bias = self.bias.float() if fp32 and self.bias is not None else self.bias
            return F.layer_norm(h, shape, self._scale(fp32), bias, self.eps).to(x.dtype)
        same_dtype = self.weight is None or self.weight.dtype == x.dtype  # e.g. not fp32 weights under autocast
        if x.is_cuda and same_dtype and not self.weight_in_fp32 and not per_head:
            # One kernel (torch's fused RMSNorm), where the composed form below takes four and 3.6x
            # the time (float32 copy, norm, cast, scale; forward and backward on an H200). It scales
            # in float32 and rounds once, within one ulp of the cast-then-scale order in bf16: on a
            # GPU nothing else in the forward is bit-equal to HF's either (fused projections, other
            # attention kernels). Elsewhere the norm keeps each family's exact order.
            return F.rms_norm(x, shape, self._scale(False), self.eps)
        normed = F.rms_norm(x.float(), shape, eps=self.eps)
        if self.weight_in_fp32:
            scale = self._scale(True)
            return (normed if scale is None else normed * scale).to(x.dtype)
        scale = self._scale(False)
        normed = normed.to(x.dtype)
        return normed if scale is None else normed * scale  # fp32 weights on bf16 input give fp32, as HF's

    def extra_repr(self) -> str:
        kind = "layernorm" if self.layernorm else "rmsnorm"
        return f"{kind}({self.width}), eps={self.eps}"
