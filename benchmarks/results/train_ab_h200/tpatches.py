"""Experimental patches for train_profile runs, named in $PATCH (comma-separated)."""
import os
import torch
import torch.nn.functional as F
from archsmith.model import ffn

PATCHES = set(filter(None, os.environ.get("PATCH", "").split(",")))
_orig_gate_up = ffn.MLP._gate_up


def _gate_up_permuted(self, x):
    if torch.compiler.is_compiling() and torch.is_grad_enabled() and ffn._plain_linear(self.gate_up_proj):
        w, b = self.gate_up_proj.weight, self.gate_up_proj.bias
        i = w.shape[0] // 2
        wp = w.view(i, 2, -1).transpose(0, 1).reshape(2 * i, -1)  # [gate rows; up rows]
        bp = None if b is None else b.view(i, 2).t().reshape(-1)
        out = F.linear(x, wp, bp)
        return out[..., :i], out[..., i:]
    return _orig_gate_up(self, x)


if "guperm" in PATCHES:
    ffn.MLP._gate_up = _gate_up_permuted
