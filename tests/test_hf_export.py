"""Export planning (which HF class, config.json content), lossless round trips, sharding, atomic writes."""

from __future__ import annotations

import errno
import json
import re
import subprocess
import sys

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archsmith import ArchConfig, ConfigError, LoadError
from archsmith.hf import from_hf_config
from archsmith.hf.export_config import plan_export
from hf_testing import TINY, input_ids, perturb, quiet_transformers

transformers = pytest.importorskip("transformers")
quiet_transformers()


# --- plan_export --------------------------------------------------------------------------------

_GEMMA3_BLOCK = {
    "norm_weight_in_fp32": True, "norm_unit_offset": True, "scale_embeddings": True, "norm_scheme": "peri", "qk_norm": "head",
    "attention_scale": 24**-0.5, "sliding_window": 8, "layer_types": ("sliding_attention", "full_attention"),
    "sliding_rope_theta": 100.0,
}  # fmt: skip
_COHERE_BLOCK = {
    "norm_type": "layernorm", "norm_weight_in_fp32": True, "parallel_residual": True, "parallel_shared_norm": True,
    "rope_interleaved": True, "logit_scale": 0.5,
}  # fmt: skip
# Cohere 2 rotates only its sliding layers.
_COHERE2_WINDOWS = {"sliding_window": 8, "layer_types": ("sliding_attention", "full_attention"), "nope_layers": (1,)}


@pytest.mark.parametrize(
    "changes, architecture, why",
    [
        ({}, "LlamaForCausalLM", None),
        ({"qkv_bias": True}, "Qwen2ForCausalLM", "LlamaForCausalLM cannot express qkv_bias=True with attn_out_bias=False"),
        ({"qkv_bias": True, "attn_out_bias": True}, "LlamaForCausalLM", None),
        ({"qkv_bias": True, "head_dim": 32}, "Qwen2ForCausalLM", "LlamaForCausalLM cannot express qkv_bias=True"),  # Qwen2Attention reads head_dim
        ({"sliding_window": 8}, "MistralForCausalLM", None),
        ({"sliding_window": 8, "qk_norm": "head"}, "Qwen3ForCausalLM", None),
        ({"norm_weight_in_fp32": True}, "ArchsmithForCausalLM", "norm_weight_in_fp32"),  # Llama casts first
        ({"position_embedding": "alibi", "num_key_value_heads": 2}, "ArchsmithForCausalLM", "alibi"),
        ({"norm_scheme": "peri"}, "ArchsmithForCausalLM", "peri"),
        ({"hidden_dropout": 0.1}, "Phi3ForCausalLM", None),  # Phi-3's resid_pdrop; Llama has no such knob
        ({"nope_layers": (1,)}, "SmolLM3ForCausalLM", "LlamaForCausalLM cannot express nope_layers=(1,)"),
        ({"attention_scale": 0.2, "logit_scale": 0.5}, "GraniteForCausalLM", "logits_scaling=2.0"),
        ({"nope_layers": (1,), "qk_norm": "head"}, "ArchsmithForCausalLM", None),
        (_GEMMA3_BLOCK, "Gemma3ForCausalLM", None),
        ({**_GEMMA3_BLOCK, "attention_scale": 0.3}, "ArchsmithForCausalLM", "query_pre_attn_scalar is an integer"),
        ({**_COHERE_BLOCK, "sliding_window": 8, "layer_types": ("sliding_attention", "full_attention")}, "ArchsmithForCausalLM", None),
        ({**_COHERE_BLOCK, **_COHERE2_WINDOWS}, "Cohere2ForCausalLM", None),
    ],
)
def test_plan_picks_the_class_that_expresses_the_config_exactly(changes, architecture, why):
    plan = plan_export(ArchConfig(**TINY, **changes))
    assert plan.architecture == architecture
    assert plan.remote_code == (architecture == "ArchsmithForCausalLM")
    assert plan.config["architectures"] == [architecture]
    if why:
        assert why in plan.reason


def test_plan_config_has_both_transformers_4_and_5_keys():
    cfg = ArchConfig(**TINY, rope_theta=50000.0, rope_scaling={"rope_type": "linear", "factor": 2.0}, torch_dtype="bfloat16")
    config = plan_export(cfg).config
    assert config["rope_parameters"] == {"rope_type": "linear", "rope_theta": 50000.0, "factor": 2.0}
    assert config["rope_theta"] == 50000.0 and config["rope_scaling"] == {"rope_type": "linear", "factor": 2.0}
    assert config["dtype"] == config["torch_dtype"] == "bfloat16"
    assert config["model_type"] == "llama" and config["transformers_version"]


