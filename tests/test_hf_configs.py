"""Reading real HF config.json files: exact parameter counts and settings against transformers.

The fixtures in fixtures/hf_configs/ are real config.json files in their published 4.x form
(``<name>.json``; a few ``<name>-<quirk>.json`` variants are hand-edited from them) and, for
every family with RoPE, the same model as transformers 5.23 saves it (``<name>.v5.json``:
``rope_parameters``, ``dtype``, every class field spelled out).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM

from archsmith import ConfigError, UnsupportedError, count_params, load_config
from archsmith.hf import SUPPORTED_MODEL_TYPES, from_hf_config
from archsmith.hf.export_config import plan_export

transformers.logging.set_verbosity_error()

FIXTURES = Path(__file__).parent / "fixtures" / "hf_configs"
FILES = sorted(FIXTURES.glob("*.json"))
V5_FILES = [f for f in FILES if f.name.endswith(".v5.json")]


def transformers_loadable(d: dict) -> dict:
    """transformers 5.23 renames Phi-3's old rope type "su" to longrope only after filling in
    longrope's defaults, so it cannot load the original Phi-3-128k file; give it the new name."""
    scaling = d.get("rope_scaling")
    if d["model_type"] == "phi3" and isinstance(scaling, dict) and scaling.get("type") == "su":
        return {**d, "rope_scaling": {**scaling, "type": "longrope"}}
    return d


def hf_model_params(d: dict) -> tuple[int, object, object]:
    """Parameter count of transformers' own model for ``d``, built on the meta device (no memory)."""
    hf_config = AutoConfig.for_model(**transformers_loadable(d))
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config)
    return sum(p.numel() for p in model.parameters()), hf_config, model  # parameters() counts a tied head once


def test_fixtures_cover_every_family_in_both_forms():
    model_types = {json.loads(f.read_text())["model_type"] for f in FILES}
    assert model_types == set(SUPPORTED_MODEL_TYPES)
    published = [f for f in FILES if not f.name.endswith(".v5.json")]
    assert len(published) >= 20
    for f in published:
        has_rope = json.loads(f.read_text())["model_type"] not in ("gpt2", "bloom", "mpt", "opt", "gpt_bigcode")
        if has_rope and f.stem != "phi-3-mini-128k":  # its 5.x twin is phi-3-mini-128k-longrope.v5.json
            assert f.with_name(f.stem + ".v5.json").exists(), f.name


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_count_equals_transformers(path):
    d = json.loads(path.read_text())
    cfg = load_config(path)
    expected, _, model = hf_model_params(d)
    breakdown = count_params(cfg)
    assert breakdown.total == expected
    # each component against transformers' own modules, not against the breakdown's arithmetic
    norms = sum(p.numel() for m in model.modules() if "norm" in type(m).__name__.lower()
                for p in m.parameters(recurse=False))
    assert breakdown.norm == norms
    head = model.get_output_embeddings().weight
    tied = head is model.get_input_embeddings().weight
    assert tied == cfg.tie_word_embeddings
    assert breakdown.lm_head == (0 if tied else head.numel() + (model.lm_head.bias.numel()
                                                               if getattr(model.lm_head, "bias", None) is not None else 0))
    # Mixture-of-Experts: routers, and the routed experts a token skips, from transformers' own modules
    routers = [m for m in model.modules() if type(m).__name__.lower().endswith("topkrouter")]
    assert breakdown.router == sum(m.weight.numel() for m in routers)
    experts = [m for m in model.modules() if type(m).__name__.endswith("Experts")]
    skipped = sum(sum(p.numel() for p in m.parameters()) // m.num_experts * (m.num_experts - routers[0].top_k)
                  for m in experts)
    assert breakdown.inactive == skipped and breakdown.active == expected - skipped


# Hand-edited variants of a real file (each isolates a quirk under test): no configs of their own.
EDITED = frozenset(
    {"gpt2-n-inner-null", "llama-3.2-1b-biased-narrow-heads", "mistral-7b-v0.1-default-window", "qwen2-0.5b-sliding",
     "phi-3-mini-128k-longrope"}
)  # fmt: skip
# Issue 11 asks for `count` exact on at least 60 real configs of at least 25 model types. The
# floors are today's numbers, so losing a fixture (or a family's last one) fails here.
MIN_REAL_CONFIGS = 101
MIN_MODEL_TYPES = 32


