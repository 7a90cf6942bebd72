"""Incremental decoding: ``generate`` (greedy, temperature, top-k, top-p) over a static KV cache.

The prompt runs as one chunk (the prefill), then one token per step through ``decode_step``:
fixed shapes, no host sync (the host reads "has every row finished?" only every
EOS_CHECK_EVERY steps, and only with an ``eos_token_id``). With ``compile=True`` the step is
compiled once and, on GPU, replayed as a CUDA graph; the prefill stays eager (one call).

``generate`` returns the prompt followed by the new tokens and stops when every row has
produced an end-of-sequence token, padding finished rows with it, as transformers does.
Prompts of different lengths go in one batch LEFT-padded with an ``attention_mask``; each
token's position is then the number of real tokens before it (HF's ``cumsum(mask) - 1``),
so a padded row decodes exactly as it would alone.
"""

from __future__ import annotations

import contextlib
import functools
import math
import weakref
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from ..errors import InputError
from .cache import KVCache
from .masks import recompile_limit_at_least

EOS_CHECK_EVERY = 8  # decode steps between the host's reads of "has every row finished?"
DECODE_RECOMPILE_LIMIT = 64  # compiled decode steps (model, batch, capacity) a process may keep
CAPACITY_STEP = 256  # a compiled decoder's cache is rounded up to this many tokens, so nearby lengths share a graph
_ARGMAX_PIECE = 1024  # vocabulary entries per first-pass maximum of the compiled step's greedy choice

# The compiled step's cache, per model, reused by the next generate() of the same shape: a CUDA
# graph replays the addresses it was captured with.
_compiled_caches: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


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
    compile: bool = False,
) -> torch.Tensor:
    """Extend ``input_ids`` [batch, seq] by up to ``max_new_tokens`` tokens; see ``Transformer.generate``."""
    _check_sampling(max_new_tokens, temperature, top_k, top_p, generator)
    if not isinstance(compile, bool):
        raise InputError(f"compile={compile!r} must be True or False; fix: compile=True for a compiled decode step")
    eos = None
    if eos_token_id is not None:
        eos = torch.tensor(_eos_ids(eos_token_id, model.config.vocab_size), device=input_ids.device)
    if max_new_tokens == 0:
        return input_ids
    batch, prompt = input_ids.shape
    if compile:
        cache = _compiled_cache(model, batch, prompt + max_new_tokens, input_ids.device)
        step = _compiled_step(model, cache)
    else:
        cache = KVCache(model.config, prompt + max_new_tokens)
        step = functools.partial(_eager_step, model, cache)

    tokens = input_ids.new_empty(batch, prompt + max_new_tokens)
    tokens[:, :prompt] = input_ids

    def prefill(length: int) -> torch.Tensor:
        """The first ``length`` tokens as one chunk into the emptied cache: the last one's logits."""
        cache.reset()
        mask = None if attention_mask is None else F.pad(attention_mask, (0, length - prompt), value=1)
        return model.logits(model.hidden_states(tokens[:, :length], attention_mask=mask, cache=cache)[:, -1]).float()

    finished = torch.zeros(batch, dtype=torch.bool, device=input_ids.device)
    all_finished = torch.zeros(max_new_tokens, dtype=torch.bool, device=input_ids.device)  # after each new token
    switch = _longrope_switch(model)
    logits, argmax = prefill(prompt), None
    new = 0
    while True:
        greedy = temperature == 0.0 and argmax is not None
        next_token = argmax if greedy else _choose(logits, temperature, top_k, top_p, generator)
        if eos is not None:
            next_token = torch.where(finished, eos[0], next_token)  # finished rows are padded with EOS
            finished |= torch.isin(next_token, eos)
            all_finished[new] = finished.all()
        tokens[:, prompt + new] = next_token
        new += 1
        if new == max_new_tokens or (eos is not None and new % EOS_CHECK_EVERY == 0 and bool(all_finished[new - 1])):
            break
        if switch is not None and cache.length <= switch < prompt + new:
            # LongRoPE rotates every position with its long factors once the sequence is longer than
            # its original length, but the cached keys were rotated with the short ones: start over
            # on the whole sequence once, as transformers' Phi-3 does.
            logits, argmax = prefill(prompt + new), None
        else:  # a copy: a compiled step's outputs are overwritten by the next, and a view's strides vary
            logits, argmax = step(next_token[:, None].clone())
    if eos is not None:  # stop at the first token after which every row had finished, as if checked every step
        done = all_finished[:new]
        new = int(torch.where(done.any(), done.long().argmax() + 1, new))
    return tokens[:, : prompt + new]