def test_remote_plan_carries_the_whole_archconfig():
    cfg = ArchConfig(**TINY, norm_scheme="peri")
    plan = plan_export(cfg)
    assert ArchConfig.from_dict(plan.config["archsmith"]) == cfg.replace(torch_dtype="float32")
    assert plan.config["auto_map"]["AutoModelForCausalLM"] == "modeling_archsmith.ArchsmithForCausalLM"
    assert "trust_remote_code=True" in plan.reason


def test_planning_imports_no_torch():
    code = "import sys, archsmith.hf.export_config as e, archsmith; e.plan_export(archsmith.ArchConfig()); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# Every exported config.json must read back as the same ArchConfig: the writer and the
# readers (hf/<family>.py) agree, so nothing is approximated in either direction (remote
# code carries the ArchConfig itself). Draws
# start from one family's block and vary the knobs families differ on.
_LN = {"norm_type": "layernorm", "norm_bias": True}
_BIASES = {"qkv_bias": True, "attn_out_bias": True, "mlp_bias": True}
_SHARED = {"parallel_residual": True, "parallel_shared_norm": True}
_BLOCKS = [
    {},  # Llama
    {"norm_weight_in_fp32": True, "norm_unit_offset": True, "scale_embeddings": True},  # Gemma
    {"norm_weight_in_fp32": True, "norm_unit_offset": True, "scale_embeddings": True, "norm_scheme": "peri", "attn_logit_softcapping": 50.0},  # Gemma 2
    {"norm_weight_in_fp32": True, "norm_scheme": "reordered", "qk_norm": "full"},  # OLMo-2
    {"qk_norm": "head"},  # Qwen3
    {**_LN, "mlp_type": "plain", "mlp_bias": True, "qkv_bias": True, "attn_out_bias": True, "position_embedding": "learned"},  # GPT-2
    {**_LN, "mlp_type": "plain", "mlp_bias": True, "parallel_residual": True},  # GPT-NeoX
    {**_LN, "mlp_type": "plain", "mlp_bias": True, "qkv_bias": True, "attn_out_bias": True, "position_embedding": "alibi", "embedding_norm": True, "intermediate_size": 256},  # Bloom
    _GEMMA3_BLOCK,
    {"nope_layers": (1,)},  # SmolLM3
    {"attention_scale": 0.2, "embedding_multiplier": 3.0, "residual_multiplier": 0.5, "logit_scale": 0.25},  # Granite
    {**_COHERE_BLOCK, "qk_norm": "per_head"},  # Cohere (Command R+)
    {**_COHERE_BLOCK, **_COHERE2_WINDOWS},  # Cohere 2
    {**_LN, **_BIASES, "mlp_type": "plain", "num_key_value_heads": 2, "sliding_window": 8},  # StarCoder2
    {**_LN, **_BIASES, "mlp_type": "plain", "position_embedding": "learned", "num_key_value_heads": 1},  # GPTBigCode
    {**_LN, **_BIASES, "mlp_type": "plain", **_SHARED, "lm_head_bias": True, "partial_rotary_factor": 0.5, "qk_norm": "head"},  # Phi
    {**_LN, "mlp_type": "plain", "mlp_bias": True, **_SHARED, "lm_head_bias": True, "rope_interleaved": True, "partial_rotary_factor": 0.25},  # GPT-J
    {**_LN, "mlp_type": "plain", **_SHARED, "num_key_value_heads": 1},  # Falcon-7B
    {**_LN, "mlp_type": "plain", "parallel_residual": True, "num_key_value_heads": 2},  # Falcon-40B
    {**_LN, **_BIASES, "mlp_type": "plain", "position_embedding": "alibi", "alibi_before_scale": True},  # Falcon-RW
    {"norm_type": "layernorm", "norm_weight": False, "norm_weight_in_fp32": True},  # OLMo-1
    {**_LN, "partial_rotary_factor": 0.25},  # StableLM
    {"norm_type": "layernorm", "mlp_type": "plain", "hidden_act": "gelu", "position_embedding": "alibi", "intermediate_size": 256},  # MPT
    {**_LN, "mlp_type": "plain", "mlp_bias": True, "qkv_bias": True, "attn_out_bias": True, "hidden_act": "relu",
     "position_embedding": "learned", "position_offset": 2, "norm_scheme": "post", "final_norm": False},  # OPT-350m
]
_KNOBS = {
    "num_key_value_heads": [1, 2],
    "head_dim": [32],
    "qkv_bias": [True, False],
    "attn_out_bias": [True, False],
    "mlp_bias": [True, False],
    "hidden_act": ["gelu", "gelu_new", "gelu_pytorch_tanh", "relu"],
    "partial_rotary_factor": [0.5, 0.25],
    "sliding_window": [8],
    "layer_types": [("sliding_attention", "full_attention")],
    "tie_word_embeddings": [False],
    "rope_scaling": [{"rope_type": "linear", "factor": 2.0}, {"rope_type": "dynamic", "factor": 2.0}],
    "rope_theta": [500000.0],
    "norm_eps": [1e-6],
    "attention_dropout": [0.1],
    "hidden_dropout": [0.1],
    "attention_scale": [1.0, 0.125],
    "scale_attn_by_inverse_layer_idx": [True],
    "clip_qkv": [0.5],
    "qk_norm": ["per_head"],
    "norm_scheme": ["normed_residual"],
    "word_embed_proj_dim": [32],
    "final_norm": [False],
}
_DRAW = st.tuples(
    st.sampled_from(_BLOCKS),
    st.dictionaries(st.sampled_from(sorted(_KNOBS)), st.just(None), max_size=3).flatmap(
        lambda keys: st.fixed_dictionaries({k: st.sampled_from(_KNOBS[k]) for k in keys})
    ),
)


