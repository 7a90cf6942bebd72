"""Logit and generation parity with transformers, both ways, for every supported family.

HF -> archsmith: a tiny transformers model saved with save_pretrained, loaded with from_hf.
archsmith -> HF: a tiny archsmith model written with to_hf, loaded with from_pretrained
(trust_remote_code for architectures no transformers class runs exactly).
Both: max |logits difference| <= 1e-4 on a sequence longer than any sliding window, and
greedy generation of 16 tokens equal to transformers' own cached generate.
"""

from __future__ import annotations

import pytest
import torch

from archsmith import ArchConfig
from archsmith.hf.convert import from_hf, to_hf
from archsmith.hf.registry import FAMILIES
from archsmith.model import build_model
from hf_testing import TINY, TOLERANCE, greedy_both, input_ids, max_logit_diff, perturb, quiet_transformers, tiny_config

transformers = pytest.importorskip("transformers")
quiet_transformers()

# --- HF -> archsmith ------------------------------------------------------------------------------

_ROPE = {"rope_theta": 10000.0}
_LLAMA = dict(
    vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
    num_key_value_heads=2, max_position_embeddings=64, tie_word_embeddings=False, pad_token_id=None,
)  # fmt: skip

_GPT2_NAMED = dict(vocab_size=128, n_embd=64, n_layer=2, n_head=4, n_positions=64)
_FALCON = dict(
    vocab_size=128, hidden_size=64, ffn_hidden_size=96, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=64,
    tie_word_embeddings=False,
)  # fmt: skip
_DEEPSEEK = dict(
    _LLAMA, num_key_value_heads=4, kv_lora_rank=16, qk_nope_head_dim=12, qk_rope_head_dim=8, v_head_dim=10,
    first_k_dense_replace=2,
)  # fmt: skip