def _longrope_switch(model) -> int | None:
    """The sequence length past which the model's LongRoPE uses its long factors (None without)."""
    lengths = [rotary.switch_length for rotary in model.rotary.values() if rotary.switch_length is not None]
    return min(lengths, default=None)


def decode_step(model, cache: KVCache, token: torch.Tensor) -> torch.Tensor:
    """One token per row ([batch, 1]) through ``model`` over ``cache``: float32 logits [batch, vocab].

    Reads only device state that changes from step to step (the cache's ``step``, positions and
    slots), so ``torch.compile`` traces it once (the tokens come from the model itself: no input
    checks). Compiled, the caller adds the token to ``cache.length`` (see ``KVCache.advance``).
    """
    hidden = model._hidden_states(token, None, None, cache)
    return model.logits(hidden[:, -1]).float()


def _step_and_argmax(model, cache: KVCache, token: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`decode_step` and each row's greedy choice (:func:`_argmax`). Compiled, the argmax is part
    of the step's CUDA graph instead of an eager launch per token."""
    logits = decode_step(model, cache, token)
    return logits, _argmax(logits)


def _argmax(logits: torch.Tensor, piece: int = _ARGMAX_PIECE) -> torch.Tensor:
    """``logits.argmax(-1)`` over [batch, vocab], the first maximum on ties, in two passes: the
    maximum of each ``piece`` of the vocabulary, then the first piece holding the largest (a NaN
    counts as the largest, as in torch).

    Why: torch's argmax, and Inductor's, give a row to one thread block, which over a 128k
    vocabulary took 28 µs of a batch-1 step on an H200; in pieces, the first pass spreads over the
    card. In an A/B of the compiled step (llama-3.2-1b, batch 1, 1024 new tokens, torch 2.11),
    decoding went from 811 to 825 tokens/s (benchmarks/results/decode_argmax_ab_h200.md)."""
    batch, vocab = logits.shape
    pieces = -(-vocab // piece)
    padded = F.pad(logits, (0, pieces * piece - vocab), value=float("-inf"))  # never a maximum, nor the first
    best, where = padded.view(batch, pieces, piece).max(dim=-1)  # each piece's first maximum
    first = best.argmax(dim=-1, keepdim=True)  # the first piece with the largest
    return (first * piece + where.gather(-1, first)).squeeze(-1)


def _eager_step(model, cache: KVCache, token: torch.Tensor) -> tuple[torch.Tensor, None]:
    """:func:`decode_step`, with no greedy choice of its own (``_choose`` makes it when needed)."""
    return decode_step(model, cache, token), None


def _compiled_step(model, cache: KVCache) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """:func:`_step_and_argmax` compiled once, with CUDA graphs on GPU (:data:`CUDA_STEP_OPTIONS`)."""
    cuda = cache.step.is_cuda if cache.step is not None else next(model.parameters()).is_cuda
    compiled = _compiled_decode_step(cuda)

    first_call = True

    def step(token: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        nonlocal first_call
        if cuda:  # the previous step's outputs are dead: the graph may overwrite them
            torch.compiler.cudagraph_mark_step_begin()
        # Only the first call can compile (the later ones find its graph). Every model, batch and cache
        # capacity is a graph of its own, and past dynamo's recompile limit (8 by default) a
        # fullgraph compile fails: the limit is raised for that call, and reaching it still is an InputError.
        room = recompile_limit_at_least(DECODE_RECOMPILE_LIMIT) if first_call else contextlib.nullcontext()
        try:
            with room:
                out = compiled(model, cache, token)
        except _LIMIT_HIT as error:
            raise InputError(
                f"generate(compile=True) has reached its limit of {DECODE_RECOMPILE_LIMIT} compiled decode steps in "
                "this process (one per model, batch size and cache capacity); fix: fewer distinct batch sizes or "
                f"lengths (capacities round up to multiples of {CAPACITY_STEP} tokens), compile=False, or "
                "torch._dynamo.reset() to drop the compiled steps"
            ) from error
        first_call = False
        cache.length += 1  # the host count, which the compiled step does not keep
        return out

    return step


_COMPILED: dict[bool, Callable] = {}
# What a fullgraph compile raises at the recompile limit (older torch named it for the cache size).
_LIMIT_HIT = tuple(
    getattr(torch._dynamo.exc, name)
    for name in ("FailOnRecompileLimitHit", "FailOnCacheLimitHit")
    if hasattr(torch._dynamo.exc, name)
)


def _compiled_decode_step(cuda: bool) -> Callable:
    """One compiled :func:`_step_and_argmax` per process and device kind (torch.compile keys its graphs by
    the model and cache shapes it sees)."""
    if cuda not in _COMPILED:
        # dynamic=False: a graph per cache shape. With automatic dynamic shapes, a batch-16 step after
        # two batch-1 capacities failed on an H200 (torch 2.11: CUBLAS_STATUS_EXECUTION_FAILED);
        # compiled static, the same sequence ran.
        _COMPILED[cuda] = torch.compile(
            _step_and_argmax, fullgraph=True, dynamic=False, options=cuda_step_options() if cuda else None
        )
    return _COMPILED[cuda]


# Inductor options of the compiled step on GPU. A batch-1 step is some 220 short kernels, so launch gaps
# count: CUDA graphs (what mode="reduce-overhead" sets) replay them without the host, and programmatic
# dependent launch (PDL: Hopper and later; Inductor leaves it out of other cards and of its templates) lets
# each Triton kernel launch while the one before it drains. It waits for that kernel (griddepcontrol.wait)
# before it reads what that kernel writes or writes what it uses, and in any case after its first load;
# the next kernel may launch once this one has issued its loads. Turn it off with
# CUDA_STEP_OPTIONS["triton.enable_pdl"] = False before the first compiled generate; torch itself leaves
# it off by default.
# On an H200 (torch 2.11, llama-3.2-1b, batch 1, 1024 new) PDL took the gaps between the step's kernels
# from ~128 µs to ~28 µs a step: 913 tok/s against 842 (benchmarks/results/decode_pdl_ab_h200.md).
# Older torch lacks the option.
CUDA_STEP_OPTIONS = {"triton.cudagraphs": True, "triton.enable_pdl": True}


def cuda_step_options() -> dict:
    """:data:`CUDA_STEP_OPTIONS`, less those that this torch's Inductor does not know."""
    import torch._inductor.config as inductor

    known = inductor.get_config_copy()  # what torch.compile checks an option against
    return {key: value for key, value in CUDA_STEP_OPTIONS.items() if key in known}


def _compiled_cache(model, batch: int, tokens: int, device: torch.device) -> KVCache:
    """A cache for ``tokens`` tokens per row, rounded up to CAPACITY_STEP inside the position table,
    reused (emptied) from the model's previous compiled generate when the shapes agree."""
    cfg = model.config
    table = cfg.max_position_embeddings if model.has_position_table else None
    if table is not None and tokens > table:
        raise InputError(
            f"compile=True decodes inside the position table, but {tokens} tokens pass max_position_embeddings={table}; "
            "fix: compile=False to go past it, or fewer tokens"
        )
    capacity = -(-tokens // CAPACITY_STEP) * CAPACITY_STEP
    if table is not None:
        capacity = min(capacity, table)
    key = (batch, capacity, device, next(model.parameters()).dtype)
    kept = _compiled_caches.get(model)
    if kept is not None and kept[0] == key:
        kept[1].reset()
        return kept[1]
    cache = KVCache(cfg, capacity)
    cache.compiled_step = True  # its steps compile here, with static shapes: FlexAttention's decoding kernel may run
    _compiled_caches[model] = (key, cache)
    return cache


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
