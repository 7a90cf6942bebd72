"""A static key/value cache for incremental decoding: allocated once, written in place.

Each layer's keys and values live in one tensor ``[2, batch, kv_heads, slots, head_dim]`` (keys, then
values), allocated at the first call (when batch, device, dtype and this rank's head count are known)
and never reallocated: no ``torch.cat`` per token, every decoding step sees the same shapes, and a
step writes a layer's key and value with one ``index_copy_`` (one kernel, in a compiled step).

    full layers      ``max_len`` slots; the t-th token of the stream sits in slot t
    sliding layers   a ring of ``min(sliding_window, max_len)`` slots; token t sits in slot
                     t % ring (the window is all a query can see, itself included)

Multi-head latent attention layers store their compressed latent [batch, 1, slots, kv_lora_rank]
as the keys and the shared RoPE key [batch, 1, slots, qk_rope_head_dim] as the values (mla.py).
For each kind of layer the cache also records which slots hold a real token (not padding) and
its position, which is what the masks need.

A call reads the cache one of two ways:

- a chunk (the prompt, or several tokens): the layer attends over the cached tokens in stream
  order followed by the chunk's own, the layout ``build_mask`` expands (queries are the last
  keys). Full layers and rings that have not wrapped hand out a view of the cache itself;
- a decode step (one token): the token is written into its slot first, then attends over every
  slot of the layer, the mask saying which slots it sees. The step reads only device tensors
  (``step``, ``next_position``, the slot records), never a host-side count, so a compiled step
  has fixed shapes and no guard that changes, and replays as one CUDA graph (generation.py).
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from ..config import ArchConfig
from ..errors import InputError


class Keys(NamedTuple):
    """What the layers of one kind attend over in this call, for the mask.

    ``valid`` [batch, keys]: which keys the queries may see as tokens (None: no padding anywhere,
    chunks only); ``positions`` [batch or 1, keys]: each key's position (for ALiBi); ``length``:
    the number of keys; ``step``: a decode step over every slot, whose ``valid`` already rules
    out empty slots and tokens outside the window.
    """

    valid: torch.Tensor | None
    positions: torch.Tensor
    length: int
    step: bool = False


class KVCache:
    """Keys and values of every layer for up to ``max_len`` tokens per row (padding included).

    ``KVCache(model.config, max_len)``, then ``model(ids, cache=cache)`` once per chunk or token.
    """

    def __init__(self, cfg: ArchConfig, max_len: int):
        if not isinstance(max_len, int) or isinstance(max_len, bool) or max_len < 1:
            raise InputError(f"max_len={max_len!r} must be a positive integer; fix: the prompt length plus the tokens to generate")
        self.config = cfg  # the model it was made for: a cache of another layout is refused
        self.max_len = max_len
        window = cfg.sliding_window
        self.layer_sliding = [cfg.layer_is_sliding(i) for i in range(cfg.num_hidden_layers)]
        # Slots per kind of layer present (sliding?): a ring holds the window, the query's own token included.
        self.sizes = {s: min(window, max_len) if s else max_len for s in sorted(set(self.layer_sliding))}
        # Per layer: its keys and values in one tensor [2, ...], or (MLA: latent and RoPE key) a pair.
        self.stored: list[torch.Tensor | tuple[torch.Tensor, torch.Tensor] | None] = [None] * cfg.num_hidden_layers
        self.length = 0  # tokens stored so far, padding included (the same for every row); host side
        self.padded = False  # whether any stored token is padding (until then chunks need no validity mask)
        self.counting = True  # positions so far are 0, 1, 2, ... (no padding, no position_ids)
        self.decoding = False  # whether the current call is a one-token decode step
        # Whether generate(compile=True) owns this cache, so that its steps compile with static shapes and may
        # use FlexAttention's decoding kernel (masks.step_mask); a user's own compiled loop gets the dense mask.
        self.compiled_step = False
        # Device side, allocated at the first call:
        self.step: torch.Tensor | None = None  # [1] int64, equal to length: where a decode step writes
        self.next_position: torch.Tensor | None = None  # [batch] int64: the next token's position per row
        self.valid: dict[bool, torch.Tensor] = {}  # per kind (sliding?): [batch, slots] holds a real token
        self.positions: dict[bool, torch.Tensor] = {}  # per kind: [batch, slots] that token's position

    def reset(self) -> None:
        """Empty the cache, keeping its memory (and so the addresses a CUDA graph was captured with)."""
        self.length, self.padded, self.counting, self.decoding = 0, False, True, False
        for t in [self.step, self.next_position, *self.valid.values(), *self.positions.values()]:
            if t is not None:
                t.zero_()

    def begin(self, batch: int, seq: int, device: torch.device) -> bool:
        """Start a call of ``seq`` tokens; whether it is a decode step. Checks what the host knows
        (skipped while compiling: a compiled decode step's caller keeps the count)."""
        if not torch.compiler.is_compiling():
            if self.step is not None and (self.next_position.shape[0] != batch or self.step.device != device):
                raise InputError(
                    f"this cache holds {self.next_position.shape[0]} rows on {self.step.device}, but the input has {batch} "
                    f"on {device}; fix: a new KVCache for each batch"
                )
            if self.length + seq > self.max_len:
                raise InputError(
                    f"the cache holds {self.length} of max_len={self.max_len} tokens and cannot take {seq} more; "
                    f"fix: KVCache(config, max_len={self.length + seq}) or more"
                )
        if self.step is None:
            self._allocate(batch, device)
        self.decoding = seq == 1
        return self.decoding

    def _allocate(self, batch: int, device: torch.device) -> None:
        self.step = torch.zeros(1, dtype=torch.long, device=device)
        self.next_position = torch.zeros(batch, dtype=torch.long, device=device)
        for sliding, size in self.sizes.items():
            self.valid[sliding] = torch.zeros(batch, size, dtype=torch.bool, device=device)
            self.positions[sliding] = torch.zeros(batch, size, dtype=torch.long, device=device)
        _mark_static(self.step, self.next_position, *self.valid.values(), *self.positions.values())

    def record(self, valid: torch.Tensor | None, positions: torch.Tensor) -> dict[bool, Keys]:
        """Store this call's token validity [batch, seq] (None: all real) and positions [batch or 1,
        seq]; per kind of layer (sliding?), the keys its layers attend over."""
        batch, seq = self.next_position.shape[0], positions.shape[1]
        real = torch.ones(batch, seq, dtype=torch.bool, device=positions.device) if valid is None else valid
        positions = positions.expand(batch, seq)
        if valid is not None:
            self.padded = True
        keys = {}
        for sliding, size in self.sizes.items():
            if self.decoding:
                slot = self.step % size
                visible = self.valid[sliding].index_copy_(1, slot, real)
                # A padding query still sees itself, so that no softmax row is empty (its output is unused).
                visible = visible | (torch.arange(size, device=slot.device) == slot)
                keys[sliding] = Keys(visible, self.positions[sliding].index_copy_(1, slot, positions), size, True)
            else:
                seen = _append(self.valid[sliding], real, self.length, dim=1)
                key_positions = _append(self.positions[sliding], positions, self.length, dim=1)
                keys[sliding] = Keys(seen if self.padded else None, key_positions, seen.shape[1])
        return keys

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store this call's keys/values [batch, kv_heads, seq, head_dim]; return what the layer attends over."""
        if self.stored[layer] is None:
            size = self.sizes[self.layer_sliding[layer]]
            if not self.config.is_mla:  # one buffer [2, batch, kv_heads, slots, head_dim]: see below
                self.stored[layer] = k.new_zeros(2, *k.shape[:2], size, k.shape[3])
            else:  # MLA's latent and RoPE key (of different widths, as a rule): a buffer each
                self.stored[layer] = (k.new_zeros(*k.shape[:2], size, k.shape[3]), v.new_zeros(*v.shape[:2], size, v.shape[3]))
            _mark_static(*(self.stored[layer] if isinstance(self.stored[layer], tuple) else [self.stored[layer]]))
        stored = self.stored[layer]
        keys, values = stored[0], stored[1]
        if self.decoding:
            slot = self.step % keys.shape[2]
            if isinstance(stored, tuple):
                return keys.index_copy_(2, slot, k), values.index_copy_(2, slot, v)
            # Keys and values in one write: a compiled step then stores both (and the key's RoPE) in one
            # kernel instead of a kernel each, and a decode step is bound by its number of kernels.
            stored.index_copy_(3, slot, torch.stack((k, v)))
            return keys, values
        return _append(keys, k, self.length, dim=2), _append(values, v, self.length, dim=2)

    @property
    def keys(self) -> tuple[torch.Tensor | None, ...]:
        """Each layer's stored keys [batch, kv_heads, slots, head_dim] (MLA: its latent), views of the cache;
        None before the layer's first call. A snapshot: read it again after a call."""
        return tuple(None if stored is None else stored[0] for stored in self.stored)

    @property
    def values(self) -> tuple[torch.Tensor | None, ...]:
        """Each layer's stored values (MLA: its RoPE key), as :attr:`keys`."""
        return tuple(None if stored is None else stored[1] for stored in self.stored)

    def advance(self, seq: int, next_position: torch.Tensor, counting: bool) -> None:
        """Finish a call of ``seq`` tokens: ``next_position`` [batch] is where each row goes on;
        ``counting``: this call's positions continued 0, 1, 2, ..."""
        self.step.add_(seq)
        self.next_position.copy_(next_position)
        if not torch.compiler.is_compiling():  # a compiled decode step's caller adds to the host count
            self.length += seq
            self.counting = self.counting and counting


def _append(buffer: torch.Tensor, new: torch.Tensor, start: int, dim: int) -> torch.Tensor:
    """Write ``new`` (tokens ``start``... of the stream) into the slots of ``buffer`` along ``dim``
    (token t in slot t % slots); return the stored tokens followed by ``new``, in stream order."""
    size, seq = buffer.shape[dim], new.shape[dim]
    if start + seq <= size:  # nothing wraps: a view of the buffer itself, nothing copied
        buffer.narrow(dim, start, seq).copy_(new)
        return buffer.narrow(dim, 0, start + seq)
    kept = min(start, size)  # a ring that wrapped: the tokens it holds, oldest first, then the new ones
    order = torch.arange(start - kept, start, device=buffer.device) % size
    seen = torch.cat([buffer.index_select(dim, order), new], dim=dim)
    last = min(seq, size)
    buffer.index_copy_(dim, torch.arange(start + seq - last, start + seq, device=buffer.device) % size, new.narrow(dim, seq - last, last))
    return seen


def _mark_static(*tensors: torch.Tensor) -> None:
    """CUDA graphs replay fixed addresses: tell torch.compile that these tensors, which a decode step
    updates in place, keep theirs (else Inductor would skip the step's CUDA graph)."""
    for t in tensors:
        if t.is_cuda:
            torch._dynamo.mark_static_address(t)
