"""The shared base of the Llama descendants: their key names, their block, their weight names.

Most HF decoder classes are Llama with a few differences. A family built with
:func:`llama_like` states only its defaults (which llama keys its class has, and their
values) and what differs; the key meanings, the RMSNorm-SwiGLU-RoPE facts and the tensor
names come from here.
"""

from __future__ import annotations

from typing import Any

from ..config import MOE_DEFAULTS, ArchConfig
from .common import layer_window
from .family import ExpertNames, Fields, Family, Layout, RopeKeys, layer_types

# What each llama key sets. A class has the keys its family file gives a default for.
LLAMA_KEYS: dict[str, Fields] = {
    "vocab_size": "vocab_size",
    "hidden_size": "hidden_size",
    "intermediate_size": "intermediate_size",
    "num_hidden_layers": "num_hidden_layers",
    "num_attention_heads": "num_attention_heads",
    "num_key_value_heads": "num_key_value_heads",  # None: as many as attention heads
    "head_dim": "head_dim",  # None: hidden_size // num_attention_heads
    "max_position_embeddings": "max_position_embeddings",
    "hidden_act": "hidden_act",
    "rms_norm_eps": "norm_eps",
    "attention_bias": ("qkv_bias", "attn_out_bias"),  # one switch for q, k, v and o alike
    "mlp_bias": "mlp_bias",
    "sliding_window": "sliding_window",
    "attention_dropout": "attention_dropout",
    "initializer_range": "initializer_range",
    "tie_word_embeddings": "tie_word_embeddings",
}

# Llama's block: pre-RMSNorm cast to the input dtype before the weight, a gated MLP, RoPE.
LLAMA_FACTS: dict[str, Any] = {"norm_type": "rmsnorm", "norm_bias": False, "norm_weight_in_fp32": False, "mlp_type": "gated"}

# Keys every llama-like class has that change no computation.
NO_OPS = frozenset({"use_cache", "pad_token_id", "bos_token_id", "eos_token_id"})

_LLAMA_LAYER = {
    "attn.q_proj": "self_attn.q_proj",
    "attn.k_proj": "self_attn.k_proj",
    "attn.v_proj": "self_attn.v_proj",
    "attn.o_proj": "self_attn.o_proj",
    "attn.q_norm": "self_attn.q_norm",
    "attn.k_norm": "self_attn.k_norm",
    "attn_norm": "input_layernorm",
    "mlp_norm": "post_attention_layernorm",
    "mlp.gate_proj": "mlp.gate_proj",
    "mlp.up_proj": "mlp.up_proj",
    "mlp.down_proj": "mlp.down_proj",
}


def llama_layout(changes: dict[str, Any] | None = None, experts: ExpertNames | None = None) -> Layout:
    """Llama's tensor names, with ``changes`` (archsmith module -> HF module or slot; None removes it)
    and, for a Mixture-of-Experts class, where its routed experts are."""
    layer = {**_LLAMA_LAYER, **(changes or {})}
    return Layout(
        {"embed_tokens": "model.embed_tokens", "norm": "model.norm", "lm_head": "lm_head"},
        "model.layers.{i}.",
        {k: v for k, v in layer.items() if v is not None},
        experts=experts,
    )


def llama_like(
    model_type: str,
    architecture: str,
    defaults: dict[str, Any],
    *,
    export_rank: int,
    more_keys: dict[str, tuple[Fields, Any]] | None = None,
    facts: dict[str, Any] | None = None,
    layout: Layout | None = None,
    rope: RopeKeys | None = None,
    other_keys: frozenset[str] = frozenset(),
    **rest: Any,
) -> Family:
    """A :class:`Family` on Llama's base.

    ``defaults``: the llama keys (LLAMA_KEYS) the class has, with its defaults; ``more_keys``:
    its own keys (HF key -> (field(s), default)); ``facts`` change or add to Llama's block;
    ``rest`` are the other :class:`Family` fields (read_extra, write_extra, checks, ...).
    """
    keys = {key: (LLAMA_KEYS[key], default) for key, default in defaults.items()}
    return Family(
        model_type=model_type,
        architecture=architecture,
        keys={**keys, **(more_keys or {})},
        facts={**LLAMA_FACTS, **(facts or {})},
        layout=layout or llama_layout(),
        export_rank=export_rank,
        rope=rope or RopeKeys(),
        other_keys=NO_OPS | other_keys,
        **rest,
    )


