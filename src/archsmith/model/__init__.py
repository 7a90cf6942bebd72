"""The PyTorch model: ``build_model(cfg)`` returns a Transformer for any valid ArchConfig.

One module per component family: positions (RoPE, ALiBi), norms, masks (which keys each query
sees, and the attention kernel: SDPA, FlexAttention or dense), attention, ffn, moe, block,
transformer (the LM and build_model), cache (the static KV cache), generation (generate).
"""

from .cache import KVCache
from .transformer import LMOutput, Transformer, build_model

__all__ = ["KVCache", "LMOutput", "Transformer", "build_model"]
