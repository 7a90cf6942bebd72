"""The designer: from a parameter budget to a complete, exact, justified ArchConfig.

``design("7B")`` walks the procedure a practitioner follows, one decision at a time:

1. style      the family whose conventions to follow (vocab, RoPE base, norm eps, biases, tying)
2. attention  MHA for small models, GQA above the family's threshold, MQA only for latency;
              KV heads always divide the heads and the tensor-parallel degree
3. positions  RoPE at the family's base; rope scaling past the family's pretraining context;
              ALiBi when the context must extrapolate without fine-tuning
4. norm, FFN  pre-norm RMSNorm and SwiGLU (LayerNorm and a 4x GELU MLP for the GPT-2 style)
5. shape      start from the family's own scaling curve (hidden and layers of its real models,
              interpolated in log-log over the non-embedding budget), shrink by the 20% rule
              when the start overshoots, then search every aligned (hidden, layers,
              intermediate) near it for the closest shape within 1% of the target

Every number is exact: the search counts with :func:`archsmith.sizing.count_params`, so the
total it reports is the total a built model has. Any dimension the caller fixes is kept;
an impossible request raises ConfigError with the nearest valid alternatives.

Pure Python, no torch: ``archsmith design`` must answer in milliseconds.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from .config import ArchConfig, closest_name, nearest_divisors, nearest_multiples, validate
from .errors import ConfigError
from .sizing import Estimate, ParamBreakdown, count_params, estimate, kv_cache_bytes

TOLERANCE = 0.01  # |total - target| / target the search must reach
OVERSHOOT = 0.20  # a start this far above the target is shrunk before the search (layers first)
SCALING_FACTORS = (2, 10)  # the designs shown side by side with the requested one
GIB = 2**30

# --- parameter counts written by people ------------------------------------------------------------

_SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12}
_COUNT = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(e[+-]?\d+)?([kmbgt]?)$")


def parse_param_count(value: int | str) -> int:
    """``7B`` -> 7_000_000_000; also ``125M``, ``1.5T``, ``350k``, ``7e9``, ``7_000_000_000``."""
    if isinstance(value, bool):
        raise ConfigError(f"params={value!r} is not a parameter count; fix: give e.g. 7B, 125M or 1.5T")
    if isinstance(value, int):
        count = value
    elif isinstance(value, str):
        text = value.strip().lower().replace("_", "").replace(",", "")
        match = _COUNT.match(text)
        if not match:
            raise ConfigError(
                f"params={value!r} is not a parameter count; fix: write a number with an optional "
                "K/M/B/T suffix, e.g. 125M, 7B, 1.5T or 7000000000"
            )
        mantissa, exponent, suffix = match.groups()
        count = round(float(mantissa + (exponent or "")) * _SUFFIXES[suffix])
    else:
        raise ConfigError(f"params must be an int or a string such as '7B', got {type(value).__name__}")
    if count < 1:
        raise ConfigError(f"params={value!r} must be a positive count; fix: give e.g. 125M or 7B")
    return count


def format_count(n: float) -> str:
    """8030261248 -> '8.03B'."""
    for size, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= size:
            return f"{n / size:.3g}{suffix}"
    return str(int(n))


# --- real models: the curves the designer follows and the shapes it is held against ---------------


@dataclass(frozen=True)
class RealModel:
    """The published shape of one real model (from its config.json at ``source``)."""

    name: str
    source: str
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    intermediate_size: int
    tie_word_embeddings: bool

    def shape(self) -> dict[str, Any]:
        return {
            "vocab_size": self.vocab_size,
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "intermediate_size": self.intermediate_size,
            "tie_word_embeddings": self.tie_word_embeddings,
        }


def _hf(repo: str) -> str:
    return f"https://huggingface.co/{repo}/blob/main/config.json"


PYTHIA_14M = RealModel("Pythia-14M", _hf("EleutherAI/pythia-14m"), 50304, 128, 6, 4, 4, 512, False)
PYTHIA_70M = RealModel("Pythia-70M", _hf("EleutherAI/pythia-70m"), 50304, 512, 6, 8, 8, 2048, False)
SMOLLM_135M = RealModel("SmolLM-135M", _hf("HuggingFaceTB/SmolLM-135M"), 49152, 576, 30, 9, 3, 1536, True)
SMOLLM_360M = RealModel("SmolLM-360M", _hf("HuggingFaceTB/SmolLM-360M"), 49152, 960, 32, 15, 5, 2560, True)
LLAMA_32_1B = RealModel("Llama-3.2-1B", _hf("meta-llama/Llama-3.2-1B"), 128256, 2048, 16, 32, 8, 8192, True)
LLAMA_32_3B = RealModel("Llama-3.2-3B", _hf("meta-llama/Llama-3.2-3B"), 128256, 3072, 28, 24, 8, 8192, True)
LLAMA_31_8B = RealModel("Llama-3.1-8B", _hf("meta-llama/Llama-3.1-8B"), 128256, 4096, 32, 32, 8, 14336, False)
LLAMA_2_13B = RealModel("Llama-2-13B", _hf("meta-llama/Llama-2-13b-hf"), 32000, 5120, 40, 40, 40, 13824, False)
LLAMA_31_70B = RealModel("Llama-3.1-70B", _hf("meta-llama/Llama-3.1-70B"), 128256, 8192, 80, 64, 8, 28672, False)
LLAMA_31_405B = RealModel(
    "Llama-3.1-405B", _hf("meta-llama/Llama-3.1-405B"), 128256, 16384, 126, 128, 8, 53248, False
)
QWEN25 = (
    RealModel("Qwen2.5-0.5B", _hf("Qwen/Qwen2.5-0.5B"), 151936, 896, 24, 14, 2, 4864, True),
    RealModel("Qwen2.5-1.5B", _hf("Qwen/Qwen2.5-1.5B"), 151936, 1536, 28, 12, 2, 8960, True),
    RealModel("Qwen2.5-3B", _hf("Qwen/Qwen2.5-3B"), 151936, 2048, 36, 16, 2, 11008, True),
    RealModel("Qwen2.5-7B", _hf("Qwen/Qwen2.5-7B"), 151936, 3584, 28, 28, 4, 18944, False),
    RealModel("Qwen2.5-14B", _hf("Qwen/Qwen2.5-14B"), 151936, 5120, 48, 40, 8, 13824, False),
    RealModel("Qwen2.5-32B", _hf("Qwen/Qwen2.5-32B"), 151936, 5120, 64, 40, 8, 27648, False),
    RealModel("Qwen2.5-72B", _hf("Qwen/Qwen2.5-72B"), 151936, 8192, 80, 64, 8, 29568, False),
)
# GPT-3's Table 2.1 (Brown et al. 2020, https://arxiv.org/abs/2005.14165): the GPT-2 block
# scaled from 125M to 175B; GPT-3 Small and Medium are GPT-2 small and medium. Head counts
# here give head_dim 64 (the paper's differ above 1B; with MHA the count is the same).
_GPT3 = "https://arxiv.org/abs/2005.14165"
GPT3 = (
    RealModel("GPT-3 Small (=GPT-2)", _GPT3, 50257, 768, 12, 12, 12, 3072, True),
    RealModel("GPT-3 Medium (=GPT-2 medium)", _GPT3, 50257, 1024, 24, 16, 16, 4096, True),
    RealModel("GPT-3 Large", _GPT3, 50257, 1536, 24, 24, 24, 6144, True),
    RealModel("GPT-3 XL", _GPT3, 50257, 2048, 24, 32, 32, 8192, True),
    RealModel("GPT-3 2.7B", _GPT3, 50257, 2560, 32, 40, 40, 10240, True),
    RealModel("GPT-3 6.7B", _GPT3, 50257, 4096, 32, 64, 64, 16384, True),
    RealModel("GPT-3 13B", _GPT3, 50257, 5120, 40, 80, 80, 20480, True),
    RealModel("GPT-3 175B", _GPT3, 50257, 12288, 96, 192, 192, 49152, True),
)

# Each curve lists real models by size. Below ~1B the Llama curve follows SmolLM/MobileLLM,
# which found deep and thin better at that scale (30 layers at 135M); from 1B up it is Llama's.
LLAMA_CURVE = (PYTHIA_14M, SMOLLM_135M, SMOLLM_360M, LLAMA_32_1B, LLAMA_32_3B, LLAMA_31_8B, LLAMA_2_13B,
               LLAMA_31_70B, LLAMA_31_405B)
QWEN_CURVE = (PYTHIA_14M, SMOLLM_135M, *QWEN25)
GPT_CURVE = (PYTHIA_14M, PYTHIA_70M, *GPT3)


# --- styles ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Style:
    """One family's conventions. ``config`` holds the ArchConfig fields the family fixes."""

    name: str
    summary: str
    vocab_size: int
    vocab_note: str
    context: int  # the family's pretraining context; longer contexts get rope scaling
    rope_theta: float
    long_context: str  # rope_scaling type used past ``context``: "llama3" or "yarn"
    tie_below: float  # tie the LM head by default for targets below this many params
    ffn_ratio: float  # intermediate / hidden the family uses
    gqa_from: float  # GQA from this many params up, MHA below
    kv_heads: int | None  # the family's fixed KV head count, or None for heads / kv_group
    kv_group: int  # query heads per KV head when kv_heads is None
    curve: tuple[RealModel, ...]
    config: dict[str, Any]

    @property
    def gated(self) -> bool:
        return self.config.get("mlp_type", "gated") == "gated"

    @property
    def ffn_range(self) -> tuple[float, float]:
        """The intermediate/hidden ratios the search may use to hit the target."""
        return 0.7 * self.ffn_ratio, 1.4 * self.ffn_ratio


