"""Qwen2 and Qwen2.5: HF ``model_type: qwen2``. Llama with a bias on q, k and v (not on o).

Sliding-window attention applies only when ``use_sliding_window`` is true, and then (unless
the file lists ``layer_types``) only to layers from ``max_window_layers`` on; released Qwen2
models all ship ``use_sliding_window: false``, so their ``sliding_window`` value is unused.
``head_dim`` is not a Qwen2Config field, but Qwen2Attention reads it when a file has it.
"""

from ..llama_like import QWEN_WINDOW_KEYS, llama_like, read_qwen_window, write_qwen_window

FAMILY = llama_like(
    "qwen2",
    "Qwen2ForCausalLM",
    {
        "vocab_size": 151936,
        "hidden_size": 4096,
        "intermediate_size": 22016,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 32,
        "head_dim": None,
        "max_position_embeddings": 32768,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-6,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": False,
    },
    export_rank=30,
    facts={"qkv_bias": True, "attn_out_bias": False, "mlp_bias": False},  # hardcoded in Qwen2Attention
    other_keys=QWEN_WINDOW_KEYS,
    read_extra=read_qwen_window,
    write_extra=write_qwen_window,
    free=("sliding_window",),
)
