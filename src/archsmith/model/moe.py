"""The Mixture-of-Experts feed-forward: a router, stacked routed experts, optional shared experts.

    out = sum over the token's top-k experts e of weight_e * expert_e(x)
          [+ sigmoid(shared_expert_gate(x))] * shared_experts(x)

Router (``Router``): logits = x @ W_r^T in float32; scores = softmax or sigmoid of them
(``scoring_func``); experts are chosen by top-k of the scores, plus DeepSeek-V3's
``e_score_correction_bias`` when configured (it steers the choice but not the weights),
within the ``topk_group`` best of ``n_group`` expert groups when grouped; the weights are
the chosen scores, renormalised to sum to 1 (``norm_topk_prob``) and multiplied by
``routed_scaling_factor``. Mixtral, Qwen2/3-MoE and DeepSeek-V3 are points of this space.

Experts (``Experts``): every expert's weights stacked in one tensor, ``gate_up_proj``
[experts, 2 x moe_intermediate, hidden] (gate rows first, as transformers 5 stores them)
or ``up_proj`` for plain MLPs, and ``down_proj`` [experts, hidden, moe_intermediate]. The
token-expert pairs are sorted by expert and multiplied group by group in one call, with no
Python loop over experts:

    torch._grouped_mm   bf16 (the dtype its CUDA kernels and compile support take), widths
                        multiples of 8 (its 16-byte alignment);
    padded bmm          otherwise: each expert's tokens in one row of an
                        [experts, capacity, hidden] buffer, one torch.bmm.

The router logits come back with the output, for the load-balancing loss
(:func:`load_balancing_loss`, transformers' ``load_balancing_loss_func``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ArchConfig
from .ffn import ACTIVATIONS, MLP
from .init import normal_


class Router(nn.Module):
    """Chooses each token's experts and their weights; see the module docstring."""

    def __init__(self, cfg: ArchConfig):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cfg.num_experts, cfg.hidden_size))
        if cfg.router_correction_bias:  # updated outside backprop (DeepSeek-V3's aux-loss-free balancing)
            self.register_buffer("e_score_correction_bias", torch.zeros(cfg.num_experts))
        else:
            self.e_score_correction_bias = None
        self.top_k = cfg.num_experts_per_tok
        self.sigmoid = cfg.scoring_func == "sigmoid"
        self.norm_topk_prob = cfg.norm_topk_prob
        self.scale = cfg.routed_scaling_factor
        self.n_group, self.topk_group = cfg.n_group, cfg.topk_group

    @torch.no_grad()
    def reset_parameters(self, std: float) -> None:
        normal_(self.weight, std)
        if self.e_score_correction_bias is not None:
            self.e_score_correction_bias.zero_()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x [tokens, hidden] -> (logits [tokens, experts] fp32, weights [tokens, k] fp32, experts [tokens, k])."""
        # In float32 whatever the model dtype (as DeepSeek-V3 does): near-tied scores must
        # not flip the choice through bf16 rounding.
        logits = F.linear(x.float(), self.weight.float())
        scores = logits.sigmoid() if self.sigmoid else logits.softmax(dim=-1)
        choice = scores if self.e_score_correction_bias is None else scores + self.e_score_correction_bias.float()
        if self.n_group > 1:
            choice = self._within_best_groups(choice)
        experts = choice.topk(self.top_k, dim=-1).indices
        weights = scores.gather(1, experts)
        if self.norm_topk_prob:  # the epsilon keeps an all-zero sigmoid row finite (DeepSeek-V3's 1e-20)
            weights = weights / (weights.sum(dim=-1, keepdim=True) + 1e-20)
        return logits, weights * self.scale, experts

    def _within_best_groups(self, choice: torch.Tensor) -> torch.Tensor:
        """-inf outside the topk_group groups whose two best scores sum highest (DeepSeek-V3)."""
        tokens, experts = choice.shape
        grouped = choice.view(tokens, self.n_group, experts // self.n_group)
        group_score = grouped.topk(2, dim=-1).values.sum(dim=-1)
        best = group_score.topk(self.topk_group, dim=-1).indices
        keep = torch.zeros_like(group_score, dtype=torch.bool).scatter_(1, best, True)
        return grouped.masked_fill(~keep[..., None], float("-inf")).view(tokens, experts)


class Experts(nn.Module):
    """``num_experts`` MLPs with stacked weights, applied to (token, expert) pairs in one grouped matmul."""

    def __init__(self, cfg: ArchConfig):
        super().__init__()
        e, h, i = cfg.num_experts, cfg.hidden_size, cfg.moe_intermediate_size
        self.gated = cfg.mlp_type == "gated"
        if self.gated:
            self.gate_up_proj = nn.Parameter(torch.empty(e, 2 * i, h))
        else:
            self.up_proj = nn.Parameter(torch.empty(e, i, h))
        self.down_proj = nn.Parameter(torch.empty(e, h, i))
        self.act = ACTIVATIONS[cfg.hidden_act]
        self.num_experts = e

    @torch.no_grad()
    def reset_parameters(self, std: float, residual_std: float) -> None:
        normal_(self.gate_up_proj if self.gated else self.up_proj, std)
        normal_(self.down_proj, residual_std)

    def forward(self, x: torch.Tensor, experts: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """x [tokens, hidden], experts and weights [tokens, k] -> sum_k weight * expert(x) [tokens, hidden]."""
        tokens, k = experts.shape
        flat = experts.reshape(-1)
        order = flat.argsort(stable=True)  # (token, slot) pairs sorted by expert
        counts = torch.bincount(flat, minlength=self.num_experts)
        out = self.run_sorted(x[order // k], counts, flat[order])
        unsorted = torch.empty_like(out).index_copy_(0, order, out).view(tokens, k, -1)
        return (unsorted * weights[..., None].to(out.dtype)).sum(dim=1)

    def run_sorted(self, inputs: torch.Tensor, counts: torch.Tensor, sorted_experts: torch.Tensor) -> torch.Tensor:
        """Rows sorted by expert (``counts[e]`` for expert e; ``sorted_experts``: each row's) ->
        each row through its expert. Expert parallelism (``archsmith.parallel.ep``) replaces
        this one step: the rows travel to their experts' ranks and back."""
        first = self.gate_up_proj if self.gated else self.up_proj
        return self.grouped_mlp(inputs, counts, sorted_experts, first, self.down_proj)

    def grouped_mlp(
        self, inputs: torch.Tensor, counts: torch.Tensor, sorted_experts: torch.Tensor, first: torch.Tensor, down: torch.Tensor
    ) -> torch.Tensor:
        """The expert MLPs with stacked weights ``first`` (gate_up or up) and ``down``, whose
        experts ``counts`` and ``sorted_experts`` index."""
        matmul = _grouped_linear if _grouped_mm_fits(inputs, down) else _padded_linear
        h = matmul(inputs, first, counts, sorted_experts)
        if self.gated:
            gate, up = h.chunk(2, dim=-1)
            h = self.act(gate) * up
        else:
            h = self.act(h)
        return matmul(h, down, counts, sorted_experts)


def _grouped_mm_fits(x: torch.Tensor, down: torch.Tensor) -> bool:
    """torch._grouped_mm runs bf16 (its CUDA kernels, sm80+, and its compile support take no
    other dtype) with rows aligned to 16 bytes."""
    if not hasattr(torch, "_grouped_mm") or x.dtype != torch.bfloat16:
        return False
    if x.device.type == "cuda" and torch.cuda.get_device_capability(x.device) < (8, 0):
        return False
    return all(d % 8 == 0 for d in down.shape[1:])


def _grouped_linear(x: torch.Tensor, w: torch.Tensor, counts: torch.Tensor, sorted_experts: torch.Tensor) -> torch.Tensor:
    """Rows of ``x`` sorted by expert, each times its expert's ``w[e]``^T: one grouped GEMM."""
    offsets = counts.cumsum(0).to(torch.int32)  # where each expert's rows end
    return torch._grouped_mm(x, w.transpose(-2, -1), offs=offsets)


def _padded_linear(x: torch.Tensor, w: torch.Tensor, counts: torch.Tensor, sorted_experts: torch.Tensor) -> torch.Tensor:
    """The same product through one bmm: expert e's rows go to row e of an [experts, capacity,
    in] buffer, zero-padded to the busiest expert's count (one host sync; under torch.compile
    the capacity is every row, a static shape)."""
    rows = x.shape[0]
    capacity = rows if torch.compiler.is_compiling() else int(counts.max())
    starts = counts.cumsum(0) - counts
    slot = torch.arange(rows, device=x.device) - starts[sorted_experts]  # place within its expert's row
    buffer = x.new_zeros(w.shape[0], capacity, x.shape[1])
    buffer[sorted_experts, slot] = x
    return torch.bmm(buffer, w.transpose(-2, -1))[sorted_experts, slot]


class MoE(nn.Module):
    """A sparse layer's feed-forward: router, routed experts and shared experts.

    ``forward(x)`` returns ``(out, router_logits)``; the logits [tokens, experts] (float32)
    feed the load-balancing loss.
    """

    def __init__(self, cfg: ArchConfig):
        super().__init__()
        self.router = Router(cfg)
        self.experts = Experts(cfg)
        self.jitter = cfg.router_jitter_noise
        self.shared_experts = MLP(cfg, cfg.shared_expert_total_size) if cfg.n_shared_experts else None
        self.shared_expert_gate = nn.Linear(cfg.hidden_size, 1, bias=False) if cfg.shared_expert_gate else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        if self.training and self.jitter > 0:  # Mixtral: multiplicative noise on the layer's input, router and experts alike
            x = x * torch.empty_like(x).uniform_(1.0 - self.jitter, 1.0 + self.jitter)
        logits, weights, experts = self.router(x)
        out = self.experts(x, experts, weights)
        if self.shared_experts is not None:
            shared = self.shared_experts(x)
            if self.shared_expert_gate is not None:
                shared = torch.sigmoid(self.shared_expert_gate(x)) * shared
            out = out + shared
        return out.view(shape), logits


def load_balancing_loss(router_logits: list[torch.Tensor], top_k: int, valid: torch.Tensor | None = None) -> torch.Tensor:
    """The Switch-Transformer auxiliary loss over every sparse layer, as transformers'
    ``load_balancing_loss_func``: num_experts * sum over experts of (share of top-k
    assignments) x (mean router probability), pooled over layers and the real tokens
    (``valid`` [batch, seq], padding excluded).
    """
    logits = torch.stack(router_logits)  # [layers, tokens, experts]
    probs = logits.float().softmax(dim=-1)
    num_experts = probs.shape[-1]
    chosen = F.one_hot(probs.topk(top_k, dim=-1).indices, num_experts).sum(dim=-2).float()
    weight = torch.ones(probs.shape[1], device=probs.device) if valid is None else valid.reshape(-1).float()
    rows = weight.sum() * probs.shape[0]
    assignments = (chosen * weight[:, None]).sum(dim=(0, 1)) / rows
    mean_probs = (probs * weight[:, None]).sum(dim=(0, 1)) / rows
    return num_experts * (assignments * mean_probs).sum()