def _normalised(cfg: ArchConfig) -> ArchConfig:
    """Drop what changes no computation and no HF class stores: rope_theta without RoPE."""
    if cfg.position_embedding != "rope":
        cfg = cfg.replace(rope_theta=ArchConfig.rope_theta)
    return cfg


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_DRAW)
def test_exported_config_json_reads_back_as_the_same_config(draw):
    block, knobs = draw
    try:
        cfg = ArchConfig(**{**TINY, **block, **knobs})
    except ConfigError:
        return
    plan = plan_export(cfg)
    assert _normalised(from_hf_config(plan.config)) == _normalised(cfg).replace(torch_dtype="float32"), plan.architecture


# --- round trips --------------------------------------------------------------------------------


def _state(model) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items()}


def _assert_same_model(a, b):
    sa, sb = _state(a), _state(b)
    assert sa.keys() == sb.keys()
    for name in sa:
        assert sa[name].dtype == sb[name].dtype and torch.equal(sa[name], sb[name]), name
    assert a.config == b.config


@pytest.mark.parametrize(
    "model_type, kwargs",
    [
        ("llama", dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)),
        ("gpt2", dict(n_embd=64, n_layer=2, n_head=4, n_positions=64)),  # Conv1D transposes
        ("gpt_neox", dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4)),  # per-head fused qkv
        ("bloom", dict(hidden_size=64, n_layer=2, n_head=4)),
        ("cohere", dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, use_qk_norm=True)),
        (
            "gemma3_text",
            dict(
                hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                head_dim=16, sliding_window=8, sliding_window_pattern=2, query_pre_attn_scalar=24,
            ),  # fmt: skip
        ),
        (
            "phi3",  # fused qkv and gate_up; partial rotary keeps it a Phi-3 (full rotary would export as Llama)
            dict(
                hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, pad_token_id=None,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.5},
            ),  # fmt: skip
        ),
        ("starcoder2", dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, pad_token_id=None)),
        ("gpt_bigcode", dict(n_embd=64, n_layer=2, n_head=4, n_positions=64)),  # MQA (with MHA it is GPT-2 and exports so)
        ("phi", dict(hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, qk_layernorm=True)),
        ("gptj", dict(n_embd=64, n_layer=2, n_head=4, n_positions=64, rotary_dim=8)),
        ("falcon", dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4)),  # MQA, one shared norm
        ("falcon", dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, new_decoder_architecture=True, num_kv_heads=2)),
    ],
)
def test_import_export_import_is_bit_for_bit(model_type, kwargs, tmp_path):
    from safetensors.torch import load_file

    from archsmith.hf.convert import from_hf, to_hf

    config = transformers.AutoConfig.for_model(model_type, vocab_size=128, **kwargs)
    hf_model = transformers.AutoModelForCausalLM.from_config(config)
    perturb(hf_model)
    hf_model.save_pretrained(tmp_path / "hf")
    first = from_hf(tmp_path / "hf")
    plan = to_hf(first, tmp_path / "again")
    second = from_hf(tmp_path / "again")
    _assert_same_model(first, second)
    assert plan.model_type == model_type
    # The exported tensors are the original checkpoint's, byte for byte.
    original, exported = load_file(tmp_path / "hf" / "model.safetensors"), load_file(tmp_path / "again" / "model.safetensors")
    assert exported.keys() <= original.keys()
    for name, tensor in exported.items():
        assert torch.equal(tensor, original[name]), name


