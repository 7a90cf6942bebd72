"""One HF family, declared once: how its config.json reads, where its weights live, and when
archsmith exports to it.

A family file (``hf/families/<model_type>.py``) holds one :class:`Family`, named ``FAMILY``.
Its ``keys`` table (HF key -> ArchConfig field(s), with the class's default) is read by
:meth:`Family.read` and written back by :meth:`Family.hf_config`; ``facts`` are what the class
hard-codes: the reader sets them, and export refuses a config that differs from them. So a
reader and its exporter cannot disagree: whatever the table reads is exactly what export
writes, and whatever the class cannot express is refused by export. The few real exceptions
(derived values, refusals, keys with odd encodings) are small functions next to the table.

``hf/registry.py`` finds every family file; ``configs.py`` (config.json -> ArchConfig),
``weights.py`` (tensor names) and ``export_config.py`` (which class to export to) read the
registry. No torch here: reading a config must stay instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..config import ArchConfig
from ..errors import ConfigError
from .common import BASE_FIELDS, ROPE_FIELDS, read_dtype, read_rope

Fields = str | tuple[str, ...]  # the ArchConfig field one HF key sets; a tuple when one key sets several
Check = Callable[[ArchConfig], list[str]]  # what a class cannot express, one problem per item
Slot = tuple[str, int]  # (HF module, position of this part inside the fused tensor)


@dataclass(frozen=True)
class ExpertNames:
    """Where routed expert j's projections live in a checkpoint, relative to the layer: one [out, in]
    tensor per expert and projection, as published MoE checkpoints and transformers 5's
    save_pretrained hold them (archsmith stacks them; weights.py splits and stacks)."""

    prefix: str  # with "{j}"
    gate: str
    up: str
    down: str


@dataclass(frozen=True)
class Layout:
    """Where archsmith modules live in one HF family's checkpoint."""

    top: dict[str, str]  # archsmith module outside the layers -> HF module
    layer_prefix: str  # HF prefix of layer i, with "{i}"
    layer: dict[str, str | Slot]  # archsmith module inside a layer -> HF module, or a slot of a fused one
    # How many row groups a fused tensor interleaves: each part (q, k, v) is cut into this many equal
    # blocks, laid out group by group. 1 (the default) is plain concatenation.
    fused_groups: Callable[[ArchConfig], int] = lambda cfg: 1
    conv1d: frozenset[str] = frozenset()  # HF modules whose weight is stored [in, out] (GPT-2's Conv1D)
    # Tensors HF checkpoints carry that are no parameters (buffers of older versions).
    ignored_suffixes: tuple[str, ...] = (".rotary_emb.inv_freq",)
    experts: ExpertNames | None = None  # Mixture-of-Experts families: where each routed expert's weights are
    # Layers past num_hidden_layers that the class does not build and ignores on load (DeepSeek's
    # multi-token-prediction module, model.layers.61.* in DeepSeek-V3).
    ignores_extra_layers: bool = False


def per_kv_head(cfg: ArchConfig) -> int:
    """Fused q/k/v grouped per KV head: rows [kv_heads, (the group's query heads, key, value), head_dim]
    (GPT-NeoX and Bloom with MHA: [heads, 3, head_dim]; Falcon and GPTBigCode with MQA: q, k, v concatenated)."""
    return cfg.num_key_value_heads


