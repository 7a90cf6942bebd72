"""Phi-3: HF ``model_type: phi3``. Llama-shaped with fused qkv and gate/up weights (same counts).

RoPE quirks from ``Phi3Config``: the top-level ``original_max_position_embeddings`` (default
4096) is the pretraining length and overrides the one in the RoPE dict; the scaled type must
be longrope, whose early names "su" and "yarn" (in Phi-3, "yarn" meant longrope) are
renamed; ``partial_rotary_factor`` may sit at the top level. ``sliding_window`` (default null)
applies to every layer. ``resid_pdrop`` drops both branch outputs; ``embd_pdrop`` is read but
never applied by transformers, so export accepts only 0.
"""

from ..family import RopeKeys, all_sliding_or_none, implicit_head_dim
from ..llama_like import llama_layout, llama_like

FAMILY = llama_like(
    "phi3",
    "Phi3ForCausalLM",
    {
        "vocab_size": 32064,
        "hidden_size": 3072,
        "intermediate_size": 8192,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": None,
        "head_dim": None,  # not a Phi3Config field, but Phi3Attention reads it when a file has it
        "max_position_embeddings": 4096,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-5,
        "sliding_window": None,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": False,
    },
    export_rank=80,
    more_keys={"resid_pdrop": ("hidden_dropout", 0.0)},
    facts={"qkv_bias": False, "attn_out_bias": False, "mlp_bias": False},
    layout=llama_layout(
        {
            "attn.q_proj": ("self_attn.qkv_proj", 0),
            "attn.k_proj": ("self_attn.qkv_proj", 1),
            "attn.v_proj": ("self_attn.qkv_proj", 2),
            "mlp.gate_proj": ("mlp.gate_up_proj", 0),  # Phi3MLP: gate, up = gate_up.chunk(2)
            "mlp.up_proj": ("mlp.gate_up_proj", 1),
        }
    ),
    rope=RopeKeys(
        partial=True,
        original_key="original_max_position_embeddings",
        original_default=4096,
        aliases={"su": "longrope", "yarn": "longrope"},
        types=("longrope",),
    ),
    other_keys=frozenset({"embd_pdrop"}),
    read_extra=lambda d, read: {"embedding_dropout": d.get("embd_pdrop", 0.0)},
    checks=(implicit_head_dim, all_sliding_or_none),
)
