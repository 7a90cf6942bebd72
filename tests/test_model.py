"""The PyTorch model: parameter counts, every config option, init, compile, bf16, errors."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from archsmith import ArchConfig, ConfigError, count_params
from archsmith.config import ACTIVATIONS, LAYER_TYPES, NORM_SCHEMES, POSITION_TYPES, QK_NORMS
from archsmith.errors import ArchsmithError, InputError, UnsupportedError
from archsmith.model import LMOutput, build_model
from archsmith.model.norms import Norm
from archsmith.model.positions import alibi_slopes, rope_parameters

VOCAB = 64
TINY = dict(
    vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    intermediate_size=48, max_position_embeddings=32,
)  # fmt: skip


def tiny(**changes) -> ArchConfig:
    return ArchConfig(**{**TINY, **changes})


def ids(batch: int = 2, seq: int = 16, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, seq), generator=torch.Generator().manual_seed(seed))


def numel(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Give every parameter values that depend only on its name and shape.

    Two models built from different configs then share the values of the parameters they
    have in common, so any output difference comes from the option itself; norms move
    away from identity, where a misplaced or ignored norm would go unnoticed.
    """
    for name, p in model.named_parameters():
        g = torch.Generator().manual_seed(seed + sum(map(ord, name)) * 7919 + p.numel())
        p.copy_(torch.randn(p.shape, generator=g) * (0.3 if "norm" in name or name.endswith("bias") else 0.15))
        if "norm" in name and name.endswith("weight"):
            p.add_(1.0)
    return model


# --- parameter counts ------------------------------------------------------------------------


