"""Position information: rotary embeddings (RoPE, with every HF scaling type) and ALiBi slopes.

The RoPE frequencies follow ``transformers.modeling_rope_utils`` formula for formula, so
a checkpoint trained with HF's scaling behaves the same here:

    default   inv_freq_i = theta ** (-2i / d)                        (d = rotary dimension)
    linear    inv_freq / factor
    dynamic   theta grows with the sequence once it passes max_position_embeddings (NTK-aware)
    yarn      per-dimension blend of interpolated and extrapolated frequencies, cos/sin times
              an attention factor (0.1 ln(factor) + 1 unless given)
    llama3    low frequencies divided by factor, high kept, a smooth ramp in between
    longrope  per-dimension rescale factors, the "long" set once the sequence passes
              original_max_position_embeddings, cos/sin times sqrt(1 + ln(f) / ln(L0))

cos/sin are precomputed up to ``max_position_embeddings`` in non-persistent buffers (they
are a function of the config, never part of a checkpoint). Positions past the table are
computed on the fly, so RoPE models can run longer than the table.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..config import ArchConfig


def rope_parameters(cfg: ArchConfig, seq_len: int | None = None, sliding: bool = False) -> tuple[torch.Tensor, float]:
    """Inverse frequencies (float32, ``rotary_dim // 2`` of them) and the cos/sin scale, for
    the sliding-window layers' RoPE (``sliding``, Gemma 3's local base) or the full layers'.

    ``seq_len`` matters for ``dynamic`` (the base grows with it) and ``longrope`` (it picks
    the short or long factors), exactly as the ``seq_len`` argument of HF's init functions.
    """
    dim = cfg.rotary_dim
    base, scaling = cfg.rope_settings(sliding)
    exponents = torch.arange(0, dim, 2, dtype=torch.int64).float() / dim
    scaling = scaling or {"rope_type": "default"}
    rope_type = scaling["rope_type"]

    if rope_type == "default":
        return 1.0 / (base**exponents), 1.0
    if rope_type == "linear":
        return 1.0 / (base**exponents) / scaling["factor"], 1.0
    if rope_type == "dynamic":
        return _dynamic_ntk(cfg, base, scaling, exponents, seq_len), 1.0
    if rope_type == "yarn":
        return _yarn(cfg, base, scaling, dim)
    if rope_type == "llama3":
        return _llama3(scaling, 1.0 / (base**exponents)), 1.0
    if rope_type == "longrope":
        return _longrope(cfg, base, scaling, exponents, seq_len)
    raise AssertionError(f"unhandled rope_type {rope_type!r}")  # config validation lists every type


def _original_length(cfg: ArchConfig, scaling: dict) -> int:
    # HF's standardize_rope_params fills original_max_position_embeddings from max_position_embeddings.
    return scaling.get("original_max_position_embeddings", cfg.max_position_embeddings)


def _dynamic_ntk(cfg: ArchConfig, theta: float, scaling: dict, exponents: torch.Tensor, seq_len: int | None) -> torch.Tensor:
    # HF measures growth against max_position_embeddings (not original_max_position_embeddings).
    max_len = cfg.max_position_embeddings
    seq_len = max(seq_len or max_len, max_len)
    factor = scaling["factor"]
    dim = cfg.rotary_dim
    base = theta * ((factor * seq_len / max_len) - (factor - 1)) ** (dim / (dim - 2))
    return 1.0 / (base**exponents)


def yarn_get_mscale(scale: float, m: float = 1.0) -> float:
    """YaRN's attention temperature for a context ``scale``-times longer (``m``: DeepSeek's mscale)."""
    return 1.0 if scale <= 1 else 0.1 * m * math.log(scale) + 1.0


def _yarn(cfg: ArchConfig, base: float, scaling: dict, dim: int) -> tuple[torch.Tensor, float]:
    factor = scaling["factor"]
    original = _original_length(cfg, scaling)
    mscale, mscale_all_dim = scaling.get("mscale"), scaling.get("mscale_all_dim")

    attention_factor = scaling.get("attention_factor")
    if attention_factor is None:
        if mscale and mscale_all_dim:
            attention_factor = float(yarn_get_mscale(factor, mscale) / yarn_get_mscale(factor, mscale_all_dim))
        else:
            attention_factor = yarn_get_mscale(factor)

    beta_fast = scaling.get("beta_fast") or 32
    beta_slow = scaling.get("beta_slow") or 1

    def correction_dim(num_rotations: float) -> float:
        # The dimension whose wavelength fits num_rotations times into the original context.
        return (dim * math.log(original / (num_rotations * 2 * math.pi))) / (2 * math.log(base))

    low, high = correction_dim(beta_fast), correction_dim(beta_slow)
    if scaling.get("truncate", True):
        low, high = math.floor(low), math.ceil(high)
    low, high = max(low, 0), min(high, dim - 1)
    if low == high:
        high += 0.001  # avoid a zero-width ramp, as HF does

    pos_freqs = base ** (torch.arange(0, dim, 2).float() / dim)
    extrapolation, interpolation = 1.0 / pos_freqs, 1.0 / (factor * pos_freqs)
    ramp = torch.clamp((torch.arange(dim // 2, dtype=torch.float32) - low) / (high - low), 0, 1)
    keep_extrapolated = 1 - ramp
    inv_freq = interpolation * (1 - keep_extrapolated) + extrapolation * keep_extrapolated
    return inv_freq, attention_factor


def _llama3(scaling: dict, inv_freq: torch.Tensor) -> torch.Tensor:
    factor = scaling["factor"]
    low_ff, high_ff = scaling["low_freq_factor"], scaling["high_freq_factor"]
    old_len = scaling["original_max_position_embeddings"]
    low_freq_wavelen, high_freq_wavelen = old_len / low_ff, old_len / high_ff

    wavelen = 2 * math.pi / inv_freq
    scaled = torch.where(wavelen > low_freq_wavelen, inv_freq / factor, inv_freq)
    smooth = (old_len / wavelen - low_ff) / (high_ff - low_ff)
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    is_medium = ~(wavelen < high_freq_wavelen) * ~(wavelen > low_freq_wavelen)
    return torch.where(is_medium, smoothed, scaled)


def _longrope(cfg: ArchConfig, base: float, scaling: dict, exponents: torch.Tensor, seq_len: int | None) -> tuple[torch.Tensor, float]:
    original = _original_length(cfg, scaling)
    factor = scaling.get("factor")
    if factor is None:  # Phi-3 leaves it implicit in the two lengths
        factor = cfg.max_position_embeddings / original
    attention_factor = scaling.get("attention_factor")
    if attention_factor is None:
        attention_factor = 1.0 if factor <= 1.0 else math.sqrt(1 + math.log(factor) / math.log(original))
    use_long = seq_len is not None and seq_len > original
    ext = torch.tensor(scaling["long_factor" if use_long else "short_factor"], dtype=torch.float32)
    return 1.0 / (ext * base**exponents), attention_factor


def longrope_switch_length(cfg: ArchConfig, sliding: bool = False) -> int | None:
    """Sequence length above which LongRoPE uses its long factors (None for other types)."""
    _, scaling = cfg.rope_settings(sliding)
    if scaling is None or scaling["rope_type"] != "longrope":
        return None
    return _original_length(cfg, scaling)


def _angles(positions: torch.Tensor, inv_freq: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    # float32 throughout, the same product HF forms (position * inv_freq) before cos/sin.
    freqs = positions.float()[..., None] * inv_freq.to(positions.device)
    return freqs.cos() * scale, freqs.sin() * scale


class RotaryEmbedding(nn.Module):
    """cos/sin of each position for the rotated part of every head.

    Tables hold ``rotary_dim // 2`` frequencies per position; :func:`apply_rope` expands
    them to the rotate-half or interleaved layout. LongRoPE keeps a second table for its
    long factors. ``sliding``: the RoPE of the sliding-window layers (their own base and
    scaling where the config gives them), else that of the full layers.
    """

    def __init__(self, cfg: ArchConfig, sliding: bool = False):
        super().__init__()
        self.cfg = cfg
        self.sliding = sliding
        self.max_len = cfg.max_position_embeddings
        self.switch_length = longrope_switch_length(cfg, sliding)
        _, scaling = cfg.rope_settings(sliding)
        self.length_dependent = scaling is not None and scaling["rope_type"] in ("dynamic", "longrope")
        shape = (self.max_len, cfg.rotary_dim // 2)
        for name in self._table_names():
            self.register_buffer(name, torch.empty(shape, dtype=torch.float32), persistent=False)
        self.reset_tables()

    def _table_names(self) -> list[str]:
        names = ["cos", "sin"]
        if self.switch_length is not None:
            names += ["cos_long", "sin_long"]
        return names

    @torch.no_grad()
    def reset_tables(self) -> None:
        """(Re)compute the tables, e.g. after ``to_empty`` left them uninitialised."""
        if self.cos.is_meta:
            return
        positions = torch.arange(self.max_len, device=self.cos.device)
        cos, sin = _angles(positions, *rope_parameters(self.cfg, sliding=self.sliding))
        self.cos.copy_(cos)
        self.sin.copy_(sin)
        if self.switch_length is not None:
            cos, sin = _angles(positions, *rope_parameters(self.cfg, self.switch_length + 1, self.sliding))
            self.cos_long.copy_(cos)
            self.sin_long.copy_(sin)

    def forward(self, positions: torch.Tensor, seq_len: int | torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin ``[batch or 1, seq, rotary_dim // 2]`` for ``positions``.

        ``seq_len`` is one more than the largest position (HF's ``max(position_ids) + 1``):
        it selects the dynamic-NTK base and the LongRoPE factor set. A tensor (on the device)
        when every position is known to be inside the table (a static cache's decode step):
        the tables are read without a host sync, LongRoPE's factor set chosen on the device.
        None: not known without reading the positions back (padding, explicit position_ids).
        The other RoPE types do not need it: their angles are computed from the positions
        directly, so a compiled forward has no data-dependent branch here; dynamic NTK and
        LongRoPE read it, as HF does.
        """
        if isinstance(seq_len, torch.Tensor):
            cos, sin = self.cos[positions], self.sin[positions]
            if self.switch_length is None:  # dynamic NTK keeps its base inside the table
                return cos, sin
            long = seq_len > self.switch_length
            return torch.where(long, self.cos_long[positions], cos), torch.where(long, self.sin_long[positions], sin)
        if seq_len is None:
            if self.length_dependent:
                seq_len = int(positions.max()) + 1
            else:
                return _angles(positions, *rope_parameters(self.cfg, sliding=self.sliding))
        if seq_len > self.max_len:  # past the table, or dynamic NTK growing its base: compute directly
            return _angles(positions, *rope_parameters(self.cfg, seq_len, self.sliding))
        if self.switch_length is not None and seq_len > self.switch_length:
            return self.cos_long[positions], self.sin_long[positions]
        return self.cos[positions], self.sin[positions]


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, interleaved: bool) -> torch.Tensor:
    """Rotate the first ``2 * cos.shape[-1]`` dims of every head of ``x`` [batch, heads, seq, head_dim].

    Rotate-half (HF/NeoX) pairs dim i with i + rot/2; interleaved (GPT-J/Meta) pairs 2i with 2i+1.
    The rest of each head passes through unrotated (partial rotary).
    """
    rot = 2 * cos.shape[-1]
    if interleaved:
        cos, sin = cos.repeat_interleave(2, dim=-1), sin.repeat_interleave(2, dim=-1)
    else:
        cos, sin = torch.cat((cos, cos), dim=-1), torch.cat((sin, sin), dim=-1)
    cos, sin = cos.unsqueeze(1).to(x.dtype), sin.unsqueeze(1).to(x.dtype)
    x_rot, x_pass = x[..., :rot], x[..., rot:]
    rotated = x_rot * cos + _rotate(x_rot, interleaved) * sin
    if x_pass.shape[-1] == 0:
        return rotated
    return torch.cat((rotated, x_pass), dim=-1)