@dataclass(frozen=True)
class RopeKeys:
    """How a class reads its RoPE settings (see ``common.read_rope``) and writes them back."""

    partial: bool = False  # the class rotates only partial_rotary_factor of each head (Phi-3, NeoX)
    default_theta: float = 10000.0  # the class's default_theta, used when no file key sets the base
    default_partial: float = 1.0
    theta_key: str = "rope_theta"  # its 4.x top-level names
    partial_key: str = "partial_rotary_factor"
    original_key: str | None = None  # a top-level original_max_position_embeddings that wins (Phi-3) ...
    original_default: int | None = None  # ... and its default
    aliases: dict[str, str] = field(default_factory=dict)  # old rope type names the class renames
    types: tuple[str, ...] | None = None  # the scaled types the class accepts; None: all of archsmith's
    default_theta: float = 10000.0  # the class's base when the file gives none (its config's default_theta)

    @property
    def keys(self) -> frozenset[str]:
        own = {self.theta_key, self.partial_key} | ({self.original_key} if self.original_key else set())
        return ROPE_FIELDS | own

    def read(self, d: dict[str, Any], model_type: str, max_positions: int) -> dict[str, Any]:
        # A class with its own 4.x names ignores the standard top-level ones: refuse them rather than guess.
        for key, own in (("rope_theta", self.theta_key), ("partial_rotary_factor", self.partial_key)):
            if own != key and key in d:
                raise ConfigError(
                    f"{key}: {model_type} reads {own} (or rope_parameters.{key}), and transformers ignores a "
                    f"top-level {key}; fix: rename {key} to {own}"
                )
        original = d.get(self.original_key, self.original_default) if self.original_key else None
        rope = read_rope(
            {self.theta_key: self.default_theta, **d},
            model_type=model_type,
            partial_rotary=self.partial,
            max_position_embeddings=max_positions,
            theta_key=self.theta_key,
            partial_key=self.partial_key,
            default_partial=self.default_partial,
            original_max_position_embeddings=original,
            type_aliases=self.aliases,
            default_theta=self.default_theta,
        )
        if self.types is not None and rope.scaling is not None and rope.scaling["rope_type"] not in self.types:
            raise ConfigError(
                f"{model_type}: rope type {rope.scaling['rope_type']!r} is not supported by its class, which "
                f"accepts only default and {', '.join(self.types)}; fix: use {' or '.join(self.types)} or no scaling"
            )
        return {"rope_theta": rope.theta, "rope_scaling": rope.scaling, "partial_rotary_factor": rope.partial_rotary_factor}

    def write(self, cfg: ArchConfig) -> dict[str, Any]:
        """transformers-5 ``rope_parameters`` plus the 4.x top-level keys."""
        params: dict[str, Any] = {"rope_type": cfg.rope_type, "rope_theta": cfg.rope_theta}
        if cfg.rope_scaling:
            params.update({k: v for k, v in cfg.rope_scaling.items() if k != "rope_type"})
        out: dict[str, Any] = {"rope_parameters": params, self.theta_key: cfg.rope_theta}
        out["rope_scaling"] = dict(cfg.rope_scaling) if cfg.rope_scaling else None
        if self.partial:
            params["partial_rotary_factor"] = cfg.partial_rotary_factor
            out[self.partial_key] = cfg.partial_rotary_factor
        if self.original_key and cfg.rope_scaling and "original_max_position_embeddings" in cfg.rope_scaling:
            out[self.original_key] = cfg.rope_scaling["original_max_position_embeddings"]
        return out

    def problems(self, cfg: ArchConfig) -> list[str]:
        if self.types is not None and cfg.rope_type not in ("default", *self.types):
            return [f"rope_scaling {cfg.rope_type!r} (it accepts only {', '.join(self.types)})"]
        return []


# The plain modern block: export pins every knob a class does NOT have to its neutral value
# (these are also ArchConfig's defaults, so the reader may leave them out).
NEUTRAL: dict[str, Any] = {
    "position_embedding": "rope",
    "kv_lora_rank": None,  # q/k/v projections, no multi-head latent attention
    "rope_interleaved": False,
    "position_offset": 0,
    "alibi_before_scale": False,
    "partial_rotary_factor": 1.0,
    "qk_norm": "none",
    "sliding_window": None,
    "attn_logit_softcapping": None,
    "final_logit_softcapping": None,
    "attention_scale": None,
    "scale_attn_by_inverse_layer_idx": False,
    "clip_qkv": None,
    "word_embed_proj_dim": None,
    "norm_weight": True,
    "norm_unit_offset": False,
    "norm_scheme": "pre",
    "final_norm": True,
    "parallel_residual": False,
    "parallel_shared_norm": False,
    "scale_embeddings": False,
    "embedding_norm": False,
    "lm_head_bias": False,
    "hidden_dropout": 0.0,
    "embedding_dropout": 0.0,
    "attention_scale": None,
    "sliding_rope_theta": None,
    "sliding_rope_scaling": None,
    "nope_layers": None,
    "embedding_multiplier": 1.0,
    "residual_multiplier": 1.0,
    "logit_scale": 1.0,
    "num_experts": 0,  # a dense MLP in every layer (the MoE knobs are then inert, ArchConfig checks)
}
# nn.LayerNorm on the input dtype, i.e. plain F.layer_norm (archsmith's norm_weight_in_fp32=False).
LAYERNORM = {"norm_type": "layernorm", "norm_bias": True, "norm_weight_in_fp32": False}


