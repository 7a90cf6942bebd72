"""Tensor names and layouts of each HF family, both ways.

archsmith names its parameters one way for every architecture (see model/); HF
families differ in names and in how they pack tensors:

    GPT-2        Conv1D stores weights as [in, out]; q, k, v concatenated in c_attn
    GPT-NeoX,    one query_key_value per layer, grouped per KV head: rows are
    Bloom,       [kv_heads, (the group's query heads, key, value), head_dim], i.e.
    Falcon,      [heads, 3, head_dim] with MHA and q, k, v concatenated with MQA
    GPTBigCode
    CodeGen      qkv_proj in 4 groups (its 4 training shards), each [q, v, k] of hidden/4 rows
    Falcon       norm names that depend on the block (a function of the config)
    MPT          Wqkv = q, k, v concatenated
    Phi-3        qkv_proj = q, k, v concatenated; gate_up_proj = gate, up concatenated
    OPT          the learned position table has 2 extra rows in front (ArchConfig.position_offset=2:
                 archsmith's table has them too, so it maps one to one)
    StableLM     per-head qk LayerNorms are one module per head (q_layernorm.norms.{h}); archsmith
                 holds them as one [heads, head_dim] weight (an HF module name with "{h}")
    MoE          archsmith stacks every expert in one tensor (experts.gate_up_proj [E, 2I, H],
                 experts.down_proj [E, H, I]); checkpoints hold one [out, in] tensor per expert
                 and projection (Layout.experts), which is what transformers 5's save_pretrained
                 writes and its from_pretrained fuses on load

archsmith itself fuses q/k/v (attn.qkv_proj, rows grouped per KV head) and gate/up (mlp.gate_up_proj,
rows alternating) for speed. Layouts are written against the separate q/k/v and gate/up tensors:
the fused ones are split into those first (:func:`_unfused`) and joined back last (:func:`_fused`),
so family files never see the fusion.

Each family declares these facts as a :class:`~archsmith.hf.family.Layout` (families/<model_type>.py);
:func:`to_hf_state` and :func:`from_hf_state` apply them. Shapes to expect are derived by mapping
meta tensors, so a checkpoint is validated against exactly what the model needs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..config import ArchConfig
from ..errors import LoadError
from .family import Layout
from .registry import BY_MODEL_TYPE

if TYPE_CHECKING:
    import torch

# Remote-code exports wrap archsmith's Transformer as ``model``: names are archsmith's own.
REMOTE = "archsmith"

EXPERTS = "mlp.experts"  # the archsmith module whose stacked tensors split into one per expert


# --- archsmith's fused projections <-> the separate tensors layouts name ------------------------

# fused module -> the modules it holds, in row order
_FUSED = {"qkv_proj": ("q_proj", "k_proj", "v_proj"), "gate_up_proj": ("gate_proj", "up_proj")}


def _interleave(parts: list[torch.Tensor], groups: int) -> torch.Tensor:
    """Each part cut into ``groups`` equal row blocks, laid out group by group (1: concatenation)."""
    import torch

    rest = parts[0].shape[1:]
    return torch.cat([p.reshape(groups, -1, *rest) for p in parts], dim=1).reshape(-1, *rest)


def _deinterleave(t: torch.Tensor, sizes: list[int], groups: int) -> list[torch.Tensor]:
    """The inverse of :func:`_interleave`: the parts of ``sizes`` rows each."""
    rest = t.shape[1:]
    return [p.reshape(-1, *rest) for p in t.reshape(groups, -1, *rest).split([n // groups for n in sizes], dim=1)]


def _fused_names(name: str) -> list[str] | None:
    """The parts of a fused parameter ('layers.0.attn.qkv_proj.weight' -> its q/k/v_proj.weight);
    None for any other (``layers.3.mlp.experts.gate_up_proj``, stacked experts, is split per expert
    below)."""
    module, _, param = name.rpartition(".")
    parent, _, leaf = module.rpartition(".")
    if leaf not in _FUSED or param not in ("weight", "bias"):
        return None
    return [f"{parent}.{part}.{param}" for part in _FUSED[leaf]]


def _fused_parts(name: str, cfg: ArchConfig, rows: int) -> tuple[list[str], list[int], int] | None:
    """For a fused parameter of ``rows`` rows, its parts' names, their row counts and the number of
    row groups they interleave in (see model/attention.py and model/ffn.py); None for any other."""
    names = _fused_names(name)
    if names is None:
        return None
    if len(names) == 3:  # q/k/v: [kv_heads, (the group's query heads, key, value), head_dim]
        return names, [cfg.q_dim, cfg.kv_dim, cfg.kv_dim], cfg.num_key_value_heads
    return names, [rows // 2, rows // 2], rows // 2  # gate/up: gate_0, up_0, gate_1, up_1, ...


def _unfused(state: dict[str, torch.Tensor], cfg: ArchConfig) -> dict[str, torch.Tensor]:
    """archsmith parameters with every fused one replaced by its parts (in its place, in row order)."""
    out = {}
    for name, t in state.items():
        fused = _fused_parts(name, cfg, t.shape[0])
        if fused is None:
            out[name] = t
        else:
            names, sizes, groups = fused
            out.update(zip(names, _deinterleave(t, sizes, groups)))
    return out


def _fused(parts: dict[str, torch.Tensor], cfg: ArchConfig, shapes: dict[str, tuple[int, ...]], names: list[str]):
    """The archsmith parameters ``names`` (of ``shapes``) from :func:`_unfused`'s output."""
    out = {}
    for name in names:
        fused = _fused_parts(name, cfg, shapes[name][0])
        out[name] = parts[name] if fused is None else _interleave([parts[n] for n in fused[0]], fused[2])
    return out