@st.composite
def configs(draw) -> ArchConfig:
    """A valid config from anywhere in the option space, with tiny dimensions."""
    heads = draw(st.sampled_from([1, 2, 3, 4, 6]))
    kv_heads = draw(st.sampled_from([d for d in range(1, heads + 1) if heads % d == 0]))
    head_dim = draw(st.sampled_from([4, 8, 12]))
    explicit_head_dim = draw(st.booleans())
    hidden = draw(st.sampled_from([16, 24])) if explicit_head_dim else heads * head_dim
    layers = draw(st.integers(1, 3))
    position = draw(st.sampled_from(POSITION_TYPES))
    window = draw(st.none() | st.integers(1, 6))
    layer_types = None
    if window is not None and draw(st.booleans()):
        layer_types = tuple(draw(st.lists(st.sampled_from(LAYER_TYPES), min_size=layers, max_size=layers)))
    rope = {}
    if position == "rope":
        rotary_factor = draw(st.sampled_from([1.0, 0.5, 0.25]))
        rot = int(head_dim * rotary_factor)
        scaling = draw(st.sampled_from([None, "linear", "dynamic", "yarn", "llama3", "longrope"]))
        rope = dict(partial_rotary_factor=rotary_factor, rope_interleaved=draw(st.booleans()))
        rope["rope_scaling"] = {
            None: None,
            "linear": {"rope_type": "linear", "factor": 2.0},
            "dynamic": {"rope_type": "dynamic", "factor": 2.0},
            "yarn": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8},
            "llama3": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8},
            "longrope": {"rope_type": "longrope", "short_factor": [1.5] * max(rot // 2, 1), "long_factor": [4.0] * max(rot // 2, 1), "original_max_position_embeddings": 8},
        }[scaling]
        if layer_types is not None and draw(st.booleans()):  # Gemma 3: the sliding layers' own RoPE base
            rope["sliding_rope_theta"] = draw(st.sampled_from([100.0, 1e6]))
        if layers > 1 and draw(st.booleans()):  # SmolLM3-style NoPE layers
            rope["nope_layers"] = (draw(st.integers(0, layers - 1)),)
    norm_type = draw(st.sampled_from(["rmsnorm", "layernorm"]))
    norm_weight = draw(st.booleans())
    parallel = draw(st.booleans())
    try:
        return ArchConfig(
            vocab_size=VOCAB, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
            num_key_value_heads=kv_heads, head_dim=head_dim if explicit_head_dim else None,
            intermediate_size=draw(st.sampled_from([8, 20])), max_position_embeddings=24,
            qkv_bias=draw(st.booleans()), attn_out_bias=draw(st.booleans()), qk_norm=draw(st.sampled_from(QK_NORMS)),
            attention_scale=draw(st.none() | st.just(0.3)), scale_attn_by_inverse_layer_idx=draw(st.booleans()),
            clip_qkv=draw(st.none() | st.just(0.5)), word_embed_proj_dim=draw(st.none() | st.just(12)),
            sliding_window=window, layer_types=layer_types,
            attn_logit_softcapping=draw(st.none() | st.just(5.0)), final_logit_softcapping=draw(st.none() | st.just(3.0)),
            position_embedding=position, alibi_before_scale=position == "alibi" and draw(st.booleans()), **rope,
            norm_type=norm_type, norm_bias=norm_type == "layernorm" and draw(st.booleans()), norm_weight=norm_weight,
            norm_unit_offset=norm_weight and draw(st.booleans()), norm_weight_in_fp32=draw(st.booleans()),
            norm_scheme="pre" if parallel else draw(st.sampled_from(NORM_SCHEMES)), final_norm=draw(st.booleans()),
            mlp_type=draw(st.sampled_from(["gated", "plain"])), hidden_act=draw(st.sampled_from(ACTIVATIONS)), mlp_bias=draw(st.booleans()),
            parallel_residual=parallel, parallel_shared_norm=parallel and draw(st.booleans()),
            scale_embeddings=draw(st.booleans()), embedding_norm=draw(st.booleans()),
            tie_word_embeddings=draw(st.booleans()), lm_head_bias=draw(st.booleans()),
            embedding_multiplier=draw(st.sampled_from([1.0, 3.0])), residual_multiplier=draw(st.sampled_from([1.0, 0.5])),
            logit_scale=draw(st.sampled_from([1.0, 0.25])),
        )  # fmt: skip
    except ConfigError:
        assume(False)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(cfg=configs(), seed=st.integers(0, 2**16))
def test_any_config_builds_counts_exactly_and_ignores_left_padding(cfg, seed):
    model = randomise(build_model(cfg), seed).eval()
    assert numel(model) == count_params(cfg).total
    assert numel(build_model(cfg, device="meta")) == count_params(cfg).total

    # One padded batch (row 0 left-padded) gives the same logits as the unpadded row alone.
    x = ids(2, 12, seed)
    mask = torch.ones_like(x)
    mask[0, :5] = 0
    with torch.no_grad():
        batched = model(x, attention_mask=mask)
        alone = model(x[:1, 5:])
    assert batched.shape == (2, 12, VOCAB)
    assert torch.isfinite(batched).all()
    if cfg.rope_type != "longrope":  # LongRoPE picks its factor set from the whole batch's length, as HF does
        torch.testing.assert_close(batched[0, 5:], alone[0], rtol=1e-4, atol=1e-4)


def test_every_preset_counts_exactly():
    presets = pytest.importorskip("archsmith.presets")
    for name in presets.preset_names():
        cfg = presets.get_preset(name)
        assert numel(build_model(cfg, device="meta")) == count_params(cfg).total, name


def test_llama_405b_builds_on_meta_with_its_published_count():
    cfg = ArchConfig(
        vocab_size=128256, hidden_size=16384, num_hidden_layers=126, num_attention_heads=128, num_key_value_heads=8,
        intermediate_size=53248, max_position_embeddings=131072, rope_theta=500000.0, tie_word_embeddings=False,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
    )  # fmt: skip
    model = build_model(cfg, device="meta", dtype=torch.bfloat16)
    assert all(p.is_meta for p in model.parameters())
    assert numel(model) == count_params(cfg).total
    assert numel(model) == 405_853_388_800  # Llama-3.1-405B's published safetensors total


# --- every option changes the output and trains ------------------------------------------------

WINDOW_TYPES = ("sliding_attention", "full_attention")
OPTIONS = {
    "mqa": dict(num_key_value_heads=1),
    "mha": dict(num_key_value_heads=4),
    "head_dim": dict(head_dim=16),
    "qkv_bias": dict(qkv_bias=True),
    "attn_out_bias": dict(attn_out_bias=True),
    "qk_norm_head": dict(qk_norm="head"),
    "qk_norm_full": dict(qk_norm="full"),
    "qk_norm_per_head": dict(qk_norm="per_head"),
    "attention_scale": dict(attention_scale=0.9),
    "sliding_window": dict(sliding_window=4),
    "layer_types": dict(sliding_window=4, layer_types=WINDOW_TYPES),
    "attn_softcap": dict(attn_logit_softcapping=1.0),
    "final_softcap": dict(final_logit_softcapping=1.0),
    "alibi": dict(position_embedding="alibi"),
    "learned": dict(position_embedding="learned"),
    "no_positions": dict(position_embedding="none"),
    "rope_theta": dict(rope_theta=100.0),
    "rope_linear": dict(rope_scaling={"rope_type": "linear", "factor": 4.0}),
    "rope_dynamic": dict(max_position_embeddings=8, rope_scaling={"rope_type": "dynamic", "factor": 4.0}),
    "rope_yarn": dict(rope_scaling={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8}),
    "rope_llama3": dict(
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8}
    ),
    "rope_longrope": dict(rope_scaling={"rope_type": "longrope", "short_factor": [1.0, 2.0, 3.0, 4.0], "long_factor": [5.0] * 4}),
    "partial_rotary": dict(partial_rotary_factor=0.5),
    "rope_interleaved": dict(rope_interleaved=True),
    "nope_layers": dict(nope_layers=(1,)),
    "layernorm": dict(norm_type="layernorm"),
    "norm_eps": dict(norm_eps=0.5),
    "norm_bias": dict(norm_type="layernorm", norm_bias=True),
    "norm_no_weight": dict(norm_weight=False),
    "norm_unit_offset": dict(norm_unit_offset=True),
    "post_norm": dict(norm_scheme="post"),
    "peri_norm": dict(norm_scheme="peri"),
    "reordered_norm": dict(norm_scheme="reordered"),
    "normed_residual": dict(norm_scheme="normed_residual"),
    "qk_norm_per_head": dict(qk_norm="per_head", norm_type="layernorm", norm_bias=True),
    "attention_scale": dict(attention_scale=1.0),
    "scale_attn_by_inverse_layer_idx": dict(scale_attn_by_inverse_layer_idx=True),
    "clip_qkv": dict(clip_qkv=0.05),
    "word_embed_proj_dim": dict(word_embed_proj_dim=16),
    "no_final_norm": dict(final_norm=False),
    "plain_mlp": dict(mlp_type="plain"),
    **{f"act_{a}": dict(hidden_act=a) for a in ACTIVATIONS if a != "silu"},
    "mlp_bias": dict(mlp_bias=True),
    "parallel_residual": dict(parallel_residual=True),
    "parallel_shared_norm": dict(parallel_residual=True, parallel_shared_norm=True),
    "scale_embeddings": dict(scale_embeddings=True),
    "embedding_multiplier": dict(embedding_multiplier=3.0),
    "residual_multiplier": dict(residual_multiplier=0.5),
    "logit_scale": dict(logit_scale=0.5),
    "embedding_norm": dict(embedding_norm=True),
    "untied": dict(tie_word_embeddings=False),
    "lm_head_bias": dict(lm_head_bias=True),
}
TRAIN_ONLY = {  # dropout acts in training mode only
    "attention_dropout": dict(attention_dropout=0.5),
    "hidden_dropout": dict(hidden_dropout=0.5),
    "embedding_dropout": dict(embedding_dropout=0.5),
}


