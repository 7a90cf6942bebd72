"""HuggingFace interop. Reading config.json files needs no torch (see configs.py)."""

from .configs import SUPPORTED_MODEL_TYPES, from_hf_config

__all__ = ["SUPPORTED_MODEL_TYPES", "from_hf_config"]