def test_codegen_exports_as_gptj_with_the_same_logits(tmp_path):
    """CodeGen is GPT-J with its q, k, v packed in 4 shards: an imported CodeGen exports as GPT-J, and
    transformers' GPT-J then computes what transformers' CodeGen did."""
    from archsmith.hf.convert import from_hf, to_hf

    config = transformers.AutoConfig.for_model("codegen", vocab_size=128, n_embd=64, n_layer=2, n_head=4, n_positions=64, rotary_dim=8)
    codegen = transformers.AutoModelForCausalLM.from_config(config, attn_implementation="eager").eval()
    perturb(codegen)
    codegen.save_pretrained(tmp_path / "codegen")
    plan = to_hf(from_hf(tmp_path / "codegen"), tmp_path / "gptj")
    assert plan.architecture == "GPTJForCausalLM"
    gptj = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "gptj", attn_implementation="eager").eval()
    ids = input_ids()
    with torch.no_grad():
        assert (gptj(ids).logits - codegen(ids).logits).abs().max() <= 1e-5


def test_remote_code_round_trip_and_bf16(tmp_path):
    from archsmith.hf.convert import from_hf, to_hf
    from archsmith.model import build_model

    model = build_model(ArchConfig(**TINY, norm_scheme="peri", position_embedding="alibi"), dtype=torch.bfloat16)
    perturb(model)
    plan = to_hf(model, tmp_path / "out")
    assert plan.remote_code and plan.config["dtype"] == "bfloat16"
    back = from_hf(tmp_path / "out")
    assert back.embed_tokens.weight.dtype == torch.bfloat16
    assert back.config == model.config.replace(torch_dtype="bfloat16")
    assert all(torch.equal(a, b) for a, b in zip(_state(model).values(), _state(back).values()))
    # The remote files stand alone: nothing in them imports archsmith.
    for path in (tmp_path / "out").glob("*.py"):
        assert not re.search(r"^\s*(import|from) archsmith", path.read_text(), re.MULTILINE), path.name


def test_export_dtype_conversion(tmp_path):
    from archsmith.hf.convert import from_hf, to_hf
    from archsmith.model import build_model

    model = build_model(ArchConfig(**TINY))
    to_hf(model, tmp_path / "bf16", dtype="bfloat16")
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["torch_dtype"] == "bfloat16"
    back = from_hf(tmp_path / "bf16")
    assert back.embed_tokens.weight.dtype == torch.bfloat16
    assert torch.equal(back.embed_tokens.weight, model.embed_tokens.weight.to(torch.bfloat16))
    assert from_hf(tmp_path / "bf16", dtype="float32").embed_tokens.weight.dtype == torch.float32


# --- sharding -----------------------------------------------------------------------------------


def test_sharded_export_loads_in_transformers_and_back(tmp_path):
    from archsmith.hf.convert import from_hf, to_hf
    from archsmith.model import build_model

    model = build_model(ArchConfig(**TINY)).eval()
    perturb(model)
    to_hf(model, tmp_path / "out", max_shard_bytes=40_000)
    files = sorted(p.name for p in (tmp_path / "out").glob("*.safetensors"))
    index = json.loads((tmp_path / "out" / "model.safetensors.index.json").read_text())
    assert len(files) > 2 and "model.safetensors" not in files
    assert set(index["weight_map"].values()) == set(files)
    hf_model = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    with torch.no_grad():
        assert (hf_model(input_ids()).logits - model(input_ids())).abs().max() <= 1e-4
    assert all(torch.equal(a, b) for a, b in zip(_state(model).values(), _state(from_hf(tmp_path / "out")).values()))


