"""ArchConfig validation: every failure names the field and proposes a concrete fix."""

from __future__ import annotations

import json

import pytest

from archsmith import ArchConfig, ConfigError, validate
from archsmith.config import check_tensor_parallel, closest_name, edit_distance, tensor_parallel_degrees

TINY = dict(vocab_size=256, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
            max_position_embeddings=128)


def problems_of(**overrides) -> list[str]:
    with pytest.raises(ConfigError) as info:
        ArchConfig(**{**TINY, **overrides})
    return info.value.problems


def test_defaults_resolve_like_transformers():
    cfg = ArchConfig(**TINY)
    assert cfg.head_dim == 16 and cfg.num_key_value_heads == 4 and cfg.attention_kind == "MHA"
    assert ArchConfig(**TINY, num_key_value_heads=1).attention_kind == "MQA"
    assert ArchConfig(**TINY, num_key_value_heads=2).attention_kind == "GQA"


def test_hidden_not_divisible_by_heads_suggests_sizes_and_head_counts():
    (msg,) = problems_of(hidden_size=4097, num_attention_heads=32)
    assert "hidden_size=4097" in msg and "num_attention_heads=32" in msg
    # pairs with head_dim 128 or 64 only: never the divisors of 4097 (head_dim 17 or 241)
    assert "hidden_size=4096, num_attention_heads=32 (head_dim 128)" in msg
    assert "hidden_size=4096, num_attention_heads=64 (head_dim 64)" in msg
    assert "17" not in msg.replace("4097", "") and "241" not in msg


def test_hidden_not_divisible_prefers_head_dim_64_or_128():
    (msg,) = problems_of(hidden_size=4096, num_attention_heads=48)
    assert "hidden_size=4096, num_attention_heads=32 (head_dim 128)" in msg
    assert "hidden_size=4096, num_attention_heads=64 (head_dim 64)" in msg


def test_explicit_head_dim_allows_any_width():
    cfg = ArchConfig(**{**TINY, "hidden_size": 72, "head_dim": 32})  # Gemma/Qwen3 style
    assert cfg.q_dim == 128 and cfg.hidden_size == 72


def test_kv_heads_must_divide_heads_suggests_divisors():
    (msg,) = problems_of(hidden_size=4096, num_attention_heads=32, num_key_value_heads=5)
    assert "num_key_value_heads=4 or 8" in msg


def test_every_problem_is_reported_at_once():
    problems = problems_of(hidden_size=4097, num_attention_heads=32, num_key_value_heads=5, hidden_act="swish2",
                           norm_type="batchnorm")
    assert len(problems) == 4
    assert any("hidden_act='swish2'" in p and "silu" in p for p in problems)
    assert any("norm_type='batchnorm'" in p and "rmsnorm, layernorm" in p for p in problems)
    assert str(ConfigError(problems)).startswith("4 problems")


@pytest.mark.parametrize(
    "name, value, fix",
    [
        ("position_embedding", "sinusoidal", "rope, alibi, learned, none"),
        ("norm_scheme", "middle", "pre, post, peri, reordered"),
        ("mlp_type", "moe", "gated, plain"),
        ("qk_norm", "yes", "none, head, full"),
        ("hidden_act", "gelu_fast", "silu, gelu, gelu_pytorch_tanh"),
    ],
)
def test_unknown_names_list_the_known_ones(name, value, fix):
    (msg,) = problems_of(**{name: value})
    assert f"{name}={value!r}" in msg and fix in msg


@pytest.mark.parametrize("name", ["vocab_size", "hidden_size", "num_hidden_layers", "intermediate_size",
                                  "max_position_embeddings"])
@pytest.mark.parametrize("value", [0, -3])
def test_sizes_must_be_positive(name, value):
    problems = problems_of(**{name: value})
    assert any(f"{name}={value} must be at least 1" in p for p in problems)


