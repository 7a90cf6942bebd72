"""archsmith: design, size, build and export decoder-only transformer language models.

The analytic core (config, sizing, design) imports no torch; the model and HF
interop load torch only when first used.
"""

from .config import ArchConfig, validate
from .design import Design, design  # the function shadows the submodule name, as the CLI verb reads
from .errors import ArchsmithError, ConfigError, HubError, LoadError, UnsupportedError
from .loading import load_config
from .sizing import Estimate, ParamBreakdown, count_params, estimate

__version__ = "0.1.0"

__all__ = [
    "ArchConfig",
    "ArchsmithError",
    "ConfigError",
    "Design",
    "Estimate",
    "HubError",
    "LoadError",
    "ParamBreakdown",
    "UnsupportedError",
    "count_params",
    "design",
    "estimate",
    "load_config",
    "validate",
]

# Torch-backed entry points, imported on first use so `import archsmith` stays instant.
_LAZY = {
    "build_model": ("archsmith.model", "build_model"),
    "from_hf": ("archsmith.hf.convert", "from_hf"),
    "to_hf": ("archsmith.hf.convert", "to_hf"),
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'archsmith' has no attribute {name!r}")
