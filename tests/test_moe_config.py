"""ArchConfig's Mixture-of-Experts knobs: which layers are sparse, derived sizes, and every refusal with its fix."""

from __future__ import annotations

import pytest

from archsmith import ArchConfig, ConfigError

TINY = dict(vocab_size=256, hidden_size=64, num_hidden_layers=6, num_attention_heads=4, intermediate_size=128,
            max_position_embeddings=128)
MOE = dict(TINY, num_experts=8, num_experts_per_tok=2)


def problems_of(**fields) -> list[str]:
    with pytest.raises(ConfigError) as info:
        ArchConfig(**fields)
    return info.value.problems


def test_expert_sizes_default_like_mixtral_and_deepseek():
    cfg = ArchConfig(**MOE)
    assert cfg.moe_intermediate_size == 128  # Mixtral: the experts are intermediate_size wide
    shared = ArchConfig(**MOE, moe_intermediate_size=32, n_shared_experts=2)
    assert shared.shared_expert_intermediate_size == 32 and shared.shared_expert_total_size == 64  # DeepSeek: n x expert size
    assert ArchConfig(**TINY).moe_intermediate_size is None


def test_sparse_layers_follow_every_hf_rule_at_once():
    cfg = ArchConfig(**MOE, first_k_dense_replace=1, decoder_sparse_step=2, mlp_only_layers=[5, 3, 3])
    assert [cfg.layer_is_sparse(i) for i in range(6)] == [False, True, False, False, False, False]
    assert cfg.num_sparse_layers == 1 and cfg.mlp_only_layers == (3, 5)
    assert ArchConfig(**MOE).num_sparse_layers == 6 and not ArchConfig(**TINY).is_moe


def test_num_sparse_layers_counts_without_visiting_layers_and_agrees_with_the_rule():
    for first, step, only in [(0, 1, ()), (3, 1, (4,)), (2, 3, (0, 5, 8)), (0, 4, (3,))]:
        cfg = ArchConfig(**{**MOE, "num_hidden_layers": 9}, first_k_dense_replace=first, decoder_sparse_step=step,
                         mlp_only_layers=only)
        assert cfg.num_sparse_layers == sum(cfg.layer_is_sparse(i) for i in range(9))


def test_round_trip_and_replace_rederive_expert_sizes():
    cfg = ArchConfig(**MOE, n_shared_experts=1)
    assert ArchConfig.from_dict(cfg.to_dict()) == cfg
    wider = cfg.replace(intermediate_size=256)
    assert wider.moe_intermediate_size == 256 and wider.shared_expert_intermediate_size == 256
    dense = cfg.replace(num_experts=0)
    assert dense == ArchConfig(**TINY)


def test_dense_config_refuses_moe_knobs_it_would_ignore():
    (msg,) = problems_of(**TINY, num_experts_per_tok=2, norm_topk_prob=True)
    assert "num_experts_per_tok, norm_topk_prob set but num_experts=0" in msg and "fix:" in msg


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (dict(num_experts_per_tok=9), "num_experts_per_tok=9 must be from 1 to num_experts=8 (each token uses that many of the experts); fix: num_experts_per_tok=8"),
        (dict(num_experts_per_tok=0), "fix: num_experts_per_tok=1"),
        (dict(n_group=3), "n_group=3 must divide num_experts=8 into equal groups; fix: n_group from 1, 2, 4, 8"),
        (dict(n_group=4, topk_group=5), "topk_group=5 must be from 1 to n_group=4; fix: topk_group=4"),
        (dict(n_group=8), "n_group=8 leaves 1 expert per group"),
        (dict(n_group=4, topk_group=1, num_experts_per_tok=3), "fix: topk_group >= 2"),
        (dict(topk_group=2), "topk_group=2 must be from 1 to n_group=1; fix: topk_group=1"),
        (dict(mlp_bias=True), "fix: mlp_bias=false"),
        (dict(shared_expert_gate=True), "shared_expert_gate set but n_shared_experts=0"),
        (dict(mlp_only_layers=[6]), "mlp_only_layers has 6, outside layers 0..5"),
        (dict(first_k_dense_replace=6), "no layer is sparse"),
        (dict(decoder_sparse_step=0), "decoder_sparse_step=0 must be >= 1"),
        (dict(routed_scaling_factor=0.0), "routed_scaling_factor=0.0 must be positive"),
        (dict(scoring_func="softplus"), "scoring_func='softplus' is not known; fix: use one of softmax, sigmoid"),
        (dict(router_jitter_noise=1.5), "router_jitter_noise=1.5 must be in [0, 1)"),
        (dict(router_aux_loss_coef=-1), "router_aux_loss_coef=-1.0 must be >= 0"),
        (dict(moe_intermediate_size=0), "moe_intermediate_size=0 must be at least 1"),
        (dict(num_experts=-1), "num_experts=-1 must be at least 1"),
        (dict(mlp_only_layers=["1"]), "mlp_only_layers: expected a list of integers"),
        (dict(num_experts=2**20, num_experts_per_tok=1, moe_intermediate_size=2**12),
         "num_experts * moe_intermediate_size=4294967296 is larger than"),
    ],
)
def test_each_moe_problem_is_named_with_a_fix(fields, expected):
    problems = problems_of(**{**MOE, **fields})
    assert any(expected in p for p in problems), problems
    assert all("fix:" in p for p in problems)
