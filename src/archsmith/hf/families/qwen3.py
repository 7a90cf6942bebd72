"""Qwen3 (dense): HF ``model_type: qwen3``. Llama with a per-head RMSNorm on q and k.

Unlike Qwen2 there is no q/k/v bias by default (``attention_bias``), and ``head_dim``
defaults to 128 whatever the width (Qwen3-0.6B: 16 heads x 128 = 2048 > hidden 1024).
The sliding-window rules are Qwen2's.
"""

from ..llama_like import QWEN_WINDOW_KEYS, llama_like, read_qwen_window, write_qwen_window

FAMILY = llama_like(
    "qwen3",
    "Qwen3ForCausalLM",
    {
        "vocab_size": 151936,
        "hidden_size": 4096,
        "intermediate_size": 22016,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "head_dim": 128,
        "max_position_embeddings": 32768,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-6,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": False,
    },
    export_rank=40,
    facts={"qk_norm": "head", "mlp_bias": False},
    other_keys=QWEN_WINDOW_KEYS,
    read_extra=read_qwen_window,
    write_extra=write_qwen_window,
    free=("sliding_window",),
)