_LLAMA_BLOCK = {"norm_type": "rmsnorm", "mlp_type": "gated", "hidden_act": "silu", "position_embedding": "rope"}

STYLES: dict[str, Style] = {
    s.name: s
    for s in (
        Style(
            "llama3", "Llama 3 (GQA with 8 KV heads, RoPE 500k, SwiGLU 3.5x, RMSNorm)",
            128256, "Llama 3's 128K tiktoken-based tokenizer", 8192, 500000.0, "llama3", 5e9, 3.5, 1e9, 8, 4,
            LLAMA_CURVE, {**_LLAMA_BLOCK, "norm_eps": 1e-5},
        ),
        Style(
            "llama2", "Llama 2 (MHA below 30B, RoPE 10k, SwiGLU 8/3x, RMSNorm)",
            32000, "Llama 2's 32K SentencePiece tokenizer", 4096, 10000.0, "yarn", 0, 8 / 3, 30e9, 8, 4,
            LLAMA_CURVE, {**_LLAMA_BLOCK, "norm_eps": 1e-5},
        ),
        Style(
            "mistral", "Mistral 7B v0.1 (sliding window 4096, GQA heads/4, RoPE 10k, SwiGLU 3.5x)",
            32000, "Mistral's 32K SentencePiece tokenizer", 32768, 10000.0, "yarn", 0, 3.5, 7e9, None, 4,
            LLAMA_CURVE, {**_LLAMA_BLOCK, "norm_eps": 1e-5, "sliding_window": 4096},
        ),
        Style(
            "qwen2", "Qwen2/2.5 (q/k/v bias, GQA ~heads/7, RoPE 1M, wide SwiGLU ~5.25x, tied when small)",
            151936, "Qwen's 152K byte-level BPE tokenizer", 32768, 1000000.0, "yarn", 5e9, 5.25, 0, None, 7,
            QWEN_CURVE, {**_LLAMA_BLOCK, "norm_eps": 1e-6, "qkv_bias": True},
        ),
        Style(
            "qwen3", "Qwen3 (per-head QK-norm, GQA with 8 KV heads, RoPE 1M, SwiGLU 3x, tied when small)",
            151936, "Qwen's 152K byte-level BPE tokenizer", 32768, 1000000.0, "yarn", 5e9, 3.0, 0, 8, 4,
            QWEN_CURVE, {**_LLAMA_BLOCK, "norm_eps": 1e-6, "qk_norm": "head"},
        ),
        Style(
            "gpt2", "GPT-2 (learned positions, LayerNorm with bias, GELU 4x, biases everywhere, tied)",
            50257, "GPT-2's 50K byte-level BPE tokenizer", 1024, 10000.0, "yarn", math.inf, 4.0, math.inf, None, 1,
            GPT_CURVE,
            {
                "norm_type": "layernorm", "norm_bias": True, "norm_eps": 1e-5,
                "mlp_type": "plain", "hidden_act": "gelu_new", "position_embedding": "learned",
                "qkv_bias": True, "attn_out_bias": True, "mlp_bias": True,
            },
        ),
    )
}


def get_style(name: str) -> Style:
    if name in STYLES:
        return STYLES[name]
    close = closest_name(name, STYLES)
    hint = f"did you mean {close}? " if close else ""
    raise ConfigError(f"style={name!r} is not known; {hint}fix: use one of {', '.join(STYLES)}")


# --- the request -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """What the caller asked for; None means 'choose it'."""

    target: int
    style: str = "llama3"
    vocab: int | None = None
    context: int | None = None
    tie: bool | None = None
    layers: int | None = None
    hidden: int | None = None
    heads: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None
    tp: int | None = None
    latency: bool = False
    extrapolate: bool = False

    def fixed(self) -> dict[str, int]:
        names = ("vocab", "context", "layers", "hidden", "heads", "kv_heads", "head_dim", "tp")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}

    def scaled(self, factor: float) -> Request:
        """The same conventions at ``factor`` times the size: the shape dimensions are chosen afresh."""
        return Request(
            target=max(1, round(self.target * factor)), style=self.style, vocab=self.vocab, context=self.context,
            tie=self.tie, tp=self.tp, latency=self.latency, extrapolate=self.extrapolate,
        )


