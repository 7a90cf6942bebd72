"""ArchConfig: one validated description of a decoder-only transformer LM.

Field names follow HuggingFace ``transformers`` wherever HF has a name for the
knob (``hidden_size``, ``num_key_value_heads``, ``rope_scaling`` ...), so a user
who knows HF configs can read ours. Knobs that HF spreads over model classes
(where the norm sits, whether the MLP is gated) get explicit names here.

An ArchConfig is immutable and always valid: ``__post_init__`` checks every
field, collects *all* problems, and raises one :class:`ConfigError` whose
message names each field and a concrete fix. Use :meth:`ArchConfig.replace` to
derive a variant (it re-validates).

This module imports no torch: it must stay fast enough for ``archsmith count``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .dtypes import canonical_dtype, torch_dtype_name
from .errors import ConfigError
from .jsonfile import parse_json

# --- vocabularies of allowed names -------------------------------------------------------

POSITION_TYPES = ("rope", "alibi", "learned", "none")
NORM_TYPES = ("rmsnorm", "layernorm")
# Where the norms sit in a block:
#   pre       x + f(norm(x))                      GPT-2, Llama, almost every modern LM
#   post      norm(x + f(x))                      the original Transformer, BERT, OPT-350m
#   peri      x + norm_out(f(norm_in(x)))         Peri-LN paper, Gemma 2/3 "sandwich" norm
#   reordered x + norm(f(x))                      OLMo-2 (a norm on each branch output only)
#   normed_residual  norm(x) + f(norm(x))         BLOOM's apply_residual_connection_post_layernorm
#                                                 (the normed input is the residual)
NORM_SCHEMES = ("pre", "post", "peri", "reordered", "normed_residual")
MLP_TYPES = ("gated", "plain")
# Activation names are HF's ACT2FN names, so export needs no translation.
#   gelu = exact erf GELU; gelu_pytorch_tanh and gelu_new = tanh approximation (two HF
#   implementations that differ in the last bits, kept apart for exact parity).
ACTIVATIONS = ("silu", "gelu", "gelu_pytorch_tanh", "gelu_new", "relu", "relu2")
QK_NORMS = ("none", "head", "full", "per_head")
# How a Mixture-of-Experts router turns its logits into expert scores (DeepSeek's ``scoring_func``).
ROUTER_SCORINGS = ("softmax", "sigmoid")
LAYER_TYPES = ("full_attention", "sliding_attention")

# RoPE scaling: which keys each type requires and which it allows besides.
ROPE_SCALING_KEYS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "linear": (frozenset({"factor"}), frozenset()),
    "dynamic": (frozenset({"factor"}), frozenset({"original_max_position_embeddings"})),
    "yarn": (
        frozenset({"factor"}),
        frozenset(
            {
                "original_max_position_embeddings",
                "attention_factor",
                "beta_fast",
                "beta_slow",
                "mscale",
                "mscale_all_dim",
                "truncate",
            }
        ),
    ),
    "llama3": (
        frozenset({"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}),
        frozenset(),
    ),
    "longrope": (
        frozenset({"short_factor", "long_factor"}),
        frozenset({"factor", "original_max_position_embeddings", "attention_factor"}),
    ),
}
ROPE_SCALING_TYPES = tuple(ROPE_SCALING_KEYS)

VOCAB_ALIGNMENT = 64

# Upper bounds on sizes, so that everything downstream (sizing, building, torch) stays finite
# and fast. A weight matrix is a product of two sizes; capping each at 2**31 - 1 keeps every
# matrix below 2**62 elements, inside torch's int64 element count (2**63 - 1).
MAX_SIZE = 2**31 - 1
# Each layer is a Python nn.Module: far fewer layers than that already exhaust memory when
# built (the largest published LMs have under 200).
MAX_LAYERS = 65536
_SIZE_LIMIT_REASON = (
    "so that every weight matrix (a product of two sizes) stays inside torch's int64 element count"
)
_LAYER_LIMIT_REASON = "since each layer is a Python module and more cannot be built in memory"


@dataclass(frozen=True)
class ArchConfig:
    """A decoder-only transformer LM, complete enough to size, build and export.

    Defaults describe a Llama-style block (pre-RMSNorm, SwiGLU, RoPE, no biases).
    ``num_key_value_heads`` and ``head_dim`` default to MHA and hidden/heads and are
    stored resolved, as transformers does.
    """

    # --- sizes
    vocab_size: int = 32000
    hidden_size: int = 4096
    num_hidden_layers: int = 32
    num_attention_heads: int = 32
    num_key_value_heads: int | None = None  # None -> num_attention_heads (MHA); 1 -> MQA
    head_dim: int | None = None  # None -> hidden_size // num_attention_heads
    intermediate_size: int = 11008
    max_position_embeddings: int = 4096

    # --- attention
    qkv_bias: bool = False  # bias on q/k/v projections (Qwen2, GPT-2, NeoX, Bloom)
    attn_out_bias: bool = False  # bias on the output projection (GPT-2, NeoX, Bloom)
    qk_norm: str = "none"  # "head": norm over head_dim, one weight for all heads (Qwen3); "full": over all heads (OLMo-2); "per_head": over head_dim, a weight per head (Cohere)
    sliding_window: int | None = None  # window size in tokens (Mistral)
    layer_types: tuple[str, ...] | None = None  # per-layer "full_attention"/"sliding_attention"; None -> all sliding if a window is set (stored only for a mix)
    attn_logit_softcapping: float | None = None  # cap * tanh(scores / cap) (Gemma 2)
    attention_scale: float | None = None  # multiplies q·k before the softmax; None = 1/sqrt(head_dim) (Granite's attention_multiplier, Gemma's query_pre_attn_scalar ** -0.5)
    scale_attn_by_inverse_layer_idx: bool = False  # layer i also divides its scores by i + 1 (a GPT-2 option)
    clip_qkv: float | None = None  # clamp q, k and v to [-clip_qkv, clip_qkv] right after their projections (OLMo-1, MPT)
    final_logit_softcapping: float | None = None  # same on the LM-head logits (Gemma 2)

    # --- multi-head latent attention (DeepSeek-V2/V3); kv_lora_rank=None -> ordinary q/k/v attention
    # Keys and values are up-projected per head from one shared latent of kv_lora_rank features
    # (what the KV cache stores), plus one RoPE key of qk_rope_head_dim shared by all heads.
    # Each query/key head is qk_nope_head_dim (no RoPE) + qk_rope_head_dim wide (head_dim is that
    # sum), each value head v_head_dim.
    q_lora_rank: int | None = None  # queries through a low-rank bottleneck of this width; None -> one q_proj
    kv_lora_rank: int | None = None  # width of the compressed key/value latent
    qk_nope_head_dim: int | None = None  # per-head query/key features without RoPE
    qk_rope_head_dim: int | None = None  # per-head query/key features with RoPE (the key part shared by all heads)
    v_head_dim: int | None = None  # per-head value width

    # --- positions
    position_embedding: str = "rope"  # rope | alibi | learned | none
    rope_theta: float = 10000.0
    rope_scaling: dict[str, Any] | None = None  # {"rope_type": "linear"|"dynamic"|"yarn"|"llama3"|"longrope", ...}
    partial_rotary_factor: float = 1.0  # fraction of head_dim that is rotated (GPT-NeoX, Phi)
    rope_interleaved: bool = False  # False: rotate-half layout (HF/Llama); True: interleaved pairs (GPT-J, Meta)
    position_offset: int = 0  # rows in front of position 0 in the learned table (OPT: 2); position p is row p + offset
    sliding_rope_theta: float | None = None  # RoPE base of the sliding-window layers (Gemma 3: 10k local, 1M global); None = the same RoPE as full layers
    sliding_rope_scaling: dict[str, Any] | None = None  # rope_scaling of the sliding layers, read only with sliding_rope_theta (None = unscaled)
    nope_layers: tuple[int, ...] | None = None  # layers that apply no RoPE (SmolLM3: every 4th; Cohere 2: the full-attention layers)
    alibi_before_scale: bool = False  # Falcon's ALiBi: slope x key position (in bf16, as Falcon forms it) added to q·k before the softmax scale

    # --- norms
    norm_type: str = "rmsnorm"  # rmsnorm | layernorm
    norm_eps: float = 1e-5
    norm_bias: bool = False  # LayerNorm bias
    norm_weight: bool = True  # learned elementwise scale; False = non-parametric norm (OLMo-1)
    norm_unit_offset: bool = False  # scale by (1 + w) with w initialised at 0 (Gemma)
    norm_weight_in_fp32: bool = False  # multiply by the weight before casting back (OLMo-2, Gemma); Llama casts first
    norm_scheme: str = "pre"  # pre | post | peri | reordered (see NORM_SCHEMES)
    final_norm: bool = True  # a norm before the LM head

    # --- feed-forward
    mlp_type: str = "gated"  # gated: down(act(gate(x)) * up(x)); plain: down(act(up(x)))
    hidden_act: str = "silu"  # gated+silu = SwiGLU, gated+gelu* = GeGLU, gated+relu = ReGLU
    mlp_bias: bool = False

    # --- Mixture-of-Experts (all inert while num_experts == 0, the dense default)
    # A sparse layer replaces the MLP by a router over num_experts routed experts (each a
    # gated or plain MLP of moe_intermediate_size, mlp_type and hidden_act as the dense MLP),
    # of which every token uses num_experts_per_tok, plus optional shared experts every token uses.
    num_experts: int = 0  # routed experts per sparse layer (Mixtral num_local_experts, DeepSeek n_routed_experts)
    num_experts_per_tok: int = 0  # experts each token is routed to (top-k)
    moe_intermediate_size: int | None = None  # each routed expert's FFN size; None -> intermediate_size (Mixtral)
    n_shared_experts: int = 0  # experts every token passes through, fused into one MLP (DeepSeek; Qwen2-MoE: 1)
    shared_expert_intermediate_size: int | None = None  # each shared expert's size; None -> moe_intermediate_size
    shared_expert_gate: bool = False  # scale the shared experts by sigmoid(Linear(hidden, 1)) (Qwen2-MoE)
    scoring_func: str = "softmax"  # router scores: softmax over experts (Mixtral, Qwen) or per-expert sigmoid (DeepSeek-V3)
    norm_topk_prob: bool = False  # renormalise the top-k scores to sum to 1 (Mixtral: always; Qwen: per config)
    routed_scaling_factor: float = 1.0  # multiplies the routed experts' weights (DeepSeek-V3: 2.5)
    router_correction_bias: bool = False  # DeepSeek-V3's e_score_correction_bias buffer: added to the scores to choose experts, not to weight them
    n_group: int = 1  # expert groups for group-limited routing (DeepSeek-V3: 8); 1 = no grouping
    topk_group: int = 1  # groups a token may choose experts from, ranked by the sum of their top-2 scores
    first_k_dense_replace: int = 0  # the first k layers keep the dense MLP (DeepSeek-V3: 3)
    mlp_only_layers: tuple[int, ...] = ()  # layer indices that keep the dense MLP (Qwen-MoE)
    decoder_sparse_step: int = 1  # layer i is sparse only if (i + 1) % step == 0 (Qwen-MoE)
    output_router_logits: bool = False  # add router_aux_loss_coef * the load-balancing loss to the training loss
    router_aux_loss_coef: float = 0.001  # weight of the Switch-Transformer load-balancing loss (HF default)
    router_jitter_noise: float = 0.0  # training only: scale the MoE input by U(1 - noise, 1 + noise) (Mixtral)

    # --- residual stream and embeddings
    word_embed_proj_dim: int | None = None  # token embedding width, projected in to and out of hidden_size (OPT-350m); None (or hidden_size) = no projections
    parallel_residual: bool = False  # x + attn(ln1(x)) + mlp(ln2(x)) (GPT-J, GPT-NeoX)
    parallel_shared_norm: bool = False  # parallel residual with one norm for both branches (GPT-J, Falcon)
    scale_embeddings: bool = False  # multiply token embeddings by sqrt(hidden_size) (Gemma)
    embedding_multiplier: float = 1.0  # multiplies the token embeddings (Granite)
    residual_multiplier: float = 1.0  # multiplies each branch output before the residual add (Granite)
    embedding_norm: bool = False  # a norm right after the embedding (Bloom)
    tie_word_embeddings: bool = True
    lm_head_bias: bool = False
    logit_scale: float = 1.0  # multiplies the LM-head logits, before any softcapping (Cohere; Granite's 1 / logits_scaling)

    # --- training-time details
    attention_dropout: float = 0.0
    hidden_dropout: float = 0.0  # on each branch output before the residual add
    embedding_dropout: float = 0.0
    initializer_range: float = 0.02
    torch_dtype: str | None = None  # dtype the weights are meant for ("bfloat16", ...), informational

    name: str | None = None  # a label for reports

    def __post_init__(self) -> None:
        problems = _check_types(self)
        if problems:  # values of the wrong type make the range checks meaningless
            raise ConfigError(problems)
        # Resolve the two derived defaults the way transformers does, then check everything.
        if self.num_key_value_heads is None:
            object.__setattr__(self, "num_key_value_heads", self.num_attention_heads)
        if self.head_dim is None and self.is_mla and None not in (self.qk_nope_head_dim, self.qk_rope_head_dim):
            # A query/key head is its two parts side by side (what the softmax scale defaults to).
            object.__setattr__(self, "head_dim", self.qk_nope_head_dim + self.qk_rope_head_dim)
        for name in ("rope_scaling", "sliding_rope_scaling"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, _normalise_rope_scaling(getattr(self, name)))
        if self.layer_types is not None:
            object.__setattr__(self, "layer_types", tuple(self.layer_types))
        if self.nope_layers is not None:  # one spelling: sorted, and None for no layer
            object.__setattr__(self, "nope_layers", tuple(sorted(set(self.nope_layers))) or None)
        # One spelling per set of dense layers (HF keeps a list and tests membership).
        object.__setattr__(self, "mlp_only_layers", tuple(sorted(set(self.mlp_only_layers))))
        problems = _normalise_dtype(self) + _check_values(self)
        if problems:
            raise ConfigError(problems)
        if self.head_dim is None:
            object.__setattr__(self, "head_dim", self.hidden_size // self.num_attention_heads)
        if self.attention_scale == self.head_dim**-0.5:  # the default, spelled out
            object.__setattr__(self, "attention_scale", None)
        if self.num_experts and self.moe_intermediate_size is None:
            object.__setattr__(self, "moe_intermediate_size", self.intermediate_size)
        if self.n_shared_experts and self.shared_expert_intermediate_size is None:
            object.__setattr__(self, "shared_expert_intermediate_size", self.moe_intermediate_size)
        moe_problems = _check_moe(self)
        if moe_problems:
            raise ConfigError(moe_problems)
        _canonical_window(self)
        _canonical_sliding_rope(self)
        if self.word_embed_proj_dim == self.hidden_size:  # HF's own reading: equal widths need no projections
            object.__setattr__(self, "word_embed_proj_dim", None)
        rotary_problems = _check_rotary(self)
        if rotary_problems:
            raise ConfigError(rotary_problems)

    # --- derived quantities -------------------------------------------------------------

    @property
    def q_dim(self) -> int:
        """Width of all query heads together (may differ from hidden_size when head_dim is explicit)."""
        return self.num_attention_heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        """Width of all key (or value) heads together."""
        return self.num_key_value_heads * self.head_dim

    @property
    def is_mla(self) -> bool:
        """Multi-head latent attention (DeepSeek-V2/V3) instead of q/k/v projections."""
        return self.kv_lora_rank is not None

    @property
    def value_head_dim(self) -> int:
        """Width of one value head: v_head_dim with MLA, head_dim otherwise."""
        return self.v_head_dim if self.is_mla else self.head_dim

    @property
    def rotary_dim(self) -> int:
        """How many dimensions of each head RoPE rotates (0 without RoPE)."""
        if self.position_embedding != "rope":
            return 0
        if self.is_mla:
            return self.qk_rope_head_dim
        return int(self.head_dim * self.partial_rotary_factor)

    @property
    def is_moe(self) -> bool:
        """Whether any layer is a Mixture-of-Experts layer."""
        return self.num_experts > 0 and self.num_sparse_layers > 0

    def layer_is_sparse(self, layer: int) -> bool:
        """Whether ``layer``'s feed-forward is a Mixture-of-Experts (else the dense MLP).

        The union of the HF families' rules: DeepSeek's first_k_dense_replace, and Qwen-MoE's
        mlp_only_layers and decoder_sparse_step.
        """
        return (
            self.num_experts > 0
            and layer >= self.first_k_dense_replace
            and layer not in self.mlp_only_layers
            and (layer + 1) % self.decoder_sparse_step == 0
        )

    @property
    def num_sparse_layers(self) -> int:
        """How many layers are Mixture-of-Experts layers (without visiting every layer)."""
        if self.num_experts == 0:
            return 0
        step, first, L = self.decoder_sparse_step, self.first_k_dense_replace, self.num_hidden_layers
        stepped = L // step - min(first, L) // step  # i in [first, L) with (i + 1) % step == 0
        excluded = sum(1 for i in self.mlp_only_layers if i >= first and (i + 1) % step == 0 and i < L)
        return stepped - excluded

    @property
    def shared_expert_total_size(self) -> int:
        """Width of the one MLP the shared experts are fused into (0 without shared experts)."""
        return self.n_shared_experts * (self.shared_expert_intermediate_size or 0)

    @property
    def attention_kind(self) -> str:
        """'MLA', 'MHA', 'GQA' or 'MQA'."""
        if self.is_mla:
            return "MLA"
        if self.num_key_value_heads == self.num_attention_heads:
            return "MHA"
        return "MQA" if self.num_key_value_heads == 1 else "GQA"

    @property
    def rope_type(self) -> str:
        """'default' when RoPE is unscaled, else the scaling type."""
        return "default" if self.rope_scaling is None else self.rope_scaling["rope_type"]

    def layer_has_rope(self, layer: int) -> bool:
        """Whether ``layer`` rotates its queries and keys (False for NoPE layers)."""
        return self.position_embedding == "rope" and (self.nope_layers is None or layer not in self.nope_layers)

    def rope_settings(self, sliding: bool) -> tuple[float, dict[str, Any] | None]:
        """(base, scaling) of the RoPE in sliding-window layers (``sliding``) or in full-attention layers."""
        if sliding and self.sliding_rope_theta is not None:
            return self.sliding_rope_theta, self.sliding_rope_scaling
        return self.rope_theta, self.rope_scaling

    def layer_is_sliding(self, layer: int) -> bool:
        """Whether ``layer`` attends through the sliding window."""
        if self.sliding_window is None:
            return False
        if self.layer_types is None:
            return True
        return self.layer_types[layer] == "sliding_attention"

    def warnings(self) -> list[str]:
        """Problems that do not make the config invalid but cost speed (each with its fix)."""
        found = []
        if self.vocab_size % VOCAB_ALIGNMENT:
            padded = _round_up(self.vocab_size, VOCAB_ALIGNMENT)
            found.append(
                f"vocab_size={self.vocab_size} is not a multiple of {VOCAB_ALIGNMENT}, which slows the "
                f"embedding and LM-head matmuls on GPUs; fix: pad it to vocab_size={padded}"
            )
        return found

    # --- (de)serialisation --------------------------------------------------------------

    def replace(self, **changes: Any) -> ArchConfig:
        """A copy with some fields changed, validated again.

        ``head_dim`` is re-derived when the width or head count changes and it was
        not explicit (i.e. equal to hidden/heads before).
        """
        _refuse_unknown_fields(changes)
        if "head_dim" not in changes and ({"hidden_size", "num_attention_heads"} & changes.keys()):
            if self.head_dim * self.num_attention_heads == self.hidden_size:
                changes["head_dim"] = None
        if "head_dim" not in changes and ({"qk_nope_head_dim", "qk_rope_head_dim"} & changes.keys()):
            changes["head_dim"] = None  # MLA: re-derived as their sum
        if "num_key_value_heads" not in changes and "num_attention_heads" in changes:
            if self.num_key_value_heads == self.num_attention_heads:
                changes["num_key_value_heads"] = None
        if changes.get("num_experts") == 0:  # back to dense: the MoE knobs go back to their inert defaults
            for name, default in MOE_DEFAULTS.items():
                changes.setdefault(name, default)
        if "moe_intermediate_size" not in changes and "intermediate_size" in changes:
            if self.moe_intermediate_size == self.intermediate_size:
                changes["moe_intermediate_size"] = None
        if "shared_expert_intermediate_size" not in changes and "moe_intermediate_size" in changes:
            if self.shared_expert_intermediate_size == self.moe_intermediate_size:
                changes["shared_expert_intermediate_size"] = None
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready. ``from_dict(to_dict())`` gives an equal config."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, dict):
                value = json.loads(json.dumps(value))
            out[f.name] = value
        return out

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(self.to_json() + "\n")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ArchConfig:
        """Build from an archsmith dict. Unknown keys are errors (with a did-you-mean)."""
        if not isinstance(data, dict):
            raise ConfigError(f"an archsmith config must be a JSON object, got {type(data).__name__}")
        _refuse_unknown_fields(data)  # before ** (a non-string key would be a bare TypeError there)
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> ArchConfig:
        return cls.from_dict(parse_json(text))


def _refuse_unknown_fields(given: typing.Iterable[str]) -> None:
    """A ConfigError with a did-you-mean for every name that is not an ArchConfig field."""
    unknown = [k for k in given if k not in _FIELD_NAMES]
    if unknown:
        raise ConfigError([_unknown_key_message(str(k), _FIELD_NAMES) for k in unknown])


def _checked_init(init: Callable[..., None]) -> Callable[..., None]:
    """The dataclass __init__, preceded by the unknown-field check (a bare TypeError otherwise)."""

    @functools.wraps(init)
    def __init__(self: ArchConfig, *args: Any, **kwargs: Any) -> None:
        _refuse_unknown_fields(kwargs)
        init(self, *args, **kwargs)

    return __init__


ArchConfig.__init__ = _checked_init(ArchConfig.__init__)  # type: ignore[method-assign]


# --- validation ------------------------------------------------------------------------------


def _field_types() -> dict[str, Any]:
    return typing.get_type_hints(ArchConfig)


def _check_types(cfg: ArchConfig) -> list[str]:
    """Each field holds a value of its declared type (ints are accepted for floats)."""
    problems = []
    for name, hint in _FIELD_TYPES.items():
        value = getattr(cfg, name)
        if not _isinstance(value, hint):
            problems.append(
                f"{name}: expected {_describe(hint)}, got {type(value).__name__} {value!r}; fix: give {_describe(hint)}"
            )
        elif isinstance(value, int) and not isinstance(value, bool) and _base(hint) is float:
            object.__setattr__(cfg, name, float(value))
    return problems


_UNION_ORIGINS = (typing.Union, types.UnionType)


def _base(hint: Any) -> Any:
    """``float`` for ``float | None``; the hint itself when it is not optional."""
    if typing.get_origin(hint) in _UNION_ORIGINS:
        return next(a for a in typing.get_args(hint) if a is not type(None))
    return hint


def _isinstance(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in _UNION_ORIGINS:
        return any(_isinstance(value, a) for a in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if hint is str:
        return isinstance(value, str)
    if origin is tuple:
        item = typing.get_args(hint)[0]
        return isinstance(value, (tuple, list)) and all(_isinstance(v, item) for v in value)
    if origin is dict:
        return isinstance(value, dict) and all(isinstance(k, str) for k in value)
    raise TypeError(f"unhandled type hint {hint}")  # a bug in this module, not in the user's input


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in _UNION_ORIGINS:
        return " or ".join(_describe(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if origin is tuple:
        return "a list of strings" if typing.get_args(hint)[0] is str else "a list of integers"
    if origin is dict:
        return "an object"
    return {int: "an integer", float: "a finite number", bool: "true/false", str: "a string"}[hint]


def _normalise_dtype(cfg: ArchConfig) -> list[str]:
    """torch_dtype in one spelling (``bf16`` and ``torch.bfloat16`` are stored as ``bfloat16``)."""
    if cfg.torch_dtype is None:
        return []
    try:
        short = canonical_dtype(cfg.torch_dtype, what="torch_dtype")
    except ConfigError as e:
        return e.problems
    object.__setattr__(cfg, "torch_dtype", torch_dtype_name(short))
    return []


def _check_values(cfg: ArchConfig) -> list[str]:
    problems = _check_sizes(cfg)
    if problems:  # divisibility checks below need positive, bounded sizes
        return problems + _check_names(cfg) + _check_scalars(cfg)

    uses_mla = cfg.is_mla or any(getattr(cfg, name) is not None for name in MLA_FIELDS)
    problems += _check_mla(cfg) if uses_mla else _check_heads(cfg)
    return problems + _check_names(cfg) + _check_scalars(cfg) + _check_positions(cfg) + _check_window(cfg)


def _check_heads(cfg: ArchConfig) -> list[str]:
    """Query heads split the width (unless head_dim is given) and KV heads split the query heads."""
    problems = []
    h, n, kv = cfg.hidden_size, cfg.num_attention_heads, cfg.num_key_value_heads
    if cfg.head_dim is None and h % n:
        problems.append(
            f"hidden_size={h} is not divisible by num_attention_heads={n} (and head_dim is not given); "
            f"fix: {' or '.join(f'hidden_size={hh}, num_attention_heads={nn} (head_dim {hd})' for hh, nn, hd in head_pairs(h, n))}, "
            f"or keep both and set head_dim=128 or 64 explicitly"
        )
    if n % kv:
        problems.append(
            f"num_attention_heads={n} is not divisible by num_key_value_heads={kv}; "
            f"fix: num_key_value_heads={' or '.join(map(str, nearest_divisors(n, kv)))}"
        )
    return problems


def _size_problem(
    name: str, value: int | None, limit: int = MAX_SIZE, reason: str = _SIZE_LIMIT_REASON, fix: str = "give a positive size"
) -> list[str]:
    if value is None or 1 <= value <= limit:
        return []
    if value < 1:
        return [f"{name}={value} must be at least 1; fix: {fix}"]
    return [f"{name}={value} is larger than {limit:,}, the largest archsmith accepts ({reason}); fix: give at most {limit:,}"]


def _check_sizes(cfg: ArchConfig) -> list[str]:
    """Every size is positive and bounded (see MAX_SIZE), and so are the attention widths it implies."""
    problems = _size_problem("num_hidden_layers", cfg.num_hidden_layers, MAX_LAYERS, _LAYER_LIMIT_REASON)
    for name in (
        "vocab_size",
        "hidden_size",
        "num_attention_heads",
        "num_key_value_heads",
        "head_dim",
        "intermediate_size",
        "max_position_embeddings",
        "word_embed_proj_dim",
        *MLA_FIELDS,
    ):
        problems += _size_problem(name, getattr(cfg, name))
    problems += _size_problem(
        "sliding_window", cfg.sliding_window, fix="a window such as 4096, or null for full attention"
    )
    if not problems and cfg.head_dim is not None:
        problems += _size_problem("num_attention_heads * head_dim", cfg.num_attention_heads * cfg.head_dim)
    return problems


MLA_FIELDS = ("q_lora_rank", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")
_MLA_EXAMPLE = "DeepSeek-V3: kv_lora_rank=512, qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128"


def _check_mla(cfg: ArchConfig) -> list[str]:
    """MLA's dimensions come together, and the attention knobs it has no place for stay off."""
    if not cfg.is_mla:
        given = [name for name in MLA_FIELDS if getattr(cfg, name) is not None]
        return [
            f"{', '.join(given)} set but kv_lora_rank is null: these are multi-head latent attention settings; "
            f"fix: set kv_lora_rank too ({_MLA_EXAMPLE}), or remove {', '.join(given)}"
        ]
    missing = [name for name in ("qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim") if getattr(cfg, name) is None]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        return [f"kv_lora_rank is set (multi-head latent attention) but {', '.join(missing)} {verb} null; fix: give every MLA "
                f"dimension ({_MLA_EXAMPLE})"]
    n = cfg.num_attention_heads
    problems = _size_problem("kv_lora_rank + qk_rope_head_dim", cfg.kv_lora_rank + cfg.qk_rope_head_dim)
    problems += _size_problem("num_attention_heads * (qk_nope_head_dim + v_head_dim)", n * (cfg.qk_nope_head_dim + cfg.v_head_dim))
    if problems:  # the widths of kv_a_proj_with_mqa's and kv_b_proj's outputs, as every size is bounded
        return problems
    if cfg.head_dim != cfg.qk_nope_head_dim + cfg.qk_rope_head_dim:
        problems.append(
            f"head_dim={cfg.head_dim} but with MLA a query/key head is qk_nope_head_dim + qk_rope_head_dim = "
            f"{cfg.qk_nope_head_dim + cfg.qk_rope_head_dim} wide; fix: remove head_dim (it is derived)"
        )
    if cfg.qk_rope_head_dim % 2:
        problems.append(f"qk_rope_head_dim={cfg.qk_rope_head_dim} must be even (RoPE rotates pairs); fix: e.g. 64")
    if cfg.num_key_value_heads != cfg.num_attention_heads:
        problems.append(
            f"num_key_value_heads={cfg.num_key_value_heads} with MLA, where every one of the num_attention_heads="
            f"{cfg.num_attention_heads} heads gets its own key and value from the shared latent; fix: remove "
            "num_key_value_heads (the cache is sized by kv_lora_rank instead)"
        )
    refused = {
        "position_embedding": (cfg.position_embedding != "rope", "MLA's decoupled key is a RoPE key", "position_embedding='rope'"),
        "partial_rotary_factor": (cfg.partial_rotary_factor != 1.0, "MLA rotates exactly qk_rope_head_dim features", "remove it (set qk_rope_head_dim instead)"),
        "qk_norm": (cfg.qk_norm != "none", "MLA normalises the latents instead", "qk_norm='none'"),
        "attn_logit_softcapping": (cfg.attn_logit_softcapping is not None, "archsmith's MLA has no softcapped path", "null"),
        "attention_scale": (cfg.attention_scale is not None, "MLA's softmax scale is DeepSeek's (1/sqrt(head_dim), YaRN's mscale)", "null"),
        "nope_layers": (cfg.nope_layers is not None, "MLA's decoupled key is a RoPE key in every layer", "null"),
        "scale_attn_by_inverse_layer_idx": (cfg.scale_attn_by_inverse_layer_idx, "MLA scales its scores itself", "false"),
        "clip_qkv": (cfg.clip_qkv is not None, "MLA has no q/k/v projections to clip", "null"),
    }
    for name, (bad, why, fix) in refused.items():
        if bad:
            problems.append(f"{name}={getattr(cfg, name)!r} with multi-head latent attention: {why}; fix: {fix}")
    return problems


