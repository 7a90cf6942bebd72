"""CodeGen: HF ``model_type: codegen``. GPT-J's model (gptj.py), defaults included, with q, k, v
fused in one ``qkv_proj`` laid out for the 4 shards CodeGen was trained on (weights.py), which
needs a hidden size divisible by 4. ``n_ctx`` is stored by ``CodeGenConfig`` and read by nothing.
"""

from __future__ import annotations

from typing import Any

from ..config import ArchConfig
from . import gptj
from .common import read_gpt2_name, refuse_unless

MODEL_TYPE = "codegen"
SHARDS = 4  # CodeGenAttention.mp_num

FIELDS = gptj.FIELDS | frozenset({"n_ctx"})


def config_from_hf(d: dict[str, Any]) -> ArchConfig:
    hidden = read_gpt2_name(d, "n_embd", 4096)
    refuse_unless(
        hidden % SHARDS == 0,
        MODEL_TYPE,
        f"n_embd={hidden} not divisible by {SHARDS} (CodeGen splits q, k, v into {SHARDS} shards)",
        f"n_embd a multiple of {SHARDS}",
    )
    return gptj.config_from_hf(d, MODEL_TYPE)