def _loss_and_logits(cfg: ArchConfig, x: torch.Tensor, train: bool, dtype=torch.float32):
    torch.manual_seed(0)
    model = randomise(build_model(cfg, dtype=dtype)).train(train)
    torch.manual_seed(1)  # the same dropout masks wherever both models draw them
    out = model(x, labels=x)
    return model, out


@pytest.mark.parametrize("name", [*OPTIONS, *TRAIN_ONLY])
def test_option_changes_output_and_trains(name):
    train = name in TRAIN_ONLY
    changes = {**OPTIONS, **TRAIN_ONLY}[name]
    x = ids(2, 16)  # longer than the sliding window (4) and the dynamic-NTK length (8)
    _, base = _loss_and_logits(tiny(), x, train)
    model, out = _loss_and_logits(tiny(**changes), x, train)
    assert isinstance(out, LMOutput) and out.logits.shape == (2, 16, VOCAB)
    assert not torch.allclose(out.logits, base.logits, atol=1e-6), f"{name} did not change the logits"
    out.loss.backward()
    assert torch.isfinite(out.loss)
    for pname, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), pname
        assert p.grad.abs().sum() > 0, f"{pname} gets no gradient"


def test_sliding_rope_theta_changes_only_the_sliding_layers():
    """Gemma 3's local base: a sliding layer's own RoPE changes the output, and with every
    sliding layer a NoPE layer it has nothing left to change."""
    x = ids(2, 16)
    windows = dict(sliding_window=4, layer_types=WINDOW_TYPES)
    with torch.no_grad():
        _, same = _loss_and_logits(tiny(**windows), x, False)
        _, local = _loss_and_logits(tiny(**windows, sliding_rope_theta=100.0), x, False)
        _, nope = _loss_and_logits(tiny(**windows, nope_layers=(0,)), x, False)
        _, nope_local = _loss_and_logits(tiny(**windows, nope_layers=(0,), sliding_rope_theta=100.0), x, False)
    assert not torch.allclose(same.logits, local.logits, atol=1e-6)
    assert torch.equal(nope.logits, nope_local.logits)


