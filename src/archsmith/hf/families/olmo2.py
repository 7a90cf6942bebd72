"""OLMo 2: HF ``model_type: olmo2``.

A norm on each branch output only (``reordered``: x + norm(f(x))), an RMSNorm over all of
q and all of k (``qk_norm="full"``, not per head as in Qwen3), the weight applied in float32.
No sliding window. ``head_dim`` is not an Olmo2Config field, but Olmo2Attention reads it when
a file has it; export still requires hidden_size // num_attention_heads.
"""

from ..family import implicit_head_dim
from ..llama_like import llama_layout, llama_like

FAMILY = llama_like(
    "olmo2",
    "Olmo2ForCausalLM",
    {
        "vocab_size": 50304,
        "hidden_size": 4096,
        "intermediate_size": 11008,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": None,
        "head_dim": None,
        "max_position_embeddings": 2048,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-5,
        "attention_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": False,
    },
    export_rank=70,
    facts={"norm_weight_in_fp32": True, "norm_scheme": "reordered", "qk_norm": "full", "mlp_bias": False},
    layout=llama_layout(
        {
            "attn_norm": None,
            "mlp_norm": None,
            "attn_out_norm": "post_attention_layernorm",
            "mlp_out_norm": "post_feedforward_layernorm",
        }
    ),
    checks=(implicit_head_dim,),
)
