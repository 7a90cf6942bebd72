"""Everything the designer says, generated from the design's own facts.

:func:`collect_facts` records each number and each rule that applied; :func:`justify`,
:func:`warnings` and :func:`describe_changes` only format those facts, so a sentence cannot
state a size, a threshold or a reason that the design does not have. ``tests/test_design_claims.py``
recomputes the facts from the config and checks each sentence against them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..config import ArchConfig
from ..sizing import Estimate, ParamBreakdown
from .counts import format_count, format_gib, format_pct
from .curve import aspect_band
from .rules import VOCAB_MULTIPLE, regime

if TYPE_CHECKING:
    from ..hardware import GPU
    from .attention import KVChoice, Positions
    from .core import Design
    from .request import Request
    from .search import Fit
    from .styles import Style


def collect_facts(req: Request, style: Style, cfg: ArchConfig, p: ParamBreakdown, fit: Fit, kv: KVChoice,
                  positions: Positions, vocab_given: int, gpu: GPU, context: int, est: Estimate,
                  kv_by: dict[str, int]) -> dict[str, Any]:
    shape = fit.shape
    reg = regime(shape.non_embedding, req.tp_degree)
    lo, hi, near = aspect_band(p.non_embedding)
    aspect = cfg.hidden_size / cfg.num_hidden_layers
    ratio = cfg.intermediate_size / cfg.hidden_size
    band = style.ffn_band
    return {
        "size": {"target": req.target, "total": p.total, "error": p.total / req.target - 1,
                 "non_embedding": p.non_embedding},
        "regime": {"curve_non_embedding": shape.non_embedding, "heads_multiple": reg.heads_multiple,
                   "hidden_multiple": reg.hidden_multiple, "layers_multiple": reg.layers_multiple,
                   "heads_follow_hidden": style.heads_follow_hidden, "tp": req.tp_degree},
        "attention": {
            "kind": cfg.attention_kind, "heads": cfg.num_attention_heads, "kv_heads": cfg.num_key_value_heads,
            "head_dim": cfg.head_dim, "width": cfg.num_attention_heads * cfg.head_dim, "hidden": cfg.hidden_size,
            "rule": kv.rule, "wanted": kv.wanted, "family_kv": style.kv_heads_at(shape.non_embedding),
            "kv_note": style.kv_note, "cache_bytes": est.kv_cache_bytes, "mha_bytes": kv_by["MHA"],
            "weights_bytes": est.weight_bytes["bf16"], "gpu": gpu.name, "gpu_memory": gpu.memory_bytes,
            "budget_bytes": kv.budget_bytes, "fits": kv.fits, "gpus": kv.gpus, "context": context, "batch": req.batch,
            "tp": req.tp_degree, "sliding_window": cfg.sliding_window,
        },
        "positions": {"kind": positions.kind, "theta": cfg.rope_theta if cfg.position_embedding == "rope" else None,
                      "factor": positions.factor, "extension": positions.extension, "context": context,
                      "family_context": style.context, "method": style.long_context,
                      "max_learned": style.max_learned_positions},
        "ffn": {"size": cfg.intermediate_size, "ratio": ratio, "multiple": fit.ffn_multiple,
                "family_ratio": style.ffn_ratio, "band": list(band), "in_band": band[0] <= ratio <= band[1],
                "gated": cfg.mlp_type == "gated"},
        "shape": {"hidden": cfg.hidden_size, "layers": cfg.num_hidden_layers, "aspect": aspect,
                  "band": [lo, hi], "band_models": [m.name for m in near], "in_band": lo <= aspect <= hi},
        "tying": {"tied": cfg.tie_word_embeddings, "given": req.tie is not None, "untie_from": style.untie_from,
                  "curve_size": shape.non_embedding,
                  "embedding": cfg.vocab_size * cfg.hidden_size},
        "vocab": {"given": vocab_given, "size": cfg.vocab_size, "multiple": VOCAB_MULTIPLE * req.tp_degree,
                  "from_style": req.vocab is None, "note": style.vocab_note},
        "norm": {"type": cfg.norm_type, "eps": cfg.norm_eps, "qk_norm": cfg.qk_norm},
        "share": {"embeddings": (p.embedding + p.lm_head) / p.total, "attention": p.attention / p.total,
                  "ffn": p.ffn / p.total, "norm": p.norm / p.total},
    }


def warnings(f: dict[str, Any]) -> list[str]:
    out = []
    s, a, ffn = f["shape"], f["attention"], f["ffn"]
    if not s["in_band"]:
        side = "deeper and thinner" if s["aspect"] < s["band"][0] else "wider and shallower"
        out.append(
            f"hidden/layers is {s['aspect']:.0f}, {side} than real models of this size use ({s['band'][0]:.0f}-"
            f"{s['band'][1]:.0f}: {_models(s['band_models'])}, widened by 15%); fix: free the fixed dimensions, or a "
            "larger or smaller --params"
        )
    if not ffn["in_band"]:
        out.append(
            f"intermediate_size is {ffn['ratio']:.3g}x hidden, outside {ffn['band'][0]:.3g}-{ffn['band'][1]:.3g}x "
            f"(the family's {ffn['family_ratio']:.3g}x +-40%): the fixed dimensions leave only the FFN to reach "
            "the target; fix: free --layers or --hidden"
        )
    if not a["fits"]:
        out.append(
            f"weights ({format_gib(a['weights_bytes'])}) and the KV cache of {a['batch']} x {a['context']:,} tokens "
            f"({format_gib(a['cache_bytes'])}) do not fit in {format_gib(a['budget_bytes'])} on each of "
            f"{a['gpus']} {a['gpu']}; fix: a larger --tp, a smaller --batch or --context, or fewer --kv-heads"
        )
    if a["rule"] == "snapped":
        out.append(f"--kv-heads {a['wanted']} does not split {a['heads']} heads evenly over TP={a['tp']}: snapped "
                   f"to {a['kv_heads']}, the nearest count that does")
    if f["share"]["embeddings"] > 0.5:
        out.append(f"embeddings are {f['share']['embeddings']:.0%} of the parameters: vocab {f['vocab']['size']:,} "
                   "dominates a model this small; fix: a smaller --vocab, or a larger --params")
    return out


def justify(d: Design) -> dict[str, str]:
    f = d.facts
    return {
        "attention": _attention(f["attention"], f["regime"]),
        "positions": _positions(f["positions"], d.style.name),
        "norm": _norm(f["norm"], f["share"], d.config.num_hidden_layers),
        "ffn": _ffn(f["ffn"], f["size"], f["share"], d.style.name),
        "width_depth": _shape(f["shape"], f["regime"], d.steps, d.style.name),
        "tying": _tying(f["tying"], f["share"], d.params.total, d.style.name),
        "vocab": _vocab(f["vocab"], f["share"]),
    }


def _attention(a: dict[str, Any], reg: dict[str, Any]) -> str:
    heads, kv, hd = a["heads"], a["kv_heads"], a["head_dim"]
    rule = {
        "given": f"{kv} KV heads as given",
        "snapped": f"--kv-heads {a['wanted']} snapped to {kv}, the nearest count that divides {heads} heads "
                   f"and that TP={a['tp']} splits",
        "latency": "MQA for decoding latency: one K/V head shrinks the cache and its memory traffic the most"
                   + (f"; TP={a['tp']} keeps one KV head per GPU, so {kv}" if kv > 1 else ""),
        "family": (f"{a['kv_note']}" + ("" if a["family_kv"] is None or a["family_kv"] == kv else
                                         f"; with {heads} heads, {kv} KV heads (at most half the heads, so "
                                         "queries still share K/V, and a count that splits evenly)")),
        "memory": f"{a['wanted']} KV heads would not fit the cache of {a['batch']} x {a['context']:,} tokens "
                  f"beside the weights on {_gpus(a)} ({format_gib(a['budget_bytes'])} usable each), so they were "
                  f"halved to {kv}",
    }[a["rule"]]
    width = (f"; the attention width {a['width']:,} differs from hidden {a['hidden']:,} (an explicit head_dim, as "
             "Qwen3 and Mistral Nemo do) so that heads stay a multiple of "
             f"{reg['heads_multiple']} with head_dim {hd}" if a["width"] != a["hidden"] else "")
    cache = (f"At {a['batch']} x {a['context']:,} tokens the bf16 KV cache is {format_gib(a['cache_bytes'])}"
             + ("" if a["kind"] == "MHA" else f" (MHA: {format_gib(a['mha_bytes'])})")
             + f"; with {format_gib(a['weights_bytes'])} of bf16 weights it "
             + ("fits" if a["fits"] else "does not fit") + f" on {_gpus(a)}.")
    window = (f" Sliding window {a['sliding_window']:,}: each layer attends to the last {a['sliding_window']:,} "
              "tokens, which caps its cache." if a["sliding_window"] else "")
    group = f" ({heads // kv} query heads per KV head)" if a["kind"] == "GQA" else ""
    return (f"{a['kind']}, {heads} query heads and {kv} KV heads{group}, head_dim {hd}: {rule}{width}. "
            f"{cache}{window}")


def _models(names: list[str]) -> str:
    """'the 3 real models (a, b, c)', naming at most four."""
    shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
    return f"the {len(names)} real models ({shown})" if len(names) > 1 else f"the real model {names[0]}"


def _gpus(a: dict[str, Any]) -> str:
    if a["gpus"] == 1:
        return f"one {a['gpu']}"
    why = f"TP={a['tp']}" if a["gpus"] == a["tp"] else "the fewest that leave half of each for the KV cache"
    return f"{a['gpus']} {a['gpu']} ({why})"


def _positions(p: dict[str, Any], style: str) -> str:
    if p["kind"] == "alibi":
        return ("ALiBi (Press et al. 2022), as asked for extrapolation: a linear distance penalty instead of "
                f"position embeddings degrades gracefully past the {p['context']:,}-token training length; no "
                "parameters.")
    if p["kind"] == "learned":
        return (f"learned absolute positions ({style} convention): a {p['context']:,}-row table, counted in the "
                f"embedding; the family's own length is {p['max_learned']:,}, and the table cannot run past it.")
    base = f"RoPE with base theta {p['theta']:,.0f} ({style} convention), rotating all of head_dim; no parameters"
    if p["kind"] == "rope":
        return f"{base}; the {p['context']:,}-token context is within the family's {p['family_context']:,}."
    if p["method"] == "llama3":
        how = (f"llama3 scaling with factor {p['factor']:g}: Llama 3.1 reaches 131,072 from 8,192 (16x) with "
               f"factor 8, dividing only the low frequencies and leaving the rest to long-context training; "
               f"the same proportion (factor = extension / 2, at least 2) for {p['extension']:g}x here")
    else:
        how = (f"YaRN scaling (Peng et al. 2023) with factor {p['factor']:g}, the extension itself, as Qwen2.5 "
               "uses factor 4 for 32,768 -> 131,072")
    return (f"{base}; the {p['context']:,}-token context is {p['extension']:g}x the family's "
            f"{p['family_context']:,}-token pretraining length, so pretrain at {p['family_context']:,} and extend "
            f"with {how}.")


def _norm(n: dict[str, Any], share: dict[str, float], layers: int) -> str:
    kind = "RMSNorm" if n["type"] == "rmsnorm" else "LayerNorm with bias"
    return (f"Pre-norm {kind}, eps {n['eps']:g}: the norm sits inside each branch, so the residual stream stays "
            f"an identity path through {layers} layers"
            + (", and a per-head RMSNorm on q and k (Qwen3) holds attention logits in check"
               if n["qk_norm"] != "none" else "")
            + f"; norm weights are {100 * share['norm']:.2g}% of params.")


def _ffn(ffn: dict[str, Any], size: dict[str, Any], share: dict[str, float], style: str) -> str:
    kind = "SwiGLU" if ffn["gated"] else "GELU MLP"
    multiple = (f"a multiple of {ffn['multiple']}" if ffn["multiple"] >= 256 else
                f"a multiple of {ffn['multiple']} (not 256: one 256-step moves a model this small by over 2%, "
                "too coarse for the 1% bound)")
    band = ("within" if ffn["in_band"] else "outside") + f" the {ffn['band'][0]:.3g}-{ffn['band'][1]:.3g}x band"
    return (f"{kind}, intermediate {ffn['size']:,} = {ffn['ratio']:.2f}x hidden ({multiple}); the {style} family "
            f"uses {ffn['family_ratio']:.3g}x, and the FFN is the fine knob that lands the total at "
            f"{size['error']:+.2%} of the target ({band}); {share['ffn']:.1%} of params.")


def _shape(s: dict[str, Any], reg: dict[str, Any], steps: list[str], style: str) -> str:
    heads = ("heads follow hidden / head_dim (GPT-2's class)" if reg["heads_follow_hidden"]
             else f"query heads a multiple of {reg['heads_multiple']}")
    rules = (f"{heads}, hidden a multiple of {reg['hidden_multiple']}, layers a multiple of "
             f"{reg['layers_multiple']}" + (f", all split by TP={reg['tp']}" if reg["tp"] > 1 else ""))
    band = ("inside" if s["in_band"] else "outside") + (
        f" {s['band'][0]:.0f}-{s['band'][1]:.0f}, the range of {_models(s['band_models'])} of this size "
        "widened by 15%)")
    rule20 = " ".join(step for step in steps if step.startswith("20% rule"))
    return (f"hidden {s['hidden']:,} x {s['layers']} layers (hidden/layers {s['aspect']:.0f}, {band}). The shape "
            f"is the {style} family curve's rung for this budget, rounded to the hardware rules of its size "
            f"({rules}); the rungs only grow with the budget." + (f" {rule20}" if rule20 else ""))


def _tying(t: dict[str, Any], share: dict[str, float], total: int, style: str) -> str:
    emb = t["embedding"]
    if t["given"]:
        why = "as given"
    elif t["untie_from"] == float("inf"):
        why = f"the {style} family always ties"
    else:
        why = (f"the {style} family ties below {format_count(t['untie_from'])} non-embedding params, and this "
               f"rung sits at {format_count(t['curve_size'])} on the family curve")
    if t["tied"]:
        return (f"tied ({why}): the embedding ({format_count(emb)}, {format_pct(emb, total)} of params) doubles as "
                f"the LM head; untying would add {format_count(emb)}.")
    return f"untied ({why}): the LM head is its own {format_count(emb)} ({format_pct(emb, total)} of params)."


def _vocab(v: dict[str, Any], share: dict[str, float]) -> str:
    source = v["note"] if v["from_style"] else f"vocab {v['given']:,} as given"
    pad = (f", padded to {v['size']:,} (a multiple of {v['multiple']}, so the embedding and LM head split into whole "
           "tiles on every shard; the extra rows are never predicted)" if v["size"] != v["given"] else
           f" (already a multiple of {v['multiple']})")
    return f"{source}{pad}; {share['embeddings']:.1%} of params are embeddings."


# --- 2x and 10x -------------------------------------------------------------------------------------------


def describe_changes(base: Design, other: Design) -> list[str]:
    """What differs between two designs of one request at two sizes, and the cause of each change."""
    a, b = base.config, other.config
    fa, fb = base.facts, other.facts
    factor = other.target / base.target
    fixed = base.request
    lines = []
    for name, key, flag in (("hidden", "hidden_size", fixed.hidden), ("layers", "num_hidden_layers", fixed.layers)):
        x, y = getattr(a, key), getattr(b, key)
        if x != y:
            cause = (f"--{name} fixed it for the requested size only; at {factor:g}x the family curve chooses"
                     if flag else f"the family curve's rung for {factor:g}x the budget")
            lines.append(f"{name} {x} -> {y} ({y / x:.2f}x): {cause}")
    if a.num_attention_heads != b.num_attention_heads:
        cause = ("--heads fixed them for the requested size only" if fixed.heads else
                 "heads follow hidden / head_dim (GPT-2's class)" if fb["regime"]["heads_follow_hidden"] else
                 f"heads follow hidden / {b.head_dim}, rounded to a multiple of {fb['regime']['heads_multiple']}")
        lines.append(f"query heads {a.num_attention_heads} -> {b.num_attention_heads}: {cause}")
    if a.head_dim != b.head_dim:
        lines.append(f"head_dim {a.head_dim} -> {b.head_dim}: --head-dim fixed it for the requested size only")
    if a.num_key_value_heads != b.num_key_value_heads:
        lines.append(f"KV heads {a.num_key_value_heads} -> {b.num_key_value_heads}: {_kv_cause(fa, fb, fixed)}")
    if a.intermediate_size != b.intermediate_size:
        lines.append(f"ffn {a.intermediate_size} -> {b.intermediate_size} ({b.intermediate_size / b.hidden_size:.2f}x "
                     "hidden): fitted again to land within 1% of the new target")
    if a.tie_word_embeddings != b.tie_word_embeddings:
        lines.append(
            f"embeddings {'tied' if a.tie_word_embeddings else 'untied'} -> "
            f"{'tied' if b.tie_word_embeddings else 'untied'}: the {base.style.name} family unties from "
            f"{format_count(base.style.untie_from)} non-embedding params"
        )
    lines.append(f"embedding share {fa['share']['embeddings']:.1%} -> {fb['share']['embeddings']:.1%}")
    return lines


def _kv_cause(fa: dict[str, Any], fb: dict[str, Any], fixed: Request) -> str:
    ra, rb = fa["attention"]["rule"], fb["attention"]["rule"]
    if fixed.kv_heads is not None:
        return "--kv-heads fixed them for the requested size only"
    if "memory" in (ra, rb):
        which = "the larger" if rb == "memory" else "the smaller"
        return (f"at {which} size the family's count would not fit the KV cache beside the weights on one "
                f"{fb['attention']['gpu']}, so it was halved")
    if fa["attention"]["family_kv"] != fb["attention"]["family_kv"]:
        return f"the family's rule changes with size ({fb['attention']['kv_note']})"
    return (f"the family's {fb['attention']['family_kv'] or 'MHA'} snapped to a count that divides "
            f"{fb['attention']['heads']} heads")
