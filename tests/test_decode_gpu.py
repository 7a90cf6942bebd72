"""The decode step on CUDA: compiled once and replayed as a CUDA graph (generation.CUDA_STEP_OPTIONS,
with programmatic dependent launch on Hopper), equal to eager decoding and to recomputation, with no
host sync per token. Skipped without CUDA; the CPU equivalents are in test_generation.py."""

from __future__ import annotations

import pytest
import torch

from archsmith import ArchConfig
from archsmith.model import KVCache, build_model
from archsmith.model import generation
from archsmith.model.generation import decode_step

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

VOCAB = 64
TINY = dict(
    vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    intermediate_size=96, max_position_embeddings=64, initializer_range=0.2,
)  # fmt: skip
CASES = {
    # The compiled step's FlexAttention decoding kernel (masks.step_mask): GQA with RoPE; a ring of 5
    # slots next to a full layer; Gemma 2's logit softcap (a score_mod) over a ring
    "gqa-rope": {},
    "ring-rope": dict(sliding_window=5, layer_types=("sliding_attention", "full_attention")),
    "ring-softcap": dict(sliding_window=5, layer_types=("sliding_attention", "full_attention"), attn_logit_softcapping=30.0),
    # GQA, a ring of 5 slots next to a full layer, ALiBi's per-head bias folded with the query heads
    # (the dense step mask: torch 2.11's decoding kernel fails to compile ALiBi's score_mod)
    "ring-alibi-gqa": dict(sliding_window=5, layer_types=("sliding_attention", "full_attention"), position_embedding="alibi"),
    # MLA's latent cache, attended over by the absorbed step: through SDPA, and (keys of 264 + 16, wider
    # than 256, as DeepSeek's 512 + 64) by matmuls (masks.attend_by_matmul)
    "mla": dict(num_key_value_heads=None, kv_lora_rank=16, qk_nope_head_dim=16, qk_rope_head_dim=16, v_head_dim=16),
    "mla-wide": dict(num_key_value_heads=None, kv_lora_rank=264, qk_nope_head_dim=16, qk_rope_head_dim=16, v_head_dim=16),
}


def model_for(name: str):
    torch.manual_seed(0)
    return build_model(ArchConfig(**{**TINY, **CASES[name]}), device="cuda").eval()


def prompts(batch: int, seq: int) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.randint(0, VOCAB, (batch, seq), generator=torch.Generator().manual_seed(seq)).cuda()
    mask = torch.ones_like(ids)
    mask[0, : seq // 2] = 0  # one left-padded row
    return ids, mask


@pytest.mark.parametrize("name", CASES)
@torch.no_grad()
def test_compiled_decode_is_a_cuda_graph_equal_to_eager(name):
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    model = model_for(name)
    for seq, new in ((7, 20), (5, 24)):  # the second call reuses the first one's cache and graph
        ids, mask = prompts(3, seq)
        compiled = model.generate(ids, max_new_tokens=new, attention_mask=mask, compile=True)
        assert torch.equal(compiled, model.generate(ids, max_new_tokens=new, attention_mask=mask))
    assert counters["inductor"]["cudagraph_skips"] == 0


@pytest.mark.parametrize("name", CASES)
@torch.no_grad()
def test_compiled_decode_steps_do_not_sync_the_host(name):
    model = model_for(name)
    ids, _ = prompts(2, 6)
    cache = generation._compiled_cache(model, 2, 20, ids.device)
    step = generation._compiled_step(model, cache)
    token = model.logits(model.hidden_states(ids, cache=cache)[:, -1]).argmax(-1, keepdim=True)
    for _ in range(3):  # warm-up and capture
        token = step(token)[1][:, None].clone()  # the step's own argmax; its outputs are overwritten by the next
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(5):
            token = step(token)[1][:, None].clone()
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert cache.length == 6 + 8


@pytest.mark.parametrize(
    "extra",
    [{}, dict(position_embedding="alibi", sliding_window=3), dict(rope_scaling={"rope_type": "dynamic", "factor": 2.0})],
    ids=["rope", "alibi-ring", "dynamic-ntk"],
)
@torch.no_grad()
def test_eager_decode_steps_do_not_sync_the_host(extra):
    torch.manual_seed(0)
    model = build_model(ArchConfig(**{**TINY, **extra}), device="cuda").eval()
    ids, mask = prompts(2, 6)
    cache = KVCache(model.config, max_len=16)
    token = model.logits(model.hidden_states(ids, attention_mask=mask, cache=cache)[:, -1]).argmax(-1, keepdim=True)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(8):
            token = decode_step(model, cache, token).argmax(-1, keepdim=True)
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert cache.length == 14


@torch.no_grad()
def test_the_pdl_step_replays_the_same_tokens_every_time(monkeypatch):
    """Programmatic dependent launch lets each kernel of the step's CUDA graph launch before the one
    before it ends (generation.CUDA_STEP_OPTIONS); a missing wait would be a race, which shows as a replay
    of the same graph giving other numbers. bf16 random weights wide enough for many thread blocks a
    kernel, whose greedy choices hang on near-ties: after a first call that compiles (its kernels must
    hold PDL's waits) and captures, three calls replaying the same graph must give the same tokens."""
    from torch._inductor.utils import run_and_get_code

    if torch.cuda.get_device_capability()[0] < 9 or "triton.enable_pdl" not in generation.cuda_step_options():
        pytest.skip("PDL needs Hopper or later and an Inductor that has it")
    monkeypatch.delitem(generation._COMPILED, True, raising=False)  # compiled afresh, with the default options
    torch._dynamo.reset()
    cfg = ArchConfig(vocab_size=8192, hidden_size=1024, num_hidden_layers=4, num_attention_heads=16, num_key_value_heads=4,
                     intermediate_size=2816, max_position_embeddings=512, torch_dtype="bfloat16")  # fmt: skip
    torch.manual_seed(0)
    model = build_model(cfg, device="cuda", dtype=torch.bfloat16).eval()
    ids = torch.randint(0, cfg.vocab_size, (4, 32), generator=torch.Generator().manual_seed(0)).cuda()
    with torch._inductor.config.patch(fx_graph_cache=False):  # generate the kernels' code here, not from a cache
        _, code = run_and_get_code(model.generate, ids, max_new_tokens=200, compile=True)
    assert any("gdc_wait" in source for source in code), "no PDL wait in the compiled step's kernels"
    runs = [model.generate(ids, max_new_tokens=200, compile=True) for _ in range(3)]
    assert torch.equal(runs[0], runs[1]) and torch.equal(runs[0], runs[2])
