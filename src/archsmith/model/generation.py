"""Incremental decoding: a key/value cache and ``generate`` (greedy, temperature, top-k, top-p).

``generate`` returns the prompt followed by the new tokens and stops when every row has
produced an end-of-sequence token, padding finished rows with it, as transformers does.
Prompts of different lengths go in one batch LEFT-padded with an ``attention_mask``; each
token's position is then the number of real tokens before it (HF's ``cumsum(mask) - 1``),
so a padded row decodes exactly as it would alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..config import ArchConfig
from ..errors import InputError


class KVCache:
    """Keys and values of every layer, plus what the masks need about the cached tokens.

    Sliding-window layers keep only the last ``sliding_window - 1`` keys: that is all the
    next token can see (key j is visible to query i iff i - j < window). Multi-head latent
    attention layers store their compressed latent [batch, 1, seq, kv_lora_rank] as the keys
    and the shared RoPE key [batch, 1, seq, qk_rope_head_dim] as the values (model/mla.py).
    """

    def __init__(self, cfg: ArchConfig):
        self.config = cfg  # the model it was made for: a cache of another layout is refused
        n = cfg.num_hidden_layers
        self.window_keep = None if cfg.sliding_window is None else cfg.sliding_window - 1
        self.keep = [self.window_keep if cfg.layer_is_sliding(i) else None for i in range(n)]
        # The slot bookkeeping below must cover the layer that keeps the most keys.
        self.history_keep = None if None in self.keep else self.window_keep
        self.keys: list[torch.Tensor | None] = [None] * n
        self.values: list[torch.Tensor | None] = [None] * n
        self.length = 0  # tokens appended so far, padding included (the same for every row)
        self.valid: torch.Tensor | None = None  # [batch, slots] real token (not padding); None: no padding yet
        self.positions: torch.Tensor | None = None  # [batch or 1, slots] position of each cached token
        self.next_position: torch.Tensor | None = None  # [batch]; None while positions are just 0, 1, 2, ...

    def cached_length(self, sliding: bool) -> int:
        """How many keys a layer of this kind holds before the next step."""
        keep = self.window_keep if sliding else None
        return self.length if keep is None else min(self.length, keep)

    @property
    def history_length(self) -> int:
        return self.length if self.history_keep is None else min(self.length, self.history_keep)

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append this step's keys/values [batch, kv_heads, seq, head_dim]; return all the layer attends to."""
        if self.keys[layer] is not None:
            k = torch.cat([self.keys[layer], k], dim=2)
            v = torch.cat([self.values[layer], v], dim=2)
        self.keys[layer] = _keep_last(k, self.keep[layer], dim=2)
        self.values[layer] = _keep_last(v, self.keep[layer], dim=2)
        return k, v

    def advance(
        self,
        steps: int,
        valid: torch.Tensor | None,
        positions: torch.Tensor,
        next_position: torch.Tensor | None,
    ) -> None:
        """Record a finished step: ``valid``/``positions`` cover the cached slots plus the new tokens."""
        self.length += steps
        self.valid = _keep_last(valid, self.history_keep, dim=1)
        self.positions = _keep_last(positions, self.history_keep, dim=1)
        self.next_position = next_position


def _keep_last(x: torch.Tensor | None, keep: int | None, dim: int) -> torch.Tensor | None:
    if x is None or keep is None:
        return x
    return x.narrow(dim, max(x.shape[dim] - keep, 0), min(keep, x.shape[dim]))


