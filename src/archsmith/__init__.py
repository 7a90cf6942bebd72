"""archsmith: design, size, build and export decoder-only transformer language models.

The analytic core (config, sizing, design) imports no torch; the model and HF
interop load torch only when first used.
"""

from .config import ArchConfig, validate
from .errors import ArchsmithError, ConfigError, LoadError, UnsupportedError
from .sizing import Estimate, ParamBreakdown, count_params, estimate

__version__ = "0.1.0"

__all__ = [
    "ArchConfig",
    "ArchsmithError",
    "ConfigError",
    "Estimate",
    "LoadError",
    "ParamBreakdown",
    "UnsupportedError",
    "count_params",
    "estimate",
    "validate",
]
