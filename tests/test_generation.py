"""Static-cache decoding equals recomputing the whole sequence (every position type and window
pattern, eager and compiled); batching with left padding; sampling; stopping at EOS."""

from __future__ import annotations

import pytest
import torch

from archsmith import ArchConfig
from archsmith.errors import InputError
from archsmith.model import KVCache, build_model
from archsmith.model import generation
from archsmith.model.generation import decode_step
from archsmith.model.positions import RotaryEmbedding

VOCAB = 64
TINY = dict(
    vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    intermediate_size=48, max_position_embeddings=48, initializer_range=0.2,
)  # fmt: skip

# Every position type, a scaled RoPE, and sliding windows (generation runs well past them).
CASES = {
    "rope": {},
    "rope-yarn": dict(rope_scaling={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 12}),
    "rope-partial-interleaved": dict(partial_rotary_factor=0.5, rope_interleaved=True),
    "alibi": dict(position_embedding="alibi", num_attention_heads=4, num_key_value_heads=4),
    "alibi-before-scale": dict(position_embedding="alibi", alibi_before_scale=True),
    "learned": dict(position_embedding="learned"),
    "none": dict(position_embedding="none"),
    "sliding": dict(sliding_window=4),
    "sliding-mixed-layers": dict(sliding_window=3, layer_types=("sliding_attention", "full_attention")),
    "sliding-alibi-softcap": dict(sliding_window=5, position_embedding="alibi", attn_logit_softcapping=2.0),
    "window-1": dict(sliding_window=1),
    "window-past-the-run": dict(sliding_window=30, layer_types=("sliding_attention", "full_attention")),
    # Per-layer attention: Gemma 3's local RoPE base, NoPE layers (SmolLM3, Cohere 2's full layers)
    "sliding-local-rope-base": dict(sliding_window=4, layer_types=("sliding_attention", "full_attention"), sliding_rope_theta=100.0),
    "nope-layer": dict(nope_layers=(1,)),
    "nope-full-layers-sliding-rope": dict(
        sliding_window=3, layer_types=("sliding_attention", "full_attention"), nope_layers=(1,),
        sliding_rope_theta=50.0, sliding_rope_scaling={"rope_type": "linear", "factor": 2.0},
    ),  # fmt: skip
    "granite-multipliers-per-head-qk-norm": dict(
        embedding_multiplier=3.0, residual_multiplier=0.5, logit_scale=0.25, attention_scale=0.5, qk_norm="per_head"
    ),
    "knobs": dict(qk_norm="per_head", clip_qkv=0.5, attention_scale=0.3, scale_attn_by_inverse_layer_idx=True, word_embed_proj_dim=16),
}


# The decode step compiled: position types, a ring with ALiBi and softcapping, NoPE, MLA's latent cache, MoE.
STEP_CASES = {
    **{name: CASES[name] for name in ("rope", "sliding-alibi-softcap", "nope-full-layers-sliding-rope", "learned")},
    "mla-sliding-mixed": dict(
        num_key_value_heads=None, kv_lora_rank=16, qk_nope_head_dim=12, qk_rope_head_dim=8, v_head_dim=10, q_lora_rank=24,
        sliding_window=3, layer_types=("sliding_attention", "full_attention"),
    ),  # fmt: skip
    "moe": dict(num_experts=8, num_experts_per_tok=2, moe_intermediate_size=16, n_shared_experts=1),
}


def model_for(name: str):
    torch.manual_seed(0)
    return build_model(ArchConfig(**{**TINY, **{**CASES, **STEP_CASES}[name]})).eval()


def prompt(batch: int = 2, seq: int = 6, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, seq), generator=torch.Generator().manual_seed(seed))


@torch.no_grad()
def greedy_without_cache(model, ids: torch.Tensor, steps: int) -> torch.Tensor:
    for _ in range(steps):
        ids = torch.cat([ids, model(ids)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return ids


@pytest.mark.parametrize("name", CASES)
@torch.no_grad()
def test_cached_decoding_equals_full_recompute(name):
    model = model_for(name)
    ids = prompt(seq=20)
    full = model(ids)
    cache = KVCache(model.config, max_len=20)
    pieces = [model(ids[:, :5], cache=cache)]  # a prompt, then a chunk of 3, then one token at a time
    pieces.append(model(ids[:, 5:8], cache=cache))
    pieces += [model(ids[:, i : i + 1], cache=cache) for i in range(8, 20)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-5, atol=1e-5)

    generated = model.generate(ids[:, :6], max_new_tokens=14)
    assert torch.equal(generated, greedy_without_cache(model, ids[:, :6], 14))


@torch.no_grad()
def test_generation_across_the_longrope_switch_equals_full_recompute():
    """LongRoPE (Phi-3) changes every position's rotation once the sequence passes its original
    length, so cached keys go stale there: generate must start over, as transformers does."""
    long_factor = [1.5, 2.0, 3.0, 4.0]
    cfg = ArchConfig(**{**TINY, "rope_scaling": {"rope_type": "longrope", "short_factor": [1.0] * 4,
                                                 "long_factor": long_factor, "original_max_position_embeddings": 12}})  # fmt: skip
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    for p in model.parameters():  # away from init, so that greedy decoding does not repeat one token
        p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())) * 0.3)
    ids = prompt(batch=2, seq=6)
    generated = model.generate(ids, max_new_tokens=14)
    assert torch.equal(generated, greedy_without_cache(model, ids, 14))
    padded = model.generate(ids, max_new_tokens=14, attention_mask=torch.ones_like(ids))  # the mask grows too
    assert torch.equal(padded, generated)