def test_per_layer_rope_fields_have_one_spelling():
    windows = dict(sliding_window=4, layer_types=WINDOW_TYPES)
    assert tiny(**windows, sliding_rope_theta=10000.0) == tiny(**windows)  # the full layers' base anyway
    assert tiny(sliding_rope_theta=100.0) == tiny()  # no sliding layer
    every = tiny(sliding_window=4, sliding_rope_theta=100.0, sliding_rope_scaling={"type": "linear", "factor": 2.0})
    assert every == tiny(sliding_window=4, rope_theta=100.0, rope_scaling={"rope_type": "linear", "factor": 2.0})
    assert tiny(nope_layers=[1, 1]).nope_layers == (1,) and tiny(nope_layers=[]).nope_layers is None
    assert tiny(attention_scale=8**-0.5) == tiny()  # head_dim 8: the default scale spelled out


def test_per_layer_rope_fields_are_checked():
    with pytest.raises(ConfigError) as e:
        tiny(nope_layers=(0, 1))
    assert "position_embedding='none'" in str(e.value)
    with pytest.raises(ConfigError) as e:
        tiny(nope_layers=(2,), sliding_rope_scaling={"rope_type": "linear", "factor": 2.0})
    assert "outside the layers 0..1" in str(e.value) and "set sliding_rope_theta too" in str(e.value)
    with pytest.raises(ConfigError) as e:
        tiny(position_embedding="alibi", nope_layers=(1,))
    assert "nope_layers" in str(e.value)


def test_alibi_before_scale_changes_the_bias():
    """Falcon's ALiBi (added before the 1/sqrt(head_dim) scale) is weaker than Bloom's by that factor."""
    x = ids(2, 16)
    with torch.no_grad():
        _, bloom = _loss_and_logits(tiny(position_embedding="alibi"), x, False)
        _, falcon = _loss_and_logits(tiny(position_embedding="alibi", alibi_before_scale=True), x, False)
    assert not torch.allclose(bloom.logits, falcon.logits, atol=1e-6)


def test_norm_weight_in_fp32_changes_bf16_rounding():
    x = ids(2, 16)
    with torch.no_grad():
        _, base = _loss_and_logits(tiny(), x, False, torch.bfloat16)
        _, fp32 = _loss_and_logits(tiny(norm_weight_in_fp32=True), x, False, torch.bfloat16)
    assert not torch.equal(base.logits, fp32.logits)


