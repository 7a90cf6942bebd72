"""Styles: one family's conventions, as data.

A style fixes what a family always does (norm, activation, biases, RoPE base, vocabulary, head_dim,
its KV-head rule) and names the real models behind its shape curve. The real models themselves
live in :mod:`archsmith.presets` (the one source of real shapes); a style lists preset names:

- ``curve``: compute-chosen models (trained from scratch at their size), whose hidden/layers
  ratios the designer's curve is fitted to. Pruned or distilled models (Llama-3.2-1B/3B, Gemma 2
  2B/9B) are left out: their shapes were inherited, not chosen for their budget.
- ``family``: every real model of the family, the curve's and the others; a design lists the
  ones near its size as canonical candidates, and compares itself with the nearest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..config import closest_name
from ..errors import ConfigError


@dataclass(frozen=True)
class Style:
    name: str
    summary: str
    vocab_size: int
    vocab_note: str
    context: int  # the family's pretraining context; longer contexts get RoPE scaling
    rope_theta: float
    long_context: str  # RoPE scaling past ``context``: "llama3" or "yarn"
    untie_from: float  # untie the LM head from this many non-embedding params up
    ffn_ratio: float  # intermediate / hidden the family uses
    head_dim: int  # every size: a changing head_dim would make the head count drop as models grow
    kv_rule: tuple[tuple[float, int | None], ...]  # (from non-embedding params, KV heads); None = MHA
    kv_note: str  # where the KV rule comes from
    heads_follow_hidden: bool  # the HF class derives heads from hidden/head_dim (GPT-2)
    max_learned_positions: int | None  # learned position tables stop at the family's own length
    curve: tuple[str, ...]
    family: tuple[str, ...]
    config: dict[str, Any]

    @property
    def gated(self) -> bool:
        return self.config.get("mlp_type", "gated") == "gated"

    @property
    def ffn_band(self) -> tuple[float, float]:
        """The intermediate/hidden ratios a design may use; outside them a warning says why."""
        return 0.7 * self.ffn_ratio, 1.4 * self.ffn_ratio

    def kv_heads_at(self, non_embedding: float) -> int | None:
        """The family's KV head count at this size (None: every head keeps its own K/V, MHA)."""
        kv = self.kv_rule[0][1]
        for start, value in self.kv_rule:
            if non_embedding >= start:
                kv = value
        return kv


_LLAMA_BLOCK = {"norm_type": "rmsnorm", "mlp_type": "gated", "hidden_act": "silu", "position_embedding": "rope"}
_SMALL_LLAMA_LIKE = ("smollm2-135m", "smollm2-360m", "smollm2-1.7b")  # SmolLM2: trained from scratch, 2T+ tokens