def _nothing(*_: Any) -> dict[str, Any]:
    return {}


def _no_note(cfg: ArchConfig) -> str:
    return ""


def fields_of(fields: Fields) -> tuple[str, ...]:
    return fields if isinstance(fields, tuple) else (fields,)


@dataclass(frozen=True)
class Family:
    """One transformers class: its config.json keys, what it hard-codes, its weight names."""

    model_type: str  # config.json "model_type"
    architecture: str  # the transformers class export writes, e.g. "LlamaForCausalLM"
    keys: dict[str, tuple[Fields, Any]]  # HF key -> (ArchConfig field(s) it sets, the class's default)
    facts: dict[str, Any]  # ArchConfig fields the class hard-codes (NEUTRAL's are implied)
    layout: Layout | Callable[[ArchConfig], Layout]  # a function of the config where its tensor names depend on it
    export_rank: int  # export tries classes from the lowest rank on: the more common class wins a tie
    rope: RopeKeys | None = None  # None: the class has no RoPE settings
    # transformers' attribute_map: standard name -> the class's own key (both are read, one is written)
    aliases: dict[str, str] = field(default_factory=dict)
    # The real exceptions, next to the table: read_extra(d, fields read so far) -> more or overriding fields
    # (and refusals); write_extra(cfg) -> the config.json keys that are not a copy of one field.
    read_extra: Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]] = _nothing
    write_extra: Callable[[ArchConfig], dict[str, Any]] = _nothing
    free: tuple[str, ...] = ()  # NEUTRAL fields that read_extra reads and write_extra writes back
    checks: tuple[Check, ...] = ()  # what else the class cannot express
    other_keys: frozenset[str] = frozenset()  # keys the class has beyond the table: read by read_extra or no-ops
    note: Callable[[ArchConfig], str] = _no_note  # what a user should know about an export to this class

    def __post_init__(self) -> None:
        table = {f for fields, _ in self.keys.values() for f in fields_of(fields)}
        if clash := table & set(self.facts):
            raise ValueError(f"{self.model_type}: {sorted(clash)} are both read from keys and fixed facts")

    def layout_of(self, cfg: ArchConfig) -> Layout:
        return self.layout if isinstance(self.layout, Layout) else self.layout(cfg)

    # --- config.json -> ArchConfig

    @property
    def known_keys(self) -> frozenset[str]:
        """Every key the class knows (a key one typo away from one of these is refused)."""
        rope = self.rope.keys if self.rope else frozenset()
        return BASE_FIELDS | rope | frozenset(self.keys) | frozenset(self.aliases) | self.other_keys

    def _get(self, d: dict[str, Any], key: str, default: Any) -> Any:
        """A key given under its own name or its standard alias (not both, unless equal)."""
        alias = next((std for std, own in self.aliases.items() if own == key), None)
        if alias is not None and alias in d:
            if key in d and d[key] != d[alias]:
                raise ConfigError(f"{key}={d[key]} and its alias {alias}={d[alias]} disagree; fix: keep one of them")
            return d.get(key, d[alias])
        return d.get(key, default)

    def read(self, d: dict[str, Any]) -> ArchConfig:
        read: dict[str, Any] = dict(self.facts)
        for key, (fields, default) in self.keys.items():
            value = self._get(d, key, default)
            read.update((f, value) for f in fields_of(fields))
        read.update(self.read_extra(d, read))
        if self.rope:
            read.update(self.rope.read(d, self.model_type, read["max_position_embeddings"]))
        return ArchConfig(**read, torch_dtype=read_dtype(d))

    # --- ArchConfig -> config.json

    def hf_config(self, cfg: ArchConfig) -> dict[str, Any]:
        """The class-specific keys of the config.json for ``cfg`` (which must have no export problem)."""
        out = {key: getattr(cfg, fields_of(fields)[0]) for key, (fields, _) in self.keys.items()}
        if self.rope:
            out.update(self.rope.write(cfg))
        out.update(self.write_extra(cfg))
        return out

    @property
    def pinned(self) -> dict[str, Any]:
        """ArchConfig fields the class has one value for: NEUTRAL and the facts, minus what it reads."""
        free = {f for fields, _ in self.keys.values() for f in fields_of(fields)} | set(self.free)
        if self.rope and self.rope.partial:
            free.add("partial_rotary_factor")
        return {k: v for k, v in {**NEUTRAL, **self.facts}.items() if k not in free}

    def export_problems(self, cfg: ArchConfig) -> list[str]:
        """Why this class cannot run ``cfg`` exactly; empty when it can."""
        found = [f"{k}={getattr(cfg, k)!r} (it has only {v!r})" for k, v in self.pinned.items() if getattr(cfg, k) != v]
        for key, (fields, _) in self.keys.items():  # one key that sets several fields needs them equal
            first, *rest = fields_of(fields)
            if any(getattr(cfg, f) != getattr(cfg, first) for f in rest):
                values = " with ".join(f"{f}={getattr(cfg, f)}" for f in (first, *rest))
                found.append(f"{values} (one {key} sets {'both' if len(rest) == 1 else 'all of them'})")
        if self.rope:
            found += self.rope.problems(cfg)
        for check in self.checks:
            found += check(cfg)
        return found