def _check_request(req: Request) -> None:
    problems = []
    for name, value in req.fixed().items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            problems.append(f"{name}={value!r} must be a positive integer")
    if problems:
        raise ConfigError(problems)
    if req.heads and req.kv_heads and req.heads % req.kv_heads:
        problems.append(
            f"--kv-heads {req.kv_heads} does not divide --heads {req.heads} (each KV head serves a whole group of "
            f"query heads); fix: --kv-heads {' or '.join(map(str, nearest_divisors(req.heads, req.kv_heads)))}"
        )
    if req.hidden and req.heads and not req.head_dim and req.hidden % req.heads:
        problems.append(
            f"--hidden {req.hidden} is not divisible by --heads {req.heads}; fix: --hidden "
            f"{' or '.join(map(str, nearest_multiples(req.hidden, req.heads)))}, or --heads "
            f"{' or '.join(map(str, nearest_divisors(req.hidden, req.heads)))}, or give --head-dim explicitly"
        )
    if req.hidden and req.head_dim and not req.heads and req.hidden % req.head_dim:
        problems.append(
            f"--hidden {req.hidden} is not a multiple of --head-dim {req.head_dim}; fix: --hidden "
            f"{' or '.join(map(str, nearest_multiples(req.hidden, req.head_dim)))}"
        )
    if req.tp:
        for name, value in (("heads", req.heads), ("kv_heads", req.kv_heads)):
            if value and value % req.tp:
                problems.append(
                    f"--{name.replace('_', '-')} {value} is not divisible by --tp {req.tp} (each GPU must hold whole "
                    f"heads); fix: --{name.replace('_', '-')} {' or '.join(map(str, nearest_multiples(value, req.tp)))}"
                )
        if req.vocab and req.vocab % req.tp:
            problems.append(
                f"--vocab {req.vocab} is not divisible by --tp {req.tp}; fix: pad it to --vocab "
                f"{-(-req.vocab // (64 * req.tp)) * 64 * req.tp}"
            )
    if problems:
        raise ConfigError(problems)


# --- the choices that do not depend on the shape --------------------------------------------------


