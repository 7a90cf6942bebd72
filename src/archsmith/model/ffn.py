"""The feed-forward block: gated (SwiGLU, GeGLU, ReGLU) or plain (GPT-2) MLP."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ArchConfig


def _gelu_new(x: torch.Tensor) -> torch.Tensor:
    # GPT-2's tanh GELU, written out as HF's NewGELUActivation does (not bit-equal to
    # F.gelu(approximate="tanh"), which is HF's gelu_pytorch_tanh).
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def _relu2(x: torch.Tensor) -> torch.Tensor:
    return torch.square(F.relu(x))


# Keyed by HF's ACT2FN names (config.ACTIVATIONS), each computing what HF's class computes.
ACTIVATIONS = {
    "silu": F.silu,
    "gelu": F.gelu,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "gelu_new": _gelu_new,
    "relu": F.relu,
    "relu2": _relu2,
}


class MLP(nn.Module):
    """gated: ``down(act(gate(x)) * up(x))``; plain: ``down(act(up(x)))``."""

    def __init__(self, cfg: ArchConfig, intermediate_size: int | None = None):
        super().__init__()
        h, bias = cfg.hidden_size, cfg.mlp_bias
        i = cfg.intermediate_size if intermediate_size is None else intermediate_size  # shared experts differ
        self.gated = cfg.mlp_type == "gated"
        if self.gated:
            # gate and up in one matmul. Rows alternate, gate_0, up_0, gate_1, up_1, ..., so that any
            # contiguous split of the rows (tensor parallelism) holds matching gate and up rows;
            # hf/weights.py splits it into HF's gate_proj and up_proj and joins them back.
            self.gate_up_proj = nn.Linear(h, 2 * i, bias=bias)
        else:
            self.up_proj = nn.Linear(h, i, bias=bias)
        self.down_proj = nn.Linear(i, h, bias=bias)
        self.act = ACTIVATIONS[cfg.hidden_act]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gated:
            gate, up = self.gate_up_proj(x).unflatten(-1, (-1, 2)).unbind(-1)
            return self.down_proj(self.act(gate) * up)
        return self.down_proj(self.act(self.up_proj(x)))