@pytest.mark.parametrize("name", ["sliding", "sliding-mixed-layers", "window-1", "window-past-the-run"])
@torch.no_grad()
def test_the_cache_is_allocated_once_and_sliding_layers_keep_a_ring_of_the_window(name):
    model = model_for(name)
    cache = KVCache(model.config, max_len=24)
    ids = prompt(seq=20)
    model(ids[:, :6], cache=cache)
    addresses = [(k.data_ptr(), v.data_ptr()) for k, v in zip(cache.keys, cache.values)]
    for i in range(6, 20):
        model(ids[:, i : i + 1], cache=cache)
    assert [(k.data_ptr(), v.data_ptr()) for k, v in zip(cache.keys, cache.values)] == addresses  # written in place
    window = model.config.sliding_window
    for i, keys in enumerate(cache.keys):
        assert keys.shape == (2, 2, min(window, 24) if model.config.layer_is_sliding(i) else 24, 8), i
    assert cache.length == 20 and cache.step.tolist() == [20] and cache.next_position.tolist() == [20, 20]


@pytest.mark.parametrize("name", ["rope", "rope-yarn", "alibi", "learned", "sliding", "sliding-alibi-softcap"])
def test_left_padded_batch_equals_each_prompt_alone(name):
    model = model_for(name)
    prompts = [prompt(1, n, seed=n)[0] for n in (7, 3, 5)]
    width = max(len(p) for p in prompts)
    ids = torch.zeros(len(prompts), width, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for row, p in enumerate(prompts):
        ids[row, width - len(p) :] = p
        mask[row, width - len(p) :] = 1
    batched = model.generate(ids, max_new_tokens=10, attention_mask=mask)
    for row, p in enumerate(prompts):
        alone = model.generate(p[None], max_new_tokens=10)
        assert torch.equal(batched[row, width:], alone[0, len(p) :]), row


@pytest.mark.parametrize("name", STEP_CASES)
@torch.no_grad()
def test_the_decode_step_compiles_once_and_equals_eager(name):
    """One graph for every step (a recompile raises), with no graph break (fullgraph), so no host
    sync inside the step; the CPU stand-in for the step's CUDA graph (generation.CUDA_STEP_OPTIONS)."""
    torch._dynamo.reset()
    model = model_for(name)
    ids = prompt(seq=16)
    eager, compiled = KVCache(model.config, max_len=16), KVCache(model.config, max_len=16)
    model(ids[:, :6], cache=eager)
    model(ids[:, :6], cache=compiled)
    step = torch.compile(decode_step, backend="aot_eager", fullgraph=True)
    with torch._dynamo.config.patch(error_on_recompile=True):
        for i in range(6, 16):
            expected = decode_step(model, eager, ids[:, i : i + 1])
            torch.testing.assert_close(step(model, compiled, ids[:, i : i + 1]), expected, rtol=1e-6, atol=1e-6)
            compiled.length += 1  # what generate's compiled step does on the host


@torch.no_grad()
def test_a_decode_step_writes_each_layers_key_and_value_in_one_copy():
    """Keys and values share one tensor per layer, so a step stores both with one index_copy_ (one
    kernel when compiled) instead of two; MLA's latent and RoPE key keep a buffer each."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Writes(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.shapes = []

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func is torch.ops.aten.index_copy_.default and args[0].dim() > 2:  # not the [batch, slots] records
                self.shapes.append(tuple(args[0].shape))
            return func(*args, **(kwargs or {}))

    mla = [(3, 1, 3, 16), (3, 1, 3, 8), (3, 1, 16, 16), (3, 1, 16, 8)]  # a ring of 3 slots, then a full layer
    for name, writes in (("rope", [(2, 3, 2, 16, 8)] * 2), ("mla-sliding-mixed", mla)):
        model = model_for(name)
        cache = KVCache(model.config, max_len=16)
        model(prompt(3, 5), cache=cache)
        with Writes() as seen:
            decode_step(model, cache, prompt(3, 1))
        assert seen.shapes == writes, name


@torch.no_grad()
def test_generate_compiled_equals_eager_and_reuses_its_cache(monkeypatch):
    torch._dynamo.reset()
    step = torch.compile(generation._step_and_argmax, backend="aot_eager", fullgraph=True, dynamic=False)  # as _compiled_decode_step
    monkeypatch.setitem(generation._COMPILED, False, step)
    model = model_for("sliding-mixed-layers")
    ids = prompt(3, 7)
    mask = torch.ones_like(ids)
    mask[0, :3] = 0  # one left-padded row
    with torch._dynamo.config.patch(error_on_recompile=True):
        first = model.generate(ids, max_new_tokens=12, attention_mask=mask, compile=True)
        cache = generation._compiled_caches[model][1]
        again = model.generate(ids[:, 1:], max_new_tokens=9, attention_mask=mask[:, 1:], compile=True)
    assert generation._compiled_caches[model][1] is cache and cache.max_len == 48  # rounded up, bounded by the table
    assert torch.equal(first, model.generate(ids, max_new_tokens=12, attention_mask=mask))
    assert torch.equal(again, model.generate(ids[:, 1:], max_new_tokens=9, attention_mask=mask[:, 1:]))
    with pytest.raises(InputError, match="compile=False to go past it"):
        model.generate(ids, max_new_tokens=42, compile=True)


@torch.no_grad()
def test_compiled_generate_keeps_compiling_past_the_recompile_limit(monkeypatch):
    """Each batch size and cache capacity is a compiled step of its own. With torch's limit at 2 and
    archsmith's at 3, three shapes compile, each equal to eager decoding; the fourth is an InputError
    that says what to do, not dynamo's failure."""
    torch._dynamo.reset()
    step = torch.compile(generation._step_and_argmax, backend="aot_eager", fullgraph=True, dynamic=False)  # as _compiled_decode_step
    monkeypatch.setitem(generation._COMPILED, False, step)
    monkeypatch.setattr(generation, "DECODE_RECOMPILE_LIMIT", 3)
    model = model_for("rope")
    with torch._dynamo.config.patch(recompile_limit=2):
        for batch in (1, 2, 3):
            ids = prompt(batch, 5)
            assert torch.equal(model.generate(ids, max_new_tokens=4, compile=True), model.generate(ids, max_new_tokens=4))
        with pytest.raises(InputError, match="limit of 3 compiled decode steps.*fix: fewer distinct batch sizes"):
            model.generate(prompt(4, 5), max_new_tokens=4, compile=True)


def test_the_gpu_steps_inductor_options_are_ones_this_torch_compile_takes(monkeypatch):
    """The GPU step's options (CUDA graphs; PDL where Inductor has it): torch.compile refuses an option
    it does not know, so one that this torch lacks is left out rather than passed on."""
    import torch._inductor.config as inductor

    options = generation.cuda_step_options()
    assert options["triton.cudagraphs"] is True
    assert options.get("triton.enable_pdl") is (True if hasattr(inductor.triton, "enable_pdl") else None)
    assert torch.equal(torch.compile(lambda x: x * 2, options=options)(torch.ones(3)), torch.full((3,), 2.0))
    monkeypatch.setitem(generation.CUDA_STEP_OPTIONS, "triton.no_such_option", True)
    monkeypatch.setitem(generation.CUDA_STEP_OPTIONS, "no_such_option", 1)
    monkeypatch.setitem(generation.CUDA_STEP_OPTIONS, "no_such_section.option", 1)
    assert generation.cuda_step_options() == options


@torch.no_grad()
def test_the_two_pass_argmax_is_torchs_argmax_ties_and_nans_included():
    """The compiled step's greedy choice (generation._argmax), eager and compiled by Inductor, over a
    vocabulary that is not a multiple of its piece: the first maximum wins, within and across pieces,
    and a NaN wins as in torch."""
    torch.manual_seed(0)
    logits = torch.randn(9, 3000)
    logits[1] = 0.0  # all tied: the first
    logits[2, [2900, 100, 2047]] = 50.0  # tied across three pieces
    logits[3, [1030, 1029]] = 9.0  # tied within a piece
    logits[4] = float("-inf")
    logits[5, 2999] = 99.0  # the last, in the padded piece
    logits[6, [2500, 1500]] = float("nan")  # NaNs in two pieces
    logits[7, 5], logits[7, 2000] = float("inf"), float("nan")  # a NaN beats an earlier +inf
    logits[8, [1100, 1050]] = float("nan")  # two NaNs in one piece
    expected = logits.argmax(-1)
    assert expected[1:].tolist() == [0, 100, 1029, 0, 2999, 1500, 2000, 1050]
    assert torch.equal(generation._argmax(logits), expected)
    assert torch.equal(torch.compile(generation._argmax, dynamic=False)(logits), expected)


@torch.no_grad()
def test_inductor_compiled_generate_over_several_argmax_pieces_equals_eager():
    """generate(compile=True) as it compiles off CUDA (Inductor, no CUDA graph) over a vocabulary of
    three argmax pieces: the same tokens as eager decoding, some of them past the first piece."""
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = build_model(ArchConfig(**{**TINY, "vocab_size": 3000, "initializer_range": 0.5})).eval()
    ids = torch.randint(0, 3000, (2, 5), generator=torch.Generator().manual_seed(1))
    compiled = model.generate(ids, max_new_tokens=10, compile=True)
    assert torch.equal(compiled, model.generate(ids, max_new_tokens=10))
    assert (compiled[:, 5:] >= generation._ARGMAX_PIECE).any(), compiled


@torch.no_grad()
def test_cache_misuse_is_an_input_error():
    model = model_for("rope")
    cache = KVCache(model.config, max_len=8)
    model(prompt(2, 6), cache=cache)
    with pytest.raises(InputError, match="cannot take 3 more; fix: KVCache"):
        model(prompt(2, 3), cache=cache)
    with pytest.raises(InputError, match="holds 2 rows"):
        model(prompt(3, 1), cache=cache)
    with pytest.raises(InputError, match="max_len=0 must be a positive integer"):
        KVCache(model.config, max_len=0)


def test_rope_tables_read_on_the_device_equal_the_host_path():
    """A decode step reads the RoPE tables with no host-side seq_len; LongRoPE picks its factor set
    on the device, as the host path does from max(position) + 1."""
    longrope = {
        "rope_type": "longrope", "original_max_position_embeddings": 12,
        "short_factor": [1.0, 1.5, 2.0, 3.0], "long_factor": [2.0, 3.0, 5.0, 8.0],
    }  # fmt: skip
    for scaling in (None, longrope, {"rope_type": "dynamic", "factor": 2.0}):
        rotary = RotaryEmbedding(ArchConfig(**TINY, rope_scaling=scaling))
        for last in (5, 11, 12, 30, 47):  # inside and past LongRoPE's switch at 12
            positions = torch.tensor([[last], [3]])
            for device_side, host_side in zip(rotary(positions, torch.tensor(last + 1)), rotary(positions, last + 1)):
                assert torch.equal(device_side, host_side), (scaling, last)


def test_stops_at_eos_and_pads_finished_rows():
    model = model_for("rope")
    ids = prompt(3, 4)
    free = model.generate(ids, max_new_tokens=12)
    eos = int(free[0, 6])  # the third new token of row 0
    out = model.generate(ids, max_new_tokens=12, eos_token_id=eos)
    for row in out:
        new = row[4:]
        hits = (new == eos).nonzero()
        if len(hits):  # everything after a row's first EOS is EOS
            assert torch.all(new[int(hits[0]) :] == eos)
    # it stops right after the first token by which every row has produced an EOS (the host looks
    # only every few steps, which changes nothing in the output)
    first_eos = [int((row[4:] == eos).nonzero()[0]) if (row[4:] == eos).any() else 12 for row in free]
    assert out.shape[1] == 4 + min(max(first_eos) + 1, 12)
    assert torch.equal(out[:, :4], ids)
    alone = model.generate(ids[:1], max_new_tokens=12, eos_token_id=eos)  # finished at new token 3, looked at after 8
    assert torch.equal(alone, free[:1, : 4 + first_eos[0] + 1])


def test_sampling_filters():
    model = model_for("rope")
    ids = prompt(2, 4)
    greedy = model.generate(ids, max_new_tokens=8)
    assert torch.equal(model.generate(ids, max_new_tokens=8, temperature=1.0, top_k=1), greedy)
    assert torch.equal(model.generate(ids, max_new_tokens=8, temperature=0.7, top_p=1e-6), greedy)

    def sample(seed):
        return model.generate(ids, 8, temperature=1.5, top_k=20, top_p=0.9, generator=torch.Generator().manual_seed(seed))

    assert torch.equal(sample(1), sample(1))
    # At temperature 1.5 over 20 tokens the generator decides the draw: eight seeds give more than one sequence.
    assert len({tuple(sample(seed).flatten().tolist()) for seed in range(8)}) > 1
    assert model.generate(ids, max_new_tokens=0).shape == ids.shape


def test_bad_sampling_arguments():
    model = model_for("rope")
    with pytest.raises(InputError, match="temperature"):
        model.generate(prompt(), 4, temperature=-1.0)
    with pytest.raises(InputError, match="top_p"):
        model.generate(prompt(), 4, temperature=1.0, top_p=0.0)
    with pytest.raises(InputError, match="top_k"):
        model.generate(prompt(), 4, temperature=1.0, top_k=0)
