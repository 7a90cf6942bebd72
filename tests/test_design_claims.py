"""Prose that is always true: every sentence the designer writes is checked against facts that this
test derives on its own from the design's config, its request and the presets, across a sweep of
styles, targets and flags."""

from __future__ import annotations

import math

import pytest

from archsmith import ConfigError, count_params
from archsmith.design import STYLES, Request, design, design_request
from archsmith.design.counts import format_count, format_gib
from archsmith.design.rules import kv_options, snap_kv
from archsmith.hardware import get_gpu
from archsmith.presets import get_preset
from archsmith.sizing import kv_cache_bytes

TARGETS = (10**8, 10**9, 7 * 10**9, 7 * 10**10, 10**12)
FLAGS = ({}, {"tp": 4}, {"context": 131072}, {"latency": True}, {"batch": 32, "context": 32768}, {"tie": True},
         {"gpu": "a100"})


def _designs():
    for style in STYLES:
        for flags in FLAGS:
            for target in TARGETS:
                try:
                    yield design_request(Request(target=target, style=style, **flags))
                except ConfigError:
                    continue  # refusals are tested in test_design.py


def check_attention(d) -> None:
    c, req, style = d.config, d.request, d.style
    text = d.justification["attention"]
    heads, kv, hd, tp = c.num_attention_heads, c.num_key_value_heads, c.head_dim, req.tp or 1
    context = req.context or style.context
    assert f"{heads} query heads and {kv} KV heads" in text and f"head_dim {hd}" in text
    assert text.startswith(c.attention_kind)
    cache = kv_cache_bytes(c, context, req.batch, "bf16")
    weights = 2 * count_params(c).total
    assert f"At {req.batch} x {context:,} tokens the bf16 KV cache is {format_gib(cache)}" in text
    assert f"{format_gib(weights)} of bf16 weights" in text
    gpu = get_gpu(req.gpu)
    budget = int(0.9 * gpu.memory_bytes)
    gpus = tp
    while weights / gpus > budget / 2:
        gpus *= 2
    fits = (weights + cache) / gpus <= budget
    assert (" it fits on " in text) == fits and (" does not fit on " in text) == (not fits)
    assert (f"one {gpu.name}" if gpus == 1 else f"{gpus} {gpu.name}") in text
    family = style.kv_heads_at(d.facts["regime"]["curve_non_embedding"])
    wanted = heads if family is None else min(family, max(1, heads // 2))
    rule = d.facts["attention"]["rule"]
    if req.latency:
        assert rule == "latency" and kv == tp and "MQA for decoding latency" in text
    elif rule == "family":
        assert kv == snap_kv(heads, wanted, tp) and style.kv_note in text
    else:
        assert rule == "memory" and f"halved to {kv}" in text
        assert kv < snap_kv(heads, wanted, tp)
        doubled = [n for n in kv_options(heads, tp) if n > kv][0]  # the next count up did not fit
        bigger = kv_cache_bytes(c.replace(num_key_value_heads=doubled), context, req.batch, "bf16")
        assert (weights + bigger) / gpus > budget
    width = heads * hd
    assert (f"attention width {width:,} differs from hidden {c.hidden_size:,}" in text) == (width != c.hidden_size)


def check_positions(d) -> None:
    c, style, text = d.config, d.style, d.justification["positions"]
    context = d.request.context or style.context
    if c.position_embedding == "learned":
        assert f"a {context:,}-row table" in text and c.max_position_embeddings == context
        return
    assert f"theta {c.rope_theta:,.0f}" in text and c.rope_theta == style.rope_theta
    if context <= style.context:
        assert c.rope_scaling is None and "within the family's" in text
    else:
        factor = c.rope_scaling["factor"]
        assert f"{context / style.context:g}x the family's {style.context:,}-token" in text
        assert f"factor {factor:g}" in text and c.rope_scaling["original_max_position_embeddings"] == style.context
        expected = max(2.0, context / style.context / 2) if style.long_context == "llama3" else context / style.context
        assert factor == expected


def check_ffn_and_shape(d) -> None:
    c, style = d.config, d.style
    ffn, h, L = c.intermediate_size, c.hidden_size, c.num_hidden_layers
    text = d.justification["ffn"]
    multiple = d.facts["ffn"]["multiple"]
    assert f"intermediate {ffn:,} = {ffn / h:.2f}x hidden (a multiple of {multiple}" in text and ffn % multiple == 0
    assert f"uses {style.ffn_ratio:.3g}x" in text and f"{d.error:+.2%}" in text
    low, high = style.ffn_band
    assert (f"(within the {low:.3g}-{high:.3g}x band)" in text) == (low <= ffn / h <= high)
    text = d.justification["width_depth"]
    assert f"hidden {h:,} x {L} layers (hidden/layers {h / L:.0f}" in text
    lo, hi = d.facts["shape"]["band"]
    assert ("inside" in text.split("hidden/layers")[1][:20]) == (lo <= h / L <= hi)
    reg = d.facts["regime"]
    assert f"hidden a multiple of {reg['hidden_multiple']}" in text and h % reg["hidden_multiple"] == 0
    assert f"layers a multiple of {reg['layers_multiple']}" in text and L % reg["layers_multiple"] == 0
    if not style.heads_follow_hidden:
        assert f"query heads a multiple of {reg['heads_multiple']}" in text
        assert c.num_attention_heads % reg["heads_multiple"] == 0


def check_tying_and_vocab(d) -> None:
    c, style, req = d.config, d.style, d.request
    text = d.justification["tying"]
    assert text.startswith("tied" if c.tie_word_embeddings else "untied")
    if req.tie is not None:
        assert "as given" in text and c.tie_word_embeddings is req.tie
    elif style.untie_from != math.inf:
        size = d.facts["tying"]["curve_size"]
        assert f"ties below {format_count(style.untie_from)}" in text and f"sits at {format_count(size)}" in text
        assert c.tie_word_embeddings == (size < style.untie_from)
    assert f"{format_count(c.vocab_size * h)}" in text if (h := c.hidden_size) else True
    text = d.justification["vocab"]
    given = req.vocab or style.vocab_size
    multiple = 128 * (req.tp or 1)
    assert c.vocab_size % multiple == 0 and 0 <= c.vocab_size - given < multiple
    assert (f"padded to {c.vocab_size:,}" in text) == (c.vocab_size != given)


def check_reference(d) -> None:
    ref = d.reference
    assert ref["model"] in d.style.family
    real = get_preset(ref["model"])
    assert ref["params"] == count_params(real).total
    fields = [k for k in ref["shape"] if getattr(real, k) != getattr(d.config, k)]
    stated = [line.split(":")[0] for line in ref["differences"] if not line.startswith("total")]
    assert stated == fields
    for line in ref["differences"]:
        if not line.startswith("total"):
            key = line.split(":")[0]
            assert line == f"{key}: {getattr(d.config, key)} here vs {getattr(real, key)} in {ref['model']}"


def check_warnings(d) -> None:
    for w in d.warnings:
        if w.startswith("hidden/layers"):
            lo, hi = d.facts["shape"]["band"]
            aspect = d.config.hidden_size / d.config.num_hidden_layers
            assert not lo <= aspect <= hi and f"is {aspect:.0f}" in w
            assert ("deeper" in w) == (aspect < lo)
    p = d.params  # two-way: the warning is there exactly when its claim holds
    assert any(w.startswith("embeddings are") for w in d.warnings) == ((p.embedding + p.lm_head) / p.total > 0.5)


@pytest.mark.parametrize("check", [check_attention, check_positions, check_ffn_and_shape, check_tying_and_vocab,
                                   check_reference, check_warnings])
def test_every_sentence_matches_the_design(check):
    seen = 0
    for d in _designs():
        check(d)
        seen += 1
    assert seen >= 150  # the sweep really ran


def test_family_claims_hold_for_the_familys_real_models():
    """Each style's KV rule and head_dim, as the prose states them, against the family's real models."""
    for style in STYLES.values():
        for name in style.family:
            real = get_preset(name)
            kv = style.kv_heads_at(count_params(real).non_embedding)
            expected = real.num_attention_heads if kv is None else kv
            assert real.num_key_value_heads == expected, (style.name, name)


def test_scaling_notes_name_the_real_cause():
    d = design("1B", hidden=2048)
    notes = {s.factor: s.changes for s in d.scaling}
    assert any(line.startswith("hidden 2048 ->") and "--hidden fixed it for the requested size only" in line
               for line in notes[10])
    free = design("1B")
    ten = {line.split()[0] for line in free.scaling[1].changes}
    assert {"hidden", "layers", "embeddings"} <= ten  # 10B: wider, deeper, and untied in the llama3 style
    for s in free.scaling:
        a, b = free.config, s.design.config
        for line in s.changes:
            if line.startswith("hidden") or line.startswith("layers"):
                assert "the family curve's rung" in line
            if line.startswith("embeddings"):
                assert b.tie_word_embeddings == (s.design.facts["tying"]["curve_size"] < free.style.untie_from)
                assert a.tie_word_embeddings != b.tie_word_embeddings
            if line.startswith("KV heads"):
                fa, fb = free.facts["attention"], s.design.facts["attention"]
                assert ("halved" in line) == ("memory" in (fa["rule"], fb["rule"]))
    qwen = design("3B", style="qwen2")  # 2 KV heads up to 3B, 4 at 7B, 8 from 14B
    ten = qwen.scaling[1]
    assert any(line.startswith("KV heads 2 ->") and "the family's rule changes with size" in line
               for line in ten.changes)