def test_fixtures_hold_enough_distinct_real_configs():
    """Distinct architectures among the real fixtures (a 4.x file and its 5.x twin load to one
    config, and count once; so would two fine-tunes of one architecture), and their model types."""
    real = [f for f in FILES if f.name.removesuffix(".json").removesuffix(".v5") not in EDITED]
    configs = {}
    for f in real:
        arch = {k: v for k, v in load_config(f).to_dict().items() if k not in ("torch_dtype", "name")}
        configs[json.dumps(arch, sort_keys=True)] = json.loads(f.read_text())["model_type"]
    assert len(configs) >= MIN_REAL_CONFIGS
    assert len(set(configs.values())) >= MIN_MODEL_TYPES


def _hf_layer_rope(c, i: int) -> tuple | None:
    """(theta, partial_rotary_factor, scaling) of layer i's RoPE as transformers resolved it, None for NoPE."""
    params = getattr(c, "rope_parameters", None)
    if c.model_type in ("gptj", "codegen"):  # no rope_parameters: base 10000 in the code, rotary_dim of each head
        params = {"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": c.rotary_dim / (c.n_embd // c.n_head)}
    if not params or getattr(c, "alibi", False):  # Falcon with ALiBi keeps RoPE settings it does not use
        return None
    layer_types = getattr(c, "layer_types", None) or []
    if c.model_type == "smollm3" and not c.no_rope_layers[i]:
        return None
    if c.model_type == "cohere2" and (c.sliding_window is None or layer_types[i] != "sliding_attention"):
        return None  # Cohere 2 rotates its sliding layers only
    if any(t in params for t in layer_types):  # RoPE per layer type (Gemma 3)
        params = params[layer_types[i]]
    rope = dict(params)
    theta = rope.pop("rope_theta", None)
    partial = rope.pop("partial_rotary_factor", 1.0)
    rope_type = rope.pop("rope_type", None)
    rope.pop("type", None)
    return theta, partial, None if rope_type in (None, "default") else {"rope_type": rope_type, **rope}


def _hf_settings(c, num_layers: int) -> dict:
    """The settings transformers resolved, in ArchConfig's terms."""
    if c.model_type in ("qwen2", "qwen3", "gemma2", "qwen2_moe", "gemma3_text", "cohere2"):
        windows = [c.sliding_window if t == "sliding_attention" else None for t in c.layer_types]
    elif c.model_type == "smollm3":
        windows = [c.sliding_window if c.use_sliding_window and t == "sliding_attention" else None for t in c.layer_types]
    else:
        windows = [getattr(c, "sliding_window", None)] * num_layers
    eps_keys = ("rms_norm_eps", "layer_norm_eps", "layer_norm_epsilon", "norm_epsilon")
    eps = next((getattr(c, k) for k in eps_keys if hasattr(c, k)), 1e-5)  # OPT hard-codes 1e-5
    return {
        "ropes": [_hf_layer_rope(c, i) for i in range(num_layers)],
        "windows": windows,
        "norm_eps": eps,
        "hidden_act": getattr(c, "hidden_act", getattr(c, "hidden_activation", getattr(c, "activation_function", getattr(c, "activation", None)))),
        "tie_word_embeddings": c.tie_word_embeddings,
    }


def _layer_rope(cfg, i: int) -> tuple | None:
    if not cfg.layer_has_rope(i):
        return None
    theta, scaling = cfg.rope_settings(cfg.layer_is_sliding(i))
    return theta, cfg.partial_rotary_factor, scaling


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_settings_equal_transformers(path):
    """RoPE of every layer, windows, eps, activation and tying as transformers resolves them (defaults and quirks)."""
    d = json.loads(path.read_text())
    cfg = load_config(path)
    hf = _hf_settings(AutoConfig.for_model(**transformers_loadable(d)), cfg.num_hidden_layers)
    ours = {
        "ropes": [_layer_rope(cfg, i) for i in range(cfg.num_hidden_layers)],
        "windows": [cfg.sliding_window if cfg.layer_is_sliding(i) else None for i in range(cfg.num_hidden_layers)],
        "norm_eps": cfg.norm_eps,
        # BLOOM's and MPT's GELUs are built into their modeling code
        "hidden_act": hf["hidden_act"] if d["model_type"] in ("bloom", "mpt") else cfg.hidden_act,
        "tie_word_embeddings": cfg.tie_word_embeddings,
    }
    assert ours == hf


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_export_config_reads_back_as_the_same_config(path):
    """What export would write for a real model (its class's config.json) reads back unchanged."""
    cfg = load_config(path)
    plan = plan_export(cfg)
    assert from_hf_config(plan.config) == cfg.replace(torch_dtype=plan.config["torch_dtype"]), plan.architecture


@pytest.mark.parametrize("path", V5_FILES, ids=lambda p: p.name)
def test_4x_and_5x_forms_give_the_same_config(path):
    assert load_config(path) == load_config(path.with_name(path.name.replace(".v5.json", ".json")))


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def test_quirks():
    # gemma: "gelu" means the tanh approximation; head_dim is explicit and != hidden/heads
    gemma = load_config(FIXTURES / "gemma-2b.json")
    assert (gemma.hidden_act, gemma.head_dim, gemma.q_dim) == ("gelu_pytorch_tanh", 256, 2048)
    assert gemma.num_key_value_heads == 1
    assert gemma.norm_unit_offset and gemma.scale_embeddings and gemma.tie_word_embeddings
    # qwen2: use_sliding_window + max_window_layers -> the last layers slide
    qwen = load_config(FIXTURES / "qwen2-0.5b-sliding.json")
    assert [qwen.layer_is_sliding(i) for i in range(24)] == [False] * 16 + [True] * 8
    assert load_config(FIXTURES / "qwen2-0.5b.json").sliding_window is None  # use_sliding_window: false
    assert qwen.qkv_bias and not qwen.attn_out_bias
    # qwen3: per-head qk-norm, head_dim 128 > hidden/heads
    qwen3 = load_config(FIXTURES / "qwen3-0.6b.json")
    assert (qwen3.qk_norm, qwen3.q_dim) == ("head", 2048)
    # phi3: old "su" name == longrope, pretraining length from the top level
    phi = load_config(FIXTURES / "phi-3-mini-128k.json")
    assert phi == load_config(FIXTURES / "phi-3-mini-128k-longrope.json")
    assert phi.rope_scaling["rope_type"] == "longrope"
    assert phi.rope_scaling["original_max_position_embeddings"] == 4096
    assert len(phi.rope_scaling["long_factor"]) == phi.head_dim // 2 == 48
    yarn = _fixture("phi-3-mini-128k")
    yarn["rope_scaling"] = {**yarn["rope_scaling"], "type": "yarn"}  # Phi-3's other early name for longrope
    assert from_hf_config(yarn) == phi
    # gpt2: n_inner null -> 4 * n_embd, learned positions, dropout 0.1 by default
    gpt2 = load_config(FIXTURES / "gpt2-n-inner-null.json")
    assert (gpt2.intermediate_size, gpt2.position_embedding, gpt2.hidden_dropout) == (3072, "learned", 0.1)
    assert gpt2 == load_config(FIXTURES / "gpt2.json")
    # bloom: ALiBi, embedding LayerNorm, 4 * hidden MLP
    bloom = load_config(FIXTURES / "bloom-560m.json")
    assert (bloom.position_embedding, bloom.embedding_norm, bloom.intermediate_size) == ("alibi", True, 4096)
    # gpt_neox: rotary_pct, parallel residual, all biases
    neox = load_config(FIXTURES / "pythia-160m.json")
    assert (neox.partial_rotary_factor, neox.parallel_residual) == (0.25, True)
    assert neox.qkv_bias and neox.attn_out_bias and neox.mlp_bias and neox.norm_bias
    # olmo2: reordered norms, full-width qk-norm, no sliding
    olmo = load_config(FIXTURES / "olmo-2-7b.json")
    assert (olmo.norm_scheme, olmo.qk_norm, olmo.sliding_window) == ("reordered", "full", None)
    # llama: every bias knob and an explicit head_dim are kept
    llama = load_config(FIXTURES / "llama-3.2-1b-biased-narrow-heads.json")
    assert (llama.qkv_bias, llama.attn_out_bias, llama.mlp_bias, llama.head_dim) == (True, True, True, 32)
    # mistral: no sliding_window key -> the class default 4096; null -> full attention
    assert load_config(FIXTURES / "mistral-7b-v0.1-default-window.json").sliding_window == 4096
    assert from_hf_config({**_fixture("mistral-7b-v0.1"), "sliding_window": None}).sliding_window is None


# Per-layer RoPE quirks, each compared with transformers' own resolution of the same dict.
PER_LAYER_QUIRKS = {
    # Gemma 3 merges a 4.x rope_scaling into its full layers' default entry: a "type" key alone stays default RoPE.
    "gemma3-old-type-key-ignored": {"model_type": "gemma3_text", "num_hidden_layers": 7, "rope_scaling": {"type": "linear", "factor": 8.0}},
    "gemma3-nested-sliding-entry-only": {
        "model_type": "gemma3_text", "num_hidden_layers": 6,
        "rope_parameters": {"sliding_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 500.0}},
    },
    "smollm3-sliding-defaults-to-nope-layers": {
        "model_type": "smollm3", "num_hidden_layers": 8, "use_sliding_window": True, "sliding_window": 128,
        "no_rope_layers": [1, 0, 1, 1, 0, 1, 1, 0],
    },
    "smollm3-default-theta": {"model_type": "smollm3", "num_hidden_layers": 4},
    "cohere-default-theta": {"model_type": "cohere", "num_hidden_layers": 2},
    "cohere2-null-window-rotates-nothing": {"model_type": "cohere2", "num_hidden_layers": 4, "sliding_window": None},
}  # fmt: skip


@pytest.mark.parametrize("name", list(PER_LAYER_QUIRKS))
def test_per_layer_rope_quirks_equal_transformers(name):
    d = PER_LAYER_QUIRKS[name]
    cfg = from_hf_config(d)
    hf = _hf_settings(AutoConfig.for_model(**d), cfg.num_hidden_layers)
    assert [_layer_rope(cfg, i) for i in range(cfg.num_hidden_layers)] == hf["ropes"]
    assert [cfg.sliding_window if cfg.layer_is_sliding(i) else None for i in range(cfg.num_hidden_layers)] == hf["windows"]


@pytest.mark.parametrize(
    "d, error, message",
    [
        ({"model_type": "smollm3", "num_hidden_layers": 2, "layer_types": ["sliding_attention", "full_attention"]}, ConfigError,
         "set use_sliding_window=true"),
        ({"model_type": "smollm3", "num_hidden_layers": 4, "no_rope_layers": [1, 0]}, ConfigError, "one 1 \\(RoPE\\) or 0"),
        ({"model_type": "cohere", "logit_scale": None}, ConfigError, "logit_scale=None must be a finite number"),
        ({"model_type": "granite", "logits_scaling": 0}, ConfigError, "logits_scaling=0 must be positive"),
        ({"model_type": "cohere2", "num_hidden_layers": 4, "layer_types": ["full_attention"]}, ConfigError, "one entry per layer"),
        ({"model_type": "gemma3_text", "use_bidirectional_attention": True}, UnsupportedError, "use_bidirectional_attention"),
        ({"model_type": "smollm3", "no_rope_layers": "1110"}, ConfigError, "no_rope_layers='1110' must be a list of integers"),
    ],
)  # fmt: skip
def test_per_layer_readers_refuse_what_transformers_reads_inconsistently(d, error, message):
    with pytest.raises(error, match=message):
        from_hf_config(d)
# What each MoE model's publisher states (total and active, rounded as published) against the exact counts.
PUBLISHED_MOE = {
    "mixtral-8x7b": (46_702_792_704, 12_879_925_248, "46.7B total, 12.9B active"),
    "mixtral-8x22b": (140_620_634_112, 39_152_031_744, "141B total, 39B active"),
    "qwen1.5-moe-a2.7b-chat": (14_315_784_192, 2_689_173_504, "14.3B total, 2.7B activated"),
    "qwen2-57b-a14b": (57_408_658_944, 14_249_270_784, "57B total, 14B activated"),
    "qwen3-30b-a3b": (30_532_122_624, 3_353_032_704, "30.5B total, 3.3B activated"),
    "qwen3-235b-a22b": (235_093_634_560, 22_190_763_520, "235B total, 22B activated"),
}


@pytest.mark.parametrize("name", list(PUBLISHED_MOE))
def test_moe_total_and_active_parameters(name):
    p = count_params(load_config(FIXTURES / f"{name}.json"))
    assert (p.total, p.active) == PUBLISHED_MOE[name][:2]


def test_moe_quirks():
    # mixtral: renormalised top-2 of experts as wide as intermediate_size, RoPE base 1e6 by default
    mixtral = load_config(FIXTURES / "mixtral-8x7b.json")
    assert (mixtral.num_experts, mixtral.num_experts_per_tok, mixtral.moe_intermediate_size) == (8, 2, 14336)
    assert mixtral.norm_topk_prob and mixtral.num_sparse_layers == 32 and mixtral.router_aux_loss_coef == 0.02
    no_theta = {k: v for k, v in _fixture("mixtral-8x7b").items() if k != "rope_theta"}
    assert from_hf_config(no_theta).rope_theta == 1e6
    # qwen2_moe: one gated shared expert; sliding only on even layers below max_window_layers
    qwen = load_config(FIXTURES / "qwen1.5-moe-a2.7b-chat.json")
    assert (qwen.n_shared_experts, qwen.shared_expert_intermediate_size, qwen.shared_expert_gate) == (1, 5632, True)
    assert not qwen.norm_topk_prob and qwen.qkv_bias and not qwen.attn_out_bias
    sliding = from_hf_config({**_fixture("qwen1.5-moe-a2.7b-chat"), "use_sliding_window": True, "sliding_window": 64})
    assert [sliding.layer_is_sliding(i) for i in range(24)] == [i % 2 == 0 and i < 21 for i in range(24)]
    dense = from_hf_config({**_fixture("qwen1.5-moe-a2.7b-chat"), "mlp_only_layers": [0, 5], "decoder_sparse_step": 2})
    assert [dense.layer_is_sparse(i) for i in range(6)] == [False, True, False, True, False, False]
    assert not from_hf_config({**_fixture("qwen1.5-moe-a2.7b-chat"), "num_experts": 0}).is_moe  # every layer dense
    # qwen3_moe: head_dim from the file, per-head qk-norm, no shared expert; 5.x calls the count num_local_experts
    qwen3 = load_config(FIXTURES / "qwen3-30b-a3b.json")
    assert (qwen3.head_dim, qwen3.qk_norm, qwen3.n_shared_experts, qwen3.norm_topk_prob) == (128, "head", 0, True)
    assert json.loads((FIXTURES / "qwen3-30b-a3b.v5.json").read_text())["num_local_experts"] == 128
    implicit = {k: v for k, v in _fixture("qwen3-30b-a3b").items() if k != "head_dim"}
    assert from_hf_config(implicit).head_dim == 64  # hidden / heads, as Qwen3MoeAttention derives it
    with pytest.raises(ConfigError, match="num_experts=128 and its alias num_local_experts=64 disagree"):
        from_hf_config({**_fixture("qwen3-30b-a3b"), "num_local_experts": 64})


def test_quirks_of_the_code_and_parallel_families():
    # starcoder2: one use_bias for every projection, LayerNorm with bias, a window on every layer
    sc2 = load_config(FIXTURES / "starcoder2-15b.json")
    assert sc2.qkv_bias and sc2.attn_out_bias and sc2.mlp_bias and sc2.norm_bias and sc2.mlp_type == "plain"
    assert (sc2.num_key_value_heads, sc2.sliding_window, sc2.layer_types) == (4, 4096, None)
    sc2_3b = load_config(FIXTURES / "starcoder2-3b.json")  # residual_dropout drops each branch output
    assert (sc2_3b.hidden_dropout, sc2_3b.embedding_dropout, sc2.hidden_dropout) == (0.1, 0.1, 0.0)
    # gpt_bigcode: multi_query means one KV head; the num_key_value_heads transformers saves is derived, not read
    santa = load_config(FIXTURES / "gpt_bigcode-santacoder.json")
    assert (santa.num_key_value_heads, santa.position_embedding, santa.intermediate_size) == (1, "learned", 8192)
    assert from_hf_config({**_fixture("gpt_bigcode-santacoder"), "num_key_value_heads": 16}) == santa
    assert from_hf_config({**_fixture("gpt_bigcode-santacoder"), "multi_query": False}).attention_kind == "MHA"
    # phi: a parallel block with one shared norm, partial rotary, a biased LM head; qk_layernorm is per head
    phi2 = load_config(FIXTURES / "phi-2.json")
    assert (phi2.parallel_residual, phi2.parallel_shared_norm, phi2.lm_head_bias, phi2.rotary_dim) == (True, True, True, 32)
    assert from_hf_config({**_fixture("phi-2"), "qk_layernorm": True}).qk_norm == "head"
    # falcon: num_kv_heads matters only in the new architecture; ALiBi is added before the scale
    f7 = load_config(FIXTURES / "falcon-7b-instruct.json")  # num_kv_heads 71, but multi_query: MQA
    assert (f7.num_key_value_heads, f7.parallel_residual, f7.parallel_shared_norm, f7.qkv_bias) == (1, True, True, False)
    f40 = load_config(FIXTURES / "falcon-40b-instruct.json")
    assert (f40.num_key_value_heads, f40.parallel_residual, f40.parallel_shared_norm) == (8, True, False)
    eleven = from_hf_config({**_fixture("falcon-40b-instruct"), "num_ln_in_parallel_attn": 1})  # Falcon2-11B's block
    assert eleven.parallel_shared_norm
    rw = load_config(FIXTURES / "falcon-rw-1b.json")
    assert (rw.position_embedding, rw.alibi_before_scale, rw.attention_kind, rw.parallel_residual) == ("alibi", True, "MHA", False)
    assert rw.qkv_bias and rw.attn_out_bias and rw.mlp_bias
    # gptj: interleaved RoPE on rotary_dim of each head, base 10000 fixed, a biased LM head, no attention biases
    gptj = load_config(FIXTURES / "gpt-j-6b.json")
    assert (gptj.rope_interleaved, gptj.rotary_dim, gptj.rope_theta, gptj.lm_head_bias) == (True, 64, 10000.0, True)
    assert not (gptj.qkv_bias or gptj.attn_out_bias) and gptj.mlp_bias and gptj.parallel_shared_norm
    # codegen: GPT-J's model (only the weight layout differs)
    codegen = load_config(FIXTURES / "codegen-2B-mono.json")
    assert codegen == from_hf_config({**_fixture("codegen-2B-mono"), "model_type": "gptj"})
    assert codegen.rotary_dim == 64 and load_config(FIXTURES / "codegen-350M-mono.json").rotary_dim == 32


def test_rotary_dim_that_is_not_a_round_fraction_of_the_head_is_kept_exactly():
    # 44 * (30 / 44) is 29.999999999999996 in floating point: a plain fraction would rotate 29 dims
    cfg = from_hf_config({**_fixture("gpt-j-6b"), "n_embd": 44 * 16, "rotary_dim": 30})
    assert cfg.rotary_dim == 30


def test_unsupported_model_type_lists_the_supported_ones():
    with pytest.raises(UnsupportedError) as e:
        from_hf_config({"model_type": "rwkv", "hidden_size": 4096})
    assert "'rwkv'" in str(e.value)
    for model_type in SUPPORTED_MODEL_TYPES:
        assert model_type in str(e.value)


@pytest.mark.parametrize(
    "name, typo, field",
    [
        ("llama-2-7b", "num_hiden_layers", "num_hidden_layers"),
        ("gpt2", "n_embed", "n_embd"),
        ("pythia-160m", "rotary_pcts", "rotary_pct"),
        ("qwen2-0.5b", "use_sliding_windows", "use_sliding_window"),
        ("phi-3-mini-4k", "sliding_windw", "sliding_window"),
        ("bloom-560m", "n_layers", "n_layer"),
    ],
)
def test_typo_of_a_known_field_is_an_error(name, typo, field):
    d = _fixture(name)
    d[typo] = 3
    with pytest.raises(ConfigError, match=f"{typo}: did you mean {field}\\?"):
        from_hf_config(d)


def test_unknown_keys_far_from_any_field_are_accepted():
    d = {**_fixture("bloom-560m"), "offset_alibi": 100, "skip_bias_add": True, "unk_token_id": 0}
    assert from_hf_config(d) == from_hf_config(_fixture("bloom-560m"))


@pytest.mark.parametrize(
    "name, change",
    [
        ("gpt2", {"add_cross_attention": True}),
        ("stablelm-2-1.6b", {"hidden_dropout": 0.1}),
        ("mpt-7b", {"attn_config": {"alibi": True, "qk_ln": True}}),
        ("bloom-560m", {"n_inner": 1000}),
        ("gemma-2b", {"use_bidirectional_attention": True}),
        ("mistral-7b-v0.1", {"layer_types": ["full_attention"] * 31 + ["sliding_attention"]}),
        ("gpt_bigcode-santacoder", {"add_cross_attention": True}),
        ("falcon-7b-instruct", {"hidden_dropout": 0.1}),
        ("falcon-7b-instruct", {"attention_dropout": 0.1}),
        ("falcon-7b-instruct", {"num_ln_in_parallel_attn": 2}),  # ln_attn/ln_mlp that the old block never uses
        ("falcon-40b-instruct", {"parallel_attn": False}),
        ("falcon-40b-instruct", {"num_ln_in_parallel_attn": 3}),
        ("falcon-rw-1b", {"num_kv_heads": 8}),  # MHA weights that FalconAttention cannot split into 8 KV heads
        ("gpt-j-6b", {"rotary_dim": None}),
        ("gpt-j-6b", {"rotary_dim": 512}),
        ("codegen-350M-mono", {"n_embd": 1026, "n_head": 1}),  # not divisible into CodeGen's 4 shards
        ("phi-2", {"qk_layernorm": True, "head_dim": 64}),
    ],
)
def test_settings_without_an_archsmith_knob_are_refused(name, change):
    with pytest.raises(UnsupportedError, match=next(iter(change))):
        from_hf_config({**_fixture(name), **change})


def test_gpt_bigcode_unscaled_attention_reads_as_attention_scale_one_and_writes_back():
    cfg = from_hf_config({**_fixture("gpt_bigcode-santacoder"), "scale_attn_weights": False})
    assert cfg.attention_scale == 1.0
    plan = plan_export(cfg)
    assert plan.model_type == "gpt_bigcode" and plan.config["scale_attn_weights"] is False
    assert from_hf_config(_fixture("gpt_bigcode-santacoder")).attention_scale is None


def test_gpt_bigcode_ignores_scale_attn_by_inverse_layer_idx_as_transformers_does():
    """GPTBigCode's attention never reads it: read as nothing, and a model with the knob on is not a
    GPTBigCode (it exports as remote code)."""
    d = _fixture("gpt_bigcode-santacoder")
    assert from_hf_config({**d, "scale_attn_by_inverse_layer_idx": True}) == from_hf_config(d)
    plan = plan_export(from_hf_config(d).replace(scale_attn_by_inverse_layer_idx=True))
    assert plan.model_type == "archsmith"


def test_neox_top_level_rope_theta_is_not_silently_ignored():
    with pytest.raises(ConfigError, match="rename rope_theta to rotary_emb_base"):
        from_hf_config({**_fixture("pythia-160m"), "rope_theta": 500000})


def test_hf_config_reading_needs_no_torch():
    import subprocess
    import sys

    code = (
        "import sys, archsmith; archsmith.load_config('llama-3.1-8b'); "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
