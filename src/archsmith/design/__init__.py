"""The designer: from a parameter, FLOP or GPU-hour budget to a complete, exact, justified ArchConfig.

``design("7B")`` follows the procedure a practitioner follows, each step in its own module:

- :mod:`.styles`     each family's conventions, and the real models (presets) behind its curve
- :mod:`.curve`      the family curve: hidden/layers against size, fitted to compute-chosen models
- :mod:`.rules`      the hardware rules: head, hidden, FFN, layer and vocab multiples by size and TP
- :mod:`.search`     a monotone ladder of aligned shapes; the rung nearest the target; the FFN that
                     lands it within 1%, counted exactly with :func:`archsmith.sizing.count_params`
- :mod:`.attention`  KV heads for the context and GPU; RoPE base and scaling for the context
- :mod:`.budget`     FLOP and GPU-hour budgets through Chinchilla's fit
- :mod:`.prose`      every sentence, generated from the design's own facts
- :mod:`.core`       the Design, its candidates, its neighbours at 2x and 10x

Pure Python, no torch: ``archsmith design`` answers in milliseconds.
"""

from .core import Candidate, Design, ScaledDesign, compare_with_family, design, design_request, scaling_family
from .counts import format_count, parse_param_count
from .request import Request
from .search import TOLERANCE
from .styles import STYLES, Style, get_style

__all__ = [
    "Candidate", "Design", "Request", "STYLES", "ScaledDesign", "Style", "TOLERANCE", "compare_with_family",
    "design", "design_request", "format_count", "get_style", "parse_param_count", "scaling_family",
]  # fmt: skip
