"""Multi-head latent attention: validation, exact counts, the latent KV cache and the absorbed decode path.

Parity with transformers' DeepseekV3 is in test_hf_parity.py; real configs in test_hf_configs.py.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archsmith import ArchConfig, ConfigError, count_params, estimate
from archsmith.config import NORM_SCHEMES
from archsmith.model import KVCache, build_model
from archsmith.model.masks import AttentionMask
from archsmith.model.mla import LatentAttention, softmax_scale

VOCAB = 64
MLA = dict(kv_lora_rank=16, qk_nope_head_dim=12, qk_rope_head_dim=8, v_head_dim=10)
TINY = dict(
    vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
    max_position_embeddings=48, initializer_range=0.2, **MLA,
)  # fmt: skip

CASES = {
    "direct-q": {},
    "q-lora-biases-interleaved": dict(q_lora_rank=24, qkv_bias=True, attn_out_bias=True, rope_interleaved=True),
    "q-lora-yarn-untied": dict(
        q_lora_rank=20, tie_word_embeddings=False,
        rope_scaling={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 12, "mscale": 0.7, "mscale_all_dim": 1.0},
    ),  # fmt: skip
    "layernorm-sliding-mixed": dict(norm_type="layernorm", norm_bias=True, sliding_window=4, layer_types=("sliding_attention", "full_attention")),
}


def model_for(name: str):
    torch.manual_seed(0)
    return build_model(ArchConfig(**{**TINY, **CASES[name]})).eval()


def ids(batch: int = 2, seq: int = 20, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, seq), generator=torch.Generator().manual_seed(seed))


# --- config ---------------------------------------------------------------------------------------


def test_dimensions_resolve_from_the_mla_fields():
    cfg = ArchConfig(**TINY, q_lora_rank=24)
    assert (cfg.is_mla, cfg.attention_kind, cfg.head_dim, cfg.rotary_dim, cfg.value_head_dim) == (True, "MLA", 20, 8, 10)
    assert cfg.replace(qk_nope_head_dim=4).head_dim == 12  # re-derived, not kept at 20
    assert ArchConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize(
    "changes, words",
    [
        (dict(kv_lora_rank=None), ["qk_nope_head_dim, qk_rope_head_dim, v_head_dim set but kv_lora_rank is null"]),
        (dict(v_head_dim=None), ["v_head_dim is null"]),
        (dict(head_dim=16), ["head_dim=16", "qk_nope_head_dim + qk_rope_head_dim = 20", "remove head_dim"]),
        (dict(qk_rope_head_dim=7), ["qk_rope_head_dim=7 must be even"]),
        (dict(num_key_value_heads=2), ["num_key_value_heads=2 with MLA", "fix: remove num_key_value_heads"]),
        (dict(position_embedding="alibi"), ["position_embedding='alibi' with multi-head latent attention"]),
        (dict(partial_rotary_factor=0.5), ["partial_rotary_factor=0.5 with multi-head latent attention"]),
        (dict(qk_norm="head"), ["qk_norm='head' with multi-head latent attention"]),
        (dict(attn_logit_softcapping=5.0), ["attn_logit_softcapping=5.0 with multi-head latent attention"]),
        (dict(attention_scale=0.5), ["attention_scale=0.5 with multi-head latent attention"]),
        (dict(scale_attn_by_inverse_layer_idx=True), ["scale_attn_by_inverse_layer_idx=True with multi-head latent attention"]),
        (dict(clip_qkv=8.0), ["clip_qkv=8.0 with multi-head latent attention"]),
        (dict(kv_lora_rank=0), ["kv_lora_rank=0 must be at least 1"]),
        (dict(v_head_dim=2**30), ["num_attention_heads * (qk_nope_head_dim + v_head_dim)=", "fix: give at most"]),
    ],
)
def test_invalid_mla_settings_are_refused_with_a_fix(changes, words):
    with pytest.raises(ConfigError) as e:
        ArchConfig(**{**TINY, **changes})
    for w in words:
        assert w in str(e.value)
    assert "fix:" in str(e.value)


# --- sizes ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_count_equals_numel_and_the_cache_is_the_latent(name):
    model = model_for(name)
    cfg = model.config
    assert sum(p.numel() for p in model.parameters()) == count_params(cfg).total
    cache = KVCache(cfg, max_len=5)
    with torch.no_grad():
        model(ids(batch=1, seq=3), cache=cache)
    for layer, (latent, rope_key) in enumerate(zip(cache.keys, cache.values)):
        slots = min(5, cfg.sliding_window or 5) if cfg.layer_is_sliding(layer) else 5
        assert latent.shape == (1, 1, slots, cfg.kv_lora_rank), layer
        assert rope_key.shape == (1, 1, slots, cfg.qk_rope_head_dim), layer


def test_estimate_counts_and_labels_the_latent_kv_cache():
    cfg = ArchConfig(**TINY)
    est = estimate(cfg, seq_len=10, batch=3, dtype="bf16")
    per_layer_token = 16 + 8  # kv_lora_rank + qk_rope_head_dim
    assert est.kv_cache_bytes_per_token == 2 * 2 * per_layer_token
    assert est.kv_cache_bytes == 3 * 10 * 2 * 2 * per_layer_token
    assert est.kv_cache_holds == "MLA latent 16 + RoPE key 8"
    line = next(a for a in est.assumptions if a.startswith("KV cache"))
    assert "compressed latent" in line and "16 + 8 = 24 elements" in line
    assert "4·30 = 120 elements" in line  # heads · (qk head 20 + v head 10), the expanded K and V


def test_attention_flops_use_the_query_and_value_head_widths():
    cfg = ArchConfig(**TINY)
    per_pair = 2 * 4 * (20 + 10)  # 2 FLOPs per multiply-add, 4 heads, QKᵀ over 20 and AV over 10 features
    one_token = estimate(cfg, seq_len=1).flops["exact_causal"].forward_per_token
    matmuls = one_token - 2 * 1 * per_pair  # 2 layers, 1 (query, key) pair
    four_tokens = estimate(cfg, seq_len=4).flops["exact_causal"].forward_per_token
    assert four_tokens * 4 == pytest.approx(matmuls * 4 + 2 * 10 * per_pair)  # 10 causal pairs in 4 tokens


# --- the model ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
@torch.no_grad()
def test_cached_decoding_equals_full_recompute(name):
    model = model_for(name)
    x = ids()
    full = model(x)
    cache = KVCache(model.config, max_len=20)
    pieces = [model(x[:, :5], cache=cache), model(x[:, 5:8], cache=cache)]
    pieces += [model(x[:, i : i + 1], cache=cache) for i in range(8, 20)]
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_decoding_takes_the_absorbed_path_and_it_equals_the_expanded_one():
    model = model_for("q-lora-biases-interleaved")
    attn = model.layers[0].attn
    assert isinstance(attn, LatentAttention)
    calls = []
    attn.kv_b_proj.register_forward_hook(lambda *args: calls.append(1))
    cache = KVCache(model.config, max_len=7)
    model(ids(seq=6), cache=cache)
    assert len(calls) == 1  # the prefill expands the latents
    model(ids(seq=1, seed=1), cache=cache)
    assert len(calls) == 1  # the decoding step does not: W_UK and W_UV are folded in

    q_nope, q_rope = torch.randn(2, 4, 3, 12), torch.randn(2, 4, 3, 8)
    latent, rope_key = torch.randn(2, 1, 9, 16), torch.randn(2, 1, 9, 8)
    mask = torch.ones(3, 9, dtype=torch.bool).tril(diagonal=6)[None, None]
    expanded = attn._expanded(q_nope, q_rope, latent, rope_key, AttentionMask(tensor=mask))
    absorbed = attn._absorbed(q_nope, q_rope, latent, rope_key, AttentionMask(tensor=mask))
    torch.testing.assert_close(absorbed, expanded, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["direct-q", "layernorm-sliding-mixed"])
def test_left_padded_batch_equals_each_prompt_alone(name):
    model = model_for(name)
    prompts = [ids(1, n, seed=n)[0] for n in (7, 3, 5)]
    width = max(len(p) for p in prompts)
    x = torch.zeros(len(prompts), width, dtype=torch.long)
    mask = torch.zeros_like(x)
    for row, p in enumerate(prompts):
        x[row, width - len(p) :] = p
        mask[row, width - len(p) :] = 1
    batched = model.generate(x, max_new_tokens=10, attention_mask=mask)
    for row, p in enumerate(prompts):
        alone = model.generate(p[None], max_new_tokens=10)
        assert torch.equal(batched[row, width:], alone[0, len(p) :]), row


def test_softmax_scale_carries_yarn_mscale_all_dim():
    plain = ArchConfig(**TINY)
    assert softmax_scale(plain) == 20**-0.5
    yarn = plain.replace(rope_scaling={"rope_type": "yarn", "factor": 40.0, "mscale": 1.0, "mscale_all_dim": 1.0})
    mscale = 0.1 * 1.0 * torch.log(torch.tensor(40.0)).item() + 1.0
    assert softmax_scale(yarn) == pytest.approx(20**-0.5 * mscale**2)
    without = plain.replace(rope_scaling={"rope_type": "yarn", "factor": 40.0})
    assert softmax_scale(without) == 20**-0.5


def test_mla_trains():
    model = model_for("q-lora-biases-interleaved").train()
    x = ids()
    loss = model(x, labels=x).loss
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


def test_tensor_parallel_check_shards_heads_not_the_shared_latent():
    from archsmith.config import check_tensor_parallel

    problems = check_tensor_parallel(ArchConfig(**TINY), 3)
    assert [p.split("=")[0] for p in problems] == ["num_attention_heads", "vocab_size"]


@st.composite
def mla_configs(draw) -> ArchConfig:
    """MLA with every block option it combines with, tiny dimensions."""
    parallel = draw(st.booleans())
    norm_type = draw(st.sampled_from(["rmsnorm", "layernorm"]))
    window = draw(st.none() | st.integers(1, 6))
    return ArchConfig(
        vocab_size=VOCAB, hidden_size=draw(st.sampled_from([16, 24])), num_hidden_layers=draw(st.integers(1, 3)),
        num_attention_heads=draw(st.sampled_from([1, 2, 3])), intermediate_size=20, max_position_embeddings=24,
        q_lora_rank=draw(st.none() | st.sampled_from([4, 12])), kv_lora_rank=draw(st.sampled_from([4, 10])),
        qk_nope_head_dim=draw(st.sampled_from([2, 6])), qk_rope_head_dim=draw(st.sampled_from([2, 4])),
        v_head_dim=draw(st.sampled_from([3, 8])), qkv_bias=draw(st.booleans()), attn_out_bias=draw(st.booleans()),
        rope_interleaved=draw(st.booleans()), sliding_window=window,
        rope_scaling=draw(st.sampled_from([None, {"rope_type": "yarn", "factor": 4.0, "mscale": 0.5, "mscale_all_dim": 1.0}])),
        norm_type=norm_type, norm_bias=norm_type == "layernorm" and draw(st.booleans()), norm_weight=draw(st.booleans()),
        norm_scheme="pre" if parallel else draw(st.sampled_from(NORM_SCHEMES)),
        parallel_residual=parallel, parallel_shared_norm=parallel and draw(st.booleans()),
        mlp_type=draw(st.sampled_from(["gated", "plain"])), tie_word_embeddings=draw(st.booleans()),
    )  # fmt: skip


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=mla_configs(), seed=st.integers(0, 2**16))
@torch.no_grad()
def test_any_mla_config_counts_exactly_and_decodes_as_it_recomputes(cfg, seed):
    torch.manual_seed(seed)
    model = build_model(cfg).eval()
    assert sum(p.numel() for p in model.parameters()) == count_params(cfg).total
    assert sum(p.numel() for p in build_model(cfg, device="meta").parameters()) == count_params(cfg).total
    x = ids(2, 10, seed)
    cache = KVCache(cfg, max_len=10)
    stepped = torch.cat([model(x[:, :4], cache=cache)] + [model(x[:, i : i + 1], cache=cache) for i in range(4, 10)], dim=1)
    torch.testing.assert_close(stepped, model(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "name, total_b, activated_b",
    [
        ("deepseek-v3", 671, 37),  # DeepSeek-V3 technical report: 671B total, 37B activated per token
        ("deepseek-v2-lite", 15.7, 2.4),  # DeepSeek-V2 paper: V2-Lite 15.7B total, 2.4B activated
    ],
)
def test_deepseek_presets_match_their_papers(name, total_b, activated_b):
    """An independent check of the typed-in presets against the papers' rounded figures, where
    "activated" leaves out the input embedding (a lookup, not a matmul): 36.6B and 2.45B here."""
    from archsmith.presets import get_preset

    p = count_params(get_preset(name))
    assert p.total / 1e9 == pytest.approx(total_b, abs=0.05)
    assert (p.active - p.embedding) / 1e9 == pytest.approx(activated_b, rel=0.03)


def test_training_forward_compiles_as_one_graph():
    torch._dynamo.reset()
    model = model_for("q-lora-biases-interleaved").train()
    x = ids()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")  # fullgraph: any graph break fails
    out = compiled(x, labels=x)
    out.loss.backward()
    torch.testing.assert_close(out.logits, model(x), rtol=1e-5, atol=1e-5)