# --- checks several classes share ----------------------------------------------------------------


def implicit_head_dim(cfg: ArchConfig) -> list[str]:
    if cfg.head_dim * cfg.num_attention_heads != cfg.hidden_size:
        return [f"head_dim={cfg.head_dim} != hidden_size/num_attention_heads (it derives head_dim)"]
    return []


def qk_norm_switch(kind: str, what: str) -> Check:
    """The check of a class whose one qk-norm flag turns on qk-norm of ``kind`` (``what`` it is, in the class's terms)."""

    def check(cfg: ArchConfig) -> list[str]:
        if cfg.qk_norm not in ("none", kind):
            return [f"qk_norm={cfg.qk_norm!r} ({what}: {kind!r})"]
        return []

    return check


def mha_only(cfg: ArchConfig) -> list[str]:
    if cfg.num_key_value_heads != cfg.num_attention_heads:
        return [f"num_key_value_heads={cfg.num_key_value_heads} ({cfg.attention_kind}; it has only MHA)"]
    return []


def all_sliding_or_none(cfg: ArchConfig) -> list[str]:
    if cfg.sliding_window is not None and cfg.layer_types is not None and "full_attention" in cfg.layer_types:
        return ["a mix of full and sliding layers (its window applies to every layer)"]
    return []


def heads_divide_hidden(cfg: ArchConfig) -> list[str]:
    if cfg.hidden_size % cfg.num_attention_heads:
        return [f"hidden_size={cfg.hidden_size} not divisible by num_attention_heads (its config class refuses it)"]
    return []


def four_times_hidden(cfg: ArchConfig) -> list[str]:
    if cfg.intermediate_size != 4 * cfg.hidden_size:
        return [f"intermediate_size={cfg.intermediate_size} (its MLP is always 4 * hidden_size)"]
    return []


def layer_types(cfg: ArchConfig) -> list[str]:
    """HF's per-layer ``layer_types`` list for ``cfg``."""
    return ["sliding_attention" if cfg.layer_is_sliding(i) else "full_attention" for i in range(cfg.num_hidden_layers)]
