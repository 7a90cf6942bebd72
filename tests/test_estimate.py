"""archsmith.estimate: FLOPs under named conventions, KV cache, weight and training memory.

Expected numbers are worked out by hand in the comments (or by brute force), never by
calling the code under test a second way.
"""

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archsmith import ArchConfig, ConfigError, Estimate, count_params, estimate
from archsmith.sizing import (
    attention_flops,
    causal_pairs,
    head_activation_bytes_per_token,
    layer_activation_bytes_per_token,
    matmul_flops_per_token,
)

GiB = 2**30

# h=8, 2 layers, 2 heads of 4, MHA, SwiGLU 16, vocab 64, tied, RMSNorm, no biases.
#   attention/layer 8·8 + 2·8·8 + 8·8 = 256; ffn/layer 2·8·16 + 16·8 = 384; norms/layer 16
#   non-embedding N = 2·(256 + 384 + 16) + 8 (final norm) = 1320; embedding 64·8 = 512
TINY = ArchConfig(
    vocab_size=64,
    hidden_size=8,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=16,
    max_position_embeddings=64,
)

LLAMA2_7B = ArchConfig(
    vocab_size=32000,
    hidden_size=4096,
    num_hidden_layers=32,
    num_attention_heads=32,
    intermediate_size=11008,
    max_position_embeddings=4096,
    tie_word_embeddings=False,
)

MISTRAL_7B = ArchConfig(
    vocab_size=32000,
    hidden_size=4096,
    num_hidden_layers=32,
    num_attention_heads=32,
    num_key_value_heads=8,
    intermediate_size=14336,
    max_position_embeddings=32768,
    sliding_window=4096,
    tie_word_embeddings=False,
)


# --- FLOPs -----------------------------------------------------------------------------------


def test_6n_is_six_times_total_params():
    total = count_params(LLAMA2_7B).total
    assert total == 6_738_415_616  # Llama-2-7B's published count
    flops = estimate(LLAMA2_7B, 4096).flops["6N"]
    assert flops.training_per_token == 6 * total
    assert flops.forward_per_token == 2 * total
    assert f"{total:,}" in flops.description


def test_kaplan_by_hand():
    # N = 1320, L = 2, T = 10, d_attn = 2·4 = 8: forward 2·1320 + 2·2·10·8 = 2960, training 3× = 8880
    flops = estimate(TINY, 10).flops["kaplan"]
    assert flops.forward_per_token == 2960
    assert flops.training_per_token == 8880
    assert "1,320 non-embedding" in flops.description


def test_palm_by_hand():
    # N = 1320 + 64·8 (LM-head matmul, tied) = 1832; training 6·1832 + 12·2·2·4·10 = 10992 + 1920 = 12912
    flops = estimate(TINY, 10).flops["palm"]
    assert flops.training_per_token == 12912
    assert flops.forward_per_token == 12912 // 3 == 4304
    assert "LM-head matmul" in flops.description


def test_exact_causal_by_hand():
    # matmuls/layer: 2·(64 + 128 + 64) + 2·(256 + 128) = 1280; 2 layers + LM head 2·8·64 → 3584
    assert matmul_flops_per_token(TINY) == 3584
    # causal T = 10: 55 pairs per layer, 4·d_attn = 32 FLOPs each → 2·1760 = 3520 over the sequence
    assert attention_flops(TINY, 10) == 3520
    flops = estimate(TINY, 10).flops["exact_causal"]
    assert flops.forward_per_token == pytest.approx(3584 + 352, rel=1e-15)
    assert flops.training_per_token == pytest.approx(3 * (3584 + 352), rel=1e-15)
    assert isinstance(flops.forward_per_token, float)


def brute_force_pairs(seq_len, window):
    """Enumerate the causal (optionally sliding) mask as transformers builds it."""
    count = 0
    for q in range(seq_len):
        for k in range(seq_len):
            if k <= q and (window is None or k > q - window):
                count += 1
    return count


@pytest.mark.parametrize("seq_len", [1, 2, 3, 7, 16, 33])
@pytest.mark.parametrize("window", [None, 1, 3, 8, 40])
def test_causal_pairs_match_brute_force_mask(seq_len, window):
    assert causal_pairs(seq_len, window) == brute_force_pairs(seq_len, window)


