"""The fast paths on a GPU, against transformers and against archsmith's own reference paths.

Skipped without CUDA; the GPU benchmark run (benchmarks/gpu_bench.py) executes this file on the
same machine. ``ARCHSMITH_TEST_DEVICE=cpu`` runs the same checks on the CPU instead (slowly), to
work on them without a GPU.

- bf16 parity with transformers for every family the registry exports: a tiny model of the family
  first memorises a 40-token sequence (so that every greedy choice wins by several logits, far above
  bf16 rounding), is exported and loaded with ``from_pretrained`` in bf16. Tolerance: the largest
  |logit difference| on random tokens is at most 3% of the largest |logit| of the fp32 model (bf16
  keeps 8 significant bits, 0.4%; both sides round through every layer), or, where it is more (up
  to 6%), archsmith's logits are the closer of the two to the fp32 model's (on a GPU archsmith's RMSNorm
  rounds once where HF's rounds twice; for Qwen3's qk-norms, that rounding run on the CPU puts
  transformers 0.45 from the fp32 logits and archsmith 0.16, 3.03% of the largest logit apart). The first 32 greedy tokens
  after an 8-token prompt are identical. A Mixture-of-Experts layer routes every token to every
  expert here: a top-k that chooses can flip on a bf16 rounding in either implementation (which
  experts are picked is checked in fp32 by tests/test_hf_parity.py).
- decode with the cache (static on GPU) gives the tokens of recomputing the whole sequence each step.
- FlexAttention and the dense reference masks give the same attention output.
- a compiled training step (``torch.compile(fullgraph=True)``) runs on a padded batch with explicit
  position_ids, and gives the eager loss and gradients.
"""

from __future__ import annotations

import os

import pytest
import torch

from archsmith import ArchConfig
from archsmith.hf.convert import to_hf
from archsmith.hf.registry import FAMILIES
from archsmith.model import build_model
from hf_testing import VOCAB, perturb, quiet_transformers, tiny_config
from test_generation import CASES as DECODE_CASES
from test_generation import greedy_without_cache, model_for
from test_hf_parity import attention_of

DEVICE = os.environ.get("ARCHSMITH_TEST_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(DEVICE == "cuda" and not torch.cuda.is_available(), reason="needs a CUDA GPU")

transformers = pytest.importorskip("transformers")
quiet_transformers()

BF16_TOLERANCE = 0.03  # of the largest |logit| of the fp32 model
PROMPT, NEW = 8, 32


def _no_routing_choice(cfg: ArchConfig) -> ArchConfig:
    """MoE: every token to each of 4 experts (one group); MLA at small ranks, so the model memorises fast."""
    if not cfg.is_moe:
        return cfg
    cfg = cfg.replace(num_experts=4, num_experts_per_tok=4, n_group=1, topk_group=1)
    if cfg.is_mla:
        cfg = cfg.replace(q_lora_rank=32, kv_lora_rank=16, qk_nope_head_dim=16, qk_rope_head_dim=8, v_head_dim=16, head_dim=None)
    return cfg


def _memorised(cfg: ArchConfig, sequence: torch.Tensor, steps: int = 100) -> torch.nn.Module:
    """An fp32 model of ``cfg`` on DEVICE, perturbed, then trained to predict ``sequence``."""
    torch.manual_seed(0)
    model = build_model(cfg)
    perturb(model)
    model.to(DEVICE)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        model(sequence, labels=sequence).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return model.eval()


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.model_type)
def test_bf16_parity_with_transformers(family, tmp_path):
    cfg = _no_routing_choice(tiny_config(family))
    g = torch.Generator().manual_seed(3)
    sequence = torch.randint(0, VOCAB, (1, PROMPT + NEW), generator=g).to(DEVICE)
    ids = torch.randint(0, VOCAB, (2, 24), generator=g).to(DEVICE)
    model = _memorised(cfg, sequence)
    with torch.no_grad():
        reference = model(ids).float()
    plan = to_hf(model.cpu(), tmp_path)
    ours = build_model(cfg, device=DEVICE, dtype=torch.bfloat16).eval()
    ours.load_state_dict(model.state_dict())
    hf = transformers.AutoModelForCausalLM.from_pretrained(
        tmp_path, dtype=torch.bfloat16, trust_remote_code=plan.remote_code, attn_implementation=attention_of(plan.model_type)
    )
    hf = hf.to(DEVICE).eval()

    with torch.no_grad():
        ours_logits, hf_logits = ours(ids).float(), hf(ids).logits.float()
    diff = (ours_logits - hf_logits).abs().max().item()
    ours_error, hf_error = ((logits - reference).abs().max().item() for logits in (ours_logits, hf_logits))
    # Where transformers' own rounding is most of the difference, ours must be the closer to fp32
    # (and still within twice the tolerance of transformers).
    bound = BF16_TOLERANCE * reference.abs().max().item()
    assert diff <= bound or (ours_error <= hf_error and diff <= 2 * bound), (diff, ours_error, hf_error)

    prompt = sequence[:, :PROMPT]
    hf.generation_config.eos_token_id = None
    theirs = hf.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=NEW, do_sample=False, pad_token_id=0)
    assert torch.equal(ours.generate(prompt, max_new_tokens=NEW), theirs)


