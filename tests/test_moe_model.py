"""The Mixture-of-Experts model: exact counts, routing and the load-balancing loss against transformers,
both grouped-matmul paths against a per-expert loop, cached decoding, training, compile, bf16."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from archsmith import ArchConfig, ConfigError, count_params
from archsmith.model import build_model
from archsmith.model.moe import Experts, MoE, _grouped_linear, _grouped_mm_fits, _padded_linear, load_balancing_loss
from archsmith.sizing import estimate, matmul_flops_per_token

VOCAB = 64
TINY = dict(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=2,
            intermediate_size=48, max_position_embeddings=64)
MOE = dict(TINY, num_experts=8, num_experts_per_tok=2, moe_intermediate_size=16)

VARIANTS = {
    "mixtral": dict(MOE, norm_topk_prob=True),
    "qwen2_moe": dict(MOE, n_shared_experts=1, shared_expert_intermediate_size=24, shared_expert_gate=True,
                      mlp_only_layers=[1]),
    "qwen3_moe-sparse-step": dict(MOE, decoder_sparse_step=2, norm_topk_prob=True),
    "deepseek_v3-routing": dict(MOE, num_experts_per_tok=3, scoring_func="sigmoid", norm_topk_prob=True,
                                routed_scaling_factor=2.5, router_correction_bias=True, n_group=4, topk_group=2,
                                n_shared_experts=2, first_k_dense_replace=1),
    "plain-experts": dict(MOE, mlp_type="plain", hidden_act="gelu", tie_word_embeddings=False),
}


def numel(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def ids(batch: int = 2, seq: int = 12, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, VOCAB, (batch, seq), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", list(VARIANTS))
def test_count_is_numel_and_active_is_what_a_token_uses(name):
    cfg = ArchConfig(**VARIANTS[name])
    model = build_model(cfg)
    p = count_params(cfg)
    assert numel(model) == p.total == numel(build_model(cfg, device="meta"))
    assert p.router == sum(m.router.weight.numel() for m in model.modules() if isinstance(m, MoE))
    experts = [m.experts for m in model.modules() if isinstance(m, MoE)]
    per_expert = sum(t.numel() for t in experts[0].parameters()) // cfg.num_experts
    assert p.inactive == len(experts) * (cfg.num_experts - cfg.num_experts_per_tok) * per_expert
    assert p.active == p.total - p.inactive < p.total


@st.composite
def moe_configs(draw) -> ArchConfig:
    """A valid MoE config from anywhere in the MoE option space, with tiny dimensions."""
    experts = draw(st.sampled_from([1, 2, 4, 6, 8]))
    groups = draw(st.sampled_from([g for g in (1, 2, 3) if experts % g == 0 and (g == 1 or experts // g >= 2)]))
    layers = draw(st.integers(1, 4))
    try:
        return ArchConfig(
            **{**TINY, "num_hidden_layers": layers}, mlp_type=draw(st.sampled_from(["gated", "plain"])),
            tie_word_embeddings=draw(st.booleans()),
            num_experts=experts, num_experts_per_tok=draw(st.integers(1, experts)),
            moe_intermediate_size=draw(st.sampled_from([None, 8, 20])),
            n_shared_experts=(shared := draw(st.integers(0, 2))),
            shared_expert_intermediate_size=draw(st.sampled_from([None, 12])) if shared else None,
            shared_expert_gate=shared > 0 and draw(st.booleans()),
            scoring_func=draw(st.sampled_from(["softmax", "sigmoid"])), norm_topk_prob=draw(st.booleans()),
            routed_scaling_factor=draw(st.sampled_from([1.0, 2.5])), router_correction_bias=draw(st.booleans()),
            n_group=groups, topk_group=draw(st.integers(1, groups)),
            first_k_dense_replace=draw(st.integers(0, 2)), decoder_sparse_step=draw(st.integers(1, 2)),
            mlp_only_layers=draw(st.lists(st.integers(0, layers - 1), max_size=2)),
        )  # fmt: skip
    except ConfigError:
        assume(False)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(cfg=moe_configs())
def test_any_moe_config_builds_counts_exactly_and_runs(cfg):
    model = build_model(cfg)
    p = count_params(cfg)
    assert numel(model) == p.total == numel(build_model(cfg, device="meta"))
    assert sum(isinstance(m, MoE) for m in model.modules()) == cfg.num_sparse_layers
    with torch.no_grad():
        assert torch.isfinite(model(ids(2, 6))).all()


def test_mixtral_8x7b_counts_its_published_total_and_active():
    cfg = ArchConfig(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                     num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=32768,
                     tie_word_embeddings=False, num_experts=8, num_experts_per_tok=2, norm_topk_prob=True)
    p = count_params(cfg)
    assert (p.total, p.active) == (46_702_792_704, 12_879_925_248)  # "46.7B total, 12.9B active" (Mistral AI)


def test_flops_follow_active_parameters_and_memory_the_total():
    cfg = ArchConfig(**VARIANTS["qwen2_moe"])
    p, h = count_params(cfg), cfg.hidden_size
    est = estimate(cfg, seq_len=16)
    assert est.flops["6N"].training_per_token == 6 * p.active
    assert est.weight_bytes["bf16"] == 2 * p.total and est.training_memory.optimizer == 8 * p.total
    # Every weight matmul once per token, times 2: attention, dense layer 1, two sparse layers (router,
    # 2 experts of 16, a shared expert of 24 and its gate), the LM head.
    attention = 2 * 3 * (h * 32 + 2 * h * 16 + 32 * h)
    dense = 2 * 3 * h * 48
    sparse = 2 * 2 * (h * 8 + 2 * 3 * h * 16 + 3 * h * 24 + h)
    assert matmul_flops_per_token(cfg) == attention + dense + sparse + 2 * h * VOCAB
    assert any("Mixture-of-Experts" in a for a in est.assumptions)


# --- routing and the aux loss against transformers ---------------------------------------------

transformers = pytest.importorskip("transformers")


def _router_pair(hf_module: str, hf_class: str, hf_kwargs: dict, ours: dict):
    import importlib

    config = transformers.AutoConfig.for_model(hf_kwargs.pop("model_type"), hidden_size=32, **hf_kwargs)
    theirs = getattr(importlib.import_module(f"transformers.models.{hf_module}"), hf_class)(config)
    mine = MoE(ArchConfig(**{**MOE, **ours})).router
    with torch.no_grad():
        theirs.weight.copy_(torch.randn(theirs.weight.shape, generator=torch.Generator().manual_seed(3)))
        mine.weight.copy_(theirs.weight)
        if mine.e_score_correction_bias is not None:
            theirs.e_score_correction_bias.copy_(torch.rand(8, generator=torch.Generator().manual_seed(4)) * 0.1)
            mine.e_score_correction_bias.copy_(theirs.e_score_correction_bias)
    return mine, theirs


@pytest.mark.parametrize(
    ("hf_module", "hf_class", "hf_kwargs", "ours"),
    [
        ("mixtral.modeling_mixtral", "MixtralTopKRouter", dict(model_type="mixtral", num_local_experts=8, num_experts_per_tok=2),
         dict(norm_topk_prob=True)),
        ("qwen2_moe.modeling_qwen2_moe", "Qwen2MoeTopKRouter", dict(model_type="qwen2_moe", num_experts=8, num_experts_per_tok=2), {}),
        ("deepseek_v3.modeling_deepseek_v3", "DeepseekV3TopkRouter",
         dict(model_type="deepseek_v3", n_routed_experts=8, num_experts_per_tok=3, n_group=4, topk_group=2, routed_scaling_factor=2.5),
         dict(num_experts_per_tok=3, scoring_func="sigmoid", norm_topk_prob=True, routed_scaling_factor=2.5,
              router_correction_bias=True, n_group=4, topk_group=2)),
    ],
)
def test_router_chooses_and_weighs_experts_as_transformers(hf_module, hf_class, hf_kwargs, ours):
    mine, theirs = _router_pair(hf_module, hf_class, dict(hf_kwargs), ours)
    x = torch.randn(40, 32, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        logits, weights, experts = mine(x)
        hf_logits, hf_weights, hf_experts = theirs(x)
    torch.testing.assert_close(logits, hf_logits.float(), rtol=0, atol=1e-6)
    # The same experts with the same weights, whatever order top-k lists them in.
    mine_order, theirs_order = experts.argsort(dim=-1), hf_experts.argsort(dim=-1)
    assert torch.equal(experts.gather(1, mine_order), hf_experts.gather(1, theirs_order))
    torch.testing.assert_close(weights.gather(1, mine_order), hf_weights.float().gather(1, theirs_order), rtol=0, atol=1e-6)


@pytest.mark.parametrize("padded", [False, True])
def test_load_balancing_loss_equals_transformers(padded):
    from transformers.models.mixtral.modeling_mixtral import load_balancing_loss_func

    g = torch.Generator().manual_seed(6)
    logits = [torch.randn(2 * 10, 8, generator=g) for _ in range(3)]
    mask = None
    if padded:
        mask = torch.ones(2, 10, dtype=torch.long)
        mask[0, :4] = 0
    ours = load_balancing_loss(logits, top_k=2, valid=mask)
    theirs = load_balancing_loss_func(tuple(logits), 8, 2, mask)
    torch.testing.assert_close(ours, theirs, rtol=1e-6, atol=1e-6)


# --- grouped matmuls --------------------------------------------------------------------------------


def _loop_reference(experts: Experts, x, chosen, weights):
    """The plain definition: each token through each of its experts, one at a time."""
    out = torch.zeros_like(x)
    for t in range(x.shape[0]):
        for slot in range(chosen.shape[1]):
            e = chosen[t, slot]
            if experts.gated:
                gate, up = (experts.gate_up_proj[e] @ x[t]).chunk(2)
                h = experts.act(gate) * up
            else:
                h = experts.act(experts.up_proj[e] @ x[t])
            out[t] += weights[t, slot] * (experts.down_proj[e] @ h)
    return out


@pytest.mark.parametrize("mlp_type", ["gated", "plain"])
def test_both_grouped_paths_equal_a_loop_over_experts(mlp_type, monkeypatch):
    experts = Experts(ArchConfig(**MOE, mlp_type=mlp_type))
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in experts.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    x = torch.randn(30, 32, generator=g)
    chosen = torch.randint(0, 6, (30, 2), generator=g)  # experts 6 and 7 get no token
    chosen[:, 1] = (chosen[:, 0] + 1 + chosen[:, 1] % 5) % 8
    weights = torch.rand(30, 2, generator=g)
    reference = _loop_reference(experts, x, chosen, weights)
    import archsmith.model.moe as moe

    for fits in (False, True):  # the padded bmm, then torch._grouped_mm (which runs fp32 on CPU too)
        monkeypatch.setattr(moe, "_grouped_mm_fits", lambda x, e, fits=fits: fits)
        torch.testing.assert_close(experts(x, chosen, weights), reference, rtol=1e-5, atol=1e-5)


def test_grouped_and_padded_linear_agree_with_gradients():
    g = torch.Generator().manual_seed(8)
    w = torch.randn(4, 16, 8, generator=g, requires_grad=True)
    x = torch.randn(11, 8, generator=g, requires_grad=True)
    sorted_experts = torch.tensor([0, 0, 0, 2, 2, 2, 2, 3, 3, 3, 3])  # expert 1 gets nothing
    counts = torch.bincount(sorted_experts, minlength=4)
    grads = []
    for linear in (_grouped_linear, _padded_linear):
        out = linear(x, w, counts, sorted_experts)
        torch.testing.assert_close(out, torch.einsum("ti,toi->to", x, w[sorted_experts]), rtol=1e-5, atol=1e-5)
        grads.append(torch.autograd.grad((out * out).sum(), (x, w)))
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_grouped_mm_is_chosen_for_aligned_bf16_only():
    aligned = Experts(ArchConfig(**MOE)).down_proj
    odd = Experts(ArchConfig(**{**MOE, "moe_intermediate_size": 12})).down_proj
    bf16 = torch.zeros(1, 32, dtype=torch.bfloat16)
    assert _grouped_mm_fits(bf16, aligned) == hasattr(torch, "_grouped_mm")
    assert not _grouped_mm_fits(bf16, odd) and not _grouped_mm_fits(bf16.float(), aligned)


# --- the model ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(VARIANTS))
def test_cached_generation_equals_recomputation(name):
    torch.manual_seed(0)
    model = build_model(ArchConfig(**VARIANTS[name])).eval()
    prompt = ids(2, 5, seed=1)
    generated = model.generate(prompt, max_new_tokens=8)
    with torch.no_grad():  # the same tokens, each step recomputing the whole sequence without a cache
        seq = prompt
        for _ in range(8):
            seq = torch.cat([seq, model(seq)[:, -1:].argmax(-1)], dim=1)
    assert torch.equal(generated, seq)


def test_aux_loss_is_added_to_the_loss_when_configured_and_trains_the_router():
    x = ids()
    torch.manual_seed(0)
    plain = build_model(ArchConfig(**VARIANTS["mixtral"]))
    out = plain(x, labels=x)
    assert out.aux_loss is None
    torch.manual_seed(0)
    with_aux = build_model(ArchConfig(**VARIANTS["mixtral"], output_router_logits=True, router_aux_loss_coef=0.02))
    aux = with_aux(x, labels=x)
    assert aux.aux_loss is not None and aux.aux_loss.item() >= 1.0  # E * sum(f * P) >= 1 with equality at balance
    torch.testing.assert_close(aux.loss, out.loss + 0.02 * aux.aux_loss)
    aux.loss.backward()
    router = with_aux.layers[0].mlp.router.weight
    assert router.grad is not None and router.grad.abs().sum() > 0
    assert with_aux.layers[0].mlp.experts.gate_up_proj.grad.abs().sum() > 0


def test_aux_loss_leaves_padding_out():
    torch.manual_seed(0)
    model = build_model(ArchConfig(**VARIANTS["mixtral"], output_router_logits=True))
    x = ids()
    mask = torch.ones_like(x)
    mask[0, :5] = 0
    assert not torch.allclose(model(x, labels=x).aux_loss, model(x, attention_mask=mask, labels=x).aux_loss)


def test_jitter_noise_acts_in_training_only():
    torch.manual_seed(0)
    model = build_model(ArchConfig(**VARIANTS["mixtral"], router_jitter_noise=0.5))
    x = ids()
    with torch.no_grad():
        assert not torch.equal(model(x), model(x))
        model.eval()
        assert torch.equal(model(x), model(x))


def test_correction_bias_is_a_saved_buffer_that_steers_the_choice():
    torch.manual_seed(0)
    model = build_model(ArchConfig(**VARIANTS["deepseek_v3-routing"])).eval()
    names = [n for n, _ in model.named_buffers() if "e_score_correction_bias" in n]
    assert names and all(n in model.state_dict() for n in names)
    x = ids()
    with torch.no_grad():
        before = model(x)
        for n in names:
            model.get_buffer(n)[:4] = 10.0  # only experts 0-3 can be chosen now
        assert not torch.allclose(before, model(x))


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_training_forward_compiles_as_one_graph(dtype):
    torch._dynamo.reset()
    cfg = ArchConfig(**{**MOE, "num_hidden_layers": 1}, n_shared_experts=1, shared_expert_gate=True, output_router_logits=True)
    model = build_model(cfg, dtype=dtype)
    x = ids()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    out = compiled(x, labels=x)
    out.loss.backward()
    tolerance = 1e-5 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(out.logits, model(x), rtol=tolerance, atol=tolerance)


def test_bf16_grouped_path_matches_fp32():
    torch.manual_seed(0)
    cfg = ArchConfig(**VARIANTS["mixtral"])
    model = build_model(cfg)
    bf16 = build_model(cfg, dtype=torch.bfloat16)
    bf16.load_state_dict(model.state_dict())
    x = ids()
    with torch.no_grad():
        diff = (bf16(x).float() - model(x)).abs().max().item()
    assert diff < 0.05


@pytest.mark.skipif(not torch.cuda.is_available(), reason="torch._grouped_mm's CUDA kernel needs a GPU")
@pytest.mark.parametrize("name", ["mixtral", "deepseek_v3-routing"])
def test_grouped_mm_on_cuda_bf16_matches_the_fp32_model(name, monkeypatch):
    """On a GPU the bf16 MoE takes torch._grouped_mm (asserted): its logits stay within bf16 rounding of
    the same weights in fp32 on CPU, and its gradients are finite."""
    import archsmith.model.moe as moe

    torch.manual_seed(0)
    cfg = ArchConfig(**{**VARIANTS[name], "moe_intermediate_size": 32})  # rows aligned for the grouped kernel
    reference = build_model(cfg).eval()
    with torch.no_grad():
        for p in reference.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    model = build_model(cfg, device="cuda", dtype=torch.bfloat16)
    model.load_state_dict({k: v.to(torch.bfloat16) for k, v in reference.state_dict().items()})
    x = ids(4, 32, seed=3)
    taken = []
    real = moe._grouped_linear
    monkeypatch.setattr(moe, "_grouped_linear", lambda *a: taken.append(1) or real(*a))
    logits = model(x.cuda(), labels=x.cuda())
    assert taken, "the bf16 CUDA MoE did not take torch._grouped_mm"
    with torch.no_grad():
        ref = reference(x)
    assert (logits.logits.float().cpu() - ref).abs().max() < 0.1
    logits.loss.backward()
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())