def test_norm_casting_orders_match_their_families():
    """Llama casts before the weight; OLMo-2 and Gemma multiply in fp32 and cast after."""
    x = torch.randn(3, 16, dtype=torch.bfloat16) * 3
    w = (torch.randn(16) * 0.5 + 1).to(torch.bfloat16)
    xf = x.float()
    normed = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-6)
    expected = {
        (False, False): w * normed.to(torch.bfloat16),  # Llama
        (True, False): (w * normed).to(torch.bfloat16),  # OLMo-2
        (True, True): (normed * (1.0 + w.float())).to(torch.bfloat16),  # Gemma
    }
    for (fp32, offset), want in expected.items():
        norm = Norm(16, tiny(norm_eps=1e-6, norm_weight_in_fp32=fp32, norm_unit_offset=offset)).to(torch.bfloat16)
        with torch.no_grad():
            norm.weight.copy_(w)
        assert torch.equal(norm(x), want), (fp32, offset)


def test_initializer_range_sets_the_init_scale():
    small, large = build_model(tiny(initializer_range=0.01)), build_model(tiny(initializer_range=0.1))
    ratio = large.embed_tokens.weight.std() / small.embed_tokens.weight.std()
    assert 8 < ratio < 12


@pytest.mark.parametrize("softcap", [None, 5.0])
def test_gqa_with_repeated_kv_heads_equals_mha(softcap):
    """Query head h reads kv head h // group: an MHA copy with each kv head repeated matches."""
    gqa = randomise(build_model(tiny(num_key_value_heads=2, attn_logit_softcapping=softcap))).eval()
    mha = build_model(tiny(num_key_value_heads=4, attn_logit_softcapping=softcap)).eval()
    head_dim, group = 8, 2
    state = {}
    for name, value in gqa.state_dict().items():
        if ".qkv_proj." in name:  # rows [kv_heads, (group query heads, key, value), head_dim]
            rest = value.shape[1:]
            grouped = value.view(2, group + 2, head_dim, *rest)
            q = grouped[:, :group].reshape(4, head_dim, *rest)
            k, v = (grouped[:, i].repeat_interleave(group, dim=0) for i in (group, group + 1))
            value = torch.stack([q, k, v], dim=1).reshape(-1, *rest)  # MHA: groups of one query head
        state[name] = value
    mha.load_state_dict(state)
    x = ids(2, 16)
    with torch.no_grad():
        torch.testing.assert_close(mha(x), gqa(x), rtol=1e-5, atol=1e-5)


# --- weights and init ---------------------------------------------------------------------------


def test_init_rules():
    cfg = tiny(num_hidden_layers=8, hidden_size=128, intermediate_size=256, qkv_bias=True, norm_type="layernorm", norm_bias=True)
    model = build_model(cfg)
    std = cfg.initializer_range
    assert math.isclose(model.layers[0].attn.qkv_proj.weight.std().item(), std, rel_tol=0.05)
    residual = std / math.sqrt(2 * cfg.num_hidden_layers)
    assert math.isclose(model.layers[0].attn.o_proj.weight.std().item(), residual, rel_tol=0.05)
    assert math.isclose(model.layers[0].mlp.down_proj.weight.std().item(), residual, rel_tol=0.05)
    assert torch.all(model.layers[0].attn.qkv_proj.bias == 0)
    assert torch.all(model.layers[0].attn_norm.weight == 1) and torch.all(model.layers[0].attn_norm.bias == 0)
    gemma = build_model(tiny(norm_unit_offset=True))
    assert torch.all(gemma.norm.weight == 0)


def test_tied_head_is_the_embedding_parameter_even_after_to_empty():
    model = build_model(tiny(), device="meta")
    assert model.lm_head.weight is model.embed_tokens.weight
    model.to_empty(device="cpu")
    model.init_weights()
    assert model.lm_head.weight is model.embed_tokens.weight
    assert numel(model) == count_params(tiny()).total
    untied = build_model(tiny(tie_word_embeddings=False))
    assert untied.lm_head.weight is not untied.embed_tokens.weight
    with torch.no_grad():  # an untied head is its own parameter: changing it leaves the embedding alone
        untied.lm_head.weight.add_(1.0)
    assert not torch.equal(untied.lm_head.weight, untied.embed_tokens.weight)
    assert numel(untied) == count_params(tiny(tie_word_embeddings=False)).total