def _choice_problem(name: str, value: str, allowed: tuple[str, ...]) -> list[str]:
    if value in allowed:
        return []
    return [f"{name}={value!r} is not known; fix: use one of {', '.join(allowed)}"]


def _check_names(cfg: ArchConfig) -> list[str]:
    return (
        _choice_problem("position_embedding", cfg.position_embedding, POSITION_TYPES)
        + _choice_problem("norm_type", cfg.norm_type, NORM_TYPES)
        + _choice_problem("norm_scheme", cfg.norm_scheme, NORM_SCHEMES)
        + _choice_problem("mlp_type", cfg.mlp_type, MLP_TYPES)
        + _choice_problem("hidden_act", cfg.hidden_act, ACTIVATIONS)
        + _choice_problem("qk_norm", cfg.qk_norm, QK_NORMS)
        + _choice_problem("scoring_func", cfg.scoring_func, ROUTER_SCORINGS)
    )


def _check_scalars(cfg: ArchConfig) -> list[str]:
    problems = []
    for name in ("attention_dropout", "hidden_dropout", "embedding_dropout"):
        p = getattr(cfg, name)
        if not 0.0 <= p < 1.0:
            problems.append(f"{name}={p} must be in [0, 1); fix: use e.g. 0.0 or 0.1")
    for name in ("norm_eps", "initializer_range", "rope_theta"):
        if getattr(cfg, name) <= 0:
            problems.append(f"{name}={getattr(cfg, name)} must be positive")
    if cfg.initializer_range > 1.0:
        problems.append(
            f"initializer_range={cfg.initializer_range} is the std of the init normal, and above 1 it makes "
            "activations explode; fix: a small std such as 0.02"
        )
    for name in ("attn_logit_softcapping", "final_logit_softcapping"):
        cap = getattr(cfg, name)
        if cap is not None and cap <= 0:
            problems.append(f"{name}={cap} must be positive; fix: a cap such as 50.0, or null to disable")
    if cfg.attention_scale is not None and cfg.attention_scale <= 0:
        problems.append(
            f"attention_scale={cfg.attention_scale} must be positive (it multiplies q·k); "
            "fix: e.g. 0.0078125, or null for 1/sqrt(head_dim)"
        )
    for name in ("embedding_multiplier", "residual_multiplier", "logit_scale"):
        if getattr(cfg, name) <= 0:
            problems.append(f"{name}={getattr(cfg, name)} must be positive; fix: 1.0 to leave the values as they are")
    if cfg.clip_qkv is not None and cfg.clip_qkv <= 0:
        problems.append(f"clip_qkv={cfg.clip_qkv} must be positive (q, k, v are clamped to ±clip_qkv); fix: e.g. 8.0, or null")
    if cfg.norm_unit_offset and not cfg.norm_weight:
        problems.append("norm_unit_offset=true needs norm_weight=true (the offset applies to the weight)")
    if cfg.norm_bias and cfg.norm_type != "layernorm":
        problems.append("norm_bias=true needs norm_type='layernorm' (RMSNorm has no bias); fix: drop norm_bias")
    if cfg.parallel_shared_norm and not cfg.parallel_residual:
        problems.append("parallel_shared_norm=true needs parallel_residual=true; fix: set both or neither")
    if cfg.parallel_residual and cfg.norm_scheme != "pre":
        problems.append(
            f"parallel_residual=true is defined for norm_scheme='pre' only (got {cfg.norm_scheme!r}); "
            "fix: norm_scheme='pre' or parallel_residual=false"
        )
    return problems