def _rotate(x: torch.Tensor, interleaved: bool) -> torch.Tensor:
    if interleaved:
        x1, x2 = x[..., ::2], x[..., 1::2]
        return torch.stack((-x2, x1), dim=-1).flatten(-2)
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def alibi_slopes(num_heads: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """ALiBi head slopes (float32), as the paper and HF's Bloom compute them.

    For a power-of-two head count n: 2^(-8/n), 2^(-16/n), ... For other counts, the
    slopes of the nearest lower power of two, then every other slope of the next power
    of two, so the set still spans the same range.
    """
    closest = 2 ** math.floor(math.log2(num_heads))
    base = torch.tensor(2 ** (-(2 ** -(math.log2(closest) - 3))), dtype=torch.float32, device=device)
    slopes = torch.pow(base, torch.arange(1, 1 + closest, dtype=torch.int32, device=device))
    if closest != num_heads:
        extra_base = torch.tensor(2 ** (-(2 ** -(math.log2(2 * closest) - 3))), dtype=torch.float32, device=device)
        remaining = min(closest, num_heads - closest)
        extra = torch.pow(extra_base, torch.arange(1, 1 + 2 * remaining, 2, dtype=torch.int32, device=device))
        slopes = torch.cat([slopes, extra])
    return slopes
