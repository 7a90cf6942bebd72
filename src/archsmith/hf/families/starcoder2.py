"""StarCoder2: HF ``model_type: starcoder2``.

Llama's layout with GPT-2's parts: pre-LayerNorm with bias (``norm_epsilon``), a plain MLP
(c_fc, c_proj), GQA, rotate-half RoPE over the whole head, and one ``use_bias`` (default
true) for every linear layer but the LM head. ``sliding_window`` (default null) applies to
every layer; ``residual_dropout`` drops each branch output, ``embedding_dropout`` the
embeddings. Defaults are those of transformers 5.24 ``Starcoder2Config`` (StarCoder2-7B's
family defaults; note its 2 KV heads).
"""

from ..family import LAYERNORM, all_sliding_or_none
from ..llama_like import llama_layout, llama_like

FAMILY = llama_like(
    "starcoder2",
    "Starcoder2ForCausalLM",
    {
        "vocab_size": 49152,
        "hidden_size": 3072,
        "intermediate_size": 12288,
        "num_hidden_layers": 30,
        "num_attention_heads": 24,
        "num_key_value_heads": 2,
        "head_dim": None,  # not a Starcoder2Config field, but Starcoder2Attention reads it when a file has it
        "max_position_embeddings": 4096,
        "hidden_act": "gelu_pytorch_tanh",
        "sliding_window": None,
        "attention_dropout": 0.0,
        "initializer_range": 0.018042,
        "tie_word_embeddings": True,
    },
    export_rank=161,
    more_keys={
        "norm_epsilon": ("norm_eps", 1e-5),
        "use_bias": (("qkv_bias", "attn_out_bias", "mlp_bias"), True),
        "residual_dropout": ("hidden_dropout", 0.0),
        "embedding_dropout": ("embedding_dropout", 0.0),
    },
    facts={**LAYERNORM, "mlp_type": "plain"},
    layout=llama_layout({"mlp.gate_proj": None, "mlp.up_proj": "mlp.c_fc", "mlp.down_proj": "mlp.c_proj"}),
    checks=(all_sliding_or_none,),
)