def test_exact_causal_attention_honours_each_layers_window():
    cfg = TINY.replace(
        num_hidden_layers=4,
        sliding_window=3,
        layer_types=("sliding_attention", "full_attention", "sliding_attention", "sliding_attention"),
    )
    T = 17
    expected = 4 * cfg.q_dim * (3 * brute_force_pairs(T, 3) + brute_force_pairs(T, None))
    assert attention_flops(cfg, T) == expected
    # Causal attention is about half of the unmasked T×T that Kaplan/PaLM count.
    full = attention_flops(TINY, T)
    assert full == 2 * 4 * cfg.q_dim * T * (T + 1) // 2
    assert full / (2 * 4 * cfg.q_dim * T * T) == pytest.approx((T + 1) / (2 * T))


def test_flop_types_are_consistent():
    est = estimate(MISTRAL_7B, 4096)
    for name in ("6N", "kaplan", "palm"):
        assert isinstance(est.flops[name].forward_per_token, int)
        assert isinstance(est.flops[name].training_per_token, int)
    assert isinstance(est.flops["exact_causal"].training_per_token, float)


# --- KV cache and weights ------------------------------------------------------------------


def test_llama2_7b_kv_cache_is_2_gib_per_sequence():
    est = estimate(LLAMA2_7B, 4096, 1, "bf16")
    assert est.kv_cache_bytes == 2 * 32 * 32 * 128 * 2 * 4096 == 2 * GiB
    assert est.kv_cache_bytes_per_token == 2 * 32 * 32 * 128 * 2
    assert estimate(LLAMA2_7B, 4096, 3, "bf16").kv_cache_bytes == 6 * GiB


def test_sliding_window_caps_the_kv_cache():
    at_window = estimate(MISTRAL_7B, 4096).kv_cache_bytes
    assert at_window == 2 * 32 * 8 * 128 * 2 * 4096
    assert estimate(MISTRAL_7B, 32768).kv_cache_bytes == at_window
    # The per-token figure is never capped.
    assert estimate(MISTRAL_7B, 32768).kv_cache_bytes_per_token == 2 * 32 * 8 * 128 * 2


def test_kv_cache_caps_only_sliding_layers():
    cfg = TINY.replace(sliding_window=4, layer_types=("sliding_attention", "full_attention"))
    # layer 0 keeps 4 tokens, layer 1 keeps 50; 2·8 elements per token per layer, fp32
    assert estimate(cfg, 50, 2, "fp32").kv_cache_bytes == 2 * (2 * 8 * 4) * (4 + 50)


def test_gqa_saves_heads_over_kv_heads():
    mha = MISTRAL_7B.replace(num_key_value_heads=32, sliding_window=None)
    gqa = MISTRAL_7B.replace(sliding_window=None)
    mqa = MISTRAL_7B.replace(num_key_value_heads=1, sliding_window=None)
    kv = {name: estimate(c, 8192, 2).kv_cache_bytes for name, c in (("mha", mha), ("gqa", gqa), ("mqa", mqa))}
    assert kv["mha"] == 4 * kv["gqa"] == 32 * kv["mqa"]


def test_weight_bytes_and_fp8_sizes():
    total = count_params(LLAMA2_7B).total
    est = estimate(LLAMA2_7B, 128, 1, "fp8")
    assert est.weight_bytes == {"fp32": 4 * total, "bf16": 2 * total, "fp16": 2 * total, "fp8": total}
    assert est.kv_cache_bytes * 2 == estimate(LLAMA2_7B, 128, 1, "bf16").kv_cache_bytes
    assert est.kv_cache_bytes_per_token == 2 * 32 * 32 * 128


