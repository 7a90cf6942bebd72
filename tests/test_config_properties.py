"""Properties of ArchConfig over the whole option space (hypothesis)."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from archsmith import ArchConfig, ConfigError
from archsmith.config import ACTIVATIONS, MLP_TYPES, NORM_SCHEMES, QK_NORMS


@st.composite
def valid_configs(draw) -> ArchConfig:
    """Any valid config: every knob drawn, sizes kept consistent by construction."""
    kv = draw(st.sampled_from([1, 2, 4]))
    heads = kv * draw(st.sampled_from([1, 2, 3]))
    head_dim = draw(st.sampled_from([8, 16, 32]))
    explicit_head_dim = draw(st.booleans())
    hidden = draw(st.sampled_from([24, 64, 96])) if explicit_head_dim else heads * head_dim
    layers = draw(st.integers(1, 4))
    position = draw(st.sampled_from(["rope", "alibi", "learned", "none"]))
    rope = {}
    if position == "rope":
        rope["rope_theta"] = draw(st.sampled_from([10000.0, 500000.0, 1e6]))
        rope["partial_rotary_factor"] = draw(st.sampled_from([1.0, 0.5, 0.25]))
        rope["rope_interleaved"] = draw(st.booleans())
        rotary = int(head_dim * rope["partial_rotary_factor"])
        scalings = [
            None,
            {"rope_type": "linear", "factor": 2.0},
            {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 64},
            {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
             "original_max_position_embeddings": 64},
            {"rope_type": "longrope", "short_factor": [1.0] * (rotary // 2),
             "long_factor": [2.0] * (rotary // 2), "original_max_position_embeddings": 64},
        ]
        if rotary >= 4:  # dynamic NTK raises the base to dim / (dim - 2): a rotary dim of 2 is refused
            scalings.append({"rope_type": "dynamic", "factor": 4.0})
        rope["rope_scaling"] = draw(st.sampled_from(scalings))
    window = draw(st.one_of(st.none(), st.integers(1, 256)))
    layer_types = None
    if window is not None and draw(st.booleans()):
        layer_types = draw(st.lists(st.sampled_from(["full_attention", "sliding_attention"]), min_size=layers,
                                    max_size=layers))
    norm_type = draw(st.sampled_from(["rmsnorm", "layernorm"]))
    norm_weight = draw(st.booleans())
    scheme = draw(st.sampled_from(NORM_SCHEMES))
    parallel = scheme == "pre" and draw(st.booleans())
    return ArchConfig(
        vocab_size=draw(st.integers(1, 4096)),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        head_dim=head_dim if explicit_head_dim else None,
        intermediate_size=draw(st.integers(1, 512)),
        max_position_embeddings=draw(st.integers(1, 8192)),
        qkv_bias=draw(st.booleans()),
        attn_out_bias=draw(st.booleans()),
        qk_norm=draw(st.sampled_from(QK_NORMS)),
        sliding_window=window,
        layer_types=layer_types,
        attn_logit_softcapping=draw(st.one_of(st.none(), st.floats(1.0, 100.0))),
        final_logit_softcapping=draw(st.one_of(st.none(), st.floats(1.0, 100.0))),
        position_embedding=position,
        alibi_before_scale=position == "alibi" and draw(st.booleans()),
        **rope,
        norm_type=norm_type,
        norm_eps=draw(st.sampled_from([1e-5, 1e-6, 1e-12])),
        norm_bias=norm_type == "layernorm" and draw(st.booleans()),
        norm_weight=norm_weight,
        norm_unit_offset=norm_weight and draw(st.booleans()),
        norm_weight_in_fp32=draw(st.booleans()),
        norm_scheme=scheme,
        final_norm=draw(st.booleans()),
        mlp_type=draw(st.sampled_from(MLP_TYPES)),
        hidden_act=draw(st.sampled_from(ACTIVATIONS)),
        mlp_bias=draw(st.booleans()),
        parallel_residual=parallel,
        parallel_shared_norm=parallel and draw(st.booleans()),
        scale_embeddings=draw(st.booleans()),
        embedding_norm=draw(st.booleans()),
        tie_word_embeddings=draw(st.booleans()),
        lm_head_bias=draw(st.booleans()),
        attention_scale=draw(st.one_of(st.none(), st.floats(0.01, 2.0))),
        scale_attn_by_inverse_layer_idx=draw(st.booleans()),
        clip_qkv=draw(st.one_of(st.none(), st.floats(0.1, 100.0))),
        word_embed_proj_dim=draw(st.one_of(st.none(), st.integers(1, 256))),
        attention_dropout=draw(st.sampled_from([0.0, 0.1])),
        initializer_range=draw(st.sampled_from([0.02, 0.006])),
        name=draw(st.one_of(st.none(), st.text(max_size=12))),
    )


@settings(max_examples=300, deadline=None)
@given(valid_configs())
def test_valid_configs_survive_a_json_round_trip_unchanged(cfg):
    text = cfg.to_json()
    again = ArchConfig.from_json(text)
    assert again == cfg
    assert again.to_json() == text


# Values of every kind, most of them wrong for most fields.
ANY_VALUE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    st.lists(st.integers(-2, 5), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=2),
    st.sampled_from(["rope", "alibi", "silu", "layernorm", "post", "head", "full_attention", "yarn"]),
)
FIELDS = [f.name for f in dataclasses.fields(ArchConfig)]


@settings(max_examples=400, deadline=None)
@given(valid_configs(), st.dictionaries(st.sampled_from(FIELDS), ANY_VALUE, min_size=1, max_size=4))
def test_any_mutation_is_either_valid_or_a_config_error(cfg, changes):
    """Whatever a user writes into any fields, the only failure is a ConfigError naming a problem."""
    data = {**cfg.to_dict(), **changes}
    try:
        mutated = ArchConfig.from_dict(data)
    except ConfigError as e:
        assert e.problems and all(isinstance(p, str) and p for p in e.problems)
    else:
        assert ArchConfig.from_json(mutated.to_json()) == mutated


@settings(max_examples=200, deadline=None)
@given(valid_configs(), st.sampled_from(["num_hidden_layers", "hidden_size", "vocab_size", "intermediate_size"]),
       st.integers(-100, 0))
def test_generated_invalid_configs_raise_config_error(cfg, field, bad):
    data = cfg.to_dict()
    data[field] = bad
    try:
        ArchConfig.from_dict(data)
    except ConfigError as e:
        assert any(field in p for p in e.problems)
    else:
        raise AssertionError(f"{field}={bad} was accepted")


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_arbitrary_json_text_never_escapes_as_another_exception(text):
    try:
        ArchConfig.from_json(text)
    except ConfigError:
        pass
    else:
        json.loads(text)  # it only succeeds on a valid JSON object of known keys