STYLES: dict[str, Style] = {
    s.name: s
    for s in (
        Style(
            "llama3", "Llama 3 (GQA with 8 KV heads, head_dim 128, RoPE 500k, SwiGLU 3.5x, RMSNorm)",
            128256, "Llama 3's 128K tiktoken-based tokenizer", 8192, 500000.0, "llama3", 4e9, 3.5, 128,
            ((0, 8),), "Llama 3 uses 8 KV heads at 8B, 70B and 405B", False, None,
            (*_SMALL_LLAMA_LIKE, "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b"),
            ("llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b"),
            {**_LLAMA_BLOCK, "norm_eps": 1e-5},
        ),
        Style(
            "llama2", "Llama 2 (MHA below 30B and GQA 8 above, RoPE 10k, SwiGLU 8/3x, RMSNorm)",
            32000, "Llama 2's 32K SentencePiece tokenizer", 4096, 10000.0, "yarn", 0, 8 / 3, 128,
            ((0, None), (30e9, 8)), "Llama 2 keeps MHA at 7B and 13B and uses 8 KV heads at 70B", False, None,
            (*_SMALL_LLAMA_LIKE, "llama-2-7b", "llama-2-13b", "llama-2-70b"),
            ("llama-2-7b", "llama-2-13b", "llama-2-70b"),
            {**_LLAMA_BLOCK, "norm_eps": 1e-5},
        ),
        Style(
            "mistral", "Mistral (sliding window 4096, 8 KV heads, head_dim 128, RoPE 10k, SwiGLU 3.5x)",
            32000, "Mistral's 32K SentencePiece tokenizer", 32768, 10000.0, "yarn", 0, 3.5, 128,
            ((0, 8),), "every Mistral model (7B, Nemo 12B, Small 24B, Large 123B) uses 8 KV heads", False, None,
            (*_SMALL_LLAMA_LIKE, "mistral-7b-v0.1", "mistral-nemo-12b", "mistral-small-24b", "mistral-large-123b"),
            ("mistral-7b-v0.1", "mistral-nemo-12b", "mistral-small-24b", "mistral-large-123b"),
            {**_LLAMA_BLOCK, "norm_eps": 1e-5, "sliding_window": 4096},
        ),
        Style(
            "qwen2", "Qwen2.5 (q/k/v bias, 2/4/8 KV heads by size, head_dim 128, RoPE 1M, SwiGLU ~5.25x)",
            151936, "Qwen's 152K byte-level BPE tokenizer", 32768, 1000000.0, "yarn", 4e9, 5.25, 128,
            ((0, 2), (5e9, 4), (1e10, 8)), "Qwen2.5 uses 2 KV heads up to 3B, 4 at 7B and 8 from 14B", False, None,
            ("qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-3b", "qwen2.5-7b", "qwen2.5-14b", "qwen2.5-32b", "qwen2.5-72b"),
            ("qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-3b", "qwen2.5-7b", "qwen2.5-14b", "qwen2.5-32b", "qwen2.5-72b"),
            {**_LLAMA_BLOCK, "norm_eps": 1e-6, "qkv_bias": True},
        ),
        Style(
            "qwen3", "Qwen3 (per-head QK-norm, 8 KV heads, head_dim 128, RoPE 1M, SwiGLU 3x)",
            151936, "Qwen's 152K byte-level BPE tokenizer", 32768, 1000000.0, "yarn", 5e9, 3.0, 128,
            ((0, 8),), "Qwen3 uses 8 KV heads and head_dim 128 at every dense size", False, None,
            ("qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b", "qwen3-14b", "qwen3-32b"),
            ("qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b", "qwen3-14b", "qwen3-32b"),
            {**_LLAMA_BLOCK, "norm_eps": 1e-6, "qk_norm": "head"},
        ),
        Style(
            "gpt2", "GPT-2/GPT-3 (learned positions, LayerNorm with bias, GELU 4x, biases everywhere, tied)",
            50257, "GPT-2's 50K byte-level BPE tokenizer", 1024, 10000.0, "yarn", float("inf"), 4.0, 64,
            ((0, None),), "GPT-2's class has MHA only", True, 2048,
            ("gpt3-125m", "gpt3-350m", "gpt3-760m", "gpt3-1.3b", "gpt3-2.7b", "gpt3-6.7b", "gpt3-13b", "gpt3-175b"),
            ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "gpt3-125m", "gpt3-350m", "gpt3-760m", "gpt3-1.3b",
             "gpt3-2.7b", "gpt3-6.7b", "gpt3-13b", "gpt3-175b"),
            {
                "norm_type": "layernorm", "norm_bias": True, "norm_eps": 1e-5,
                "mlp_type": "plain", "hidden_act": "gelu_new", "position_embedding": "learned",
                "qkv_bias": True, "attn_out_bias": True, "mlp_bias": True,
            },
        ),
    )
}  # fmt: skip


def get_style(name: str) -> Style:
    if name in STYLES:
        return STYLES[name]
    close = closest_name(str(name), STYLES)
    hint = f"did you mean {close}? " if close else ""
    raise ConfigError(f"style={name!r} is not known; {hint}fix: use one of {', '.join(STYLES)}")