# --- training memory -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["bf16", "fp16", "fp32", "fp8"])
def test_training_memory_components_add_up(dtype):
    mem = estimate(MISTRAL_7B, 2048, 4, dtype).training_memory
    n = count_params(MISTRAL_7B).total
    states = mem.weights + mem.master_weights + mem.gradients + mem.optimizer
    assert states == 16 * n  # 16 bytes/param in every dtype (fp32: 4 + 0 + 4 + 8)
    assert mem.optimizer == 8 * n
    # bytes per parameter by hand: fp32 keeps no master copy; lower precisions keep an fp32 master
    w, m, g = {"fp32": (4, 0, 4), "bf16": (2, 4, 2), "fp16": (2, 4, 2), "fp8": (2, 4, 2)}[dtype]
    assert (mem.weights, mem.master_weights, mem.gradients) == (w * n, m * n, g * n)
    assert mem.total - mem.activations == mem.total_checkpointed - mem.activations_checkpointed == 16 * n
    assert 0 < mem.activations_checkpointed < mem.activations
    d = mem.to_dict()
    assert set(d) == {
        "weights", "master_weights", "gradients", "optimizer",
        "activations", "activations_checkpointed", "total", "total_checkpointed",
    }  # fmt: skip
    assert all(isinstance(v, int) for v in d.values())


def test_fp8_training_stores_bf16():
    assert estimate(TINY, 16, 2, "fp8").training_memory == estimate(TINY, 16, 2, "bf16").training_memory
    assert any("Transformer Engine" in a for a in estimate(TINY, 16, 2, "fp8").assumptions)


def test_gpt_block_activations_match_korthikanti():
    # Korthikanti et al. 2022: a GPT block keeps 34·s·b·h + 5·a·s²·b bytes in 16 bits; a
    # flash kernel removes the 5·a·s²·b scores/softmax/dropout term.
    gpt = ArchConfig(
        vocab_size=50304,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        max_position_embeddings=1024,
        position_embedding="learned",
        norm_type="layernorm",
        norm_bias=True,
        mlp_type="plain",
        hidden_act="gelu_new",
        qkv_bias=True,
        attn_out_bias=True,
        mlp_bias=True,
        hidden_dropout=0.1,
        attention_dropout=0.1,
    )
    assert layer_activation_bytes_per_token(gpt, "bf16") == 34 * 768


def test_gqa_gated_activations_by_hand():
    cfg = TINY.replace(num_key_value_heads=1)  # kv width 4
    # stream: 2 norm inputs + 2 norm outputs = 32; Q 8 + K 4 + V 4 + O 8 = 24; SwiGLU 4·16 = 64
    # → 120 elements · 2 bytes
    assert layer_activation_bytes_per_token(cfg, "bf16") == 240
    # final-norm input and LM-head input 2·8·2 = 32; logits (2 + 4)·64 = 384
    assert head_activation_bytes_per_token(cfg, "bf16") == 416
    mem = estimate(cfg, 10, 3, "bf16").training_memory
    assert mem.activations == 30 * (2 * 240 + 416)
    # checkpointed: both layer inputs (2·8·2) + one layer recomputed + head
    assert mem.activations_checkpointed == 30 * (2 * 16 + 240 + 416)


# --- requests, result shape, imports -----------------------------------------------------------


@pytest.mark.parametrize("dtype", ["int8", "fp64", "", None])
def test_bad_dtype_names_the_valid_ones(dtype):
    with pytest.raises(ConfigError) as err:
        estimate(TINY, 16, 1, dtype)
    assert "fp32, bf16, fp16, fp8" in str(err.value)


@pytest.mark.parametrize("seq_len, batch", [(0, 1), (-4, 1), (1.5, 1), (True, 1), ("8", 1), (8, 0), (8, 2.0)])
def test_bad_seq_len_or_batch(seq_len, batch):
    with pytest.raises(ConfigError, match="must be a positive integer"):
        estimate(TINY, seq_len, batch)


def test_seq_len_beyond_positions_warns_or_refuses():
    assert estimate(TINY, 64).warnings == []
    warned = estimate(TINY, 65)
    assert len(warned.warnings) == 1 and "max_position_embeddings=64" in warned.warnings[0]
    with pytest.raises(ConfigError, match="learned position table"):
        estimate(TINY.replace(position_embedding="learned"), 65)


