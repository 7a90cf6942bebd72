"""Llama (Llama 1/2/3, TinyLlama, SmolLM): HF ``model_type: llama``.

The base every llama-like family varies (see ../llama_like.py). Defaults are those of
transformers 5.23 ``LlamaConfig``; ``pretraining_tp`` only split matmuls during Meta's
training and changes nothing in the model.
"""

from ..llama_like import llama_like

FAMILY = llama_like(
    "llama",
    "LlamaForCausalLM",
    {
        "vocab_size": 32000,
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": None,
        "head_dim": None,
        "max_position_embeddings": 2048,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-6,
        "attention_bias": False,
        "mlp_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": False,
    },
    export_rank=10,
    other_keys=frozenset({"pretraining_tp"}),
    write_extra=lambda cfg: {"pretraining_tp": 1},
)
