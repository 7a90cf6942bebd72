"""OLMo (OLMo-1B/7B, 0424, 0724): HF ``model_type: olmo``.

A Llama block with two differences: every norm is a LayerNorm WITHOUT weight or bias
(``OlmoLayerNorm``: eps fixed at 1e-5, computed in float32), and ``clip_qkv`` clamps q, k and
v right after their projections. One ``attention_bias`` covers q/k/v and o. ``head_dim`` is not
an OlmoConfig field, but OlmoAttention reads it when a file has it; export still requires
hidden_size // num_attention_heads.
"""

from ..family import implicit_head_dim
from ..llama_like import llama_like

FAMILY = llama_like(
    "olmo",
    "OlmoForCausalLM",
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
        "attention_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": False,
    },
    export_rank=75,
    more_keys={"clip_qkv": ("clip_qkv", None)},
    # OlmoLayerNorm: no weight, no bias, float32, eps 1e-5 (its layout has no norm tensors to name)
    facts={
        "norm_type": "layernorm",
        "norm_weight": False,
        "norm_weight_in_fp32": True,
        "norm_eps": 1e-5,
        "mlp_bias": False,
    },
    checks=(implicit_head_dim,),
)