def test_to_dict_is_json_ready_with_stable_keys():
    est = estimate(MISTRAL_7B, 4096, 2, "bf16")
    assert isinstance(est, Estimate)
    d = json.loads(json.dumps(est.to_dict()))
    assert set(d) == {
        "params", "seq_len", "batch", "dtype", "flops", "kv_cache_bytes", "kv_cache_bytes_per_token", "kv_cache_holds",
        "weight_bytes", "training_memory", "assumptions", "warnings",
    }  # fmt: skip
    assert d["params"]["total"] == 7_241_732_096  # Mistral-7B's published count
    assert set(d["flops"]) == {"6N", "kaplan", "palm", "exact_causal"}
    for figures in d["flops"].values():
        assert set(figures) == {"forward_per_token", "training_per_token", "description"}
    # 2 (K and V) x 32 layers x 8 KV heads x 128 x 2 bytes x 4096 tokens (the 4096 window) x batch 2
    assert d["kv_cache_bytes"] == 2 * 32 * 8 * 128 * 2 * 4096 * 2
    assert all(isinstance(a, str) and a for a in d["assumptions"])


def test_sizing_does_not_import_torch():
    code = "import archsmith, archsmith.sizing, sys; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- property: positive and monotone ---------------------------------------------------------


@st.composite
def configs(draw):
    heads = draw(st.sampled_from([1, 2, 4]))
    layers = draw(st.integers(1, 4))
    window = draw(st.one_of(st.none(), st.integers(1, 16)))
    layer_types = None
    if window is not None and draw(st.booleans()):
        layer_types = tuple(draw(st.sampled_from(["sliding_attention", "full_attention"])) for _ in range(layers))
    parallel = draw(st.booleans())
    return ArchConfig(
        vocab_size=draw(st.integers(1, 100)),
        hidden_size=draw(st.integers(1, 24)),
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=draw(st.sampled_from([d for d in (1, 2, 4) if heads % d == 0])),
        head_dim=draw(st.sampled_from([2, 4, 8])),
        intermediate_size=draw(st.integers(1, 48)),
        max_position_embeddings=64,
        position_embedding=draw(st.sampled_from(["rope", "alibi", "none", "learned"])),
        sliding_window=window,
        layer_types=layer_types,
        qk_norm=draw(st.sampled_from(["none", "head", "full"])),
        norm_scheme="pre" if parallel else draw(st.sampled_from(["pre", "post", "peri", "reordered"])),
        parallel_residual=parallel,
        parallel_shared_norm=parallel and draw(st.booleans()),
        mlp_type=draw(st.sampled_from(["gated", "plain"])),
        hidden_dropout=draw(st.sampled_from([0.0, 0.1])),
        embedding_dropout=draw(st.sampled_from([0.0, 0.1])),
        final_norm=draw(st.booleans()),
        embedding_norm=draw(st.booleans()),
        final_logit_softcapping=draw(st.sampled_from([None, 30.0])),
        tie_word_embeddings=draw(st.booleans()),
    )


def figures(est):
    """Every number of an estimate, named."""
    out = {"kv_cache_bytes": est.kv_cache_bytes, "kv_cache_bytes_per_token": est.kv_cache_bytes_per_token}
    for name, count in est.flops.items():
        out[f"{name}.forward"] = count.forward_per_token
        out[f"{name}.training"] = count.training_per_token
    out.update({f"weights.{k}": v for k, v in est.weight_bytes.items()})
    out.update({f"training.{k}": v for k, v in est.training_memory.to_dict().items()})
    return out


@settings(max_examples=150, deadline=None)
@given(
    cfg=configs(),
    seq=st.tuples(st.integers(1, 64), st.integers(1, 64)).map(sorted),
    batch=st.tuples(st.integers(1, 8), st.integers(1, 8)).map(sorted),
    dtype=st.sampled_from(["fp32", "bf16", "fp16", "fp8"]),
)
def test_figures_positive_and_monotone_in_seq_len_and_batch(cfg, seq, batch, dtype):
    base = figures(estimate(cfg, seq[0], batch[0], dtype))
    longer = figures(estimate(cfg, seq[1], batch[0], dtype))
    bigger = figures(estimate(cfg, seq[0], batch[1], dtype))
    for name, value in base.items():
        if name == "training.master_weights" and dtype == "fp32":
            assert value == 0  # fp32 training needs no master copy
        else:
            assert value > 0, name
        assert longer[name] >= value, name
        assert bigger[name] >= value, name
