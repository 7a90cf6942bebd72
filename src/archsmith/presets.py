"""Published model shapes, litgpt style: each preset is the model's HF config.json.

A preset holds the architecture keys of the config.json as published on the Hub (4.x form,
as the files are there) and the link to it; its ArchConfig is produced by the HF reader, so
every preset also exercises ``from_hf_config``. Add a model by pasting its config.json keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import ArchConfig, closest_name
from .errors import ConfigError
from .hf import from_hf_config


_HUB_PREFIX = "https://huggingface.co/"


@dataclass(frozen=True)
class Preset:
    name: str
    source: str  # URL of the published config.json
    hf_config: dict[str, Any]

    def config(self) -> ArchConfig:
        return from_hf_config(self.hf_config).replace(name=self.name)

    @property
    def hub_id(self) -> str | None:
        """The model's Hub id (``org/name``), read off ``source`` so the link is written once;
        None for a model not on the Hub (GPT-3, whose source is the paper)."""
        if not self.source.startswith(_HUB_PREFIX):
            return None
        return self.source.removeprefix(_HUB_PREFIX).split("/blob/")[0]


_LLAMA3_ROPE_8X = {
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8192,
    "rope_type": "llama3",
}
_LLAMA32_ROPE_32X = {**_LLAMA3_ROPE_8X, "factor": 32.0}

# Phi-3-mini-128k's LongRoPE rescale factors, one per rotary frequency (head_dim 96 -> 48).
# From the April 2024 release of the config (rope type "su", renamed "longrope" since).
_PHI3_MINI_128K_SHORT_FACTOR = (
    [1.05, 1.05, 1.05, 1.1, 1.1, 1.1500000000000001, 1.2000000000000002, 1.2500000000000002]
    + [1.3000000000000003, 1.3500000000000003, 1.5000000000000004]
    + [2.000000000000001] * 21
    + [2.0500000000000007] * 3
    + [2.1000000000000005] * 3
    + [2.1500000000000004] * 2
    + [2.3499999999999996, 2.549999999999999, 2.5999999999999988, 2.5999999999999988]
    + [2.7499999999999982, 2.849999999999998, 2.849999999999998, 2.9499999999999975]
)
_PHI3_MINI_128K_LONG_FACTOR = [
    1.0299999713897705, 1.0499999523162842, 1.0499999523162842, 1.0799999237060547,
    1.2299998998641968, 1.2299998998641968, 1.2999999523162842, 1.4499999284744263,
    1.5999999046325684, 1.6499998569488525, 1.8999998569488525, 2.859999895095825,
    3.68999981880188, 5.419999599456787, 5.489999771118164, 5.489999771118164,
    9.09000015258789, 11.579999923706055, 15.65999984741211, 15.769999504089355,
    15.789999961853027, 18.360000610351562, 21.989999771118164, 23.079999923706055,
    30.009998321533203, 32.35000228881836, 32.590003967285156, 35.56000518798828,
    39.95000457763672, 53.840003967285156, 56.20000457763672, 57.95000457763672,
    59.29000473022461, 59.77000427246094, 59.920005798339844, 61.190006256103516,
    61.96000671386719, 62.50000762939453, 63.3700065612793, 63.48000717163086,
    63.48000717163086, 63.66000747680664, 63.850006103515625, 64.08000946044922,
    64.760009765625, 64.80001068115234, 64.81001281738281, 64.81001281738281,
]  # fmt: skip


def _llama(hidden, intermediate, layers, heads, kv_heads, vocab, max_pos, eps, theta, tie=False, **extra):
    """The keys every Llama-family config.json on the Hub spells out."""
    return {
        "model_type": "llama",
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "vocab_size": vocab,
        "max_position_embeddings": max_pos,
        "rms_norm_eps": eps,
        "rope_theta": theta,
        "hidden_act": "silu",
        "tie_word_embeddings": tie,
        **extra,
    }


def _qwen2(hidden, intermediate, layers, heads, kv_heads, vocab, max_pos, window_layers, eps, tie):
    return {
        "model_type": "qwen2",
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "vocab_size": vocab,
        "max_position_embeddings": max_pos,
        "max_window_layers": window_layers,
        "sliding_window": max_pos,
        "use_sliding_window": False,
        "rms_norm_eps": eps,
        "rope_theta": 1000000.0,
        "hidden_act": "silu",
        "tie_word_embeddings": tie,
        "torch_dtype": "bfloat16",
    }


def _qwen3(hidden, intermediate, layers, heads, vocab, tie, max_pos=40960):
    """Qwen3 dense: head_dim 128 and 8 KV heads at every size, per-head q/k RMSNorm (in the class)."""
    return {
        "model_type": "qwen3", "hidden_size": hidden, "intermediate_size": intermediate, "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": vocab,
        "max_position_embeddings": max_pos, "max_window_layers": layers, "sliding_window": None,
        "use_sliding_window": False, "rms_norm_eps": 1e-06, "rope_theta": 1000000, "rope_scaling": None,
        "attention_bias": False, "hidden_act": "silu", "tie_word_embeddings": tie, "torch_dtype": "bfloat16",
    }  # fmt: skip


def _mistral(hidden, intermediate, layers, heads, vocab, max_pos, theta, head_dim=None, window=None):
    out = {
        "model_type": "mistral", "hidden_size": hidden, "intermediate_size": intermediate,
        "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": 8, "vocab_size": vocab,
        "max_position_embeddings": max_pos, "rms_norm_eps": 1e-05, "rope_theta": theta, "sliding_window": window,
        "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    }  # fmt: skip
    if head_dim is not None:
        out["head_dim"] = head_dim
    return out


def _gpt2(hidden, layers, heads, **extra):
    return {
        "model_type": "gpt2",
        "activation_function": "gelu_new",
        "n_embd": hidden,
        "n_layer": layers,
        "n_head": heads,
        "n_ctx": 1024,
        "n_positions": 1024,
        "vocab_size": 50257,
        "layer_norm_epsilon": 1e-05,
        "attn_pdrop": 0.1,
        "embd_pdrop": 0.1,
        "resid_pdrop": 0.1,
        **extra,
    }


def _pythia(hidden, intermediate, layers, heads, vocab):
    return {
        "model_type": "gpt_neox",
        "hidden_size": hidden,
        "intermediate_size": intermediate,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "vocab_size": vocab,
        "max_position_embeddings": 2048,
        "rotary_pct": 0.25,
        "rotary_emb_base": 10000,
        "use_parallel_residual": True,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-05,
        "tie_word_embeddings": False,
        "torch_dtype": "float16",
    }


def _phi3_mini(max_pos, sliding_window, rope_scaling):
    return {
        "model_type": "phi3",
        "hidden_size": 3072,
        "intermediate_size": 8192,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "vocab_size": 32064,
        "max_position_embeddings": max_pos,
        "original_max_position_embeddings": 4096,
        "rms_norm_eps": 1e-05,
        "rope_theta": 10000.0,
        "rope_scaling": rope_scaling,
        "sliding_window": sliding_window,
        "hidden_act": "silu",
        "attention_bias": False,
        "embd_pdrop": 0.0,
        "resid_pdrop": 0.0,
        "tie_word_embeddings": False,
        "torch_dtype": "bfloat16",
    }


def _starcoder2(hidden, intermediate, layers, heads, kv_heads, theta, init, dtype):
    return {
        "model_type": "starcoder2", "hidden_size": hidden, "intermediate_size": intermediate,
        "num_hidden_layers": layers, "num_attention_heads": heads, "num_key_value_heads": kv_heads,
        "vocab_size": 49152, "max_position_embeddings": 16384, "norm_epsilon": 1e-05, "rope_theta": theta,
        "sliding_window": 4096, "use_bias": True, "attention_dropout": 0.1, "residual_dropout": 0.1,
        "embedding_dropout": 0.1, "hidden_act": "gelu_pytorch_tanh", "initializer_range": init, "torch_dtype": dtype,
    }  # fmt: skip


def _olmo(hidden, intermediate, layers, heads, max_pos, tie=False, clip_qkv=None):
    """OLMo-1 (HF-native "-hf" repos): a Llama block with non-parametric LayerNorms (in the class)."""
    return {
        "model_type": "olmo", "hidden_size": hidden, "intermediate_size": intermediate, "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": heads, "vocab_size": 50304,
        "max_position_embeddings": max_pos, "rope_theta": 10000.0, "rope_scaling": None, "attention_bias": False,
        "clip_qkv": clip_qkv, "hidden_act": "silu", "tie_word_embeddings": tie, "torch_dtype": "float32",
    }  # fmt: skip


def _gemma2(hidden, intermediate, layers, heads, kv_heads, head_dim, query_pre_attn_scalar):
    return {
        "model_type": "gemma2", "hidden_size": hidden, "intermediate_size": intermediate, "num_hidden_layers": layers,
        "num_attention_heads": heads, "num_key_value_heads": kv_heads, "head_dim": head_dim, "vocab_size": 256000,
        "max_position_embeddings": 8192, "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "attention_bias": False,
        "hidden_activation": "gelu_pytorch_tanh", "query_pre_attn_scalar": query_pre_attn_scalar,
        "sliding_window": 4096, "attn_logit_softcapping": 50.0, "final_logit_softcapping": 30.0,
        "torch_dtype": "float32",
    }  # fmt: skip


def _opt(hidden, ffn, layers, heads, word_embed_proj_dim, do_layer_norm_before=True):
    return {
        "model_type": "opt", "hidden_size": hidden, "ffn_dim": ffn, "num_hidden_layers": layers,
        "num_attention_heads": heads, "word_embed_proj_dim": word_embed_proj_dim, "vocab_size": 50272,
        "max_position_embeddings": 2048, "do_layer_norm_before": do_layer_norm_before,
        "activation_function": "relu", "dropout": 0.1, "attention_dropout": 0.0, "torch_dtype": "float16",
    }  # fmt: skip


def _mpt(d_model, heads, layers, max_seq_len):
    return {
        "model_type": "mpt", "d_model": d_model, "n_heads": heads, "n_layers": layers, "expansion_ratio": 4,
        "max_seq_len": max_seq_len, "vocab_size": 50432, "no_bias": True, "logit_scale": None,
        "attn_config": {"alibi": True, "alibi_bias_max": 8, "clip_qkv": None, "qk_ln": False, "softmax_scale": None},
        "torch_dtype": "bfloat16",
    }  # fmt: skip


def _hub(repo: str) -> str:
    return f"{_HUB_PREFIX}{repo}/blob/main/config.json"


# GPT-3 was never released: its shapes are Table 2.1 of the paper (Brown et al. 2020), a GPT-2 block
# with a 2048-token context. MHA parameter counts do not depend on the head count, so where the
# paper's d_model is not a multiple of its heads (XL: 2048/24, 13B: 5140/40) we give a head count
# that divides it, so that GPT-2's class can be built for the count check.
GPT3_PAPER = "https://arxiv.org/abs/2005.14165"


_PRESET_LIST = [
    # --- Llama 1/2/3
    Preset("llama-7b", _hub("huggyllama/llama-7b"),
           _llama(4096, 11008, 32, 32, 32, 32000, 2048, 1e-06, 10000.0, torch_dtype="float16")),
    Preset("llama-2-7b", _hub("meta-llama/Llama-2-7b-hf"),
           _llama(4096, 11008, 32, 32, 32, 32000, 4096, 1e-05, 10000.0, rope_scaling=None,
                  pretraining_tp=1, torch_dtype="float16")),
    Preset("llama-3-8b", _hub("meta-llama/Meta-Llama-3-8B"),
           _llama(4096, 14336, 32, 32, 8, 128256, 8192, 1e-05, 500000.0, rope_scaling=None,
                  pretraining_tp=1, torch_dtype="bfloat16")),
    Preset("llama-3-70b", _hub("meta-llama/Meta-Llama-3-70B"),
           _llama(8192, 28672, 80, 64, 8, 128256, 8192, 1e-05, 500000.0, rope_scaling=None,
                  pretraining_tp=1, torch_dtype="bfloat16")),
    Preset("llama-3.1-8b", _hub("meta-llama/Llama-3.1-8B"),
           _llama(4096, 14336, 32, 32, 8, 128256, 131072, 1e-05, 500000.0, rope_scaling=_LLAMA3_ROPE_8X,
                  attention_bias=False, mlp_bias=False, pretraining_tp=1, torch_dtype="bfloat16")),
    Preset("llama-3.1-70b", _hub("meta-llama/Llama-3.1-70B"),
           _llama(8192, 28672, 80, 64, 8, 128256, 131072, 1e-05, 500000.0, rope_scaling=_LLAMA3_ROPE_8X,
                  attention_bias=False, mlp_bias=False, pretraining_tp=1, torch_dtype="bfloat16")),
    Preset("llama-3.1-405b", _hub("meta-llama/Llama-3.1-405B"),
           _llama(16384, 53248, 126, 128, 8, 128256, 131072, 1e-05, 500000.0, rope_scaling=_LLAMA3_ROPE_8X,
                  attention_bias=False, mlp_bias=False, pretraining_tp=1, torch_dtype="bfloat16")),
    Preset("llama-3.2-1b", _hub("meta-llama/Llama-3.2-1B"),
           _llama(2048, 8192, 16, 32, 8, 128256, 131072, 1e-05, 500000.0, tie=True, head_dim=64,
                  rope_scaling=_LLAMA32_ROPE_32X, attention_bias=False, mlp_bias=False, torch_dtype="bfloat16")),
    Preset("llama-3.2-3b", _hub("meta-llama/Llama-3.2-3B"),
           _llama(3072, 8192, 28, 24, 8, 128256, 131072, 1e-05, 500000.0, tie=True, head_dim=128,
                  rope_scaling=_LLAMA32_ROPE_32X, attention_bias=False, mlp_bias=False, torch_dtype="bfloat16")),
    Preset("llama-2-13b", _hub("meta-llama/Llama-2-13b-hf"),
           _llama(5120, 13824, 40, 40, 40, 32000, 4096, 1e-05, 10000.0, rope_scaling=None,
                  pretraining_tp=1, torch_dtype="float16")),
    Preset("llama-2-70b", _hub("meta-llama/Llama-2-70b-hf"),
           _llama(8192, 28672, 80, 64, 8, 32000, 4096, 1e-05, 10000.0, rope_scaling=None,
                  pretraining_tp=1, torch_dtype="float16")),
    Preset("tinyllama-1.1b", _hub("TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T"),
           _llama(2048, 5632, 22, 32, 4, 32000, 2048, 1e-05, 10000.0, rope_scaling=None, torch_dtype="float32")),
    Preset("smollm-135m", _hub("HuggingFaceTB/SmolLM-135M"),
           _llama(576, 1536, 30, 9, 3, 49152, 2048, 1e-05, 10000.0, tie=True, rope_scaling=None,
                  torch_dtype="float32")),
    Preset("smollm-360m", _hub("HuggingFaceTB/SmolLM-360M"),
           _llama(960, 2560, 32, 15, 5, 49152, 2048, 1e-05, 10000.0, tie=True, rope_scaling=None,
                  torch_dtype="float32")),
    Preset("smollm2-135m", _hub("HuggingFaceTB/SmolLM2-135M"),
           _llama(576, 1536, 30, 9, 3, 49152, 8192, 1e-05, 100000, tie=True, rope_scaling=None,
                  torch_dtype="bfloat16")),
    Preset("smollm2-360m", _hub("HuggingFaceTB/SmolLM2-360M"),
           _llama(960, 2560, 32, 15, 5, 49152, 8192, 1e-05, 100000, tie=True, rope_scaling=None,
                  torch_dtype="bfloat16")),
    Preset("smollm2-1.7b", _hub("HuggingFaceTB/SmolLM2-1.7B"),
           _llama(2048, 8192, 24, 32, 32, 49152, 8192, 1e-05, 130000, tie=True, rope_scaling=None,
                  torch_dtype="bfloat16")),
    # --- Mistral
    Preset("mistral-7b-v0.1", _hub("mistralai/Mistral-7B-v0.1"), {
        "model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 32000,
        "max_position_embeddings": 32768, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
        "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    }),
    Preset("mistral-nemo-12b", _hub("mistralai/Mistral-Nemo-Base-2407"),
           _mistral(5120, 14336, 40, 32, 131072, 1024000, 1000000.0, head_dim=128)),
    Preset("mistral-small-24b", _hub("mistralai/Mistral-Small-24B-Base-2501"),
           _mistral(5120, 32768, 40, 32, 131072, 32768, 100000000.0, head_dim=128)),
    Preset("mistral-large-123b", _hub("mistralai/Mistral-Large-Instruct-2407"),
           _mistral(12288, 28672, 88, 96, 32768, 131072, 1000000.0)),
    # --- Qwen2 / Qwen2.5
    Preset("qwen2-0.5b", _hub("Qwen/Qwen2-0.5B"), _qwen2(896, 4864, 24, 14, 2, 151936, 131072, 24, 1e-06, True)),
    Preset("qwen2-7b", _hub("Qwen/Qwen2-7B"), _qwen2(3584, 18944, 28, 28, 4, 152064, 131072, 28, 1e-06, False)),
    Preset("qwen2.5-0.5b", _hub("Qwen/Qwen2.5-0.5B"), _qwen2(896, 4864, 24, 14, 2, 151936, 32768, 24, 1e-06, True)),
    Preset("qwen2.5-1.5b", _hub("Qwen/Qwen2.5-1.5B"),
           _qwen2(1536, 8960, 28, 12, 2, 151936, 131072, 21, 1e-06, True)),
    Preset("qwen2.5-3b", _hub("Qwen/Qwen2.5-3B"), _qwen2(2048, 11008, 36, 16, 2, 151936, 32768, 36, 1e-06, True)),
    Preset("qwen2.5-7b", _hub("Qwen/Qwen2.5-7B"), _qwen2(3584, 18944, 28, 28, 4, 152064, 131072, 28, 1e-06, False)),
    Preset("qwen2.5-14b", _hub("Qwen/Qwen2.5-14B"),
           _qwen2(5120, 13824, 48, 40, 8, 152064, 131072, 48, 1e-05, False)),
    Preset("qwen2.5-32b", _hub("Qwen/Qwen2.5-32B"),
           _qwen2(5120, 27648, 64, 40, 8, 152064, 131072, 64, 1e-05, False)),
    Preset("qwen2.5-72b", _hub("Qwen/Qwen2.5-72B"), _qwen2(8192, 29568, 80, 64, 8, 152064, 131072, 80, 1e-05, False)),
    # --- Qwen3
    Preset("qwen3-0.6b", _hub("Qwen/Qwen3-0.6B"), {
        "model_type": "qwen3", "hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 28,
        "num_attention_heads": 16, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
        "max_position_embeddings": 40960, "max_window_layers": 28, "sliding_window": None,
        "use_sliding_window": False, "rms_norm_eps": 1e-06, "rope_theta": 1000000, "rope_scaling": None,
        "attention_bias": False, "hidden_act": "silu", "tie_word_embeddings": True, "torch_dtype": "bfloat16",
    }),
    Preset("qwen3-8b", _hub("Qwen/Qwen3-8B"), {
        "model_type": "qwen3", "hidden_size": 4096, "intermediate_size": 12288, "num_hidden_layers": 36,
        "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 151936,
        "max_position_embeddings": 40960, "max_window_layers": 36, "sliding_window": None,
        "use_sliding_window": False, "rms_norm_eps": 1e-06, "rope_theta": 1000000, "rope_scaling": None,
        "attention_bias": False, "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    }),
    Preset("qwen3-1.7b", _hub("Qwen/Qwen3-1.7B"), _qwen3(2048, 6144, 28, 16, 151936, True)),
    Preset("qwen3-4b", _hub("Qwen/Qwen3-4B"), _qwen3(2560, 9728, 36, 32, 151936, True)),
    Preset("qwen3-14b", _hub("Qwen/Qwen3-14B"), _qwen3(5120, 17408, 40, 40, 151936, False)),
    Preset("qwen3-32b", _hub("Qwen/Qwen3-32B"), _qwen3(5120, 25600, 64, 64, 151936, False)),
    # --- Mixture-of-Experts
    Preset("mixtral-8x7b", _hub("mistralai/Mixtral-8x7B-v0.1"), {
        "model_type": "mixtral", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 32000, "max_position_embeddings": 32768,
        "num_local_experts": 8, "num_experts_per_tok": 2, "output_router_logits": False, "router_aux_loss_coef": 0.02,
        "rms_norm_eps": 1e-05, "rope_theta": 1000000.0, "sliding_window": None, "hidden_act": "silu",
        "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    }),
    Preset("qwen3-30b-a3b", _hub("Qwen/Qwen3-30B-A3B"), {
        "model_type": "qwen3_moe", "hidden_size": 2048, "intermediate_size": 6144, "num_hidden_layers": 48,
        "num_attention_heads": 32, "num_key_value_heads": 4, "head_dim": 128, "vocab_size": 151936,
        "max_position_embeddings": 40960, "max_window_layers": 48, "sliding_window": None, "use_sliding_window": False,
        "num_experts": 128, "num_experts_per_tok": 8, "moe_intermediate_size": 768, "decoder_sparse_step": 1,
        "mlp_only_layers": [], "norm_topk_prob": True, "output_router_logits": False, "router_aux_loss_coef": 0.001,
        "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "rope_scaling": None, "attention_bias": False,
        "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    }),
    # --- Gemma
    Preset("gemma-2b", _hub("google/gemma-2b"), {
        "model_type": "gemma", "hidden_size": 2048, "intermediate_size": 16384, "num_hidden_layers": 18,
        "num_attention_heads": 8, "num_key_value_heads": 1, "head_dim": 256, "vocab_size": 256000,
        "max_position_embeddings": 8192, "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "rope_scaling": None,
        "attention_bias": False, "hidden_act": "gelu", "torch_dtype": "bfloat16",
    }),
    Preset("gemma-7b", _hub("google/gemma-7b"), {
        "model_type": "gemma", "hidden_size": 3072, "intermediate_size": 24576, "num_hidden_layers": 28,
        "num_attention_heads": 16, "num_key_value_heads": 16, "head_dim": 256, "vocab_size": 256000,
        "max_position_embeddings": 8192, "rms_norm_eps": 1e-06, "rope_theta": 10000.0, "rope_scaling": None,
        "attention_bias": False, "hidden_act": "gelu", "torch_dtype": "bfloat16",
    }),
    # --- Gemma 3 (text): the 27B's is the text_config of a multimodal config.json; 5 sliding layers per full
    # one, RoPE base 10k on sliding and 1M (x8 linear) on full layers, query_pre_attn_scalar 168 != head_dim 128
    Preset("gemma-3-1b", _hub("google/gemma-3-1b-it"), {
        "model_type": "gemma3_text", "hidden_size": 1152, "intermediate_size": 6912, "num_hidden_layers": 26,
        "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256, "vocab_size": 262144,
        "max_position_embeddings": 32768, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06,
        "rope_local_base_freq": 10000, "rope_scaling": None, "rope_theta": 1000000, "sliding_window": 512,
        "sliding_window_pattern": 6, "hidden_activation": "gelu_pytorch_tanh", "torch_dtype": "bfloat16",
    }),
    Preset("gemma-3-27b", _hub("google/gemma-3-27b-it"), {
        "model_type": "gemma3_text", "hidden_size": 5376, "intermediate_size": 21504, "num_hidden_layers": 62,
        "num_attention_heads": 32, "num_key_value_heads": 16, "head_dim": 128, "query_pre_attn_scalar": 168,
        "rope_scaling": {"factor": 8.0, "rope_type": "linear"}, "sliding_window": 1024,
        "vocab_size": 262208,  # not in the text_config: Gemma3TextConfig's default, which the model uses
    }),
    # --- SmolLM3: no RoPE on every 4th layer
    Preset("smollm3-3b", _hub("HuggingFaceTB/SmolLM3-3B-Base"), {
        "model_type": "smollm3", "hidden_size": 2048, "intermediate_size": 11008, "num_hidden_layers": 36,
        "num_attention_heads": 16, "num_key_value_heads": 4, "vocab_size": 128256, "max_position_embeddings": 65536,
        "no_rope_layer_interval": 4, "rms_norm_eps": 1e-06, "rope_scaling": None, "rope_theta": 5000000.0,
        "sliding_window": None, "use_sliding_window": False, "attention_bias": False, "hidden_act": "silu",
        "tie_word_embeddings": True, "torch_dtype": "bfloat16",
    }),
    # --- Granite 3: embedding, residual, attention and logit multipliers
    Preset("granite-3.3-8b", _hub("ibm-granite/granite-3.3-8b-instruct"), {
        "model_type": "granite", "hidden_size": 4096, "intermediate_size": 12800, "num_hidden_layers": 40,
        "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 49159, "max_position_embeddings": 131072,
        "attention_multiplier": 0.0078125, "embedding_multiplier": 12.0, "residual_multiplier": 0.22,
        "logits_scaling": 16.0, "rms_norm_eps": 1e-05, "rope_scaling": None, "rope_theta": 10000000.0,
        "attention_bias": False, "mlp_bias": False, "hidden_act": "silu", "tie_word_embeddings": True,
        "torch_dtype": "bfloat16",
    }),
    # --- Command-R (Cohere): parallel block, bias-free LayerNorm, logit_scale; R7B (Cohere 2) adds 3:1 sliding
    # layers and leaves its full layers without RoPE
    Preset("command-r-35b", _hub("CohereForAI/c4ai-command-r-v01"), {
        "model_type": "cohere", "hidden_size": 8192, "intermediate_size": 22528, "num_hidden_layers": 40,
        "num_attention_heads": 64, "num_key_value_heads": 64, "vocab_size": 256000, "max_position_embeddings": 8192,
        "layer_norm_eps": 1e-05, "logit_scale": 0.0625, "rope_theta": 8000000.0, "use_qk_norm": False,
        "attention_bias": False, "hidden_act": "silu", "torch_dtype": "float16",
    }),
    Preset("command-r7b", _hub("CohereForAI/c4ai-command-r7b-12-2024"), {
        "model_type": "cohere2", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 256000, "max_position_embeddings": 132096,
        "layer_norm_eps": 1e-05, "logit_scale": 0.25, "rope_theta": 50000, "rope_scaling": None,
        "sliding_window": 4096, "sliding_window_pattern": 4, "attention_bias": False, "hidden_act": "silu",
        "torch_dtype": "bfloat16",
    }),
    # --- GPT-2
    Preset("gpt2", _hub("openai-community/gpt2"), _gpt2(768, 12, 12)),
    Preset("gpt2-medium", _hub("openai-community/gpt2-medium"), _gpt2(1024, 24, 16, n_special=0)),
    Preset("gpt2-large", _hub("openai-community/gpt2-large"), _gpt2(1280, 36, 20)),
    Preset("gpt2-xl", _hub("openai-community/gpt2-xl"), _gpt2(1600, 48, 25)),
    # --- GPT-3 (the paper's Table 2.1; see GPT3_PAPER above)
    Preset("gpt3-125m", GPT3_PAPER, _gpt2(768, 12, 12, n_ctx=2048, n_positions=2048)),
    Preset("gpt3-350m", GPT3_PAPER, _gpt2(1024, 24, 16, n_ctx=2048, n_positions=2048)),
    Preset("gpt3-760m", GPT3_PAPER, _gpt2(1536, 24, 16, n_ctx=2048, n_positions=2048)),
    Preset("gpt3-1.3b", GPT3_PAPER, _gpt2(2048, 24, 16, n_ctx=2048, n_positions=2048)),
    Preset("gpt3-2.7b", GPT3_PAPER, _gpt2(2560, 32, 32, n_ctx=2048, n_positions=2048)),
    Preset("gpt3-6.7b", GPT3_PAPER, _gpt2(4096, 32, 32, n_ctx=2048, n_positions=2048)),
    Preset("gpt3-13b", GPT3_PAPER, _gpt2(5140, 40, 20, n_ctx=2048, n_positions=2048)),
    Preset("gpt3-175b", GPT3_PAPER, _gpt2(12288, 96, 96, n_ctx=2048, n_positions=2048)),
    # --- Pythia (GPT-NeoX); 6.9b pads its vocabulary further than the smaller ones
    Preset("pythia-160m", _hub("EleutherAI/pythia-160m"), _pythia(768, 3072, 12, 12, 50304)),
    Preset("pythia-1b", _hub("EleutherAI/pythia-1b"), _pythia(2048, 8192, 16, 8, 50304)),
    Preset("pythia-6.9b", _hub("EleutherAI/pythia-6.9b"), _pythia(4096, 16384, 32, 32, 50432)),
    # --- OLMo 2
    Preset("olmo-2-7b", _hub("allenai/OLMo-2-1124-7B"), {
        "model_type": "olmo2", "hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 100352,
        "max_position_embeddings": 4096, "rms_norm_eps": 1e-06, "rope_theta": 500000, "rope_scaling": None,
        "attention_bias": False, "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "float32",
    }),
    Preset("olmo-2-13b", _hub("allenai/OLMo-2-1124-13B"), {
        "model_type": "olmo2", "hidden_size": 5120, "intermediate_size": 13824, "num_hidden_layers": 40,
        "num_attention_heads": 40, "num_key_value_heads": 40, "vocab_size": 100352,
        "max_position_embeddings": 4096, "rms_norm_eps": 1e-06, "rope_theta": 500000, "rope_scaling": None,
        "attention_bias": False, "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "float32",
    }),
    # --- OLMo (1): non-parametric LayerNorm; 0424 clips q/k/v at 8
    Preset("olmo-1b", _hub("allenai/OLMo-1B-hf"), _olmo(2048, 8192, 16, 16, 2048, tie=True)),
    Preset("olmo-7b", _hub("allenai/OLMo-7B-hf"), _olmo(4096, 11008, 32, 32, 2048)),
    Preset("olmo-7b-0424", _hub("allenai/OLMo-7B-0424-hf"), _olmo(4096, 11008, 32, 32, 4096, clip_qkv=8.0)),
    # --- Phi-3
    Preset("phi-3-mini-4k", _hub("microsoft/Phi-3-mini-4k-instruct"), _phi3_mini(4096, 2047, None)),
    Preset("phi-3-mini-128k", _hub("microsoft/Phi-3-mini-128k-instruct"), _phi3_mini(131072, 262144, {
        "type": "su",
        "short_factor": _PHI3_MINI_128K_SHORT_FACTOR,
        "long_factor": _PHI3_MINI_128K_LONG_FACTOR,
    })),
    # --- Gemma 2: the 27B scales its scores by (hidden/heads = 144) ** -0.5, not head_dim 128 ** -0.5
    Preset("gemma-2-9b", _hub("google/gemma-2-9b"), _gemma2(3584, 14336, 42, 16, 8, 256, 256)),
    Preset("gemma-2-27b", _hub("google/gemma-2-27b"), _gemma2(4608, 36864, 46, 32, 16, 128, 144)),
    # --- StableLM 2: the 12B has a LayerNorm per head on q and k and a parallel residual
    Preset("stablelm-2-1.6b", _hub("stabilityai/stablelm-2-1_6b"), {
        "model_type": "stablelm", "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 24,
        "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 100352, "max_position_embeddings": 4096,
        "layer_norm_eps": 1e-05, "partial_rotary_factor": 0.25, "rope_theta": 10000, "use_qkv_bias": True,
        "use_parallel_residual": False, "qk_layernorm": False, "tie_word_embeddings": False, "torch_dtype": "float16",
    }),
    Preset("stablelm-2-12b", _hub("stabilityai/stablelm-2-12b"), {
        "model_type": "stablelm", "hidden_size": 5120, "intermediate_size": 13824, "num_hidden_layers": 40,
        "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 100352, "max_position_embeddings": 4096,
        "layer_norm_eps": 1e-05, "partial_rotary_factor": 0.25, "rope_theta": 10000, "use_qkv_bias": False,
        "use_parallel_residual": True, "qk_layernorm": True, "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    }),
    # --- OPT: the 350m is post-LN with a 512-wide embedding projected in and out
    Preset("opt-125m", _hub("facebook/opt-125m"), _opt(768, 3072, 12, 12, 768)),
    Preset("opt-350m", _hub("facebook/opt-350m"), _opt(1024, 4096, 24, 16, 512, do_layer_norm_before=False)),
    Preset("opt-1.3b", _hub("facebook/opt-1.3b"), _opt(2048, 8192, 24, 32, 2048)),
    Preset("opt-6.7b", _hub("facebook/opt-6.7b"), _opt(4096, 16384, 32, 32, 4096)),
    # --- MPT
    Preset("mpt-7b", _hub("mosaicml/mpt-7b"), _mpt(4096, 32, 32, 2048)),
    Preset("mpt-30b", _hub("mosaicml/mpt-30b"), _mpt(7168, 64, 48, 8192)),
    # --- DeepSeek MLA + MoE (transformers builds no multi-token-prediction module, so neither do we)
    Preset("deepseek-v3", _hub("deepseek-ai/DeepSeek-V3"), {
        "model_type": "deepseek_v3", "hidden_size": 7168, "intermediate_size": 18432, "moe_intermediate_size": 2048,
        "num_hidden_layers": 61, "num_attention_heads": 128, "num_key_value_heads": 128, "vocab_size": 129280,
        "max_position_embeddings": 163840, "q_lora_rank": 1536, "kv_lora_rank": 512, "qk_nope_head_dim": 128,
        "qk_rope_head_dim": 64, "v_head_dim": 128, "n_routed_experts": 256, "n_shared_experts": 1,
        "num_experts_per_tok": 8, "n_group": 8, "topk_group": 4, "first_k_dense_replace": 3, "moe_layer_freq": 1,
        "norm_topk_prob": True, "routed_scaling_factor": 2.5, "scoring_func": "sigmoid", "topk_method": "noaux_tc",
        "num_nextn_predict_layers": 1, "rms_norm_eps": 1e-06, "rope_theta": 10000, "rope_scaling": {
            "beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0, "mscale_all_dim": 1.0,
            "original_max_position_embeddings": 4096, "type": "yarn",
        },
        "attention_bias": False, "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    }),
    Preset("moonlight-16b-a3b", _hub("moonshotai/Moonlight-16B-A3B"), {
        "model_type": "deepseek_v3", "hidden_size": 2048, "intermediate_size": 11264, "moe_intermediate_size": 1408,
        "num_hidden_layers": 27, "num_attention_heads": 16, "num_key_value_heads": 16, "vocab_size": 163840,
        "max_position_embeddings": 8192, "q_lora_rank": None, "kv_lora_rank": 512, "qk_nope_head_dim": 128,
        "qk_rope_head_dim": 64, "v_head_dim": 128, "n_routed_experts": 64, "n_shared_experts": 2,
        "num_experts_per_tok": 6, "n_group": 1, "topk_group": 1, "first_k_dense_replace": 1, "moe_layer_freq": 1,
        "norm_topk_prob": True, "routed_scaling_factor": 2.446, "scoring_func": "sigmoid", "topk_method": "noaux_tc",
        "num_nextn_predict_layers": 0, "rms_norm_eps": 1e-05, "rope_theta": 50000.0, "attention_bias": False,
        "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    }),
    Preset("deepseek-v2-lite", _hub("deepseek-ai/DeepSeek-V2-Lite"), {
        "model_type": "deepseek_v2", "hidden_size": 2048, "intermediate_size": 10944, "moe_intermediate_size": 1408,
        "num_hidden_layers": 27, "num_attention_heads": 16, "num_key_value_heads": 16, "vocab_size": 102400,
        "max_position_embeddings": 163840, "q_lora_rank": None, "kv_lora_rank": 512, "qk_nope_head_dim": 128,
        "qk_rope_head_dim": 64, "v_head_dim": 128, "n_routed_experts": 64, "n_shared_experts": 2,
        "num_experts_per_tok": 6, "n_group": 1, "topk_group": 1, "first_k_dense_replace": 1, "moe_layer_freq": 1,
        "norm_topk_prob": False, "routed_scaling_factor": 1.0, "scoring_func": "softmax", "topk_method": "greedy",
        "rms_norm_eps": 1e-06, "rope_theta": 10000, "rope_scaling": {
            "beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 0.707, "mscale_all_dim": 0.707,
            "original_max_position_embeddings": 4096, "type": "yarn",
        },
        "attention_bias": False, "hidden_act": "silu", "tie_word_embeddings": False, "torch_dtype": "bfloat16",
    }),
    # --- BLOOM
    Preset("bloom-560m", _hub("bigscience/bloom-560m"), {
        "model_type": "bloom", "hidden_size": 1024, "n_layer": 24, "n_head": 16, "n_inner": None,
        "vocab_size": 250880, "layer_norm_epsilon": 1e-05, "apply_residual_connection_post_layernorm": False,
        "attention_dropout": 0.0, "hidden_dropout": 0.0, "pretraining_tp": 1, "slow_but_exact": False,
    }),
    # --- StarCoder2 (GQA, sliding window on every layer, biases everywhere)
    Preset("starcoder2-3b", _hub("bigcode/starcoder2-3b"),
           _starcoder2(3072, 12288, 30, 24, 2, 999999.4420358813, 0.018042, "bfloat16")),
    Preset("starcoder2-7b", _hub("bigcode/starcoder2-7b"),
           _starcoder2(4608, 18432, 32, 36, 4, 1000000, 0.018042, "bfloat16")),
    Preset("starcoder2-15b", _hub("bigcode/starcoder2-15b"), {
        "model_type": "starcoder2", "hidden_size": 6144, "intermediate_size": 24576, "num_hidden_layers": 40,
        "num_attention_heads": 48, "num_key_value_heads": 4, "vocab_size": 49152, "max_position_embeddings": 16384,
        "norm_epsilon": 1e-05, "rope_theta": 100000, "sliding_window": 4096, "use_bias": True,
        "attention_dropout": 0.0, "hidden_act": "gelu_pytorch_tanh", "initializer_range": 0.01275,
        "tie_word_embeddings": False, "torch_dtype": "float32",
    }),
    # --- Phi-2 (parallel block with one shared LayerNorm, partial RoPE, biased LM head)
    Preset("phi-2", _hub("microsoft/phi-2"), {
        "model_type": "phi", "hidden_size": 2560, "intermediate_size": 10240, "num_hidden_layers": 32,
        "num_attention_heads": 32, "num_key_value_heads": 32, "vocab_size": 51200, "max_position_embeddings": 2048,
        "layer_norm_eps": 1e-05, "partial_rotary_factor": 0.4, "rope_theta": 10000.0, "rope_scaling": None,
        "qk_layernorm": False, "hidden_act": "gelu_new", "resid_pdrop": 0.1, "embd_pdrop": 0.0,
        "attention_dropout": 0.0, "tie_word_embeddings": False, "torch_dtype": "float16",
    }),
    # --- Falcon: 7B is MQA with a shared-norm parallel block, 40B GQA with two norms
    Preset("falcon-7b", _hub("tiiuae/falcon-7b"), {
        "model_type": "falcon", "hidden_size": 4544, "num_hidden_layers": 32, "num_attention_heads": 71,
        "num_kv_heads": 71, "vocab_size": 65024, "multi_query": True, "new_decoder_architecture": False,
        "parallel_attn": True, "alibi": False, "bias": False, "layer_norm_epsilon": 1e-05, "hidden_dropout": 0.0,
        "attention_dropout": 0.0, "torch_dtype": "bfloat16",
    }),
    Preset("falcon-40b", _hub("tiiuae/falcon-40b"), {
        "model_type": "falcon", "hidden_size": 8192, "num_hidden_layers": 60, "num_attention_heads": 128,
        "num_kv_heads": 8, "vocab_size": 65024, "multi_query": True, "new_decoder_architecture": True,
        "parallel_attn": True, "alibi": False, "bias": False, "layer_norm_epsilon": 1e-05, "hidden_dropout": 0.0,
        "attention_dropout": 0.0, "torch_dtype": "bfloat16",
    }),
    # --- GPT-J (interleaved RoPE on 64 dims of each head, shared-norm parallel block)
    Preset("gpt-j-6b", _hub("EleutherAI/gpt-j-6b"), {
        "model_type": "gptj", "n_embd": 4096, "n_layer": 28, "n_head": 16, "n_inner": None, "n_positions": 2048,
        "rotary_dim": 64, "vocab_size": 50400, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-05,
        "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "tie_word_embeddings": False,
    }),
]  # fmt: skip

PRESETS: dict[str, Preset] = {p.name: p for p in _PRESET_LIST}


def preset_names() -> list[str]:
    return list(PRESETS)


def get_preset(name: str) -> ArchConfig:
    """The ArchConfig of a published model, e.g. ``get_preset("llama-3.1-8b")``."""
    preset = PRESETS.get(name)
    if preset is None:
        close = closest_name(name.lower(), PRESETS, max_distance=3)
        hint = f"did you mean {close}?" if close else f"known presets: {', '.join(PRESETS)}"
        raise ConfigError(f"{name!r} is not a known preset; {hint}")
    return preset.config()
