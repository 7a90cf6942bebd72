"""model/masks.py: FlexAttention and the dense reference give the same attention for every mask
kind (FlexAttention runs uncompiled on CPU), the kernel choice, and compiled training on
padded batches and explicit position_ids."""

from __future__ import annotations

import itertools

import pytest
import torch

from archsmith.errors import InputError
from archsmith.model import build_model
from archsmith.model import masks as masks_module
from archsmith.model.masks import AttentionMask, attend, build_mask, flex_runs
from archsmith.model.positions import alibi_slopes

from test_model import ids, randomise, tiny

# Uncompiled FlexAttention warns that it is the slow reference: that is what these tests want.
pytestmark = pytest.mark.filterwarnings("ignore:flex_attention called without torch.compile")

HEADS, KV_HEADS, HEAD_DIM = 4, 2, 8


def _key_valid(kind: str, batch: int, kv_len: int) -> torch.Tensor | None:
    if kind == "none":
        return None
    valid = torch.ones(batch, kv_len, dtype=torch.bool)
    if kind == "left":  # generate()'s left padding: row 0 starts 5 slots late
        valid[0, :5] = False
    else:  # holes anywhere, also in the middle of a row
        valid = torch.rand(batch, kv_len, generator=torch.Generator().manual_seed(1)) > 0.3
        valid[:, -1] = True
    return valid


def _key_positions(key_valid: torch.Tensor | None, kv_len: int) -> torch.Tensor:
    if key_valid is None:
        return torch.arange(kv_len)[None]
    return (key_valid.long().cumsum(1) - 1).clamp(min=0)  # HF's count of real tokens


# Every mask kind and their combinations: (window, padding, ALiBi, softcap, queries after cached keys).
GRID = list(
    itertools.product(
        [None, 1, 3, 64],  # no window, window 1 (only itself), a short one, one longer than the keys
        ["none", "left", "holes"],
        [None, "bloom", "falcon"],
        [None, 2.0],
        [0, 7],  # 7: chunked decoding, the queries are the last 13 of 20 keys
    )
)


@pytest.mark.parametrize("window, padding, alibi, softcap, cached", GRID)
def test_flex_equals_dense_for_every_mask_kind(window, padding, alibi, softcap, cached):
    batch, seq = 2, 13
    kv_len = seq + cached
    g = torch.Generator().manual_seed(0)
    q = torch.randn(batch, HEADS, seq, HEAD_DIM, generator=g)
    k, v = (torch.randn(batch, KV_HEADS, kv_len, HEAD_DIM, generator=g) for _ in range(2))
    key_valid = _key_valid(padding, batch, kv_len)
    slopes = None if alibi is None else alibi_slopes(HEADS)
    args = (seq, kv_len, window, key_valid, _key_positions(key_valid, kv_len), slopes, torch.float32, torch.device("cpu"))
    kwargs = dict(alibi_before_scale_dim=HEAD_DIM if alibi == "falcon" else None, softcap=softcap is not None)
    dense = build_mask(*args, **kwargs, flex=False)
    flex = build_mask(*args, **kwargs, flex=True)
    plain = window in (None, 64) and padding == "none" and alibi is None and cached == 0
    if plain and softcap is None:  # nothing to mask beyond causality: SDPA's causal (flash) path either way
        assert flex == dense and dense.causal
        return
    assert flex.block_mask is not None and flex.tensor is None and dense.block_mask is None
    expected = attend(q, k, v, dense, 0.3, softcap=softcap)
    got = attend(q, k, v, flex, 0.3, softcap=softcap)
    # every row, padding queries included (they see every earlier slot on both paths)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_dense_mask_is_the_rule_it_states():
    """Window 3, left padding, query 6 of 8 keys (two cached): the dense bool mask, entry by entry."""
    valid = torch.tensor([[False, False, True, True, True, True, True, True], [True] * 8])
    mask = build_mask(6, 8, 3, valid, _key_positions(valid, 8), None, torch.float32, torch.device("cpu"))
    for b, i, j in itertools.product(range(2), range(6), range(8)):
        slot = i + 2
        expected = j <= slot and slot - j < 3 and (bool(valid[b, j]) or not bool(valid[b, slot]))
        assert bool(mask.tensor[b, 0, i, j]) == expected, (b, i, j)