def _check_positions(cfg: ArchConfig) -> list[str]:
    problems = []
    rope_knobs = []
    if cfg.rope_scaling is not None:
        rope_knobs.append("rope_scaling")
    if cfg.partial_rotary_factor != 1.0:
        rope_knobs.append("partial_rotary_factor")
    if cfg.rope_interleaved:
        rope_knobs.append("rope_interleaved")
    for name in ("sliding_rope_theta", "sliding_rope_scaling", "nope_layers"):
        if getattr(cfg, name) is not None:
            rope_knobs.append(name)
    if cfg.position_embedding != "rope" and rope_knobs:
        what = "ALiBi together with RoPE" if cfg.position_embedding == "alibi" else f"{cfg.position_embedding} positions with RoPE settings"
        problems.append(
            f"{what}: position_embedding={cfg.position_embedding!r} but {', '.join(rope_knobs)} set; "
            f"fix: remove {', '.join(rope_knobs)} or set position_embedding='rope'"
        )
    if cfg.alibi_before_scale and cfg.position_embedding != "alibi":
        problems.append(
            f"alibi_before_scale=true needs position_embedding='alibi' (got {cfg.position_embedding!r}); "
            "fix: alibi_before_scale=false"
        )
    if cfg.position_offset and cfg.position_embedding != "learned":
        problems.append(
            f"position_offset={cfg.position_offset} needs position_embedding='learned' (it shifts rows of the "
            "learned table); fix: position_offset=0"
        )
    problems += _size_problem(
        "max_position_embeddings + position_offset", cfg.max_position_embeddings + max(cfg.position_offset, 0)
    )
    if cfg.position_offset < 0:
        problems.append(f"position_offset={cfg.position_offset} must be >= 0; fix: 0, or 2 for OPT")
    if not 0.0 < cfg.partial_rotary_factor <= 1.0:
        problems.append(f"partial_rotary_factor={cfg.partial_rotary_factor} must be in (0, 1]; fix: e.g. 0.25, 0.5 or 1.0")
    if cfg.rope_scaling is not None:
        problems += _check_rope_scaling(cfg.rope_scaling)
    if cfg.sliding_rope_theta is not None and cfg.sliding_rope_theta <= 0:
        problems.append(f"sliding_rope_theta={cfg.sliding_rope_theta} must be positive; fix: e.g. 10000.0, or null")
    if cfg.sliding_rope_scaling is not None:
        if cfg.sliding_rope_theta is None:
            problems.append(
                "sliding_rope_scaling is set but sliding_rope_theta is null (without it the sliding layers use the "
                "full layers' RoPE); fix: set sliding_rope_theta too, or drop sliding_rope_scaling"
            )
        problems += _check_rope_scaling(cfg.sliding_rope_scaling, "sliding_rope_scaling")
    return problems + _check_nope_layers(cfg)


