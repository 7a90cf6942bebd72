"""The feed-forward block: gated (SwiGLU, GeGLU, ReGLU) or plain (GPT-2) MLP."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as _module

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
            gate, up = self._gate_up(x)
            return self.down_proj(self.act(gate) * up)
        return self.down_proj(self.act(self.up_proj(x)))

    def _gate_up(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if torch.compiler.is_compiling() or not _plain_linear(self.gate_up_proj):
            # One matmul, through the module itself. Compiled, the compiler fuses the split into the
            # activation's kernel (one contiguous read of both halves), and one weight read is what a
            # decode step is bound by. A module with hooks (tensor parallelism's) or of another class
            # (a LoRA adapter, a quantised linear) must run its own forward.
            return self.gate_up_proj(x).unflatten(-1, (-1, 2)).unbind(-1)
        # Eager: a matmul per half, over the weight's even and odd rows (strided views that cuBLAS
        # reads in place). Each output is then contiguous; split from one output, the halves are
        # every other element, which each eager kernel reads at half speed and whose gradients are
        # interleaved back by a copy of the whole [tokens, 2 * intermediate] output (on an H200
        # the MLP's forward and backward take 8.2-8.4 ms this way against 9.3 ms for the one matmul).
        weight, bias = self.gate_up_proj.weight, self.gate_up_proj.bias
        gate = F.linear(x, weight[0::2], None if bias is None else bias[0::2])
        up = F.linear(x, weight[1::2], None if bias is None else bias[1::2])
        return gate, up


def _plain_linear(linear: nn.Module) -> bool:
    """Whether calling ``linear`` is exactly ``F.linear(x, weight, bias)``: an nn.Linear itself, whose
    forward is not replaced on the instance (as accelerate's offloading does), with no hooks of its
    own or global ones, forward or backward."""
    hooks = (
        linear._forward_pre_hooks, linear._forward_hooks, linear._backward_pre_hooks, linear._backward_hooks,
        _module._global_forward_pre_hooks, _module._global_forward_hooks,
        _module._global_backward_pre_hooks, _module._global_backward_hooks,
    )  # fmt: skip
    return type(linear) is nn.Linear and "forward" not in vars(linear) and not any(hooks)
