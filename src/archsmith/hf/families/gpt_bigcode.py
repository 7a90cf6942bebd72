"""GPTBigCode (SantaCoder, StarCoder 1): HF ``model_type: gpt_bigcode``.

GPT-2's block (pre-LayerNorm with bias, learned positions, biases everywhere, a plain MLP of
``n_inner`` or 4 * hidden) in nn.Linear layout, with multi-query attention: ``multi_query``
(default true) gives one key/value head, otherwise MHA; ``scale_attn_weights=false`` is
``attention_scale=1``, as in GPT-2. The ``num_key_value_heads`` that
transformers writes into saved files is derived from ``multi_query`` and read by nothing, so
it is ignored here too, as are ``attention_softmax_in_fp32`` and
``scale_attention_softmax_in_fp32`` (stored, never used by the 5.x attention). Defaults are
those of transformers 5.24 ``GPTBigCodeConfig``.
"""

from typing import Any

from ...config import ArchConfig
from ..common import refuse_unless
from ..family import LAYERNORM, Family, Layout, implicit_head_dim, per_kv_head
from .gpt2 import FAMILY as GPT2
from .gpt2 import unscaled_or_default


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    refuse_unless(not d.get("add_cross_attention", False), "gpt_bigcode", "add_cross_attention=true", "set it to false")
    n_inner = d.get("n_inner")
    return {
        "intermediate_size": n_inner if n_inner is not None else 4 * read["hidden_size"],
        "num_key_value_heads": 1 if d.get("multi_query", True) else read["num_attention_heads"],
        "attention_scale": None if d.get("scale_attn_weights", True) else 1.0,  # as GPT-2's
    }


def _mqa_or_mha(cfg: ArchConfig) -> list[str]:
    if cfg.num_key_value_heads not in (1, cfg.num_attention_heads):
        return [f"num_key_value_heads={cfg.num_key_value_heads} (GQA; it has MQA or MHA)"]
    return []


FAMILY = Family(
    model_type="gpt_bigcode",
    architecture="GPTBigCodeForCausalLM",
    # GPT-2's keys but scale_attn_by_inverse_layer_idx, which GPTBigCode's attention never reads
    # (read as nothing, as transformers does; exported models keep the knob off).
    keys={
        **{key: v for key, v in GPT2.keys.items() if key != "scale_attn_by_inverse_layer_idx"},
        "activation_function": ("hidden_act", "gelu_pytorch_tanh"),
    },
    facts=GPT2.facts,
    layout=Layout(
        GPT2.layout.top,
        GPT2.layout.layer_prefix,
        GPT2.layout.layer,  # GPT-2's names, in nn.Linear's [out, in] layout (no Conv1D)
        fused_groups=per_kv_head,  # MQA: q, k, v concatenated; MHA: [heads, 3, head_dim]
        ignored_suffixes=(".attn.bias", ".attn.masked_bias"),
    ),
    export_rank=163,
    aliases=GPT2.aliases,
    other_keys=frozenset(
        {
            "n_inner", "n_ctx", "multi_query", "num_key_value_heads", "scale_attn_weights", "add_cross_attention",
            "scale_attn_by_inverse_layer_idx",
            "attention_softmax_in_fp32", "scale_attention_softmax_in_fp32",
            "summary_type", "summary_use_proj", "summary_activation", "summary_proj_to_labels", "summary_first_dropout",
            "use_cache", "bos_token_id", "eos_token_id", "pad_token_id",
        }
    ),  # fmt: skip
    read_extra=_read,
    write_extra=lambda cfg: {
        "n_inner": cfg.intermediate_size,
        "multi_query": cfg.num_key_value_heads == 1,
        "scale_attn_weights": cfg.attention_scale is None,
        "attention_softmax_in_fp32": True,
        "scale_attention_softmax_in_fp32": True,
        "add_cross_attention": False,
    },
    free=GPT2.free,  # attention_scale: 1/sqrt(head_dim) or 1
    checks=(implicit_head_dim, _mqa_or_mha, unscaled_or_default),
)