def _check_nope_layers(cfg: ArchConfig) -> list[str]:
    if cfg.nope_layers is None:
        return []
    layers = cfg.num_hidden_layers
    outside = [i for i in cfg.nope_layers if not 0 <= i < layers]
    if outside:
        return [
            f"nope_layers has {', '.join(map(str, outside[:5]))}, outside the layers 0..{layers - 1}; "
            "fix: list layer indices counted from 0"
        ]
    if len(cfg.nope_layers) == layers:
        return ["nope_layers lists every layer; fix: position_embedding='none' (and no nope_layers)"]
    return []


def _check_rope_scaling(scaling: dict[str, Any], name: str = "rope_scaling") -> list[str]:
    """The problems of one scaling dict, each naming the field it came from."""
    return [p.replace("rope_scaling", name) for p in _rope_scaling_problems(scaling)]


def _rope_scaling_problems(scaling: dict[str, Any]) -> list[str]:
    rope_type = scaling.get("rope_type")
    if not isinstance(rope_type, str) or rope_type not in ROPE_SCALING_KEYS:
        return [f"rope_scaling: rope_type={rope_type!r} is not known; fix: use one of {', '.join(ROPE_SCALING_TYPES)} (or rope_scaling=null)"]
    required, optional = ROPE_SCALING_KEYS[rope_type]
    given = set(scaling) - {"rope_type"}
    problems = []
    missing = sorted(required - given)
    if missing:
        problems.append(f"rope_scaling ({rope_type}) is missing {', '.join(missing)}; fix: add {', '.join(missing)}")
    unknown = sorted(given - required - optional)
    if unknown:
        allowed = sorted(required | optional)
        problems.append(
            f"rope_scaling ({rope_type}) has unknown keys {', '.join(unknown)}; fix: remove them (allowed: {', '.join(allowed)})"
        )
    for key in sorted(given & (required | optional)):
        problem = _ROPE_KEY_CHECKS[key](scaling[key])
        if problem:
            problems.append(f"rope_scaling ({rope_type}): {key}={_short_repr(scaling[key])} {problem}")
    if problems:
        return problems
    factor = scaling.get("factor")
    if rope_type in ("linear", "dynamic", "llama3") and factor < 1:
        problems.append(f"rope_scaling ({rope_type}): factor={factor} below 1 shrinks the context; fix: factor >= 1")
    if rope_type == "llama3" and scaling["high_freq_factor"] <= scaling["low_freq_factor"]:
        problems.append(
            f"rope_scaling (llama3): high_freq_factor={scaling['high_freq_factor']} must exceed "
            f"low_freq_factor={scaling['low_freq_factor']} (the smoothing divides by their difference); "
            "fix: e.g. low_freq_factor=1, high_freq_factor=4 as in Llama 3.1"
        )
    return problems


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _positive_number(v: Any) -> str | None:
    return None if _is_number(v) and v > 0 else "must be a finite positive number; fix: e.g. 1.0"