def _unfused_shapes(shapes: dict[str, tuple[int, ...]], cfg: ArchConfig) -> dict[str, tuple[int, ...]]:
    import torch

    meta = {n: torch.empty(s, device="meta") for n, s in shapes.items()}
    return {n: tuple(t.shape) for n, t in _unfused(meta, cfg).items()}


# --- name mapping -------------------------------------------------------------------------------

_PER_HEAD = "{h}"  # in an HF module name: one module per head, holding row h of the archsmith tensor


def _split_name(name: str) -> tuple[int | None, str, str]:
    """'layers.3.attn.q_proj.weight' -> (3, 'attn.q_proj', 'weight'); top-level names get None."""
    module, _, param = name.rpartition(".")
    if module.startswith("layers."):
        _, i, local = module.split(".", 2)
        return int(i), local, param
    return None, module, param


def _hf_slot(layout: Layout, name: str) -> tuple[str, int | None]:
    """The HF tensor an archsmith parameter goes into, and its slot when fused."""
    layer, module, param = _split_name(name)
    target = layout.top.get(module) if layer is None else layout.layer.get(module)
    if target is None:
        raise LoadError(f"parameter {name} has no place in this HF family; this is a bug in archsmith's export table")
    hf_module, slot = (target, None) if isinstance(target, str) else target
    prefix = "" if layer is None else layout.layer_prefix.format(i=layer)
    return f"{prefix}{hf_module}.{param}", slot


def _groups(layout: Layout, names: list[str]) -> dict[str, list[str]]:
    """HF tensor name -> the archsmith parameters it holds, in slot order."""
    groups: dict[str, list[tuple[int, str]]] = {}
    for name in names:
        hf_name, slot = _hf_slot(layout, name)
        groups.setdefault(hf_name, []).append((slot or 0, name))
    return {hf: [n for _, n in sorted(parts)] for hf, parts in groups.items()}


def _is_conv1d(layout: Layout, hf_name: str) -> bool:
    module, _, param = hf_name.rpartition(".")
    return param == "weight" and any(module.endswith("." + c) for c in layout.conv1d)


def _is_experts(name: str) -> bool:
    layer, module, _ = _split_name(name)
    return layer is not None and module == EXPERTS


def _expert_names(layout: Layout, name: str, num_experts: int) -> list[list[str]]:
    """For a stacked expert tensor ('layers.3.mlp.experts.gate_up_proj'), the HF names of its
    parts along dim 1 (gate, then up; or the one projection), each a list over the experts."""
    layer, _, param = _split_name(name)
    names = layout.experts
    if names is None:
        raise LoadError(f"parameter {name} has no place in this HF family; this is a bug in archsmith's export table")
    projections = {"gate_up_proj": (names.gate, names.up), "up_proj": (names.up,), "down_proj": (names.down,)}[param]
    base = layout.layer_prefix.format(i=layer) + names.prefix
    return [[f"{base.format(j=j)}{proj}.weight" for j in range(num_experts)] for proj in projections]


