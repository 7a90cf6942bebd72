"""One exception family for everything archsmith refuses.

Every message states the problem *and* the fix, so a user never has to read a
shape error from deep inside torch to find out what was wrong.
"""

from __future__ import annotations


class ArchsmithError(Exception):
    """Base class of every error archsmith raises on purpose."""


class ConfigError(ArchsmithError, ValueError):
    """An architecture config is invalid. ``problems`` lists every problem found, each with its fix."""

    def __init__(self, problems: list[str] | str):
        if isinstance(problems, str):
            problems = [problems]
        self.problems = list(problems)
        if len(self.problems) == 1:
            message = self.problems[0]
        else:
            message = f"{len(self.problems)} problems:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message)


class LoadError(ArchsmithError, ValueError):
    """A file or directory could not be read as a config or checkpoint, or an output could not be written."""


class HubError(LoadError):
    """A Hub model id could not be resolved: an unknown or gated repo, a missing revision or file,
    or no network (or offline mode) with a cold cache. The message says which, and the fix."""


class UnsupportedError(ArchsmithError, ValueError):
    """A request that archsmith understands but does not support (e.g. an unknown model type)."""


class InputError(ArchsmithError, ValueError):
    """Data given to a model is outside what its config allows (token ids, sequence length, shapes)."""