# --- decoding: the cache (static on GPU) against recomputation --------------------------------------------


@pytest.mark.parametrize("name", DECODE_CASES)
def test_cached_decode_equals_recomputation(name):
    """Every position type and window pattern of tests/test_generation.py, on DEVICE, past every window."""
    model = model_for(name).to(DEVICE)
    ids = torch.randint(0, model.config.vocab_size, (2, 6), generator=torch.Generator().manual_seed(0)).to(DEVICE)
    assert torch.equal(model.generate(ids, max_new_tokens=14), greedy_without_cache(model, ids, 14))


@pytest.mark.parametrize("compile", [False, True], ids=["eager", "compiled"])
def test_wide_mla_decode_goes_by_matmul_and_equals_recomputation(compile, monkeypatch):
    """MLA's absorbed step over keys wider than 256 (DeepSeek's 512 + 64; 264 + 8 here): on CUDA each layer's
    decode-step attention goes by masks.attend_by_matmul, not SDPA (counted eagerly: a counter inside the
    compiled step would make it recompile), and greedy decoding, eager and compiled, gives the tokens of
    recomputing the whole sequence each step."""
    from archsmith.model import masks

    calls, real = [], masks.attend_by_matmul
    if not compile:
        monkeypatch.setattr(masks, "attend_by_matmul", lambda *args: calls.append(1) or real(*args))
    torch.manual_seed(0)
    cfg = ArchConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
                     max_position_embeddings=48, initializer_range=0.2, num_key_value_heads=None, kv_lora_rank=264,
                     qk_nope_head_dim=12, qk_rope_head_dim=8, v_head_dim=10)  # fmt: skip
    model = build_model(cfg).eval().to(DEVICE)
    ids = torch.randint(0, VOCAB, (2, 6), generator=torch.Generator().manual_seed(0)).to(DEVICE)
    assert torch.equal(model.generate(ids, max_new_tokens=14, compile=compile), greedy_without_cache(model, ids, 14))
    if not compile:  # 13 decode steps of 2 layers
        assert len(calls) == (26 if DEVICE == "cuda" else 0)


@pytest.mark.parametrize("name", ["sliding-mixed-layers", "alibi", "learned"])
def test_compiled_decode_equals_recomputation(name):
    """``compile=True``: one compiled step, replayed as a CUDA graph on GPU. A second prompt reuses the
    captured graph and its emptied cache, and must not see the first one's tokens."""
    model = model_for(name).to(DEVICE)
    g = torch.Generator().manual_seed(0)
    for _ in range(2):
        ids = torch.randint(0, model.config.vocab_size, (2, 6), generator=g).to(DEVICE)
        assert torch.equal(model.generate(ids, max_new_tokens=14, compile=True), greedy_without_cache(model, ids, 14))


@pytest.mark.parametrize("compile", [False, True], ids=["eager", "compiled"])
def test_left_padded_decode_equals_recomputation(compile):
    model = model_for("sliding-mixed-layers").to(DEVICE)
    ids = torch.randint(0, model.config.vocab_size, (2, 7), generator=torch.Generator().manual_seed(0)).to(DEVICE)
    mask = torch.ones_like(ids)
    mask[1, :4] = 0  # row 1: a 3-token prompt, left-padded
    generated = model.generate(ids, max_new_tokens=10, attention_mask=mask, compile=compile)
    with torch.no_grad():
        for step in range(10):
            tokens = generated[:, : 7 + step]
            full_mask = torch.cat([mask, torch.ones(2, step, dtype=mask.dtype, device=DEVICE)], dim=1)
            expected = model(tokens, attention_mask=full_mask)[:, -1].argmax(-1)
            assert torch.equal(generated[:, 7 + step], expected), step