@pytest.mark.parametrize(
    "changes",
    [
        dict(sliding_window=4),
        dict(sliding_window=4, layer_types=("sliding_attention", "full_attention")),  # per-layer pattern
        dict(position_embedding="alibi"),
        dict(position_embedding="alibi", alibi_before_scale=True, sliding_window=5),  # Falcon's bias
        dict(attn_logit_softcapping=2.0),
        dict(attn_logit_softcapping=2.0, sliding_window=4, layer_types=("sliding_attention", "full_attention")),
        dict(position_embedding="alibi", attn_logit_softcapping=2.0, num_key_value_heads=1),
        dict(kv_lora_rank=16, q_lora_rank=None, qk_nope_head_dim=8, qk_rope_head_dim=8, v_head_dim=8, num_key_value_heads=4),
    ],
    ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items()),
)
@pytest.mark.parametrize("inputs", ["left-padded", "position_ids"])
def test_model_logits_equal_on_flex_and_dense(changes, inputs, monkeypatch):
    """The whole model, every layer kind: FlexAttention (forced on CPU) against the dense reference."""
    model = randomise(build_model(tiny(**changes))).eval()
    x = ids(2, 12)
    kwargs = {}
    if inputs == "left-padded":
        kwargs["attention_mask"] = torch.ones_like(x)
        kwargs["attention_mask"][0, :4] = 0
    else:
        kwargs["position_ids"] = torch.tensor([[0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5], list(range(3, 15))])
    calls = []
    monkeypatch.setattr(masks_module, "flex_attention", lambda *a, **kw: calls.append(1) or torch.nn.attention.flex_attention.flex_attention(*a, **kw))
    with torch.no_grad():
        dense = model(x, **kwargs)
        model.attention_kernel = "flex"
        flex = model(x, **kwargs)
    # FlexAttention wherever something is masked beyond causality; SDPA's causal path otherwise
    masked = inputs == "left-padded" or {"sliding_window", "position_embedding", "attn_logit_softcapping"} & set(changes)
    assert bool(calls) == bool(masked)
    torch.testing.assert_close(flex, dense, rtol=1e-5, atol=1e-5)


def test_kernel_choice():
    cuda, cpu = torch.device("cuda"), torch.device("cpu")  # a device object needs no GPU
    assert flex_runs("auto", cuda, (64,), 0.0) and flex_runs("auto", cuda, (128, 128), 0.0)
    assert not flex_runs("auto", cpu, (64,), 0.0)  # the dense reference on CPU
    assert not flex_runs("auto", cuda, (80,), 0.0) and not flex_runs("auto", cuda, (8,), 0.0)  # head dims its kernels skip
    assert not flex_runs("auto", cuda, (192, 128, 576, 512), 0.0)  # DeepSeek-V3's MLA (absorbed decoding: 576)
    assert not flex_runs("flex", cuda, (64,), 0.1)  # FlexAttention has no dropout
    assert not flex_runs("dense", cuda, (64,), 0.0)
    with torch.no_grad():
        assert flex_runs("flex", cpu, (8,), 0.0)
    assert not flex_runs("flex", cpu, (8,), 0.0)  # torch has no FlexAttention backward on CPU
    model = build_model(tiny())
    assert model.attention_kernel == "auto"
    with pytest.raises(InputError, match="fix: 'auto'"):
        model.attention_kernel = "fast"