@pytest.mark.parametrize("changes", [{}, {"rope_scaling": {"rope_type": "longrope", "short_factor": [1.0] * 4, "long_factor": [3.0] * 4}}])
def test_meta_model_materialises_with_rope_tables_recomputed(changes):
    reference = build_model(tiny(**changes))
    model = build_model(tiny(**changes), device="meta")
    model.to_empty(device="cpu")
    model.init_weights()
    for name, buffer in reference.named_buffers():
        assert torch.equal(dict(model.named_buffers())[name], buffer), name
    model.load_state_dict(reference.state_dict())
    x = ids()
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)
    assert all(not b.is_meta for b in model.buffers())
    assert "rotary.cos" not in reference.state_dict()  # non-persistent: never in a checkpoint


def test_dtype_of_the_built_model():
    model = build_model(tiny(), dtype="bfloat16")
    assert all(p.dtype == torch.bfloat16 for p in model.parameters())
    assert model(ids()).dtype == torch.bfloat16


# --- forward API ------------------------------------------------------------------------------


def test_forward_returns_logits_or_loss_and_logits():
    model = build_model(tiny())
    x = ids()
    logits = model(x)
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 16, VOCAB)
    labels = x.clone()
    labels[:, :5] = -100
    out = model(x, labels=labels)
    expected = torch.nn.functional.cross_entropy(out.logits[:, :-1].reshape(-1, VOCAB), labels[:, 1:].reshape(-1), ignore_index=-100)
    torch.testing.assert_close(out.loss, expected)
    torch.testing.assert_close(out.logits, logits)  # labels change what is returned, not the logits


def test_position_ids_are_honoured():
    model = randomise(build_model(tiny())).eval()
    x = ids(1, 8)
    with torch.no_grad():
        default = model(x)
        same = model(x, position_ids=torch.arange(8)[None])
        shifted = model(x, position_ids=torch.arange(3, 11)[None])
    torch.testing.assert_close(default, same, rtol=0, atol=0)
    assert not torch.allclose(default, shifted)


def test_rope_runs_past_its_table_and_dynamic_ntk_rescales():
    model = build_model(tiny(max_position_embeddings=8))
    assert model(ids(1, 20)).shape == (1, 20, VOCAB)  # RoPE extends by computing the extra angles
    cfg = tiny(max_position_embeddings=8, rope_scaling={"rope_type": "dynamic", "factor": 2.0})
    short, _ = rope_parameters(cfg)
    grown, _ = rope_parameters(cfg, seq_len=20)
    assert torch.all(grown[1:] < short[1:])  # a larger base: lower frequencies once past the original length


# --- the math matches transformers -------------------------------------------------------------

ROPE_SCALINGS = {
    "linear": {"rope_type": "linear", "factor": 2.0},
    "dynamic": {"rope_type": "dynamic", "factor": 2.0},
    "yarn": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8},
    "yarn-mscale": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 8, "mscale": 0.707, "mscale_all_dim": 1.0, "beta_fast": 16, "truncate": False},
    "yarn-attention-factor": {"rope_type": "yarn", "factor": 2.0, "attention_factor": 1.3},
    "llama3": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8},
    "longrope": {"rope_type": "longrope", "short_factor": [1.0, 1.5, 2.0, 2.5], "long_factor": [3.0, 4.0, 5.0, 6.0], "original_max_position_embeddings": 8},
    "longrope-factor": {"rope_type": "longrope", "short_factor": [1.0] * 4, "long_factor": [2.0] * 4, "factor": 3.0, "attention_factor": 1.1},
}  # fmt: skip