# --- FlexAttention against the dense masks, in bf16 at the benchmark's head width ---------------------------

_MASKED = {
    "window": dict(sliding_window=5),
    "per-layer-pattern": dict(sliding_window=5, layer_types=("sliding_attention", "full_attention")),
    "alibi": dict(position_embedding="alibi"),
    "alibi-before-scale": dict(position_embedding="alibi", alibi_before_scale=True),
    "softcap": dict(attn_logit_softcapping=2.0),
    "window-alibi-softcap": dict(sliding_window=5, position_embedding="alibi", attn_logit_softcapping=2.0),
}
_WIDE = dict(vocab_size=VOCAB, hidden_size=256, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
             head_dim=64, intermediate_size=512, max_position_embeddings=64)  # fmt: skip


@pytest.mark.parametrize("changes", _MASKED.values(), ids=_MASKED)
def test_flex_equals_dense_in_bf16(changes, monkeypatch):
    """A left-padded batch: FlexAttention's logits at every real token within bf16 rounding of the
    dense masks' (the same tolerance as the parity with transformers)."""
    from archsmith.model import masks

    calls = []  # attention through FlexAttention (masks._flex, which picks its compiled kernel on CUDA)
    flex = masks._flex
    monkeypatch.setattr(masks, "_flex", lambda *a, **kw: calls.append(1) or flex(*a, **kw))
    torch.manual_seed(0)
    model = build_model(ArchConfig(**_WIDE, **changes))
    perturb(model)
    model.to(DEVICE, torch.bfloat16).eval()
    ids = torch.randint(0, VOCAB, (2, 40), generator=torch.Generator().manual_seed(1)).to(DEVICE)
    mask = torch.ones_like(ids)
    mask[0, :7] = 0
    logits = {}
    with torch.no_grad():
        for kernel in ("dense", "flex"):
            model.attention_kernel = kernel
            logits[kernel] = model(ids, attention_mask=mask).float()[mask.bool()]
            assert bool(calls) == (kernel == "flex")
    diff = (logits["flex"] - logits["dense"]).abs().max().item()
    assert diff <= BF16_TOLERANCE * logits["dense"].abs().max().item()


# --- compiled training as the benchmark runs it -----------------------------------------------------------


def test_regionally_compiled_bf16_training_with_padding_and_position_ids():
    """compile_blocks (per-block compile), bf16, AdamW: batches with different padding and with explicit position_ids
    reuse the compiled blocks (no recompile) and give the eager losses."""
    torch._dynamo.reset()
    cfg = ArchConfig(**_WIDE, sliding_window=8, layer_types=("sliding_attention", "full_attention"))
    torch.manual_seed(0)
    eager = build_model(cfg, device=DEVICE, dtype=torch.bfloat16)
    model = build_model(cfg, device=DEVICE, dtype=torch.bfloat16)
    model.load_state_dict(eager.state_dict())
    model.compile_blocks()
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.0)  # the step runs; the weights stay the eager model's
    ids = torch.randint(0, VOCAB, (2, 40), generator=torch.Generator().manual_seed(1)).to(DEVICE)
    batches = []
    for pad in (3, 9):
        mask = torch.ones_like(ids)
        mask[0, :pad] = 0
        batches.append(dict(attention_mask=mask, labels=ids.masked_fill(mask == 0, -100)))
    batches.append(dict(position_ids=torch.arange(40, device=DEVICE)[None] + 5, labels=ids))
    for call, kwargs in enumerate(batches):
        with torch._dynamo.config.patch(error_on_recompile=call == 1):  # the second padded batch: same graphs
            loss = model(ids, check_inputs=False, **kwargs).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            expected = eager(ids, **kwargs).loss
        torch.testing.assert_close(loss.float(), expected.float(), rtol=2e-2, atol=2e-2)