# --- Qwen's sliding window (Qwen2, Qwen3 and their MoE variants) ----------------------------------

QWEN_WINDOW_KEYS = frozenset({"use_sliding_window", "sliding_window", "max_window_layers", "layer_types"})

# transformers renames these old layer-type names on load (configuration_utils._LEGACY_LAYER_TYPE_REMAP).
LEGACY_LAYER_TYPES = {"attention": "full_attention"}


def read_qwen_window(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    """(sliding_window, layer_types) as Qwen2Config/Qwen3Config.__post_init__ resolve them: the window
    applies only when ``use_sliding_window``, and then (unless the file lists ``layer_types``) only to
    layers from ``max_window_layers`` on."""
    sliding_window = d.get("sliding_window", 4096) if d.get("use_sliding_window", False) else None
    types = d.get("layer_types")
    if types is None:
        first_sliding = d.get("max_window_layers", 28)
        types = [
            "sliding_attention" if sliding_window is not None and i >= first_sliding else "full_attention"
            for i in range(read["num_hidden_layers"])
        ]
    else:
        types = [LEGACY_LAYER_TYPES.get(t, t) for t in types]
    window, layer_types = layer_window(sliding_window, types)
    return {"sliding_window": window, "layer_types": layer_types}


def write_qwen_window(cfg: ArchConfig) -> dict[str, Any]:
    types = layer_types(cfg)
    sliding = [i for i, t in enumerate(types) if t == "sliding_attention"]
    return {
        "use_sliding_window": bool(sliding),
        "sliding_window": cfg.sliding_window,
        # 4.x before layer_types: layers from max_window_layers on slide.
        "max_window_layers": sliding[0] if sliding else cfg.num_hidden_layers,
        "layer_types": types,
    }


# --- Mixture-of-Experts (Mixtral, Qwen2-MoE, Qwen3-MoE) -------------------------------------------

# Softmax top-k routing, every layer a candidate for sparsity by the Qwen rules only, no DeepSeek
# knobs, no shared expert and no jitter unless a class says otherwise: what these classes hard-code.
MOE_FACTS: dict[str, Any] = {
    name: MOE_DEFAULTS[name]
    for name in (
        "scoring_func", "routed_scaling_factor", "router_correction_bias", "n_group", "topk_group",
        "first_k_dense_replace", "mlp_only_layers", "decoder_sparse_step", "n_shared_experts",
        "shared_expert_gate", "router_jitter_noise",
    )
}  # fmt: skip

# The MoE keys Qwen2-MoE and Qwen3-MoE share, with the same meaning (defaults: the classes' own).
QWEN_MOE_KEYS: dict[str, tuple[Fields, Any]] = {
    "decoder_sparse_step": ("decoder_sparse_step", 1),
    "mlp_only_layers": ("mlp_only_layers", []),
    "norm_topk_prob": ("norm_topk_prob", False),
    "output_router_logits": ("output_router_logits", False),
    "router_aux_loss_coef": ("router_aux_loss_coef", 0.001),
}

# Qwen-MoE tensor names: the router is mlp.gate, each expert a Qwen2MoeMLP under mlp.experts.{j};
# dense layers (mlp_only_layers, decoder_sparse_step) keep Llama's MLP names.
QWEN_MOE_LAYOUT = llama_layout(
    {
        "mlp.router": "mlp.gate",
        "mlp.shared_experts.gate_proj": "mlp.shared_expert.gate_proj",
        "mlp.shared_experts.up_proj": "mlp.shared_expert.up_proj",
        "mlp.shared_experts.down_proj": "mlp.shared_expert.down_proj",
        "mlp.shared_expert_gate": "mlp.shared_expert_gate",
    },
    experts=ExpertNames("mlp.experts.{j}.", gate="gate_proj", up="up_proj", down="down_proj"),
)


def read_qwen_moe(read: dict[str, Any]) -> dict[str, Any]:
    """``mlp_only_layers: null`` is [] (the Qwen-MoE configs' __post_init__); ``num_experts: 0`` makes
    every layer dense (the decoder layers test ``num_experts > 0``), so the MoE knobs go inert."""
    if read["num_experts"] == 0:
        return dict(MOE_DEFAULTS)
    return {"mlp_only_layers": read["mlp_only_layers"] or ()}


def write_qwen_moe(cfg: ArchConfig) -> dict[str, Any]:
    return {"mlp_only_layers": list(cfg.mlp_only_layers)}  # a list, as the config class types it