def test_causal_path_needs_no_mask_and_softcap_takes_a_block_mask():
    args = (16, 16, None, None, torch.arange(16)[None], None, torch.float32, torch.device("cpu"))
    assert build_mask(*args, flex=True).causal  # SDPA's causal (flash) path, not a block mask
    assert build_mask(*args, flex=True, softcap=True).block_mask is not None  # the cap is a score_mod: fused
    assert build_mask(*args, flex=False, softcap=True).causal  # dense: the softcap matmul masks causally itself
    decoding = build_mask(1, 16, 4, None, torch.arange(16)[None], None, torch.float32, torch.device("cpu"), flex=True)
    assert decoding.block_mask is None and decoding.tensor.shape == (1, 1, 1, 16)  # one query row: dense


@pytest.mark.parametrize(
    "changes",
    [
        dict(
            rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8},
            sliding_window=4,
            attn_logit_softcapping=5.0,
        ),
        dict(position_embedding="learned"),
    ],
    ids=["rope-window-softcap", "learned"],
)
def test_compiled_training_takes_padding_and_position_ids(changes):
    """One graph (fullgraph fails on any data-dependent break: no read of the largest position)
    with a padded batch and with explicit position_ids, giving the eager loss."""
    torch._dynamo.reset()
    model = randomise(build_model(tiny(**changes)))
    x = ids(2, 12)
    mask = torch.ones_like(x)
    mask[0, :3] = 0
    positions = torch.arange(12)[None] + 2
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    for kwargs in (dict(attention_mask=mask), dict(position_ids=positions)):
        out = compiled(x, labels=x, **kwargs)
        out.loss.backward()
        torch.testing.assert_close(out.loss, model(x, labels=x, **kwargs).loss, rtol=1e-5, atol=1e-5)


# --- on the GPU (skipped without CUDA; the device run executes them) ---------------------------

cuda_only = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@torch.no_grad()
def test_only_generates_own_compiled_cache_asks_for_the_decoding_kernel(monkeypatch):
    """A decode step asks step_mask for FlexAttention's block mask only over generate(compile=True)'s own
    cache, whose step archsmith compiles with static shapes; a user's KVCache (which their own compiled
    loop may trace with dynamic shapes) gets the dense step mask. Chunks keep their flex masks."""
    from archsmith.model import KVCache, generation
    from archsmith.model import transformer

    asked = []
    original = transformer.step_mask
    monkeypatch.setattr(transformer, "step_mask", lambda *args: asked.append(args[-1]) or original(*args))
    model = build_model(tiny()).eval()
    model.attention_kernel = "flex"  # flex_runs is then true on the CPU too (no grad)
    users = KVCache(model.config, max_len=8)
    owned = generation._compiled_cache(model, 2, 8, torch.device("cpu"))
    assert not users.compiled_step and owned.compiled_step
    for cache in (users, owned):
        model(ids(seq=3), cache=cache)
        model(ids(seq=1, seed=1), cache=cache)
    assert asked == [False, True]


def test_the_decode_step_takes_a_block_mask_only_when_compiling_on_cuda(monkeypatch):
    """step_mask(flex=True): FlexAttention's decoding kernel only in a compiled step on CUDA (on the
    CPU, torch 2.13's Inductor could not lower it), never eagerly, never with ALiBi."""
    visible = torch.tensor([[True, True, False, True]])
    positions = torch.tensor([[0, 1, 0, 2]])
    query = torch.tensor([[3]])
    eager = masks_module.step_mask(visible, positions, query, None, torch.float32, flex=True)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    on_cpu = masks_module.step_mask(visible, positions, query, None, torch.float32, flex=True)
    for mask in (eager, on_cpu):
        assert mask.block_mask is None and torch.equal(mask.tensor, visible[:, None, None, :])
    with_alibi = masks_module.step_mask(visible, positions, query, alibi_slopes(4), torch.float32, flex=True)
    assert with_alibi.block_mask is None and with_alibi.tensor.shape == (1, 4, 1, 4)


ONE_QUERY_DTYPES = [torch.float64, torch.float32, torch.bfloat16, torch.float16]


