"""Reading config JSON, in one place, so that no file reaches Python's own errors.

``json.loads`` has failure modes besides syntax errors: nesting deep enough to exhaust the
recursion limit, and integers longer than Python's int-to-str digit limit (ValueError).
Files can be unreadable, not UTF-8, or have names the OS refuses. Each becomes an archsmith
error that names the file and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import ConfigError, LoadError


def parse_json(text: str, where: str = "") -> Any:
    """The JSON value in ``text``; ConfigError for anything json.loads refuses (``where`` prefixes it)."""
    prefix = f"{where}: " if where else ""
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{prefix}broken JSON at line {e.lineno}, column {e.colno}: {e.msg}; fix the file") from None
    except RecursionError:
        raise ConfigError(f"{prefix}JSON nested too deeply to be a config; fix: a flat object of settings") from None
    except ValueError as e:  # e.g. an integer beyond Python's int-str digit limit
        raise ConfigError(f"{prefix}JSON holds a value Python cannot read ({e}); fix: give realistic numbers") from None


def read_json(path: Path) -> Any:
    """The JSON value in the file at ``path``; LoadError if it cannot be read as UTF-8 text."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise LoadError(f"{path}: cannot be read as a UTF-8 text file ({e}); fix: point at a JSON config file") from None
    return parse_json(text, str(path))