def test_rope_scaling_missing_keys_named():
    (msg,) = problems_of(rope_scaling={"rope_type": "llama3", "factor": 8.0})
    assert "missing high_freq_factor, low_freq_factor, original_max_position_embeddings" in msg
    assert "fix: add" in msg


def test_rope_scaling_unknown_keys_named_with_allowed():
    (msg,) = problems_of(rope_scaling={"rope_type": "linear", "factor": 2.0, "beta_fast": 32})
    assert "unknown keys beta_fast" in msg and "allowed: factor" in msg


def test_rope_scaling_unknown_type_lists_types():
    (msg,) = problems_of(rope_scaling={"rope_type": "ntk", "factor": 2.0})
    assert "rope_type='ntk'" in msg and "linear, dynamic, yarn, llama3, longrope" in msg


def test_rope_scaling_accepts_hf4_type_key():
    cfg = ArchConfig(**TINY, rope_scaling={"type": "dynamic", "factor": 2.0})
    assert cfg.rope_scaling == {"rope_type": "dynamic", "factor": 2.0} and cfg.rope_type == "dynamic"


def test_longrope_factor_lists_must_match_rotary_dim():
    (msg,) = problems_of(rope_scaling={"rope_type": "longrope", "short_factor": [1.0] * 3, "long_factor": [1.0] * 8})
    assert "short_factor has 3 entries" in msg and "needs 8" in msg


def test_alibi_with_rope_settings_is_refused():
    (msg,) = problems_of(position_embedding="alibi", rope_scaling={"rope_type": "linear", "factor": 2.0})
    assert "ALiBi together with RoPE" in msg and "remove rope_scaling" in msg


def test_alibi_before_scale_needs_alibi():
    (msg,) = problems_of(alibi_before_scale=True)
    assert "alibi_before_scale=true needs position_embedding='alibi'" in msg and "fix: alibi_before_scale=false" in msg


def test_odd_rotary_dimension_suggests_even_fractions():
    # head_dim 16 * 0.3 = 4.8 -> 4 is even, fine; 0.19 -> 3.04 -> 3 is odd
    (msg,) = problems_of(partial_rotary_factor=0.19)
    assert "rotary dimension 3" in msg and "partial_rotary_factor=0.125 or 0.25" in msg


def test_sliding_window_below_one():
    (msg,) = problems_of(sliding_window=0)
    assert "sliding_window=0 must be at least 1" in msg and "4096" in msg


def test_layer_types_must_match_layers_and_need_a_window():
    problems = problems_of(layer_types=["sliding_attention"])
    assert any("layer_types has 1 entries but num_hidden_layers=2" in p for p in problems)
    assert any("sliding_window is null" in p for p in problems)


def test_vocab_not_multiple_of_64_is_a_warning_with_padded_size():
    cfg = ArchConfig(**{**TINY, "vocab_size": 50257})
    (w,) = cfg.warnings()
    assert "vocab_size=50257" in w and "vocab_size=50304" in w
    assert validate(cfg) == [w]


def test_tensor_parallel_degree_must_divide_heads_kv_and_vocab():
    cfg = ArchConfig(**{**TINY, "hidden_size": 96, "num_attention_heads": 6, "num_key_value_heads": 3, "vocab_size": 250})
    problems = check_tensor_parallel(cfg, 2)
    assert len(problems) == 1  # 6 heads and 250 vocab divide; 3 KV heads neither divide over 2 nor divide 2
    assert "num_key_value_heads=3 neither divides" in problems[0] and "fix: num_key_value_heads=1 or 2," in problems[0]
    problems = check_tensor_parallel(cfg, 4)
    assert any("num_attention_heads=6" in p for p in problems)
    assert any("vocab_size=250" in p and "pad vocab_size to 256" in p for p in problems)
    with pytest.raises(ConfigError):
        validate(cfg, tp=4)
    (problem,) = check_tensor_parallel(cfg, 3)  # 6 heads and 3 KV heads split over 3; the vocab does not
    assert "vocab_size=250" in problem