HF_CASES = {
    "llama": ("llama", dict(_LLAMA, attention_bias=True, mlp_bias=True)),
    "llama-rope-linear": ("llama", dict(_LLAMA, rope_parameters={"rope_type": "linear", "factor": 2.0, **_ROPE})),
    # max_position_embeddings below the sequence, so dynamic NTK scaling actually kicks in
    "llama-rope-dynamic": ("llama", dict(_LLAMA, max_position_embeddings=16, rope_parameters={"rope_type": "dynamic", "factor": 2.0, **_ROPE})),
    "llama-rope-yarn": (
        "llama",
        dict(_LLAMA, rope_parameters={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16, **_ROPE}),
    ),
    "llama-rope-llama3": (
        "llama",
        dict(
            _LLAMA,
            rope_parameters={
                "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                "original_max_position_embeddings": 16, "rope_theta": 500000.0,
            },  # fmt: skip
        ),
    ),
    "mistral-sliding": ("mistral", dict(_LLAMA, sliding_window=8)),
    "qwen2-sliding-layers": (
        "qwen2",
        dict(_LLAMA, use_sliding_window=True, sliding_window=8, max_window_layers=1),  # layer 1 slides, layer 0 not
    ),
    "qwen3-qknorm-head": (
        "qwen3",
        dict(
            _LLAMA, head_dim=32, attention_bias=True, use_sliding_window=True, sliding_window=8,
            layer_types=["sliding_attention", "full_attention"],
        ),  # fmt: skip
    ),
    "gemma": ("gemma", dict(_LLAMA, num_key_value_heads=1, head_dim=32, hidden_act="gelu_pytorch_tanh", tie_word_embeddings=True)),
    "gemma2-peri-softcap-alternating": (
        "gemma2",
        dict(_LLAMA, head_dim=32, query_pre_attn_scalar=32, sliding_window=8, attn_logit_softcapping=5.0, final_logit_softcapping=3.0),
    ),
    # Gemma-2-27B: query_pre_attn_scalar (here hidden/heads = 16) != head_dim (32)
    "gemma2-query-pre-attn-scalar": (
        "gemma2",
        dict(_LLAMA, head_dim=32, query_pre_attn_scalar=16, sliding_window=8, attn_logit_softcapping=5.0, final_logit_softcapping=3.0),
    ),
    "gpt2": ("gpt2", dict(vocab_size=128, n_embd=64, n_layer=2, n_head=4, n_positions=64, n_inner=96)),
    # reorder_and_upcast_attn: fp32 scores with the scale inside baddbmm, the same numbers in fp32
    "gpt2-unscaled-layer-scaled-upcast": (
        "gpt2",
        dict(
            vocab_size=128, n_embd=64, n_layer=2, n_head=4, n_positions=64, n_inner=96, scale_attn_weights=False,
            scale_attn_by_inverse_layer_idx=True, reorder_and_upcast_attn=True,
        ),  # fmt: skip
    ),
    "gpt_neox-parallel-partial-rotary": (
        "gpt_neox",
        dict(
            vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=64, use_parallel_residual=True, rope_parameters={"rope_type": "default", "partial_rotary_factor": 0.25, **_ROPE},
        ),  # fmt: skip
    ),
    "gpt_neox-sequential": (
        "gpt_neox",
        dict(
            vocab_size=128, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=4,
            max_position_embeddings=64, use_parallel_residual=False, attention_bias=False, tie_word_embeddings=True,
        ),  # fmt: skip
    ),
    "bloom-alibi": ("bloom", dict(vocab_size=128, hidden_size=64, n_layer=2, n_head=4)),
    "bloom-alibi-6-heads": ("bloom", dict(vocab_size=128, hidden_size=48, n_layer=2, n_head=6)),  # slopes for non powers of 2
    "bloom-residual-post-layernorm": (
        "bloom",
        dict(vocab_size=128, hidden_size=64, n_layer=2, n_head=4, apply_residual_connection_post_layernorm=True),
    ),
    "phi3-partial-sliding": (
        "phi3",
        dict(_LLAMA, sliding_window=8, rope_parameters={"rope_type": "default", "partial_rotary_factor": 0.5, **_ROPE}),
    ),
    "phi3-longrope": (
        "phi3",
        dict(
            _LLAMA,
            rope_parameters={
                "rope_type": "longrope", "short_factor": [1.0, 1.1, 1.2, 1.5], "long_factor": [1.0, 2.0, 3.0, 4.0],
                "original_max_position_embeddings": 16, "partial_rotary_factor": 0.5, **_ROPE,
            },  # fmt: skip
        ),
    ),
    "olmo2-qknorm-full": ("olmo2", dict(_LLAMA, attention_bias=True)),
    "olmo-clip-qkv-nonparametric-ln": ("olmo", dict(_LLAMA, attention_bias=True, clip_qkv=0.3)),
    # Mixture-of-Experts: softmax top-k routing over stacked experts, dense layers between sparse ones.
    "mixtral-sliding": ("mixtral", dict(_LLAMA, num_local_experts=4, num_experts_per_tok=2, sliding_window=8)),
    "qwen2_moe-shared-expert-dense-layer": (
        "qwen2_moe",
        dict(
            _LLAMA, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, shared_expert_intermediate_size=48,
            mlp_only_layers=[0],
        ),  # fmt: skip
    ),
    "qwen3_moe-sparse-step-renormalised": (
        "qwen3_moe",
        dict(
            _LLAMA, num_hidden_layers=3, head_dim=32, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32,
            norm_topk_prob=True, decoder_sparse_step=2,
        ),  # fmt: skip
    ),
    # The classes archsmith also exports to, so their exports import back.
    "stablelm-parallel-shared-norm": (
        "stablelm",
        dict(_LLAMA, use_qkv_bias=True, use_parallel_residual=True, rope_parameters={"rope_type": "default", "partial_rotary_factor": 0.25, **_ROPE}),
    ),
    # StableLM-2-12B: a LayerNorm (weight, no bias) per head on q and k
    "stablelm-qk-layernorm-per-head": ("stablelm", dict(_LLAMA, qk_layernorm=True)),
    "arcee-relu2": ("arcee", dict(_LLAMA, head_dim=32, mlp_bias=True)),
    "mpt-alibi": ("mpt", dict(vocab_size=128, d_model=64, n_heads=4, n_layers=2, max_seq_len=64)),
    # Per-layer attention: Gemma 3's RoPE per layer type (4.x keys, then nested 5.x rope_parameters with a scaled
    # sliding RoPE too), SmolLM3's NoPE layers, Cohere 2's NoPE full layers; Granite's and Cohere's multipliers.
    "gemma3-qknorm-local-base-scaled-global": (
        "gemma3_text",
        dict(
            _LLAMA, head_dim=32, query_pre_attn_scalar=24, sliding_window=8, sliding_window_pattern=2,
            rope_theta=10000.0, rope_local_base_freq=100.0, rope_scaling={"rope_type": "linear", "factor": 2.0},
        ),  # fmt: skip
    ),
    "gemma3-nested-rope-parameters": (
        "gemma3_text",
        dict(
            _LLAMA, num_hidden_layers=3, head_dim=16, sliding_window=6, tie_word_embeddings=True,
            layer_types=["sliding_attention", "full_attention", "sliding_attention"], final_logit_softcapping=3.0,
            rope_parameters={
                "full_attention": {"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16, "rope_theta": 50000.0},
                "sliding_attention": {"rope_type": "linear", "factor": 2.0, "rope_theta": 500.0},
            },
        ),  # fmt: skip
    ),
    "smollm3-nope-every-2nd-biases": ("smollm3", dict(_LLAMA, no_rope_layer_interval=2, attention_bias=True, mlp_bias=True)),
    "smollm3-sliding-nope-layers": (
        "smollm3",
        dict(_LLAMA, num_hidden_layers=3, no_rope_layers=[1, 0, 0], use_sliding_window=True, sliding_window=8, tie_word_embeddings=True),
    ),
    "granite-multipliers": (
        "granite",
        dict(_LLAMA, attention_multiplier=0.2, embedding_multiplier=3.0, residual_multiplier=0.5, logits_scaling=4.0, mlp_bias=True),
    ),
    "cohere-per-head-qknorm": ("cohere", dict(_LLAMA, use_qk_norm=True, logit_scale=0.25, attention_bias=True)),
    "cohere-mha-tied": ("cohere", dict(_LLAMA, num_key_value_heads=4, logit_scale=0.5, tie_word_embeddings=True, rope_theta=500.0)),
    "cohere2-nope-full-layers": (
        "cohere2",
        dict(_LLAMA, num_hidden_layers=3, sliding_window=8, sliding_window_pattern=3, logit_scale=0.5, rope_theta=1000.0),
    ),
    "mpt-clip-qkv-softmax-scale": (
        "mpt",
        dict(vocab_size=128, d_model=64, n_heads=4, n_layers=2, max_seq_len=64, attn_config={"clip_qkv": 0.3, "softmax_scale": 0.4}),
    ),
    # MLA; first_k_dense_replace=num_hidden_layers: every layer a dense MLP
    "deepseek_v3-mla-q-lora-yarn-mscale": (
        "deepseek_v3",
        dict(
            _DEEPSEEK, q_lora_rank=24, attention_bias=True, rms_norm_eps=1e-5,
            rope_parameters={
                "rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16, "mscale": 0.8,
                "mscale_all_dim": 1.0, **_ROPE,
            },
        ),  # fmt: skip
    ),
    "deepseek_v3-mla-direct-q-rotate-half": (
        "deepseek_v3", dict(_DEEPSEEK, q_lora_rank=None, rope_interleave=False, attention_bias=True, tie_word_embeddings=True),
    ),
    "deepseek_v3-moe-groups-shared-experts": (
        "deepseek_v3",
        dict(
            _DEEPSEEK, num_hidden_layers=3, first_k_dense_replace=1, moe_intermediate_size=32, n_routed_experts=8,
            num_experts_per_tok=2, n_group=2, topk_group=1, n_shared_experts=2, routed_scaling_factor=2.5,
        ),  # fmt: skip
    ),
    "deepseek_v2-moe-greedy-softmax": (
        "deepseek_v2",
        dict(
            _DEEPSEEK, q_lora_rank=24, first_k_dense_replace=1, moe_intermediate_size=32, n_routed_experts=8,
            num_experts_per_tok=3, n_shared_experts=1, routed_scaling_factor=1.7,
        ),  # fmt: skip
    ),
    "deepseek_v2-mla-yarn-mlp-bias": (
        "deepseek_v2",
        dict(
            _DEEPSEEK, mlp_bias=True, rope_parameters={
                "rope_type": "yarn", "factor": 40.0, "original_max_position_embeddings": 16, "mscale": 0.707,
                "mscale_all_dim": 0.707, **_ROPE,
            },
        ),  # fmt: skip
    ),
    "opt-post-ln": (
        "opt",
        dict(
            vocab_size=128, hidden_size=64, ffn_dim=96, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=64,
            do_layer_norm_before=False, word_embed_proj_dim=64, pad_token_id=None,
        ),  # fmt: skip
    ),
    "starcoder2-sliding-gqa": ("starcoder2", dict(_LLAMA, sliding_window=8)),
    "starcoder2-no-bias-tied": ("starcoder2", dict(_LLAMA, use_bias=False, tie_word_embeddings=True, hidden_act="gelu")),
    "gpt_bigcode-mqa": ("gpt_bigcode", dict(_GPT2_NAMED, n_inner=96)),
    "gpt_bigcode-mha": ("gpt_bigcode", dict(_GPT2_NAMED, multi_query=False, tie_word_embeddings=False)),
    "gpt_bigcode-unscaled": ("gpt_bigcode", dict(_GPT2_NAMED, n_inner=96, scale_attn_weights=False)),
    "phi-qk-layernorm-gqa": ("phi", dict(_LLAMA, qk_layernorm=True)),
    "phi-tied-partial-quarter": (
        "phi", dict(_LLAMA, num_key_value_heads=4, tie_word_embeddings=True, rope_parameters={"rope_type": "default", "partial_rotary_factor": 0.25, **_ROPE}),
    ),  # fmt: skip
    "falcon-7b-parallel-mqa": ("falcon", _FALCON),
    "falcon-40b-gqa-two-norms": ("falcon", dict(_FALCON, new_decoder_architecture=True, num_kv_heads=2, bias=True)),
    "falcon-11b-gqa-one-norm": ("falcon", dict(_FALCON, new_decoder_architecture=True, num_kv_heads=2, num_ln_in_parallel_attn=1)),
    "falcon-rw-alibi-sequential-mha": ("falcon", dict(_FALCON, alibi=True, multi_query=False, parallel_attn=False, bias=True)),
    "falcon-alibi-6-heads": ("falcon", dict(_FALCON, hidden_size=48, num_attention_heads=6, alibi=True)),
    # 32 heads as Falcon-RW-1B: slopes that are no powers of two, which Falcon rounds to bfloat16
    "falcon-alibi-32-heads": ("falcon", dict(_FALCON, hidden_size=128, num_attention_heads=32, alibi=True)),
    "gptj": ("gptj", dict(_GPT2_NAMED, rotary_dim=8, n_inner=96)),
    "gptj-tied-full-rotary": ("gptj", dict(_GPT2_NAMED, rotary_dim=16, tie_word_embeddings=True)),
    "codegen": ("codegen", dict(_GPT2_NAMED, rotary_dim=8, n_inner=96)),
    # OPT-350m: post-LN, a 32-wide token embedding with project_in/project_out, tied head
    "opt-350m-projections": (
        "opt",
        dict(
            vocab_size=128, hidden_size=64, ffn_dim=96, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=64,
            do_layer_norm_before=False, word_embed_proj_dim=32, pad_token_id=None,
        ),  # fmt: skip
    ),
    "opt-pre-ln-without-final-norm": (
        "opt",
        dict(
            vocab_size=128, hidden_size=64, ffn_dim=96, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=64,
            _remove_final_layer_norm=True, word_embed_proj_dim=48, tie_word_embeddings=False, pad_token_id=None,
        ),  # fmt: skip
    ),
}


def attention_of(model_type: str) -> str:
    """The attention implementation to compare with: eager, except for Falcon, whose eager path adds
    the ALiBi bias twice (once in the attention, once in the mask); SDPA is Falcon's default and
    adds it once."""
    return "sdpa" if model_type == "falcon" else "eager"


def _save_hf(model_type: str, kwargs: dict, path) -> torch.nn.Module:
    config = transformers.AutoConfig.for_model(model_type, **kwargs)
    model = transformers.AutoModelForCausalLM.from_config(config, attn_implementation=attention_of(model_type)).eval()
    perturb(model)
    model.save_pretrained(path, safe_serialization=True)
    return model


@pytest.mark.parametrize("case", list(HF_CASES))
def test_hf_to_archsmith_logits_and_generation(case, tmp_path):
    model_type, kwargs = HF_CASES[case]
    hf_model = _save_hf(model_type, kwargs, tmp_path)
    ours = from_hf(tmp_path).eval()

    assert max_logit_diff(ours, hf_model, input_ids()) <= TOLERANCE
    mine, theirs = greedy_both(ours, hf_model, input_ids(batch=1, seq=6))
    assert torch.equal(mine, theirs)


# Knobs that change no parameter: the parity above proves them only if they change the logits.
# (case, field, its neutral value)
KNOB_CASES = [
    ("gemma2-query-pre-attn-scalar", "attention_scale", None),
    ("gpt2-unscaled-layer-scaled-upcast", "attention_scale", None),
    ("gpt2-unscaled-layer-scaled-upcast", "scale_attn_by_inverse_layer_idx", False),
    ("bloom-residual-post-layernorm", "norm_scheme", "pre"),
    ("olmo-clip-qkv-nonparametric-ln", "clip_qkv", None),
    ("mpt-clip-qkv-softmax-scale", "clip_qkv", None),
    ("mpt-clip-qkv-softmax-scale", "attention_scale", None),
]


@pytest.mark.parametrize("case, field, neutral", KNOB_CASES)
def test_knob_changes_the_logits(case, field, neutral, tmp_path):
    model_type, kwargs = HF_CASES[case]
    _save_hf(model_type, kwargs, tmp_path)
    ours = from_hf(tmp_path).eval()
    assert getattr(ours.config, field) != neutral
    without = build_model(ours.config.replace(**{field: neutral})).eval()
    without.load_state_dict(ours.state_dict())
    with torch.no_grad():
        assert (ours(input_ids()) - without(input_ids())).abs().max().item() > 100 * TOLERANCE


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.model_type)
def test_every_registered_family_from_its_declaration(family, tmp_path):
    """A family file alone gets parity tested: the class's defaults, shrunk, written by its declaration."""
    cfg = tiny_config(family)
    # no padding row: some classes default pad_token_id to an id beyond the tiny vocabulary
    hf_model = _save_hf(family.model_type, {**family.hf_config(cfg), "pad_token_id": None}, tmp_path)
    ours = from_hf(tmp_path).eval()
    assert ours.config.replace(torch_dtype=None) == cfg

    assert max_logit_diff(ours, hf_model, input_ids()) <= TOLERANCE
    mine, theirs = greedy_both(ours, hf_model, input_ids(batch=1, seq=6))
    assert torch.equal(mine, theirs)


