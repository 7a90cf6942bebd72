"""Mixtral: HF ``model_type: mixtral``. Mistral whose every MLP is a Mixture-of-Experts.

Each layer routes each token to ``num_experts_per_tok`` of ``num_local_experts`` SwiGLU
experts of ``intermediate_size`` (there is no dense MLP, so one key sets both sizes), by
softmax over the router logits, top-k, renormalised to sum to 1 (hard-coded in
``MixtralTopKRouter``). ``num_experts`` is ``MixtralConfig.attribute_map``'s alias of
``num_local_experts``. RoPE's default base is 1e6 (``MixtralConfig.default_theta``);
``sliding_window`` defaults to null and, when set, applies to every layer.
``router_jitter_noise`` acts in training only. Checkpoints hold one tensor per expert:
``block_sparse_moe.experts.{j}.w1`` (gate), ``w3`` (up), ``w2`` (down), and the router
``block_sparse_moe.gate``.
"""

from ..family import ExpertNames, RopeKeys, all_sliding_or_none
from ..llama_like import MOE_FACTS, llama_layout, llama_like

FAMILY = llama_like(
    "mixtral",
    "MixtralForCausalLM",
    {
        "vocab_size": 32000,
        "hidden_size": 4096,
        "num_hidden_layers": 32,
        "num_attention_heads": 32,
        "num_key_value_heads": 8,
        "head_dim": None,
        "max_position_embeddings": 4096 * 32,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-5,
        "sliding_window": None,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "tie_word_embeddings": False,
    },
    more_keys={
        "intermediate_size": (("intermediate_size", "moe_intermediate_size"), 14336),
        "num_local_experts": ("num_experts", 8),
        "num_experts_per_tok": ("num_experts_per_tok", 2),
        "output_router_logits": ("output_router_logits", False),
        "router_aux_loss_coef": ("router_aux_loss_coef", 0.001),
        "router_jitter_noise": ("router_jitter_noise", 0.0),
    },
    aliases={"num_experts": "num_local_experts"},
    export_rank=42,
    facts={
        "qkv_bias": False, "attn_out_bias": False, "mlp_bias": False,
        **{k: v for k, v in MOE_FACTS.items() if k != "router_jitter_noise"},
        "norm_topk_prob": True,
    },  # fmt: skip
    layout=llama_layout(
        {"mlp.gate_proj": None, "mlp.up_proj": None, "mlp.down_proj": None, "mlp.router": "block_sparse_moe.gate"},
        experts=ExpertNames("block_sparse_moe.experts.{j}.", gate="w1", up="w3", down="w2"),
    ),
    rope=RopeKeys(default_theta=1_000_000.0),
    checks=(all_sliding_or_none,),
)
