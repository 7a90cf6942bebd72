"""Arcee (AFM): HF ``model_type: arcee``. Llama with a plain (non-gated) MLP, ReLU² by default.

Defaults are those of transformers 5.23 ``ArceeConfig``.
"""

from ..llama_like import llama_like

FAMILY = llama_like(
    "arcee",
    "ArceeForCausalLM",
    {
        "vocab_size": 32000,
        "hidden_size": 2560,
        "intermediate_size": 18432,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": None,
        "head_dim": None,
        "max_position_embeddings": 4096,
        "hidden_act": "relu2",
        "rms_norm_eps": 1e-5,
        "attention_bias": False,
        "mlp_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": False,
    },
    export_rank=90,
    facts={"mlp_type": "plain"},
)