@pytest.mark.parametrize("mask_kind", ["none", "bool", "alibi"])
@pytest.mark.parametrize("kv_heads", [6, 2, 1])  # MHA, GQA, MQA
@pytest.mark.parametrize("dtype", ONE_QUERY_DTYPES, ids=str)
def test_one_query_attention_by_matmul_equals_sdpa(mask_kind, kv_heads, dtype, monkeypatch):
    """attend() for one query (a decode step) with the routing to attend_by_matmul forced on (it is taken on
    CUDA for keys wider than 256: MLA's absorbed latents), against the SDPA route: MHA, GQA and MQA folded
    alike, no mask, a visibility mask with hidden keys, and a per-head additive (ALiBi) bias, with key and
    value widths that differ as MLA's do. float32 and float64 to rounding; half precision computes in float32
    and rounds once at the end, as SDPA's CPU kernel does, so within one rounding of it."""
    g = torch.Generator().manual_seed(0)
    q = torch.randn(2, 6, 1, 24, generator=g, dtype=torch.float64).to(dtype)
    k = torch.randn(2, kv_heads, 37, 24, generator=g, dtype=torch.float64).to(dtype)
    v = torch.randn(2, kv_heads, 37, 16, generator=g, dtype=torch.float64).to(dtype)
    if mask_kind == "bool":
        visible = torch.rand(2, 37, generator=g) > 0.4
        visible[:, -1] = True  # the query's own slot
        mask = AttentionMask(tensor=visible[:, None, None, :])
    elif mask_kind == "alibi":
        mask = AttentionMask(tensor=torch.randn(2, 6, 1, 37, generator=g, dtype=torch.float64).to(dtype))
    else:
        mask = AttentionMask()
    by_sdpa = attend(q, k, v, mask, 0.3)
    monkeypatch.setattr(masks_module, "_by_matmul", lambda q, k, dropout: dropout == 0)
    calls, real = [], masks_module.attend_by_matmul
    monkeypatch.setattr(masks_module, "attend_by_matmul", lambda *args: calls.append(1) or real(*args))
    by_matmul = attend(q, k, v, mask, 0.3)
    assert calls == [1]  # the matmul route ran, MHA included
    assert by_matmul.dtype == dtype and by_matmul.shape == (2, 6, 1, 16)
    tolerance = {} if dtype in (torch.float32, torch.float64) else dict(rtol=2**-7, atol=1e-3)
    torch.testing.assert_close(by_matmul, by_sdpa, **tolerance)


def test_one_query_attention_goes_by_matmul_only_on_cuda_for_keys_wider_than_256():
    """The rule of _by_matmul, on stand-ins for CUDA tensors: keys wider than FlashAttention's and cuDNN's
    256 (MLA's 576-wide latents); never with dropout; never on the CPU, whose SDPA takes one query well."""

    class Stub:
        def __init__(self, width, cuda=True):
            self.is_cuda, self.shape = cuda, (1, 1, 9, width)

    assert masks_module._by_matmul(Stub(576), Stub(576), 0.0)  # MLA
    assert masks_module._by_matmul(Stub(257), Stub(257), 0.0)
    assert not masks_module._by_matmul(Stub(256), Stub(256), 0.0)
    assert not masks_module._by_matmul(Stub(64), Stub(64), 0.0)
    assert not masks_module._by_matmul(Stub(576), Stub(576), 0.1)
    assert not masks_module._by_matmul(Stub(576, cuda=False), Stub(576, cuda=False), 0.0)