@torch.no_grad()
def generate(
    model,
    input_ids: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    eos_token_id: int | Sequence[int] | None = None,
    attention_mask: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Extend ``input_ids`` [batch, seq] by up to ``max_new_tokens`` tokens; see ``Transformer.generate``."""
    _check_sampling(max_new_tokens, temperature, top_k, top_p, generator)
    eos = None
    if eos_token_id is not None:
        eos = torch.tensor(_eos_ids(eos_token_id, model.config.vocab_size), device=input_ids.device)
    cache = KVCache(model.config)
    tokens, mask = input_ids, attention_mask
    step_ids, step_mask = input_ids, attention_mask
    finished = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
    switch = _longrope_switch(model)
    for _ in range(max_new_tokens):
        if switch is not None and cache.length <= switch < tokens.shape[1]:
            # LongRoPE rotates every position with its long factors once the sequence is longer than
            # its original length, but the cached keys were rotated with the short ones: start over
            # on the whole sequence once, as transformers' Phi-3 does.
            cache = KVCache(model.config)
            step_ids, step_mask = tokens, mask
        hidden = model.hidden_states(step_ids, attention_mask=step_mask, cache=cache)
        logits = model.logits(hidden[:, -1]).float()
        next_token = _choose(logits, temperature, top_k, top_p, generator)
        if eos is not None:
            next_token = torch.where(finished, eos[0], next_token)  # finished rows are padded with EOS
            finished |= torch.isin(next_token, eos)
        tokens = torch.cat([tokens, next_token[:, None]], dim=1)
        if eos is not None and bool(finished.all()):
            break
        step_ids = next_token[:, None]
        step_mask = None if attention_mask is None else torch.ones_like(step_ids)
        mask = None if mask is None else torch.cat([mask, step_mask], dim=1)
    return tokens


def _longrope_switch(model) -> int | None:
    """The sequence length past which the model's LongRoPE uses its long factors (None without)."""
    lengths = [rotary.switch_length for rotary in model.rotary.values() if rotary.switch_length is not None]
    return min(lengths, default=None)


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _check_sampling(
    max_new_tokens: int, temperature: float, top_k: int | None, top_p: float | None, generator: torch.Generator | None
) -> None:
    """Every sampling argument of the right type and range (plain Python values: no device work)."""
    if not _is_int(max_new_tokens) or max_new_tokens < 0:
        raise InputError(f"max_new_tokens={max_new_tokens!r} must be a non-negative integer; fix: e.g. max_new_tokens=32")
    if not _is_real(temperature) or temperature < 0:
        raise InputError(f"temperature={temperature!r} must be a finite number >= 0 (0 = greedy); fix: e.g. temperature=0.7")
    if top_k is not None and (not _is_int(top_k) or top_k < 1):
        raise InputError(f"top_k={top_k!r} must be a positive integer or None; fix: e.g. top_k=50")
    if top_p is not None and not (_is_real(top_p) and 0.0 < top_p <= 1.0):
        raise InputError(f"top_p={top_p!r} must be a number in (0, 1]; fix: e.g. top_p=0.9, or None")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise InputError(f"generator must be a torch.Generator or None, got {type(generator).__name__}; fix: torch.Generator().manual_seed(0)")


def _eos_ids(eos_token_id: int | Sequence[int], vocab_size: int) -> list[int]:
    """The end-of-sequence ids as a non-empty list of token ids in the vocabulary."""
    ids = [eos_token_id] if _is_int(eos_token_id) else eos_token_id
    if not isinstance(ids, Sequence) or isinstance(ids, str) or not ids or not all(_is_int(i) for i in ids):
        raise InputError(f"eos_token_id={eos_token_id!r} must be a token id or a non-empty list of them; fix: e.g. eos_token_id=2, or None")
    bad = [i for i in ids if not 0 <= i < vocab_size]
    if bad:
        raise InputError(f"eos_token_id {bad[0]} is outside the vocabulary (ids 0..{vocab_size - 1}); fix: the tokenizer's eos id")
    return list(ids)


def _choose(
    logits: torch.Tensor,
    temperature: float,
    top_k: int | None,
    top_p: float | None,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """The next token of each row: argmax, or a sample after HF's warpers (temperature, top-k, top-p)."""
    if temperature == 0.0:
        return logits.argmax(dim=-1)
    scores = logits / temperature
    if top_k is not None:
        kth = torch.topk(scores, min(top_k, scores.shape[-1])).values[..., -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    if top_p is not None:
        # Drop the least likely tokens whose total probability stays within 1 - top_p; keep at least one.
        sorted_scores, order = torch.sort(scores, descending=False)
        cumulative = sorted_scores.softmax(dim=-1).cumsum(dim=-1)
        remove_sorted = cumulative <= (1 - top_p)
        remove_sorted[..., -1:] = False
        scores = scores.masked_fill(remove_sorted.scatter(1, order, remove_sorted), float("-inf"))
    probs = scores.softmax(dim=-1)
    return torch.multinomial(probs, num_samples=1, generator=generator).squeeze(1)