def _non_negative_number(v: Any) -> str | None:
    return None if _is_number(v) and v >= 0 else "must be a finite number >= 0; fix: e.g. 1.0"


def _positive_size(v: Any) -> str | None:
    if isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_SIZE:
        return None
    return f"must be an integer from 1 to {MAX_SIZE:,}; fix: the context length the model was trained at, e.g. 8192"


def _flag(v: Any) -> str | None:
    return None if isinstance(v, bool) else "must be true or false"


def _factor_list(v: Any) -> str | None:
    if isinstance(v, list) and v and all(_is_number(x) and x > 0 for x in v):
        return None
    return "must be a non-empty list of finite positive numbers; fix: one factor per rotary dimension pair"


# Every RoPE scaling key and what it must hold (the formulas divide by, take logs of, or
# multiply frequencies by these: a zero, negative or non-finite value makes cos/sin NaN).
_ROPE_KEY_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "factor": _positive_number,
    "attention_factor": _positive_number,
    "beta_fast": _positive_number,
    "beta_slow": _positive_number,
    "mscale": _non_negative_number,
    "mscale_all_dim": _non_negative_number,
    "low_freq_factor": _positive_number,
    "high_freq_factor": _positive_number,
    "original_max_position_embeddings": _positive_size,
    "truncate": _flag,
    "short_factor": _factor_list,
    "long_factor": _factor_list,
}


