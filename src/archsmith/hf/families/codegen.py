"""CodeGen: HF ``model_type: codegen``. GPT-J's declaration (gptj.py), defaults included, with q, k, v
fused in one ``qkv_proj`` laid out for the 4 shards CodeGen was trained on, which needs a hidden
size divisible by 4. ``n_ctx`` is stored by ``CodeGenConfig`` and read by nothing. GPT-J runs the
same computation and is tried first, so CodeGen is an export target only in name.
"""

import dataclasses
from typing import Any

from ...config import ArchConfig
from ..common import refuse_unless
from ..family import Layout
from .gptj import FAMILY as GPTJ

SHARDS = 4  # CodeGenAttention.mp_num


def _read(d: dict[str, Any], read: dict[str, Any]) -> dict[str, Any]:
    hidden = read["hidden_size"]
    refuse_unless(
        hidden % SHARDS == 0,
        "codegen",
        f"n_embd={hidden} not divisible by {SHARDS} (CodeGen splits q, k, v into {SHARDS} shards)",
        f"n_embd a multiple of {SHARDS}",
    )
    return GPTJ.read_extra(d, read)


def _shards(cfg: ArchConfig) -> list[str]:
    return [f"hidden_size={cfg.hidden_size} not divisible by {SHARDS} (its q, k, v come in {SHARDS} shards)"] if cfg.hidden_size % SHARDS else []


FAMILY = dataclasses.replace(
    GPTJ,
    model_type="codegen",
    architecture="CodeGenForCausalLM",
    # Each shard holds [q, v, k] (value before key) of hidden/4 rows (CodeGenAttention.forward).
    layout=Layout(
        GPTJ.layout.top,
        GPTJ.layout.layer_prefix,
        {
            **GPTJ.layout.layer,
            "attn.q_proj": ("attn.qkv_proj", 0),
            "attn.v_proj": ("attn.qkv_proj", 1),
            "attn.k_proj": ("attn.qkv_proj", 2),
        },
        fused_groups=lambda cfg: SHARDS,
        ignored_suffixes=(".attn.causal_mask", ".attn.masked_bias", ".attn.bias"),
    ),
    export_rank=169,
    other_keys=GPTJ.other_keys | {"n_ctx"},
    read_extra=_read,
    checks=(*GPTJ.checks, _shards),
)