def _tied_out(cfg: ArchConfig, names: list[str]) -> list[str]:
    # A tied LM head is the embedding itself: HF checkpoints store it once.
    return [n for n in names if not (cfg.tie_word_embeddings and n == "lm_head.weight")]


# --- archsmith -> HF ----------------------------------------------------------------------------


def to_hf_state(state: dict[str, torch.Tensor], cfg: ArchConfig, model_type: str) -> dict[str, torch.Tensor]:
    """archsmith parameters -> HF tensors of ``model_type`` (remote code: "archsmith")."""
    import torch

    names = _tied_out(cfg, list(state))
    if model_type == REMOTE:  # archsmith's own code reads the checkpoint: its own (fused) names
        return {f"model.{n}": state[n] for n in names}
    layout = BY_MODEL_TYPE[model_type].layout_of(cfg)
    state = _unfused({n: state[n] for n in names}, cfg)
    names = list(state)
    out = {}
    for name in filter(_is_experts, names):  # [E, parts x out, in] -> one [out, in] per part and expert
        parts = _expert_names(layout, name, state[name].shape[0])
        for hf_names, piece in zip(parts, state[name].chunk(len(parts), dim=1)):
            out.update({hf_name: w.contiguous() for hf_name, w in zip(hf_names, piece)})
    names = [n for n in names if not _is_experts(n)]
    for hf_name, parts in _groups(layout, names).items():
        tensors = [state[n] for n in parts]
        t = tensors[0] if len(tensors) == 1 else _interleave(tensors, layout.fused_groups(cfg))
        if _is_conv1d(layout, hf_name):
            t = t.t()
        if _PER_HEAD in hf_name:
            out.update({hf_name.format(h=j): row.contiguous() for j, row in enumerate(t.unbind(0))})
        else:
            out[hf_name] = t.contiguous()
    return out


# --- HF -> archsmith ----------------------------------------------------------------------------


def expected_hf_shapes(shapes: dict[str, tuple[int, ...]], cfg: ArchConfig, model_type: str) -> dict[str, tuple[int, ...]]:
    """The HF tensor shapes a model with archsmith parameter ``shapes`` needs (mapped on meta tensors)."""
    import torch

    meta = {n: torch.empty(s, device="meta") for n, s in shapes.items()}
    return {n: tuple(t.shape) for n, t in to_hf_state(meta, cfg, model_type).items()}


def from_hf_state(
    hf: dict[str, torch.Tensor], cfg: ArchConfig, model_type: str, shapes: dict[str, tuple[int, ...]]
) -> dict[str, torch.Tensor]:
    """HF tensors -> archsmith parameters with the given ``shapes``; LoadError naming the tensor
    when one is missing, unexpected, of the wrong shape or not floating point."""
    check_hf_tensors(hf, cfg, model_type, shapes)
    layout = None if model_type == REMOTE else BY_MODEL_TYPE[model_type].layout_of(cfg)
    names = _tied_out(cfg, list(shapes))
    if layout is None:
        out = {n: hf[f"model.{n}"] for n in names}
    else:
        out = _unpack(hf, cfg, layout, names, shapes)
    if cfg.tie_word_embeddings and "lm_head.weight" in shapes:
        out["lm_head.weight"] = out["embed_tokens.weight"]
    return out


def _unpack(hf, cfg: ArchConfig, layout: Layout, params: list[str], shapes) -> dict[str, torch.Tensor]:
    import torch

    model_shapes = shapes
    shapes = _unfused_shapes({n: shapes[n] for n in params}, cfg)
    names = list(shapes)
    out = {}
    for name in filter(_is_experts, names):  # one [out, in] per part and expert -> [E, parts x out, in]
        parts = _expert_names(layout, name, shapes[name][0])
        out[name] = torch.cat([torch.stack([hf[n] for n in hf_names]) for hf_names in parts], dim=1)
    names = [n for n in names if not _is_experts(n)]
    for hf_name, parts in _groups(layout, names).items():
        if _PER_HEAD in hf_name:
            t = torch.stack([hf[hf_name.format(h=j)] for j in range(shapes[parts[0]][0])])
        else:
            t = hf[hf_name]
        if _is_conv1d(layout, hf_name):
            t = t.t()
        if len(parts) == 1:
            out[parts[0]] = t.contiguous()
        else:
            pieces = _deinterleave(t, [shapes[n][0] for n in parts], layout.fused_groups(cfg))
            out.update({name: piece.reshape(shapes[name]).contiguous() for name, piece in zip(parts, pieces)})
    return _fused(out, cfg, model_shapes, params)