# --- archsmith -> HF ------------------------------------------------------------------------------

_LN = dict(norm_type="layernorm", norm_bias=True)
_BIASES = dict(qkv_bias=True, attn_out_bias=True, mlp_bias=True)

# (config, the class it must export as)
EXPORT_CASES = {
    "llama-gqa-biases": (ArchConfig(**TINY, num_key_value_heads=2, qkv_bias=True, attn_out_bias=True, mlp_bias=True, tie_word_embeddings=False), "LlamaForCausalLM"),
    "llama-yarn": (ArchConfig(**TINY, rope_scaling={"rope_type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16}), "LlamaForCausalLM"),
    "mistral": (ArchConfig(**TINY, num_key_value_heads=2, sliding_window=8), "MistralForCausalLM"),
    "qwen2": (ArchConfig(**TINY, qkv_bias=True, sliding_window=8, layer_types=("full_attention", "sliding_attention")), "Qwen2ForCausalLM"),
    "qwen2-explicit-head-dim": (ArchConfig(**TINY, qkv_bias=True, num_key_value_heads=2, head_dim=32), "Qwen2ForCausalLM"),
    "qwen3": (ArchConfig(**TINY, qk_norm="head", num_key_value_heads=2, head_dim=32), "Qwen3ForCausalLM"),
    "gemma": (
        ArchConfig(**TINY, norm_unit_offset=True, norm_weight_in_fp32=True, scale_embeddings=True, hidden_act="gelu_pytorch_tanh"),
        "GemmaForCausalLM",
    ),
    "gemma2": (
        ArchConfig(
            **TINY, norm_unit_offset=True, norm_weight_in_fp32=True, scale_embeddings=True, hidden_act="gelu_pytorch_tanh",
            norm_scheme="peri", attn_logit_softcapping=5.0, final_logit_softcapping=3.0, sliding_window=8,
            layer_types=("sliding_attention", "full_attention"), num_key_value_heads=2, head_dim=32,
        ),  # fmt: skip
        "Gemma2ForCausalLM",
    ),
    "gemma2-attention-scale": (
        ArchConfig(
            **TINY, norm_unit_offset=True, norm_weight_in_fp32=True, scale_embeddings=True, hidden_act="gelu_pytorch_tanh",
            norm_scheme="peri", attn_logit_softcapping=5.0, final_logit_softcapping=3.0, num_key_value_heads=2, head_dim=32,
            attention_scale=16**-0.5,
        ),  # fmt: skip
        "Gemma2ForCausalLM",
    ),
    "olmo2": (ArchConfig(**TINY, norm_weight_in_fp32=True, norm_scheme="reordered", qk_norm="full"), "Olmo2ForCausalLM"),
    "olmo": (
        ArchConfig(
            **TINY, norm_type="layernorm", norm_weight=False, norm_weight_in_fp32=True, clip_qkv=0.3, num_key_value_heads=2,
            qkv_bias=True, attn_out_bias=True, tie_word_embeddings=False,
        ),  # fmt: skip
        "OlmoForCausalLM",
    ),
    "phi3": (
        ArchConfig(
            **TINY, partial_rotary_factor=0.5, tie_word_embeddings=False,
            rope_scaling={"rope_type": "longrope", "short_factor": [1.0] * 4, "long_factor": [1.5, 2.0, 3.0, 4.0], "original_max_position_embeddings": 16},
        ),  # fmt: skip
        "Phi3ForCausalLM",
    ),
    "arcee": (ArchConfig(**TINY, mlp_type="plain", hidden_act="relu2"), "ArceeForCausalLM"),
    "stablelm": (
        ArchConfig(**TINY, **_LN, num_key_value_heads=2, qkv_bias=True, partial_rotary_factor=0.25, parallel_residual=True, parallel_shared_norm=True),
        "StableLmForCausalLM",
    ),
    "stablelm-qk-norm-per-head": (ArchConfig(**TINY, **_LN, num_key_value_heads=2, qk_norm="per_head", partial_rotary_factor=0.5), "StableLmForCausalLM"),
    "gpt_neox": (
        ArchConfig(**TINY, **_LN, **_BIASES, mlp_type="plain", hidden_act="gelu", partial_rotary_factor=0.25, parallel_residual=True, tie_word_embeddings=False),
        "GPTNeoXForCausalLM",
    ),
    "gpt2": (ArchConfig(**TINY, **_LN, **_BIASES, mlp_type="plain", hidden_act="gelu_new", position_embedding="learned"), "GPT2LMHeadModel"),
    "gpt2-unscaled-layer-scaled": (
        ArchConfig(
            **TINY, **_LN, **_BIASES, mlp_type="plain", hidden_act="gelu_new", position_embedding="learned",
            attention_scale=1.0, scale_attn_by_inverse_layer_idx=True,
        ),  # fmt: skip
        "GPT2LMHeadModel",
    ),
    "bloom": (
        ArchConfig(**{**TINY, "intermediate_size": 256}, **_LN, **_BIASES, mlp_type="plain", hidden_act="gelu_new", position_embedding="alibi", embedding_norm=True),
        "BloomForCausalLM",
    ),
    "bloom-normed-residual": (
        ArchConfig(
            **{**TINY, "intermediate_size": 256}, **_LN, **_BIASES, mlp_type="plain", hidden_act="gelu_new",
            position_embedding="alibi", embedding_norm=True, norm_scheme="normed_residual",
        ),  # fmt: skip
        "BloomForCausalLM",
    ),
    "mpt": (
        ArchConfig(**{**TINY, "intermediate_size": 256}, norm_type="layernorm", mlp_type="plain", hidden_act="gelu", position_embedding="alibi"),
        "MptForCausalLM",
    ),
    "mpt-clip-qkv-softmax-scale": (
        ArchConfig(
            **{**TINY, "intermediate_size": 256}, norm_type="layernorm", mlp_type="plain", hidden_act="gelu",
            position_embedding="alibi", clip_qkv=0.3, attention_scale=0.4,
        ),  # fmt: skip
        "MptForCausalLM",
    ),
    "opt-post-ln": (
        ArchConfig(**TINY, **_LN, **_BIASES, norm_scheme="post", final_norm=False, mlp_type="plain", hidden_act="relu", position_embedding="learned", position_offset=2),
        "OPTForCausalLM",
    ),
    "gemma3": (
        ArchConfig(
            **TINY, norm_unit_offset=True, norm_weight_in_fp32=True, scale_embeddings=True, hidden_act="gelu_pytorch_tanh",
            norm_scheme="peri", qk_norm="head", attention_scale=24**-0.5, sliding_window=8, layer_types=("sliding_attention", "full_attention"),
            num_key_value_heads=2, head_dim=32, sliding_rope_theta=100.0, rope_scaling={"rope_type": "linear", "factor": 2.0},
        ),  # fmt: skip
        "Gemma3ForCausalLM",
    ),
    "smollm3": (
        ArchConfig(
            **TINY, nope_layers=(1,), qkv_bias=True, attn_out_bias=True, sliding_window=8,
            layer_types=("full_attention", "sliding_attention"), rope_theta=2e6,
        ),  # fmt: skip
        "SmolLM3ForCausalLM",
    ),
    "granite": (
        ArchConfig(**TINY, num_key_value_heads=2, attention_scale=0.2, embedding_multiplier=3.0, residual_multiplier=0.5, logit_scale=0.25, tie_word_embeddings=False),
        "GraniteForCausalLM",
    ),
    "cohere": (
        ArchConfig(
            **TINY, norm_type="layernorm", norm_weight_in_fp32=True, parallel_residual=True, parallel_shared_norm=True,
            rope_interleaved=True, qk_norm="per_head", logit_scale=0.25, num_key_value_heads=2,
        ),  # fmt: skip
        "CohereForCausalLM",
    ),
    "cohere2": (
        ArchConfig(
            **TINY, norm_type="layernorm", norm_weight_in_fp32=True, parallel_residual=True, parallel_shared_norm=True,
            rope_interleaved=True, logit_scale=0.5, sliding_window=8, layer_types=("sliding_attention", "full_attention"), nope_layers=(1,),
        ),  # fmt: skip
        "Cohere2ForCausalLM",
    ),
    "opt-350m-projections": (
        ArchConfig(
            **TINY, **_LN, **_BIASES, norm_scheme="post", final_norm=False, mlp_type="plain", hidden_act="relu",
            position_embedding="learned", position_offset=2, word_embed_proj_dim=32,
        ),  # fmt: skip
        "OPTForCausalLM",
    ),
    "opt-pre-ln-without-final-norm": (
        ArchConfig(
            **TINY, **_LN, **_BIASES, final_norm=False, mlp_type="plain", hidden_act="relu", position_embedding="learned",
            position_offset=2, word_embed_proj_dim=48, tie_word_embeddings=False,
        ),  # fmt: skip
        "OPTForCausalLM",
    ),
    "deepseek_v3-mla": (
        ArchConfig(**TINY, q_lora_rank=24, kv_lora_rank=16, qk_nope_head_dim=12, qk_rope_head_dim=8, v_head_dim=10, rope_interleaved=True),
        "DeepseekV3ForCausalLM",
    ),
    "deepseek_v3-mla-moe": (
        ArchConfig(
            **{**TINY, "num_hidden_layers": 3}, kv_lora_rank=16, qk_nope_head_dim=12, qk_rope_head_dim=8, v_head_dim=10,
            rope_interleaved=True, num_experts=8, num_experts_per_tok=2, moe_intermediate_size=32, n_shared_experts=1,
            scoring_func="sigmoid", router_correction_bias=True, norm_topk_prob=True, routed_scaling_factor=2.5,
            n_group=4, topk_group=2, first_k_dense_replace=1,
        ),  # fmt: skip
        "DeepseekV3ForCausalLM",
    ),
    "deepseek_v2-mla-moe": (
        ArchConfig(
            **TINY, q_lora_rank=24, kv_lora_rank=16, qk_nope_head_dim=12, qk_rope_head_dim=8, v_head_dim=10,
            rope_interleaved=True, num_experts=8, num_experts_per_tok=2, moe_intermediate_size=32, n_shared_experts=2,
            routed_scaling_factor=1.5,
        ),  # fmt: skip
        "DeepseekV2ForCausalLM",
    ),
    "deepseek_v2-mla-mlp-bias": (
        ArchConfig(**TINY, kv_lora_rank=16, qk_nope_head_dim=12, qk_rope_head_dim=8, v_head_dim=10, rope_interleaved=True, mlp_bias=True),
        "DeepseekV2ForCausalLM",
    ),
    "mixtral": (
        ArchConfig(**TINY, num_key_value_heads=2, num_experts=4, num_experts_per_tok=2, norm_topk_prob=True, tie_word_embeddings=False),
        "MixtralForCausalLM",
    ),
    "qwen2_moe": (
        ArchConfig(
            **TINY, qkv_bias=True, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=32, n_shared_experts=1,
            shared_expert_intermediate_size=48, shared_expert_gate=True, mlp_only_layers=(0,),
        ),  # fmt: skip
        "Qwen2MoeForCausalLM",
    ),
    "qwen3_moe": (
        ArchConfig(
            **{**TINY, "num_hidden_layers": 3}, qk_norm="head", num_key_value_heads=2, head_dim=32, num_experts=4,
            num_experts_per_tok=2, moe_intermediate_size=32, norm_topk_prob=True, decoder_sparse_step=2,
        ),  # fmt: skip
        "Qwen3MoeForCausalLM",
    ),
    # No transformers class runs these exactly: remote code.
    "remote-deepseek-routing-moe": (
        ArchConfig(
            **TINY, num_experts=8, num_experts_per_tok=2, moe_intermediate_size=32, scoring_func="sigmoid",
            router_correction_bias=True, n_group=4, topk_group=2, routed_scaling_factor=2.5, norm_topk_prob=True,
            n_shared_experts=1, first_k_dense_replace=1,
        ),  # fmt: skip
        "ArchsmithForCausalLM",
    ),
    "remote-nope-local-rope-base-per-head-qknorm": (
        ArchConfig(
            **TINY, sliding_window=8, layer_types=("sliding_attention", "full_attention"), sliding_rope_theta=50.0,
            nope_layers=(0,), qk_norm="per_head", attention_scale=0.3, residual_multiplier=0.7, logit_scale=2.0,
        ),  # fmt: skip
        "ArchsmithForCausalLM",
    ),
    "remote-alibi-rmsnorm-swiglu-gqa": (ArchConfig(**TINY, num_key_value_heads=2, position_embedding="alibi"), "ArchsmithForCausalLM"),
    "remote-post-ln-rope": (ArchConfig(**TINY, norm_scheme="post", tie_word_embeddings=False), "ArchsmithForCausalLM"),
    "remote-peri-ln": (ArchConfig(**TINY, norm_scheme="peri", num_key_value_heads=1), "ArchsmithForCausalLM"),
    "remote-interleaved-rope-softcap-window": (
        ArchConfig(**TINY, rope_interleaved=True, attn_logit_softcapping=30.0, final_logit_softcapping=20.0, sliding_window=8),
        "ArchsmithForCausalLM",
    ),
    "remote-parallel-shared-rmsnorm": (ArchConfig(**TINY, parallel_residual=True, parallel_shared_norm=True, lm_head_bias=True, tie_word_embeddings=False), "ArchsmithForCausalLM"),
    "remote-nope-layernorm-qknorm": (ArchConfig(**TINY, **_LN, position_embedding="none", qk_norm="head"), "ArchsmithForCausalLM"),
    "remote-mla-layernorm-peri": (
        ArchConfig(**TINY, **_LN, norm_scheme="peri", kv_lora_rank=16, qk_nope_head_dim=12, qk_rope_head_dim=8, v_head_dim=10),
        "ArchsmithForCausalLM",
    ),
    "remote-learned-rmsnorm-gqa": (ArchConfig(**TINY, position_embedding="learned", num_key_value_heads=2, norm_weight=False), "ArchsmithForCausalLM"),
    "starcoder2": (
        ArchConfig(**TINY, **_LN, **_BIASES, mlp_type="plain", hidden_act="gelu_pytorch_tanh", num_key_value_heads=2, sliding_window=8),
        "Starcoder2ForCausalLM",
    ),
    "gpt_bigcode-mqa": (
        ArchConfig(**TINY, **_LN, **_BIASES, mlp_type="plain", hidden_act="gelu_pytorch_tanh", position_embedding="learned", num_key_value_heads=1),
        "GPTBigCodeForCausalLM",
    ),
    "gpt_bigcode-mqa-unscaled": (
        ArchConfig(
            **TINY, **_LN, **_BIASES, mlp_type="plain", hidden_act="gelu_pytorch_tanh", position_embedding="learned", num_key_value_heads=1,
            attention_scale=1.0,
        ),  # fmt: skip
        "GPTBigCodeForCausalLM",
    ),
    "phi-qk-norm-gqa": (
        ArchConfig(
            **TINY, **_LN, **_BIASES, mlp_type="plain", hidden_act="gelu_new", partial_rotary_factor=0.5, parallel_residual=True,
            parallel_shared_norm=True, lm_head_bias=True, qk_norm="head", num_key_value_heads=2, tie_word_embeddings=False,
        ),  # fmt: skip
        "PhiForCausalLM",
    ),
    "gptj": (
        ArchConfig(
            **TINY, **_LN, mlp_bias=True, mlp_type="plain", hidden_act="gelu_new", partial_rotary_factor=0.5, rope_interleaved=True,
            parallel_residual=True, parallel_shared_norm=True, lm_head_bias=True, tie_word_embeddings=False,
        ),  # fmt: skip
        "GPTJForCausalLM",
    ),
    "falcon-parallel-mqa": (
        ArchConfig(**TINY, **_LN, mlp_type="plain", hidden_act="gelu", num_key_value_heads=1, parallel_residual=True, parallel_shared_norm=True),
        "FalconForCausalLM",
    ),
    "falcon-gqa-two-norms": (
        ArchConfig(**TINY, **_LN, **_BIASES, mlp_type="plain", hidden_act="gelu", num_key_value_heads=2, parallel_residual=True),
        "FalconForCausalLM",
    ),
    "falcon-gqa-one-norm": (
        ArchConfig(**TINY, **_LN, mlp_type="plain", hidden_act="relu", num_key_value_heads=2, parallel_residual=True, parallel_shared_norm=True),
        "FalconForCausalLM",
    ),
    "falcon-alibi-sequential": (
        ArchConfig(**TINY, **_LN, **_BIASES, mlp_type="plain", hidden_act="gelu", position_embedding="alibi", alibi_before_scale=True),
        "FalconForCausalLM",
    ),
    "remote-per-head-rmsnorm-clip-scale-projections": (
        ArchConfig(
            **TINY, num_key_value_heads=2, qk_norm="per_head", clip_qkv=0.3, attention_scale=0.2, word_embed_proj_dim=32,
            scale_attn_by_inverse_layer_idx=True,
        ),  # fmt: skip
        "ArchsmithForCausalLM",
    ),
}


@pytest.mark.parametrize("case", list(EXPORT_CASES))
def test_archsmith_to_hf_logits_and_generation(case, tmp_path):
    cfg, architecture = EXPORT_CASES[case]
    torch.manual_seed(0)
    ours = build_model(cfg).eval()
    perturb(ours)
    plan = to_hf(ours, tmp_path / "out")
    assert plan.architecture == architecture, plan.reason

    hf_model, info = transformers.AutoModelForCausalLM.from_pretrained(
        tmp_path / "out", output_loading_info=True, trust_remote_code=plan.remote_code, attn_implementation=attention_of(plan.model_type)
    )
    hf_model.eval()
    assert {k: v for k, v in info.items() if v} == {}  # no missing, unexpected or mismatched keys
    assert type(hf_model).__name__ == architecture

    assert max_logit_diff(ours, hf_model, input_ids()) <= TOLERANCE
    mine, theirs = greedy_both(ours, hf_model, input_ids(batch=1, seq=6))
    assert torch.equal(mine, theirs)