@pytest.mark.parametrize("name", ROPE_SCALINGS)
@pytest.mark.parametrize("seq_len", [None, 10, 40])
def test_rope_frequencies_equal_transformers(name, seq_len):
    transformers = pytest.importorskip("transformers")
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    scaling = ROPE_SCALINGS[name]
    cfg = tiny(hidden_size=64, max_position_embeddings=32, partial_rotary_factor=0.5, rope_theta=500.0, rope_scaling=scaling)
    hf_cfg = transformers.LlamaConfig(
        hidden_size=cfg.hidden_size, num_attention_heads=cfg.num_attention_heads, max_position_embeddings=32,
        rope_parameters={**scaling, "rope_theta": 500.0, "partial_rotary_factor": 0.5},
    )  # fmt: skip
    hf_freq, hf_scale = ROPE_INIT_FUNCTIONS[scaling["rope_type"]](hf_cfg, "cpu", seq_len=seq_len)
    freq, scale = rope_parameters(cfg, seq_len)
    assert torch.equal(freq, hf_freq)
    assert scale == hf_scale


def test_alibi_slopes_equal_bloom_for_any_head_count():
    pytest.importorskip("transformers")
    from transformers.models.bloom.modeling_bloom import _get_alibi_slopes

    for heads in range(1, 41):
        assert torch.equal(alibi_slopes(heads), _get_alibi_slopes(heads, torch.device("cpu"))), heads


# --- compile and bf16 ------------------------------------------------------------------------


@pytest.mark.parametrize("changes", [{}, dict(attn_logit_softcapping=5.0, sliding_window=4, position_embedding="learned")])
def test_training_forward_compiles_as_one_graph(changes):
    torch._dynamo.reset()
    model = build_model(tiny(**changes))
    x = ids()
    # aot_eager traces forward and backward like inductor does (fullgraph fails on any graph
    # break) without spending a minute generating C++ for a toy model.
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    out = compiled(x, labels=x)
    out.loss.backward()
    torch.testing.assert_close(out.logits, model(x), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "changes",
    [{}, dict(position_embedding="alibi", attn_logit_softcapping=30.0, sliding_window=1024, norm_scheme="peri", norm_weight_in_fp32=True)],
)
def test_bf16_long_sequence_stays_finite(changes):
    cfg = tiny(hidden_size=16, num_attention_heads=2, num_key_value_heads=1, intermediate_size=16, num_hidden_layers=1, max_position_embeddings=4096, **changes)
    model = build_model(cfg, dtype=torch.bfloat16)
    x = torch.randint(0, VOCAB, (1, 4096))
    out = model(x, labels=x)
    assert torch.isfinite(out.logits).all() and torch.isfinite(out.loss)
    out.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters())


# --- refusals ---------------------------------------------------------------------------------


def test_bad_inputs_raise_archsmith_errors_naming_the_limit():
    model = build_model(tiny())
    with pytest.raises(InputError, match="vocab_size=64"):
        model(torch.tensor([[1, 64]]))
    with pytest.raises(InputError, match="token id -1"):
        model(torch.tensor([[-1, 3]]))
    with pytest.raises(InputError, match="integer tensor"):
        model(torch.zeros(1, 4))
    with pytest.raises(InputError, match=r"\[batch, seq\]"):
        model(torch.tensor([1, 2, 3]))
    with pytest.raises(InputError, match="attention_mask"):
        model(ids(), attention_mask=torch.ones(2, 3))
    with pytest.raises(InputError, match="labels"):
        model(ids(), labels=ids()[:, :4])
    learned = build_model(tiny(position_embedding="learned", max_position_embeddings=8))
    with pytest.raises(InputError, match="max_position_embeddings=8"):
        learned(ids(1, 9))
    with pytest.raises(UnsupportedError, match="dtype"):
        build_model(tiny(), dtype=torch.int32)
    with pytest.raises(UnsupportedError, match="device"):
        build_model(tiny(), device="no-such-device")
    if not torch.cuda.is_available():
        with pytest.raises(UnsupportedError, match="cuda"):
            build_model(tiny(), device="cuda")
    with pytest.raises(ConfigError):
        build_model({"hidden_size": 32})
    assert issubclass(InputError, ValueError) and issubclass(InputError, ArchsmithError)


def test_build_model_is_a_lazy_top_level_export():
    import subprocess
    import sys

    code = "import sys, archsmith; assert 'torch' not in sys.modules; archsmith.build_model; assert 'torch' in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
