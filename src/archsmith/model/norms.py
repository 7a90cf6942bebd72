"""RMSNorm and LayerNorm with every knob of ArchConfig, casting in the order each HF family does.

Where the weight is applied relative to the cast back to the input dtype matters in
bf16, and HF families disagree:

    Llama, Qwen, Mistral     normalise in fp32, cast to the input dtype, then * weight
    OLMo-2, Gemma (1 + w)    normalise in fp32, * weight in fp32, then cast
    GPT-2, NeoX, Bloom       nn.LayerNorm on the input dtype (torch accumulates in fp32)

``norm_weight_in_fp32`` picks the second order; LayerNorm without it is plain
``F.layer_norm``.
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
    """

    def __init__(self, width: int, cfg: ArchConfig, eps: float | None = None):
        super().__init__()
        self.width = width
        self.layernorm = cfg.norm_type == "layernorm"
        self.eps = cfg.norm_eps if eps is None else eps  # a few norms hard-code theirs (MLA's latent norms)
        self.unit_offset = cfg.norm_unit_offset
        self.weight_in_fp32 = cfg.norm_weight_in_fp32
        self.weight = nn.Parameter(torch.empty(width)) if cfg.norm_weight else None
        self.bias = nn.Parameter(torch.empty(width)) if cfg.norm_bias else None
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
        if self.layernorm and not self.weight_in_fp32:
            return F.layer_norm(x, shape, self._scale(False), self.bias, self.eps)
        if self.layernorm:
            bias = None if self.bias is None else self.bias.float()
            return F.layer_norm(x.float(), shape, self._scale(True), bias, self.eps).to(x.dtype)
        normed = F.rms_norm(x.float(), shape, eps=self.eps)
        if self.weight_in_fp32:
            scale = self._scale(True)
            return (normed if scale is None else normed * scale).to(x.dtype)
        scale = self._scale(False)
        normed = normed.to(x.dtype)
        return normed if scale is None else normed * scale

    def extra_repr(self) -> str:
        kind = "layernorm" if self.layernorm else "rmsnorm"
        return f"{kind}({self.width}), eps={self.eps}"