def _short_repr(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_window(cfg: ArchConfig) -> list[str]:
    problems = []
    if cfg.layer_types is not None:
        if len(cfg.layer_types) != cfg.num_hidden_layers:
            problems.append(
                f"layer_types has {len(cfg.layer_types)} entries but num_hidden_layers={cfg.num_hidden_layers}; "
                "fix: one entry per layer"
            )
        bad = sorted(set(cfg.layer_types) - set(LAYER_TYPES))
        if bad:
            problems.append(f"layer_types has unknown entries {', '.join(bad)}; fix: use {' or '.join(LAYER_TYPES)}")
        if "sliding_attention" in cfg.layer_types and cfg.sliding_window is None:
            problems.append("layer_types has sliding_attention layers but sliding_window is null; fix: set sliding_window")
    return problems


def _canonical_window(cfg: ArchConfig) -> None:
    """One spelling per window layout, so equal models compare equal (and an HF file that
    spells out every layer's type reads back as the config it was exported from):
    no sliding layer -> (None, None); every layer sliding -> (window, None); a mix -> both."""
    if cfg.layer_types is None or cfg.sliding_window is None:
        return
    if "sliding_attention" not in cfg.layer_types:
        object.__setattr__(cfg, "sliding_window", None)
        object.__setattr__(cfg, "layer_types", None)
    elif "full_attention" not in cfg.layer_types:
        object.__setattr__(cfg, "layer_types", None)


def _canonical_sliding_rope(cfg: ArchConfig) -> None:
    """One spelling per RoPE layout: the sliding layers' own RoPE is kept only when some layers
    slide and others do not and the two RoPEs differ; when every layer slides it is the RoPE."""
    if cfg.sliding_rope_theta is None:
        return
    if cfg.sliding_window is not None and cfg.layer_types is None:  # every layer slides
        object.__setattr__(cfg, "rope_theta", cfg.sliding_rope_theta)
        object.__setattr__(cfg, "rope_scaling", cfg.sliding_rope_scaling)
    keep = cfg.layer_types is not None and cfg.rope_settings(sliding=True) != cfg.rope_settings(sliding=False)
    if not keep:
        object.__setattr__(cfg, "sliding_rope_theta", None)
        object.__setattr__(cfg, "sliding_rope_scaling", None)


# Every MoE knob and its inert value: a dense config (num_experts == 0) must leave them there,
# so that a dense model has one spelling and no knob is silently ignored.
MOE_DEFAULTS: dict[str, Any] = {
    "num_experts_per_tok": 0,
    "moe_intermediate_size": None,
    "n_shared_experts": 0,
    "shared_expert_intermediate_size": None,
    "shared_expert_gate": False,
    "scoring_func": "softmax",
    "norm_topk_prob": False,
    "routed_scaling_factor": 1.0,
    "router_correction_bias": False,
    "n_group": 1,
    "topk_group": 1,
    "first_k_dense_replace": 0,
    "mlp_only_layers": (),
    "decoder_sparse_step": 1,
    "output_router_logits": False,
    "router_aux_loss_coef": 0.001,
    "router_jitter_noise": 0.0,
}


def _check_moe(cfg: ArchConfig) -> list[str]:
    """The Mixture-of-Experts knobs (run after moe_intermediate_size is resolved)."""
    if cfg.num_experts == 0:
        stray = [name for name, default in MOE_DEFAULTS.items() if getattr(cfg, name) != default]
        if not stray:
            return []
        return [
            f"{', '.join(stray)} set but num_experts=0 (a dense model, where they have no effect); "
            f"fix: set num_experts (and num_experts_per_tok) for a Mixture-of-Experts model, or remove {', '.join(stray)}"
        ]
    problems = _size_problem("num_experts", cfg.num_experts, fix="the routed experts per layer, e.g. 8, or 0 for a dense model")
    if problems:
        return problems
    e, k = cfg.num_experts, cfg.num_experts_per_tok
    if not 1 <= k <= e:
        problems.append(
            f"num_experts_per_tok={k} must be from 1 to num_experts={e} (each token uses that many of the experts); "
            f"fix: num_experts_per_tok={min(max(k, 1), e)}, or more experts"
        )
    problems += _size_problem("moe_intermediate_size", cfg.moe_intermediate_size, fix="each expert's FFN size, e.g. 1408")
    if cfg.n_shared_experts < 0:
        problems.append(f"n_shared_experts={cfg.n_shared_experts} must be >= 0; fix: 0 (none), or 1 as in Qwen2-MoE and DeepSeek-V3")
    elif cfg.n_shared_experts == 0:
        extra = [n for n in ("shared_expert_intermediate_size", "shared_expert_gate") if getattr(cfg, n) != MOE_DEFAULTS[n]]
        if extra:
            problems.append(f"{', '.join(extra)} set but n_shared_experts=0; fix: n_shared_experts=1, or remove {', '.join(extra)}")
    else:
        problems += _size_problem("shared_expert_intermediate_size", cfg.shared_expert_intermediate_size,
                                  fix="each shared expert's FFN size, e.g. 5632")
        if not problems:
            problems += _size_problem("n_shared_experts * shared_expert_intermediate_size", cfg.shared_expert_total_size)
    if not problems:  # the stacked expert weights [num_experts, (2 x) moe_intermediate_size, hidden]
        problems += _size_problem("num_experts * moe_intermediate_size", cfg.num_experts * cfg.moe_intermediate_size)
    if cfg.mlp_bias:
        problems.append(
            "mlp_bias=true with num_experts > 0: the experts of every supported MoE family have no biases, and "
            "archsmith's experts have none; fix: mlp_bias=false"
        )
    if cfg.routed_scaling_factor <= 0:
        problems.append(f"routed_scaling_factor={cfg.routed_scaling_factor} must be positive; fix: 1.0, or 2.5 as in DeepSeek-V3")
    problems += _check_expert_groups(cfg)
    if not 0.0 <= cfg.router_jitter_noise < 1.0:
        problems.append(f"router_jitter_noise={cfg.router_jitter_noise} must be in [0, 1); fix: 0.0 (Mixtral's), or e.g. 0.01")
    if cfg.output_router_logits and cfg.scoring_func != "softmax":
        problems.append(
            "output_router_logits=true with scoring_func='sigmoid': the load-balancing loss is defined on softmax "
            "router probabilities (a sigmoid router, as DeepSeek-V3's, balances through router_correction_bias "
            "instead); fix: output_router_logits=false, or scoring_func='softmax'"
        )
    if cfg.router_aux_loss_coef < 0:
        problems.append(f"router_aux_loss_coef={cfg.router_aux_loss_coef} must be >= 0; fix: e.g. 0.001 (HF's default) or 0.02 (Mixtral)")
    problems += _check_dense_layers(cfg)
    return problems


def _check_expert_groups(cfg: ArchConfig) -> list[str]:
    """Group-limited routing: experts split evenly into n_group groups, of which topk_group are searched."""
    e, k, g, tg = cfg.num_experts, cfg.num_experts_per_tok, cfg.n_group, cfg.topk_group
    if g < 1 or e % g:
        fix = ", ".join(str(d) for d in _divisors(e) if d <= 16)
        return [f"n_group={g} must divide num_experts={e} into equal groups; fix: n_group from {fix} (1 = no grouping)"]
    if not 1 <= tg <= g:
        return [f"topk_group={tg} must be from 1 to n_group={g}; fix: topk_group={min(max(tg, 1), g)}"]
    problems = []
    if g > 1 and e // g < 2:
        problems.append(
            f"n_group={g} leaves {e // g} expert per group, but a group is ranked by its two best experts' scores "
            f"(DeepSeek-V3); fix: n_group <= {e // 2}"
        )
    if k <= e and k > tg * (e // g):
        problems.append(
            f"num_experts_per_tok={k} is more than the {tg * (e // g)} experts in topk_group={tg} groups of "
            f"{e // g}; fix: topk_group >= {-(-k // (e // g))}, or fewer experts per token"
        )
    return problems


def _check_dense_layers(cfg: ArchConfig) -> list[str]:
    L = cfg.num_hidden_layers
    problems = []
    if cfg.first_k_dense_replace < 0:
        problems.append(f"first_k_dense_replace={cfg.first_k_dense_replace} must be >= 0; fix: 0, or 3 as in DeepSeek-V3")
    if cfg.decoder_sparse_step < 1:
        problems.append(f"decoder_sparse_step={cfg.decoder_sparse_step} must be >= 1; fix: 1 (every layer sparse) or 2 (every other)")
    bad = [i for i in cfg.mlp_only_layers if not 0 <= i < L]
    if bad:
        problems.append(
            f"mlp_only_layers has {', '.join(map(str, bad))}, outside layers 0..{L - 1}; fix: give layer indices from 0 to {L - 1}"
        )
    if not problems and cfg.num_sparse_layers == 0:
        problems.append(
            f"num_experts={cfg.num_experts} but no layer is sparse (first_k_dense_replace={cfg.first_k_dense_replace}, "
            f"decoder_sparse_step={cfg.decoder_sparse_step}, {len(cfg.mlp_only_layers)} mlp_only_layers of {L}); "
            "fix: let some layer be sparse, or num_experts=0 for a dense model"
        )
    return problems


def _check_rotary(cfg: ArchConfig) -> list[str]:
    """Checks that need the resolved head_dim."""
    problems = []
    if cfg.position_embedding != "rope":
        return problems
    rot = cfg.rotary_dim
    if rot < 2 or rot % 2:
        near = _nearest_even_rotary_factors(cfg.head_dim, cfg.partial_rotary_factor)
        problems.append(
            f"partial_rotary_factor={cfg.partial_rotary_factor} gives rotary dimension {rot} of head_dim={cfg.head_dim}, "
            f"which must be even and at least 2; fix: partial_rotary_factor={' or '.join(_fmt(f) for f in sorted(near))}"
        )
    for name in ("rope_scaling", "sliding_rope_scaling"):
        scaling = getattr(cfg, name)
        if scaling and scaling["rope_type"] == "dynamic" and rot == 2:  # dynamic NTK raises the base to dim / (dim - 2)
            problems.append(
                f"{name} (dynamic) needs a rotary dimension of at least 4, but head_dim={cfg.head_dim} with "
                f"partial_rotary_factor={cfg.partial_rotary_factor} rotates 2; fix: a larger partial_rotary_factor or head_dim"
            )
        if scaling and scaling["rope_type"] == "longrope" and rot >= 2 and rot % 2 == 0:
            for key in ("short_factor", "long_factor"):
                if isinstance(scaling.get(key), list) and len(scaling[key]) != rot // 2:
                    problems.append(
                        f"{name} (longrope): {key} has {len(scaling[key])} entries but the rotary dimension "
                        f"{rot} needs {rot // 2}; fix: give {rot // 2} factors"
                    )
    return problems


def _normalise_rope_scaling(scaling: dict[str, Any]) -> dict[str, Any]:
    """Accept HF's older ``type`` key as ``rope_type``; keep everything else as given."""
    out = dict(scaling)
    if "type" in out and "rope_type" not in out:
        out["rope_type"] = out.pop("type")
    return out


def check_tensor_parallel(cfg: ArchConfig, tp: int) -> list[str]:
    """Problems that stop sharding ``cfg`` over ``tp`` devices (the rules archsmith.parallel applies).

    Query heads and the vocabulary are split evenly. KV heads are split when ``tp`` divides
    them; with fewer KV heads than devices each device keeps a copy of the one KV head its
    query heads read (as Megatron and vLLM replicate them), which needs ``tp`` to be a
    multiple of the KV-head count.
    """
    if tp < 1:
        return [f"tensor-parallel degree {tp} must be at least 1"]
    problems = []
    for name, value in (("num_attention_heads", cfg.num_attention_heads), ("vocab_size", cfg.vocab_size)):
        if value % tp:
            if name == "vocab_size":
                fix = f"pad vocab_size to {_round_up(value, tp * VOCAB_ALIGNMENT)}"
            else:
                fix = f"{name}={' or '.join(map(str, nearest_multiples(value, tp)))}"
            degrees = [d for d in _divisors(value) if d <= max(tp * 2, 8)]
            problems.append(
                f"{name}={value} is not divisible by the tensor-parallel degree {tp}; fix: {fix}, "
                f"or a degree that divides it ({', '.join(map(str, degrees))})"
            )
    kv = cfg.num_key_value_heads
    if not cfg.is_mla and kv % tp and tp % kv:  # MLA's latent is one shared "head", replicated on every device
        fitting = [k for k in _divisors(cfg.num_attention_heads) if k % tp == 0 or tp % k == 0]
        nearest = sorted(sorted(fitting, key=lambda k: abs(k - kv))[:2])
        problems.append(
            f"num_key_value_heads={kv} neither divides over the tensor-parallel degree {tp} nor divides it "
            f"(fewer KV heads than devices are replicated, one per device, which needs {tp} to be a multiple of "
            f"{kv}); fix: num_key_value_heads={' or '.join(map(str, nearest))}, or a degree "
            f"that {kv} divides or that divides {kv}"
        )
    if tp > 1 and cfg.position_embedding == "alibi":
        problems.append(
            "ALiBi's bias is built for all heads at once, so it cannot follow heads split over devices; "
            "fix: tensor-parallel degree 1 (shard with FSDP instead), or RoPE positions"
        )
    if tp > 1 and cfg.num_experts:
        problems.append(
            "tensor parallelism does not split Mixture-of-Experts layers here; fix: tensor-parallel degree 1, "
            "and shard the experts with expert parallelism (parallelize(..., ep=True))"
        )
    if tp > 1 and cfg.qk_norm == "full":
        problems.append(
            "qk_norm='full' normalises q and k across all heads together (OLMo-2), which heads split over devices "
            "cannot do without gathering them; fix: tensor-parallel degree 1 (shard with FSDP instead), or "
            "qk_norm='head'"
        )
    return problems


def check_parallel_plan(cfg: ArchConfig, tp: int) -> list[str]:
    """:func:`check_tensor_parallel`, plus what archsmith.parallel's own plan does not cover yet."""
    problems = check_tensor_parallel(cfg, tp)
    if tp > 1 and cfg.is_mla:
        problems.append(
            "archsmith.parallel's tensor-parallel plan does not cover MLA attention (its low-rank q/kv projections); "
            "fix: tensor-parallel degree 1 (shard with FSDP instead)"
        )
    if tp > 1 and cfg.qk_norm == "per_head":
        problems.append(
            "archsmith.parallel's tensor-parallel plan does not split per-head qk-norm weights (one per head, "
            "Cohere, StableLM-2-12B) with their heads; fix: tensor-parallel degree 1 (shard with FSDP instead), "
            "or qk_norm='head'"
        )
    if tp > 1 and cfg.word_embed_proj_dim is not None:
        problems.append(
            "archsmith.parallel's tensor-parallel plan does not cover OPT-350m's project_in/project_out around a "
            "narrower embedding; fix: tensor-parallel degree 1 (shard with FSDP instead)"
        )
    if tp > 1 and cfg.mlp_type == "gated" and cfg.intermediate_size % tp:
        # The fused gate_up_proj alternates gate and up rows (model/ffn.py): an uneven split would
        # cut a pair, or give a rank other features than its slice of down_proj.
        problems.append(
            f"intermediate_size={cfg.intermediate_size} does not split evenly over the tensor-parallel degree {tp} "
            f"(each rank computes whole gate/up pairs of the fused projection); fix: intermediate_size="
            f"{' or '.join(map(str, nearest_multiples(cfg.intermediate_size, tp)))}, or a degree that divides it"
        )
    return problems


def check_expert_parallel(cfg: ArchConfig, ep: int) -> list[str]:
    """Problems that stop splitting ``cfg``'s experts over ``ep`` devices (each keeps num_experts / ep)."""
    if ep < 1:
        return [f"expert-parallel degree {ep} must be at least 1"]
    if ep == 1:
        return []
    if not cfg.num_experts:
        return [f"expert parallelism (degree {ep}) needs Mixture-of-Experts layers, and this config has none; "
                "fix: expert-parallel degree 1, or a config with num_experts"]
    if cfg.num_experts % ep:
        degrees = [d for d in _divisors(cfg.num_experts) if d > 1]
        return [f"num_experts={cfg.num_experts} does not split evenly over the expert-parallel degree {ep}; "
                f"fix: a degree that divides it ({', '.join(map(str, degrees))}), or num_experts="
                f"{' or '.join(map(str, nearest_multiples(cfg.num_experts, ep)))}"]
    return []


def expert_parallel_degrees(cfg: ArchConfig) -> dict[int, str]:
    """Every expert-parallel degree ``cfg`` allows (none without experts), with experts per device."""
    if not cfg.num_experts:
        return {}
    return {ep: f"{cfg.num_experts // ep} experts of each sparse layer per device" for ep in _divisors(cfg.num_experts)}


def tensor_parallel_degrees(cfg: ArchConfig) -> dict[int, str]:
    """Every tensor-parallel degree ``cfg`` allows (the divisors of its query-head count that
    pass :func:`check_tensor_parallel`), each with how its KV heads are laid out."""
    degrees = {}
    for tp in _divisors(cfg.num_attention_heads):
        if check_parallel_plan(cfg, tp):
            continue
        kv = cfg.num_key_value_heads
        if kv % tp == 0:
            degrees[tp] = f"{cfg.num_attention_heads // tp} query heads and {kv // tp} KV heads per device"
        else:
            degrees[tp] = (f"{cfg.num_attention_heads // tp} query heads per device; each KV head replicated on "
                           f"{tp // kv} devices")
    return degrees


def validate(cfg: ArchConfig, tp: int | None = None) -> list[str]:
    """Raise ConfigError if ``cfg`` cannot be sharded over ``tp`` devices; return the warnings."""
    if tp is not None:
        problems = check_tensor_parallel(cfg, tp)
        if problems:
            raise ConfigError(problems)
    return cfg.warnings()


# --- suggestions (shared with the designer) ------------------------------------------------


def _round_up(x: int, multiple: int) -> int:
    return -(-x // multiple) * multiple


def _divisors(n: int) -> list[int]:
    """The divisors of ``n`` in increasing order, by trial division up to sqrt(n)."""
    small = [d for d in range(1, math.isqrt(n) + 1) if n % d == 0]
    return small + [n // d for d in reversed(small) if d * d != n]


def nearest_multiples(x: int, k: int) -> list[int]:
    """The multiples of ``k`` just below and just above ``x`` (one if x is a multiple)."""
    below, above = (x // k) * k, _round_up(x, k)
    return sorted({m for m in (below, above) if m >= k}) or [k]


def nearest_divisors(n: int, x: int) -> list[int]:
    """The divisors of ``n`` just below and just above ``x``."""
    divs = _divisors(n)
    below = [d for d in divs if d < x]
    above = [d for d in divs if d > x]
    return [d for d in (below[-1] if below else None, above[0] if above else None) if d is not None]


def head_pairs(hidden: int, heads: int) -> list[tuple[int, int, int]]:
    """(hidden, heads, head_dim) near the request with head_dim 128 or 64, the sizes real models and attention
    kernels use: the given heads at either head_dim, then the nearest hidden sizes that split into them."""
    pairs = [(heads * hd, heads, hd) for hd in (128, 64)]
    for hh in nearest_multiples(hidden, 512):  # 512: the head counts below are multiples of 4 and 8
        pairs += [(hh, hh // hd, hd) for hd in (128, 64)]
    unique = list(dict.fromkeys(pairs))
    return sorted(unique, key=lambda p: (abs(p[0] - hidden), abs(p[1] - heads)))[:3]


def _nearest_even_rotary_factors(head_dim: int, factor: float) -> list[float]:
    """The factors giving the even rotary dimensions (2 .. head_dim) nearest head_dim * factor."""
    top = head_dim - head_dim % 2
    if top < 2:
        return []
    below = min(max(2, int(head_dim * factor) // 2 * 2), top)
    return sorted({r / head_dim for r in (below, min(below + 2, top))})


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def _unknown_key_message(key: str, names: set[str]) -> str:
    close = closest_name(key, names)
    hint = f"did you mean {close}?" if close else f"known keys: {', '.join(sorted(names))}"
    return f"{key}: unknown key; {hint}"


def closest_name(key: str, names: typing.Iterable[str], max_distance: int = 2) -> str | None:
    """The name within ``max_distance`` edits of ``key`` (None if there is none)."""
    best, best_d = None, max_distance + 1
    for name in sorted(names):
        if abs(len(key) - len(name)) > max_distance:  # the distance is at least that: skip the quadratic work
            continue
        d = edit_distance(key, name)
        if d < best_d:
            best, best_d = name, d
    return best if best_d <= max_distance else None


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (insertions, deletions, substitutions)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


_FIELD_TYPES = _field_types()
_FIELD_NAMES = frozenset(_FIELD_TYPES)