def _vocab(req: Request, style: Style) -> tuple[int, str]:
    if req.vocab is not None:
        return req.vocab, f"vocab {req.vocab:,} as given"
    vocab, note = style.vocab_size, style.vocab_note
    multiple = 64 * (req.tp or 1)
    if req.tp and vocab % req.tp:
        padded = -(-vocab // multiple) * multiple
        return padded, f"{note}, {vocab:,} padded to {padded:,} to shard over TP={req.tp}"
    return vocab, note


def _positions(req: Request, style: Style, context: int) -> tuple[dict[str, Any], str]:
    """The position fields and the reason, before any shape is known."""
    if req.extrapolate:
        return {"position_embedding": "alibi"}, (
            f"ALiBi (Press et al. 2022): extrapolation past the training length without fine-tuning was asked for, "
            f"and ALiBi's linear distance penalty degrades gracefully beyond {context:,} tokens where RoPE "
            f"without scaling breaks down; it adds no parameters"
        )
    if style.config.get("position_embedding") == "learned":
        return {"max_position_embeddings": context}, (
            f"learned absolute positions ({style.name} convention): a {context:,} x hidden table, counted in the "
            f"embedding; it cannot run past {context:,} tokens (use --extrapolate for ALiBi, or a RoPE style)"
        )
    theta = style.rope_theta
    base = (
        f"RoPE with base theta={theta:,.0f} ({style.name} convention), rotating all of head_dim; no parameters"
    )
    if context <= style.context:
        return {"rope_theta": theta}, f"{base}; the {context:,}-token context is within what the family pretrains at"
    factor = context / style.context
    if style.long_context == "llama3":
        scaling = {"rope_type": "llama3", "factor": factor, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": style.context}
        how = "llama3 rope scaling (as Llama 3.1 reaches 131,072 from 8,192 with factor 8)"
    else:
        scaling = {"rope_type": "yarn", "factor": factor, "original_max_position_embeddings": style.context}
        how = "YaRN rope scaling (Peng et al. 2023; as Qwen2.5 reaches 128K from 32K)"
    return {"rope_theta": theta, "rope_scaling": scaling}, (
        f"{base}; the {context:,}-token context is {factor:g}x the family's {style.context:,}-token pretraining "
        f"length, so pretrain at {style.context:,} and extend with {how}, factor {factor:g}"
    )


def _preferred_head_dim(target: int) -> int:
    # 64 is what small models use (GPT-2, SmolLM, Llama-3.2-1B); 128 from a few billion up
    # (Llama-3.2-3B and every larger Llama, Mistral, Qwen): wider heads keep the head count,
    # and with it attention's per-head overhead, in check as hidden grows.
    return 64 if target < 2e9 else 128


def _kv_wanted(heads: int, req: Request, style: Style) -> float:
    """The KV head count the rules ask for, before it is made to divide ``heads``."""
    if req.kv_heads is not None:
        return float(req.kv_heads)
    if req.latency:
        return 1.0
    if req.target < style.gqa_from:
        return float(heads)
    if style.kv_heads is not None:
        return float(min(style.kv_heads, heads))  # a model with fewer heads keeps them all
    return max(heads / style.kv_group, 1.0)


@cache
def _divisors(n: int) -> tuple[int, ...]:
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return tuple(sorted({*small, *(n // d for d in small)}))


def _kv_for(heads: int, req: Request, style: Style) -> int | None:
    """The KV head count for ``heads`` query heads: a divisor of heads and a multiple of TP (None: none)."""
    if req.kv_heads is not None:
        return req.kv_heads if heads % req.kv_heads == 0 else None
    want = _kv_wanted(heads, req, style)
    tp = req.tp or 1
    options = [d for d in _divisors(heads) if d % tp == 0]
    if not options:
        return None
    # Nearest in ratio; on a tie the larger count (more KV heads, better quality).
    return min(options, key=lambda d: (abs(math.log(d / want)), -d))


# --- widths: (hidden, heads, head_dim) triples the rules allow -------------------------------------


@dataclass(frozen=True)
class Width:
    hidden: int
    heads: int
    head_dim: int


def _width_options(req: Request, prefer_head_dim: int) -> list[Width]:
    """Every width the request allows, ascending. Hidden is a multiple of 64 unless the caller fixed it."""
    tp = req.tp or 1
    heads_step = math.lcm(tp, req.kv_heads or 1)
    if req.hidden is not None:
        if req.heads is not None:
            hd = req.head_dim or req.hidden // req.heads
            return [Width(req.hidden, req.heads, hd)]
        dims = [req.head_dim] if req.head_dim else [prefer_head_dim, 128, 64, 96, 80, 160, 256, 32, 16]
        for hd in dims:
            if req.hidden % hd == 0 and (req.hidden // hd) % heads_step == 0:
                return [Width(req.hidden, req.hidden // hd, hd)]
        raise ConfigError(
            f"--hidden {req.hidden} does not split into heads of any usual size ({', '.join(map(str, dims))}) "
            f"{'divisible by ' + str(heads_step) + ' ' if heads_step > 1 else ''}; fix: --hidden "
            f"{' or '.join(map(str, nearest_multiples(req.hidden, 64 * heads_step)))}, or give --heads"
        )
    if req.heads is not None:
        dims = [req.head_dim] if req.head_dim else list(range(16, 257, 16))
        widths = [Width(req.heads * hd, req.heads, hd) for hd in dims]
        aligned = [w for w in widths if w.hidden % 64 == 0]
        return aligned or widths
    hd = req.head_dim or prefer_head_dim
    step = math.lcm(heads_step, 64 // math.gcd(64, hd))  # heads per step so hidden stays a multiple of 64
    return [Width(k * hd, k, hd) for k in range(step, 2**16 // hd + 1, step)]


# --- exact counting, linear in layers and intermediate size ----------------------------------------


@dataclass(frozen=True)
class Counter:
    """total(layers, ffn) = fixed + layers * (per_layer + per_ffn_unit * ffn), exactly.

    count_params is affine in num_hidden_layers and in intermediate_size (the shape of every
    other tensor stays put), so three exact counts give the three coefficients and the search
    can evaluate thousands of candidates without building a config for each.
    """

    fixed: int
    per_layer: int
    per_ffn_unit: int

    def total(self, layers: int, ffn: int) -> int:
        return self.fixed + layers * (self.per_layer + self.per_ffn_unit * ffn)


def _counter(base: dict[str, Any], width: Width, kv: int) -> Counter:
    def count(layers: int, ffn: int) -> int:
        return count_params(_config(base, width, kv, layers, ffn)).total

    one, two, wide = count(1, 256), count(2, 256), count(1, 512)
    per_ffn_unit = (wide - one) // 256
    per_layer = two - one - 256 * per_ffn_unit
    return Counter(fixed=one - per_layer - 256 * per_ffn_unit, per_layer=per_layer, per_ffn_unit=per_ffn_unit)


def _config(base: dict[str, Any], width: Width, kv: int, layers: int, ffn: int) -> ArchConfig:
    explicit = width.heads * width.head_dim != width.hidden
    return ArchConfig(
        **base, hidden_size=width.hidden, num_attention_heads=width.heads, num_key_value_heads=kv,
        head_dim=width.head_dim if explicit else None, num_hidden_layers=layers, intermediate_size=ffn,
    )


def _ffn_multiple(hidden: int) -> int:
    # 256 keeps the FFN matmuls on whole GPU tiles; below hidden 1024 a 256 step is too coarse a
    # knob (over 10% of a small FFN), so tiny models use 64, still tensor-core aligned.
    return 256 if hidden >= 1024 else 64


# --- the family curve ------------------------------------------------------------------------------


@cache
def _curve(style_name: str) -> tuple[tuple[float, int, int], ...]:
    """(non-embedding params, hidden, layers) of the style's real models, counted in this style."""
    style = STYLES[style_name]
    base = {**style.config, "vocab_size": 64, "max_position_embeddings": 64, "tie_word_embeddings": True}
    points = []
    for m in style.curve:
        cfg = _config(base, Width(m.hidden_size, m.num_attention_heads, m.hidden_size // m.num_attention_heads),
                      m.num_key_value_heads, m.num_hidden_layers, m.intermediate_size)
        points.append((float(count_params(cfg).non_embedding), m.hidden_size, m.num_hidden_layers))
    return tuple(sorted(points))


def family_shape(style: Style, non_embedding: float) -> tuple[float, float]:
    """Hidden size and layer count the family's curve gives at ``non_embedding`` params.

    Log-log interpolation between the real models; beyond the ends, the slope of the last
    segment (width grows faster than depth at scale: 405B is 16384 x 126).
    """
    points = _curve(style.name)
    x = math.log(max(non_embedding, 1.0))
    xs = [math.log(p[0]) for p in points]
    i = 1
    while i < len(points) - 1 and x > xs[i]:
        i += 1
    t = (x - xs[i - 1]) / (xs[i] - xs[i - 1])
    (_, h0, l0), (_, h1, l1) = points[i - 1], points[i]
    hidden = math.exp(math.log(h0) + t * (math.log(h1) - math.log(h0)))
    layers = math.exp(math.log(l0) + t * (math.log(l1) - math.log(l0)))
    return hidden, layers


# --- the search ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    width: Width
    kv: int
    layers: int
    ffn: int
    total: int
    cost: float


@dataclass
class Search:
    """The search's state and its trace (the trace ends up in the report)."""

    req: Request
    style: Style
    base: dict[str, Any]
    widths: list[Width]
    steps: list[str] = field(default_factory=list)
    _counters: dict[tuple[Width, int], Counter] = field(default_factory=dict)

    def counter(self, width: Width, kv: int) -> Counter:
        key = (width, kv)
        if key not in self._counters:
            self._counters[key] = _counter(self.base, width, kv)
        return self._counters[key]

    def embedding(self, width: Width) -> float:
        """Parameters that do not grow with depth, roughly: the embedding, the LM head if untied, a learned
        position table. Only the start uses it; the search counts exactly."""
        tables = self.base["vocab_size"] * (1 if self.base["tie_word_embeddings"] else 2)
        if self.base.get("position_embedding") == "learned":
            tables += self.base["max_position_embeddings"]
        return float(tables * width.hidden)

    def start_total(self, width: Width, layers: int) -> int:
        kv = _kv_for(width.heads, self.req, self.style) or width.heads
        return self.counter(width, kv).total(layers, self.ffn_at(width.hidden, self.style.ffn_ratio))

    def ffn_at(self, hidden: int, ratio: float) -> int:
        m = _ffn_multiple(hidden)
        return max(m, round(ratio * hidden / m) * m)


def _start(s: Search) -> tuple[int, float, float]:
    """Index into s.widths and the layer count to start from, after the 20% rule."""
    target, req = s.req.target, s.req
    # Narrow enough that embeddings leave room for layers; above that the curve decides.
    fits = [i for i, w in enumerate(s.widths) if s.embedding(w) < target] or [0]

    def misfit(i: int) -> float:
        w = s.widths[i]
        rest = target - s.embedding(w)
        if rest <= 0:
            return math.inf
        hidden, _ = family_shape(s.style, rest)
        return abs(math.log(w.hidden / hidden))

    if len(fits) > 1:
        # The misfit is unimodal in hidden: a ternary search finds the best, then look at the neighbours.
        lo, hi = 0, len(fits) - 1
        while hi - lo > 2:
            m1, m2 = lo + (hi - lo) // 3, hi - (hi - lo) // 3
            if misfit(fits[m1]) <= misfit(fits[m2]):
                hi = m2
            else:
                lo = m1
        index = min(fits[lo : hi + 1], key=misfit)
    else:
        index = fits[0]
    width = s.widths[index]
    rest = max(target - s.embedding(width), 1)
    curve_hidden, curve_layers = family_shape(s.style, rest)
    layers = float(req.layers or max(1, round(curve_layers)))
    s.steps.append(
        f"start: the {s.style.name} family curve at {format_count(rest)} non-embedding params gives hidden "
        f"~{curve_hidden:.0f} x {curve_layers:.1f} layers; nearest allowed: hidden {width.hidden} x {layers:.0f} layers"
        f" ({format_count(s.start_total(width, int(layers)))} at ffn {s.style.ffn_ratio:.3g}x)"
    )
    return _shrink(s, index, int(layers))


def _shrink(s: Search, index: int, layers: int) -> tuple[int, float, float]:
    """The 20% rule: a start more than 20% over the target loses layers first, then width."""
    limit = (1 + OVERSHOOT) * s.req.target
    start = s.start_total(s.widths[index], layers)
    if start <= limit:
        return index, s.widths[index].hidden, layers
    s.steps.append(f"20% rule: the start is {format_count(start)}, {start / s.req.target - 1:+.0%} over the target")
    cut = []
    while s.start_total(s.widths[index], layers) > limit:
        if s.req.layers is None and layers > 1:
            layers -= 1
            cut.append("layers")
        elif index > 0 and s.req.hidden is None and s.req.heads is None:
            index -= 1
            cut.append("width")
        else:
            break
    total = s.start_total(s.widths[index], layers)
    if total > limit:
        s.steps.append(f"20% rule: the fixed dimensions leave no room below {format_count(total)}; the search decides")
    else:
        what = " then ".join(dict.fromkeys(cut)) + (" (layers are fixed)" if s.req.layers else "")
        s.steps.append(
            f"20% rule: reduced {what} to hidden {s.widths[index].hidden} x {layers} layers ({format_count(total)}, "
            f"{total / s.req.target - 1:+.0%}); layers go first because width sets what every layer can represent"
        )
    return index, s.widths[index].hidden, layers


def _search(s: Search) -> Candidate:
    """The lowest-cost aligned candidate within 1% of the target.

    cost = |ln hidden/hidden0| + |ln layers/layers0| + 0.5 |ln ratio/family ratio|
           + w |ln kv/kv wanted| + 2 |error|   (w = 3 for a fixed KV count, 0.3 for a heads/group rule)
    Widths are visited nearest-first; one whose hidden term alone exceeds the best cost so far
    cannot win, so the visit stops there (usually after a handful of widths).
    """
    req, style, target = s.req, s.style, s.req.target
    low, high = (1 - TOLERANCE) * target, (1 + TOLERANCE) * target
    if _smallest_total(s) > high:
        raise _no_fit(s, [])
    index, hidden0, layers0 = _start(s)
    flexible_ffn = req.layers is not None and len(s.widths) == 1  # nothing else can move
    order = sorted(s.widths, key=lambda w: abs(math.log(w.hidden / hidden0)))
    # A family that fixes its KV head count (Llama 3: 8) wants head counts that it divides;
    # a heads/group rule is approximate by nature and only nudges.
    kv_weight = 3.0 if style.kv_heads is not None else 0.3
    misses: list[Candidate] = []
    for all_layers in (False, True):
        best: Candidate | None = None
        for width in order:
            distance = abs(math.log(width.hidden / hidden0))
            if best is not None and distance >= best.cost:
                break
            kv = _kv_for(width.heads, req, style)
            if kv is None:
                continue
            c = s.counter(width, kv)
            if c.fixed >= high:
                continue
            m = _ffn_multiple(width.hidden)
            if flexible_ffn:
                ffn_lo, ffn_hi = m, 2**31
            else:
                ffn_lo = max(m, math.ceil(style.ffn_range[0] * width.hidden / m) * m)
                ffn_hi = max(ffn_lo, math.floor(style.ffn_range[1] * width.hidden / m) * m)
            fit_hi = max(1, math.floor((high - c.fixed) / (c.per_layer + c.per_ffn_unit * ffn_lo)))
            fit_lo = max(1, math.ceil((low - c.fixed) / (c.per_layer + c.per_ffn_unit * ffn_hi)))
            if req.layers is not None:
                layer_range = range(req.layers, req.layers + 1)
            elif all_layers:
                layer_range = range(fit_lo, fit_hi + 1)
            else:
                # The best layer count lies between the start's and the one where ffn is at the family ratio.
                at_ratio = (target - c.fixed) / (c.per_layer + c.per_ffn_unit * style.ffn_ratio * width.hidden)
                a, b = sorted((layers0, at_ratio))
                layer_range = range(max(fit_lo, math.floor(a) - 2), min(fit_hi, math.ceil(b) + 2) + 1)
            kv_cost = kv_weight * abs(math.log(kv / _kv_wanted(width.heads, req, style)))
            for layers in layer_range:
                exact = ((target - c.fixed) / layers - c.per_layer) / c.per_ffn_unit
                # The aligned sizes either side of the exact fit, held inside the allowed ratios.
                for ffn in {min(max(f, ffn_lo), ffn_hi) for f in (math.floor(exact / m) * m, math.ceil(exact / m) * m)}:
                    total = c.total(layers, ffn)
                    error = total / target - 1
                    cost = (
                        distance
                        + abs(math.log(layers / layers0))
                        + 0.5 * abs(math.log(ffn / width.hidden / style.ffn_ratio))
                        + kv_cost
                        + 2 * abs(error)
                    )
                    cand = Candidate(width, kv, layers, ffn, total, cost)
                    if abs(error) <= TOLERANCE:
                        if best is None or cost < best.cost:
                            best = cand
                    else:
                        misses.append(cand)
        if best is not None:
            return best
    raise _no_fit(s, misses)


def _no_fit(s: Search, misses: list[Candidate]) -> ConfigError:
    target = s.req.target
    below = max((c for c in misses if c.total < target), key=lambda c: c.total, default=None)
    above = min((c for c in misses if c.total > target), key=lambda c: c.total, default=None)
    smallest = _smallest_total(s)
    fixed = _describe_fixed(s.req)
    lines = [f"no {s.style.name} design within {TOLERANCE:.0%} of {format_count(target)}"
             + (f" honours {fixed}" if fixed else "")]
    if smallest > target:
        vocab = s.base["vocab_size"]
        tied = s.base["tie_word_embeddings"]
        lines.append(
            f"the target is too small for vocab {vocab:,}: the smallest design allowed here is {format_count(smallest)}"
            f" ({smallest:,} params, mostly the {'tied ' if tied else 'untied '}embedding at hidden "
            f"{s.widths[0].hidden}); fix: --params {format_count(smallest * (1 + TOLERANCE))} or more, a smaller --vocab"
            f"{', --tie' if not tied else ''}{', or free the fixed dimensions' if fixed else ''}"
        )
    for cand in (below, above):
        if cand is not None:
            lines.append(
                f"nearest: hidden {cand.width.hidden}, {cand.layers} layers, ffn {cand.ffn} -> "
                f"{format_count(cand.total)} ({cand.total / target - 1:+.1%}); fix: --params {format_count(cand.total)}"
            )
    return ConfigError(lines)


def _smallest_total(s: Search) -> int:
    width = s.widths[0]
    kv = _kv_for(width.heads, s.req, s.style) or width.heads
    return s.counter(width, kv).total(s.req.layers or 1, _ffn_multiple(width.hidden))


def _describe_fixed(req: Request) -> str:
    return ", ".join(f"--{k.replace('_', '-')} {v}" for k, v in req.fixed().items())


# --- the design ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScaledDesign:
    factor: float
    design: Design
    changes: list[str]


@dataclass(frozen=True)
class Design:
    """A complete design: the config, its exact count, the reasons, and its neighbours at 2x and 10x."""

    request: Request
    style: Style
    config: ArchConfig
    params: ParamBreakdown
    estimate: Estimate
    kv_cache_by_attention: dict[str, int]  # "MHA"/"GQA"/"MQA" -> bytes at the context, batch 1, bf16
    justification: dict[str, str]
    steps: list[str]
    warnings: list[str]
    reference: dict[str, Any] | None  # the nearest real model of the family and how this design differs
    scaling: list[ScaledDesign] = field(default_factory=list)

    @property
    def target(self) -> int:
        return self.request.target

    @property
    def error(self) -> float:
        return self.params.total / self.target - 1

    @property
    def context(self) -> int:
        return self.estimate.seq_len

    def hf_export(self):
        from .hf.export_config import plan_export

        return plan_export(self.config)

    def params_dict(self) -> dict[str, Any]:
        data = self.params.to_dict()
        parts = ("embedding", "attention", "ffn", "norm", "lm_head")
        data["percent"] = {k: round(100 * data[k] / data["total"], 3) for k in parts}
        return data

    def to_dict(self, with_scaling: bool = True) -> dict[str, Any]:
        plan = self.hf_export()
        out = {
            "target": self.target,
            "style": self.style.name,
            "error_pct": round(100 * self.error, 4),
            "config": self.config.to_dict(),
            "hf_config": plan.config,
            "hf_export": {"architecture": plan.architecture, "model_type": plan.model_type,
                          "remote_code": plan.remote_code, "reason": plan.reason},
            "params": self.params_dict(),
            "justification": dict(self.justification),
            "estimate": self.estimate.to_dict(),
            "kv_cache_by_attention": dict(self.kv_cache_by_attention),
            "search": list(self.steps),
            "reference": self.reference,
            "warnings": list(self.warnings),
        }
        if with_scaling:
            out["scaling"] = [
                {"factor": s.factor, "target": s.design.target, **s.design.to_dict(with_scaling=False),
                 "changes": s.changes}
                for s in self.scaling
            ]
        return out


def design(
    params: int | str,
    style: str = "llama3",
    vocab: int | None = None,
    context: int | None = None,
    tie: bool | None = None,
    layers: int | None = None,
    hidden: int | None = None,
    heads: int | None = None,
    kv_heads: int | None = None,
    head_dim: int | None = None,
    tp: int | None = None,
    latency: bool = False,
    extrapolate: bool = False,
) -> Design:
    """Design a decoder-only LM of ``params`` parameters (within 1%); see the module docstring."""
    req = Request(
        target=parse_param_count(params), style=style, vocab=vocab, context=context, tie=tie, layers=layers,
        hidden=hidden, heads=heads, kv_heads=kv_heads, head_dim=head_dim, tp=tp, latency=latency,
        extrapolate=extrapolate,
    )
    base = design_request(req)
    scaling = []
    for factor in SCALING_FACTORS:
        other = design_request(req.scaled(factor))
        scaling.append(ScaledDesign(factor, other, describe_changes(base, other)))
    return Design(**{**base.__dict__, "scaling": scaling})


def design_request(req: Request) -> Design:
    """One design, without the 2x/10x neighbours."""
    _check_request(req)
    style = get_style(req.style)
    vocab, vocab_note = _vocab(req, style)
    context = req.context or style.context
    tie = req.tie if req.tie is not None else req.target < style.tie_below
    positions, positions_why = _positions(req, style, context)
    base = {**style.config, **positions, "vocab_size": vocab, "max_position_embeddings": context,
            "tie_word_embeddings": tie, "torch_dtype": "bfloat16"}
    prefer = _preferred_head_dim(req.target)
    s = Search(req, style, base, _width_options(req, prefer))
    best = _search(s)
    cfg = _config(base, best.width, best.kv, best.layers, best.ffn)
    counted = count_params(cfg)
    assert counted.total == best.total, "the affine counter disagrees with count_params"  # a bug, not input
    s.steps.append(
        f"search: hidden {best.width.hidden} x {best.layers} layers, ffn {best.ffn} "
        f"({best.ffn / best.width.hidden:.3g}x) -> {counted.total:,} ({counted.total / req.target - 1:+.3%})"
    )
    warnings = validate(cfg, tp=req.tp)
    if cfg.hidden_size % 64:
        warnings.append(f"hidden_size={cfg.hidden_size} (as given) is not a multiple of 64, which wastes GPU tiles; "
                        f"fix: --hidden {' or '.join(map(str, nearest_multiples(cfg.hidden_size, 64)))}")
    low, high = style.ffn_range
    if not low <= cfg.intermediate_size / cfg.hidden_size <= high:
        warnings.append(
            f"intermediate_size is {cfg.intermediate_size / cfg.hidden_size:.3g}x hidden, outside the {style.name} range "
            f"{low:.3g}-{high:.3g}x, because {_describe_fixed(req)} leave only the FFN to reach the target; "
            "fix: free --layers or --hidden"
        )
    if cfg.hidden_size < 4 * cfg.num_hidden_layers:
        warnings.append(
            f"{cfg.num_hidden_layers} layers at hidden {cfg.hidden_size} is far deeper than any real model "
            f"(hidden/layers is 19 or more from SmolLM-135M up): the fixed dimensions or the vocab leave no wider "
            "option that fits; fix: a smaller --vocab, a larger --params, or free the fixed dimensions"
        )
    share = (counted.embedding + counted.lm_head) / counted.total
    if share > 0.5:
        warnings.append(
            f"embeddings are {share:.0%} of the parameters: vocab {vocab:,} dominates a model this small; "
            "fix: a smaller --vocab, or a larger --params"
        )
    est = estimate(cfg, seq_len=context, batch=1, dtype="bf16")
    kv_by = _kv_variants(cfg, context)
    d = Design(
        request=req, style=style, config=cfg, params=counted, estimate=est, kv_cache_by_attention=kv_by,
        justification={}, steps=s.steps, warnings=warnings + list(est.warnings), reference=None,
    )
    reference = compare_with_family(d)
    why = _justify(d, vocab_note, positions_why, prefer)
    return Design(**{**d.__dict__, "justification": why, "reference": reference})


def _kv_variants(cfg: ArchConfig, context: int) -> dict[str, int]:
    """KV cache at ``context`` (batch 1, bf16) for MHA, this design's GQA (if any) and MQA."""
    heads = cfg.num_attention_heads
    out = {"MHA": kv_cache_bytes(cfg.replace(num_key_value_heads=heads), context, 1, "bf16")}
    if cfg.attention_kind == "GQA":
        out["GQA"] = kv_cache_bytes(cfg, context, 1, "bf16")
    else:
        gqa = [d for d in range(2, heads) if heads % d == 0]
        if gqa:
            kv = min(gqa, key=lambda d: abs(math.log(d * 4 / heads)))
            out["GQA"] = kv_cache_bytes(cfg.replace(num_key_value_heads=kv), context, 1, "bf16")
    out["MQA"] = kv_cache_bytes(cfg.replace(num_key_value_heads=1), context, 1, "bf16")
    return out


# --- reasons -----------------------------------------------------------------------------------------


def _gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB"


def _pct(part: int, total: int) -> str:
    return f"{100 * part / total:.1f}%"


def _justify(d: Design, vocab_note: str, positions_why: str, prefer_head_dim: int) -> dict[str, str]:
    cfg, p, req, style = d.config, d.params, d.request, d.style
    ctx = d.context
    kv = d.kv_cache_by_attention
    heads, kvh = cfg.num_attention_heads, cfg.num_key_value_heads
    mine = kv_cache_bytes(cfg, ctx, 1, "bf16")
    saving = f"At the {ctx:,}-token context the bf16 KV cache is {_gib(mine)} per sequence"
    if cfg.attention_kind == "MHA":
        rule = ("MHA was asked for" if req.kv_heads else
                "the family keeps full MHA" if req.target < style.gqa_from and style.gqa_from == math.inf else
                f"below {format_count(style.gqa_from)} the {style.name} family uses MHA: the cache is small and "
                "every head keeps its own keys")
        alt = f"; GQA would cut it to {_gib(kv['GQA'])}" if "GQA" in kv else ""
        attention = f"MHA, {heads} heads of {cfg.head_dim}: {rule}. {saving}{alt}, MQA to {_gib(kv['MQA'])}."
    else:
        if req.kv_heads:
            rule = f"{kvh} KV heads as given"
        elif req.latency:
            rule = "MQA asked for decoding latency: one K/V head shrinks the cache and its memory traffic the most"
            if kvh > 1:
                rule += f"; TP={req.tp} needs a KV head per GPU, so {kvh}"
        elif style.kv_heads:
            rule = f"the {style.name} family keeps {style.kv_heads} KV heads at every size from " \
                   f"{format_count(max(style.gqa_from, 1))} up"
        else:
            rule = f"GQA with ~heads/{style.kv_group} KV heads from {format_count(style.gqa_from)} up"
        if req.tp and not req.kv_heads and not req.latency:
            rule += f" (a multiple of TP={req.tp})"
        attention = (
            f"{cfg.attention_kind}, {heads} query heads sharing {kvh} KV heads ({heads // kvh} per group), head_dim "
            f"{cfg.head_dim}: {rule}. {saving} vs {_gib(kv['MHA'])} with MHA, saving {_gib(kv['MHA'] - mine)} "
            f"({1 - mine / kv['MHA']:.0%}), for {_pct(p.attention, p.total)} of params in attention "
            f"(GQA matches MHA quality closely, Ainslie et al. 2023)."
        )
    if cfg.sliding_window:
        attention += (f" Sliding window {cfg.sliding_window:,} ({style.name} convention): each layer attends "
                      f"to the last {cfg.sliding_window:,} tokens, capping the cache at long context.")
    norm_kind = "RMSNorm" if cfg.norm_type == "rmsnorm" else "LayerNorm with bias"
    norm = (
        f"Pre-LN {norm_kind}, eps {cfg.norm_eps:g}: the norm sits inside each branch so the residual stream stays "
        f"an identity path and {cfg.num_hidden_layers} layers train without warmup tricks"
        + (", RMSNorm drops the mean and bias (cheaper, same quality, Zhang & Sennrich 2019)"
           if cfg.norm_type == "rmsnorm" else f" ({style.name} convention)")
        + (", plus a per-head RMSNorm on q and k (Qwen3) against attention-logit growth" if cfg.qk_norm != "none"
           else "")
        + f"; {format_count(p.norm)} params ({_pct(p.norm, p.total)})."
    )
    ratio = cfg.intermediate_size / cfg.hidden_size
    m = _ffn_multiple(cfg.hidden_size)
    if cfg.mlp_type == "gated":
        ffn = (f"SwiGLU, intermediate {cfg.intermediate_size:,} = {ratio:.2f}x hidden (a multiple of {m}): gated "
               f"units beat GELU at equal params (Shazeer 2020); 8/3x matches a 4x GELU MLP in params and the "
               f"{style.name} family uses {style.ffn_ratio:.3g}x")
    else:
        ffn = (f"GELU MLP ({cfg.hidden_act}), intermediate {cfg.intermediate_size:,} = {ratio:.2f}x hidden "
               f"(a multiple of {m}), the {style.name} convention of ~4x")
    ffn += (f". The intermediate size is the search's fine knob: it lands the total at {d.error:+.2%} of the "
            f"target; the FFN holds {_pct(p.ffn, p.total)} of params.")
    aspect = cfg.hidden_size / cfg.num_hidden_layers
    width_depth = (
        f"hidden {cfg.hidden_size:,} x {cfg.num_hidden_layers} layers (hidden/layers = {aspect:.0f}); "
        f"head_dim {cfg.head_dim} ({'as given' if req.head_dim else f'{prefer_head_dim} is the rule below 2B' if prefer_head_dim == 64 else '128 from 2B up'}). "
        f"The shape follows the {style.name} family's real models ({', '.join(m.name for m in style.curve[-4:])} ...), "
        "interpolated over the non-embedding budget: deep and thin below ~1B (SmolLM, MobileLLM), "
        "wider than deep at scale, where width parallelises better at the same FLOPs. "
        + " ".join(step for step in d.steps if step.startswith("20% rule"))
    ).strip()
    emb = cfg.vocab_size * cfg.hidden_size
    if cfg.tie_word_embeddings:
        tying = (f"tied{' as given' if req.tie is not None else ''}: the {cfg.vocab_size:,} x {cfg.hidden_size:,} "
                 f"embedding ({format_count(emb)}, {_pct(emb, p.total)} of params) doubles as the LM head; untying "
                 f"would add {format_count(emb)} ({emb / p.total:+.1%}) that a model this size spends better on layers")
    else:
        tying = (f"untied{' as given' if req.tie is not None else ''}: the LM head is its own "
                 f"{format_count(emb)} ({_pct(emb, p.total)} of params); at this size that is cheap and a separate "
                 f"output matrix helps quality (the {style.name} family unties from "
                 f"{format_count(style.tie_below) if style.tie_below not in (0, math.inf) else 'every size'})")
    vocab = (f"{vocab_note}; {_pct(p.embedding + p.lm_head, p.total)} of params are embeddings"
             + ("" if cfg.vocab_size % 64 == 0 else f" (not a multiple of 64; see warnings)"))
    return {
        "attention": attention,
        "positions": positions_why + ".",
        "norm": norm,
        "ffn": ffn,
        "width_depth": width_depth,
        "tying": tying + ".",
        "vocab": vocab + ".",
    }


_SHAPE_FIELDS = ("hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads", "head_dim",
                 "intermediate_size", "tie_word_embeddings", "rope_scaling")


def describe_changes(base: Design, other: Design) -> list[str]:
    """What differs between two designs of the same request at different sizes, and why."""
    a, b = base.config, other.config
    factor = other.target / base.target
    lines = []
    if a.hidden_size != b.hidden_size or a.num_hidden_layers != b.num_hidden_layers:
        lines.append(
            f"hidden {a.hidden_size} -> {b.hidden_size} ({b.hidden_size / a.hidden_size:.2f}x), layers "
            f"{a.num_hidden_layers} -> {b.num_hidden_layers} ({b.num_hidden_layers / a.num_hidden_layers:.2f}x) for "
            f"{factor:g}x the params: the family curve grows "
            + ("width faster than depth" if b.hidden_size / a.hidden_size > b.num_hidden_layers / a.num_hidden_layers
               else "depth faster than width")
            + " here"
        )
    if a.head_dim != b.head_dim:
        lines.append(f"head_dim {a.head_dim} -> {b.head_dim}: 64 below 2B params, 128 from 2B up")
    if (a.num_attention_heads, a.num_key_value_heads) != (b.num_attention_heads, b.num_key_value_heads):
        lines.append(
            f"heads {a.num_attention_heads}/{a.num_key_value_heads} -> {b.num_attention_heads}/"
            f"{b.num_key_value_heads} (query/KV): heads follow hidden/head_dim; "
            + (f"{a.attention_kind} -> {b.attention_kind} at the family's GQA threshold"
               if a.attention_kind != b.attention_kind else "the KV rule is unchanged")
        )
    if a.intermediate_size != b.intermediate_size:
        lines.append(
            f"ffn {a.intermediate_size} -> {b.intermediate_size} ({b.intermediate_size / b.hidden_size:.2f}x hidden): "
            "re-tuned to land within 1% of the new target"
        )
    if a.tie_word_embeddings != b.tie_word_embeddings:
        lines.append(
            f"embeddings {'tied' if a.tie_word_embeddings else 'untied'} -> "
            f"{'tied' if b.tie_word_embeddings else 'untied'}: the {base.style.name} family unties from "
            f"{format_count(base.style.tie_below)}, where the LM head becomes a small share"
        )
    share_a = (base.params.embedding + base.params.lm_head) / base.params.total
    share_b = (other.params.embedding + other.params.lm_head) / other.params.total
    lines.append(f"embedding share {share_a:.1%} -> {share_b:.1%}")
    return lines


def compare_with_family(d: Design) -> dict[str, Any] | None:
    """The real model of the style's family nearest in size, field by field, and why they differ."""
    candidates = [m for m in d.style.curve if m.vocab_size == d.config.vocab_size] or list(d.style.curve)
    if not candidates:
        return None
    base = {**d.style.config, "vocab_size": 64, "max_position_embeddings": 64}

    def size(m: RealModel) -> int:
        cfg = _config({**base, "vocab_size": m.vocab_size, "tie_word_embeddings": m.tie_word_embeddings},
                      Width(m.hidden_size, m.num_attention_heads, m.hidden_size // m.num_attention_heads),
                      m.num_key_value_heads, m.num_hidden_layers, m.intermediate_size)
        return count_params(cfg).total

    sized = [(m, size(m)) for m in candidates]
    model, total = min(sized, key=lambda mt: abs(math.log(mt[1] / d.target)))
    if abs(math.log(total / d.target)) > math.log(2):
        return None  # no real model of the family within 2x: nothing useful to compare
    real = model.shape()
    mine = {k: getattr(d.config, k) for k in real}
    differences = []
    for key, value in real.items():
        if mine[key] != value:
            differences.append(f"{key}: {mine[key]} here vs {value} in {model.name}{_why_differs(key, d, model)}")
    if total != d.params.total:
        differences.append(f"total: {d.params.total:,} here vs {total:,} ({d.params.total / total - 1:+.2%}) "
                           f"because the target is {d.target:,}")
    return {"model": model.name, "source": model.source, "shape": real, "params": total, "differences": differences}


def _why_differs(key: str, d: Design, m: RealModel) -> str:
    if key == "num_key_value_heads":
        return " (the KV rule of the style; the real family is not uniform)"
    if key == "intermediate_size":
        return (f" (the search uses the intermediate size to land within 1%; the family ratio is "
                f"{d.style.ffn_ratio:.3g}x, {m.name} uses {m.intermediate_size / m.hidden_size:.3g}x)")
    if key in ("hidden_size", "num_hidden_layers"):
        return " (interpolated family curve and the 1% search over aligned shapes)"
    if key == "tie_word_embeddings":
        return " (tying as requested or by the style's size rule)"
    if key == "vocab_size":
        return " (different vocabulary)"
    return ""


def scaling_family(d: Design, factors: tuple[float, ...] = (0.1, 0.2, 0.5, 1, 2, 5, 10)) -> list[tuple[float, Design]]:
    """Designs of the same request at several sizes (skipping any too small for the vocab), for the report."""
    out = []
    for factor in factors:
        if factor == 1:
            out.append((1.0, d))
            continue
        try:
            out.append((factor, design_request(d.request.scaled(factor))))
        except ConfigError:
            continue
    return out