# --- atomic writes and --force ------------------------------------------------------------------


def test_non_empty_target_is_refused_without_force(tmp_path):
    from archsmith.hf.convert import to_hf
    from archsmith.model import build_model

    model = build_model(ArchConfig(**TINY))
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(LoadError, match="--force"):
        to_hf(model, target)
    assert (target / "keep.txt").read_text() == "mine"
    to_hf(model, target, force=True)
    assert not (target / "keep.txt").exists() and (target / "config.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging or old copies left


def test_failed_write_leaves_the_target_untouched(tmp_path, monkeypatch):
    from archsmith.hf import checkpoint
    from archsmith.hf.convert import to_hf
    from archsmith.model import build_model

    model = build_model(ArchConfig(**TINY))
    target = tmp_path / "out"
    to_hf(model, target)
    before = {p.name: p.read_bytes() for p in target.iterdir()}

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint, "save_tensors", disk_full)
    with pytest.raises(LoadError, match="No space left on device; fix: free some disk space"):
        to_hf(build_model(ArchConfig(**TINY, hidden_act="gelu")), target, force=True)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


# --- export (the CLI's entry point) -------------------------------------------------------------


def test_export_random_init_is_seeded_and_says_so(tmp_path):
    from archsmith.hf.convert import export, from_hf

    source = tmp_path / "tiny.json"
    ArchConfig(**TINY, norm_scheme="peri").save(source)
    plan = export(source, tmp_path / "a", seed=3, progress=False)
    export(source, tmp_path / "b", seed=3, progress=False)
    export(source, tmp_path / "c", seed=4, progress=False)
    assert "random weights" in plan.reason and "seed 3" in plan.reason and plan.remote_code
    a, b, c = (from_hf(tmp_path / n) for n in "abc")
    assert torch.equal(a.embed_tokens.weight, b.embed_tokens.weight)
    assert not torch.equal(a.embed_tokens.weight, c.embed_tokens.weight)


def test_export_converts_an_hf_checkpoint(tmp_path):
    from archsmith.hf.convert import export, from_hf

    config = transformers.AutoConfig.for_model("qwen2", vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2)
    config.bos_token_id, config.eos_token_id = 5, 7
    hf_model = transformers.AutoModelForCausalLM.from_config(config)
    perturb(hf_model)
    hf_model.save_pretrained(tmp_path / "hf")
    (tmp_path / "hf" / "tokenizer.json").write_text("{}")
    plan = export(tmp_path / "hf", tmp_path / "out", progress=False)
    assert plan.architecture == "Qwen2ForCausalLM" and "Converted the weights" in plan.reason
    _assert_same_model(from_hf(tmp_path / "hf"), from_hf(tmp_path / "out"))
    # What the architecture does not describe travels along: special tokens and the tokenizer.
    written = json.loads((tmp_path / "out" / "config.json").read_text())
    generation = json.loads((tmp_path / "out" / "generation_config.json").read_text())
    assert (written["bos_token_id"], written["eos_token_id"], generation["eos_token_id"]) == (5, 7, 7)
    assert (tmp_path / "out" / "tokenizer.json").read_text() == "{}"


_BLOOM_BLOCK = dict(norm_type="layernorm", norm_bias=True, embedding_norm=True, mlp_type="plain", hidden_act="gelu_new",
                    qkv_bias=True, attn_out_bias=True, mlp_bias=True, intermediate_size=256)  # fmt: skip


@pytest.mark.parametrize(
    "changes, architecture",
    [
        ({"position_embedding": "alibi", **_BLOOM_BLOCK, "max_position_embeddings": 4096}, "BloomForCausalLM"),
        ({"sliding_window": 8, "layer_types": ("full_attention", "sliding_attention"), "qkv_bias": True}, "Qwen2ForCausalLM"),
    ],
)
def test_exported_config_reads_back_equal_without_normalising(changes, architecture):
    """Bloom keeps max_position_embeddings; per-layer types read back in ArchConfig's one spelling."""
    cfg = ArchConfig(**{**TINY, **changes, "torch_dtype": "float32"})
    plan = plan_export(cfg)
    assert plan.architecture == architecture
    assert from_hf_config(plan.config) == cfg