def _validate(
    hf: dict[str, torch.Tensor],
    expected: dict[str, tuple[int, ...]],
    model_type: str,
    layout: Layout | None,
    num_layers: int,
) -> None:
    import torch

    ignored = layout.ignored_suffixes if layout else ()
    for name, shape in expected.items():
        if name not in hf:
            raise LoadError(
                f"tensor {name} is missing from the checkpoint ({model_type} needs it for this config); "
                "fix: check that config.json matches the weights, or re-export the checkpoint"
            )
        t = hf[name]
        if not torch.is_floating_point(t):
            raise LoadError(
                f"tensor {name} has dtype {t.dtype}, expected a floating-point dtype (float32, bfloat16, float16); "
                "fix: re-export the checkpoint"
            )
        if tuple(t.shape) != shape:
            raise LoadError(
                f"tensor {name} has shape {tuple(t.shape)} but config.json implies {shape}; "
                "fix: check that config.json matches the weights"
            )
    lm_head = {"lm_head.weight", "embed_out.weight", "model.lm_head.weight"}  # a tied head stored anyway
    for name in hf:
        if name not in expected and name not in lm_head and not name.endswith(ignored) and not _extra_layer(layout, name, num_layers):
            raise LoadError(
                f"tensor {name} in the checkpoint has no place in the model config.json describes; "
                "fix: check that config.json matches the weights"
            )


def _extra_layer(layout: Layout | None, name: str, num_layers: int) -> bool:
    """A tensor of a layer past the model's last, in a family whose class ignores those."""
    if layout is None or not layout.ignores_extra_layers:
        return False
    prefix = layout.layer_prefix.split("{i}")[0]
    index = name[len(prefix) :].split(".", 1)[0] if name.startswith(prefix) else ""
    return index.isdigit() and int(index) >= num_layers


# --- one HF tensor at a time (sharded loading and export, archsmith.parallel) -------------------


def hf_units(cfg: ArchConfig, model_type: str, shapes: dict[str, tuple[int, ...]]) -> list[tuple[list[str], list[str]]]:
    """The checkpoint in pieces that convert on their own: (archsmith parameters, the HF tensors
    they make). A renamed tensor; q, k and v with the tensor they are packed into; a stacked
    expert tensor with its one tensor per expert. A tied head is left out (the embedding is it)."""
    import torch

    units: dict[tuple[str, ...], list[str]] = {}
    for name in _tied_out(cfg, list(shapes)):
        made = to_hf_state({name: torch.empty(shapes[name], device="meta")}, cfg, model_type)
        units.setdefault(tuple(made), []).append(name)
    return [(params, list(hf)) for hf, params in units.items()]


def stored_as_is(model_type: str, params: list[str], hf_names: list[str]) -> bool:
    """Whether the unit is one parameter stored as one HF tensor under another name (not fused,
    split or transposed): then any slice of one is the same slice of the other."""
    if len(params) != 1 or len(hf_names) != 1:
        return False
    if model_type != REMOTE and _fused_names(params[0]) is not None:  # e.g. MPT's Wqkv: the same rows, in another order
        return False
    return model_type == REMOTE or not _is_conv1d(BY_MODEL_TYPE[model_type].layout, hf_names[0])


def unpack_hf_tensors(
    hf: dict[str, torch.Tensor], cfg: ArchConfig, model_type: str, params: list[str], shapes: dict[str, tuple[int, ...]]
) -> dict[str, torch.Tensor]:
    """The archsmith parameters ``params`` of one unit (:func:`hf_units`) from its HF tensors."""
    if model_type == REMOTE:
        return {n: hf[f"model.{n}"] for n in params}
    return _unpack(hf, cfg, BY_MODEL_TYPE[model_type].layout, params, shapes)


def check_hf_tensors(
    hf: dict[str, torch.Tensor], cfg: ArchConfig, model_type: str, shapes: dict[str, tuple[int, ...]]
) -> None:
    """LoadError naming the tensor when ``hf`` (meta tensors do) misses one, has an unexpected
    one, a wrong shape or a non-float dtype for a model with parameter ``shapes``."""
    layout = None if model_type == REMOTE else BY_MODEL_TYPE[model_type].layout_of(cfg)
    _validate(hf, expected_hf_shapes(shapes, cfg, model_type), model_type, layout, cfg.num_hidden_layers)