@torch.no_grad()
def test_flex_outside_compiled_regions_stays_fused_past_the_recompile_limit():
    """The compiled flex_attention that eager CUDA models call (here on the CPU): past dynamo's
    recompile limit, torch would quietly run the unfused reference that materialises every score
    (tens of GiB at 16k tokens). Here the process-wide limit is 2 and four graphs (three score_mods,
    four lengths) must compile; fail_on_recompile_limit_hit makes reaching a limit raise instead of
    falling back."""
    kernel = masks_module._compiled_flex()
    with torch._dynamo.config.patch(recompile_limit=2, fail_on_recompile_limit_hit=True):
        for cap, seq in ((10.0, 16), (10.0, 32), (11.0, 48), (12.0, 64)):
            q, k, v = torch.randn(3, 1, 2, seq, 16).unbind(0)

            def capped(score, b, h, q_idx, kv_idx, cap=cap):
                return torch.tanh(score / cap) * cap

            scores = torch.tanh(q @ k.transpose(-1, -2) * 0.25 / cap) * cap
            torch.testing.assert_close(kernel(q, k, v, score_mod=capped, scale=0.25), scores.softmax(-1) @ v)


@cuda_only
def test_cuda_flex_equals_dense_in_forward_and_backward():
    """attention_kernel='auto' on CUDA runs FlexAttention's compiled kernels (block mask for the
    window and the padding, score_mods for ALiBi and the softcap): logits and every gradient
    equal the dense reference's, fp32 (1e-3: the kernels accumulate in a different order)."""
    cfg = tiny(position_embedding="alibi", attn_logit_softcapping=2.0, sliding_window=5, head_dim=16, hidden_size=64)
    x = ids(2, 40).cuda()
    mask = torch.ones_like(x)
    mask[0, :7] = 0
    results = {}
    for kernel in ("dense", "auto"):
        model = randomise(build_model(cfg)).cuda()
        model.attention_kernel = kernel
        out = model(x, attention_mask=mask, labels=x)
        out.loss.backward()
        results[kernel] = [out.logits] + [p.grad for p in model.parameters()]
    for flex, dense in zip(results["auto"], results["dense"]):
        torch.testing.assert_close(flex, dense, rtol=1e-3, atol=1e-3)


@cuda_only
def test_cuda_compiled_training_with_padding_and_position_ids_does_not_recompile():
    """The whole model compiled (inductor, one graph), FlexAttention inside: a second padded
    batch with other padding reuses the graph; explicit position_ids compile once too."""
    torch._dynamo.reset()
    cfg = tiny(sliding_window=4, head_dim=16, hidden_size=64)
    model = randomise(build_model(cfg)).cuda()
    compiled = torch.compile(model, fullgraph=True)
    x = ids(2, 40).cuda()
    for call, kwargs in enumerate(
        [
            dict(attention_mask=torch.ones_like(x).index_fill(1, torch.arange(3, device=x.device), 0)),
            dict(attention_mask=torch.ones_like(x).index_fill(1, torch.arange(9, device=x.device), 0)),
        ]
    ):
        with torch._dynamo.config.patch(error_on_recompile=call > 0):
            out = compiled(x, labels=x, **kwargs)
        out.loss.backward()
        torch.testing.assert_close(out.loss, model(x, labels=x, **kwargs).loss, rtol=1e-3, atol=1e-3)
    positions = torch.arange(40, device=x.device)[None] + 5
    torch.testing.assert_close(compiled(x, position_ids=positions), model(x, position_ids=positions), rtol=1e-3, atol=1e-3)


@cuda_only
def test_cuda_long_context_allocates_no_dense_mask():
    """16k tokens with ALiBi, softcapping and a 4096 window: the dense bias alone would be
    heads x 16k x 16k bf16 (4 GiB); FlexAttention's block mask needs a fraction of that."""
    cfg = tiny(
        position_embedding="alibi", attn_logit_softcapping=30.0, sliding_window=4096, num_hidden_layers=1,
        num_attention_heads=8, num_key_value_heads=8, head_dim=64, hidden_size=512, max_position_embeddings=16384,
    )  # fmt: skip
    model = build_model(cfg, device="cuda", dtype=torch.bfloat16)
    x = torch.randint(0, cfg.vocab_size, (1, 16384), device="cuda")
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    with torch.no_grad():
        logits = model(x)
    dense_bias = cfg.num_attention_heads * 16384**2 * 2
    assert torch.isfinite(logits).all()
    assert torch.cuda.max_memory_allocated() - base < dense_bias / 2