def test_fewer_kv_heads_than_devices_are_replicated_not_refused():
    cfg = ArchConfig(**{**TINY, "num_attention_heads": 8, "num_key_value_heads": 2, "vocab_size": 256})
    assert check_tensor_parallel(cfg, 4) == [] and check_tensor_parallel(cfg, 8) == []
    degrees = tensor_parallel_degrees(cfg)
    assert list(degrees) == [1, 2, 4, 8]
    assert degrees[2] == "4 query heads and 1 KV heads per device"
    assert degrees[8] == "1 query heads per device; each KV head replicated on 4 devices"


def test_tensor_parallel_refuses_what_splitting_heads_cannot_compute():
    alibi = ArchConfig(**{**TINY, "position_embedding": "alibi"})
    assert check_tensor_parallel(alibi, 1) == []
    (problem,) = check_tensor_parallel(alibi, 2)
    assert "ALiBi" in problem and "fix:" in problem
    assert list(tensor_parallel_degrees(alibi)) == [1]


def test_tensor_parallel_valid_degree_passes():
    cfg = ArchConfig(**TINY)
    assert check_tensor_parallel(cfg, 2) == [] and check_tensor_parallel(cfg, 4) == []


def test_wrong_types_name_the_key():
    problems = problems_of(hidden_size="4096", tie_word_embeddings="yes", norm_eps=None)
    assert any(p.startswith("hidden_size: expected an integer") for p in problems)
    assert any(p.startswith("tie_word_embeddings: expected true/false") for p in problems)
    assert any(p.startswith("norm_eps: expected a finite number") for p in problems)


def test_bools_are_not_ints():
    (msg,) = problems_of(num_hidden_layers=True)
    assert msg.startswith("num_hidden_layers: expected an integer")


def test_unknown_key_in_archsmith_dict_says_did_you_mean():
    with pytest.raises(ConfigError) as info:
        ArchConfig.from_dict({**TINY, "num_hiden_layers": 3})
    assert "num_hiden_layers: unknown key; did you mean num_hidden_layers?" in str(info.value)


def test_broken_json_names_the_position():
    with pytest.raises(ConfigError) as info:
        ArchConfig.from_json('{"hidden_size": 64,\n "vocab_size": }')
    assert "broken JSON at line 2" in str(info.value)


def test_json_round_trip_is_lossless():
    cfg = ArchConfig(**TINY, rope_scaling={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 32},
                     sliding_window=16, layer_types=["sliding_attention", "full_attention"], qk_norm="head")
    again = ArchConfig.from_json(cfg.to_json())
    assert again == cfg and json.loads(again.to_json()) == json.loads(cfg.to_json())


def test_replace_revalidates_and_rederives_head_dim():
    cfg = ArchConfig(**TINY)
    wider = cfg.replace(hidden_size=128)
    assert wider.head_dim == 32
    with pytest.raises(ConfigError):
        cfg.replace(num_key_value_heads=3)


def test_edit_distance_and_closest_name():
    assert edit_distance("num_hiden_layers", "num_hidden_layers") == 1
    assert closest_name("hiden_size", {"hidden_size", "vocab_size"}) == "hidden_size"
    assert closest_name("completely_else", {"hidden_size"}) is None


def test_window_layout_has_one_spelling():
    all_sliding = ArchConfig(**TINY, sliding_window=8, layer_types=["sliding_attention"] * 2)
    assert all_sliding == ArchConfig(**TINY, sliding_window=8) and all_sliding.layer_types is None
    all_full = ArchConfig(**TINY, sliding_window=8, layer_types=["full_attention"] * 2)
    assert all_full == ArchConfig(**TINY) and all_full.sliding_window is None
    mixed = ArchConfig(**TINY, sliding_window=8, layer_types=["full_attention", "sliding_attention"])
    assert mixed.layer_types == ("full_attention", "sliding_attention")
    assert [mixed.layer_is_sliding(i) for i in range(2)] == [False, True]
