"""``load_config(source)``: one entry point for every way to name an architecture.

A source is, in this order of checks:
  - a preset name (see ``archsmith.presets``). Names hold no "/", so a preset wins over a local
    file or directory of the same name; write ``./gpt2`` for the local one;
  - an existing directory: its ``archsmith.json`` if there is one, else its HF ``config.json``.
    archsmith.json wins because it is the complete description (HF's file leaves things to
    class defaults, and an export writes both files side by side);
  - an existing file: an HF config.json if it has a ``model_type`` key, else an archsmith
    JSON config (``ArchConfig.to_json`` format);
  - a Hub id, ``org/name`` or ``org/name@revision``: its config.json alone, through the HF cache
    (see ``archsmith.hub``). A local path of the same spelling wins.
Errors name the path or id they came from.
"""

from __future__ import annotations

from pathlib import Path

from .config import ArchConfig, closest_name
from .errors import ConfigError, LoadError, UnsupportedError
from .hf import from_hf_config
from .hub import download_config, parse_hub_id
from .jsonfile import read_json
from .presets import PRESETS, get_preset

ARCHSMITH_FILE = "archsmith.json"
HF_FILE = "config.json"
_EXPECTED = (
    "a preset name, an archsmith JSON config, an HF config.json, "
    f"a directory holding {ARCHSMITH_FILE} or {HF_FILE}, or a Hub id (org/name or org/name@revision)"
)


def load_config(source: str | Path) -> ArchConfig:
    """The ArchConfig named by ``source`` (see the module docstring for what a source may be)."""
    if isinstance(source, str) and source in PRESETS:
        return get_preset(source)
    path = Path(source)
    try:
        is_dir, is_file = path.is_dir(), path.is_file()
    except OSError as e:  # e.g. a name longer than the OS allows
        raise LoadError(f"{str(source)[:80]}: cannot be used as a path ({e.strerror}); fix: give {_EXPECTED}") from None
    if is_dir:
        return _load_file(_config_file_in(path))
    if is_file:
        return _load_file(path)
    hub = parse_hub_id(source) if isinstance(source, str) else None
    if hub is not None:
        return _load_file(download_config(hub), name=f"{hub} (config.json)")
    close = closest_name(str(source).lower(), PRESETS, max_distance=3) if isinstance(source, str) else None
    hint = f" (did you mean the preset {close}?)" if close else ""
    raise LoadError(f"{source}: no such file, directory or preset{hint}; fix: give {_EXPECTED}")


def _config_file_in(directory: Path) -> Path:
    for name in (ARCHSMITH_FILE, HF_FILE):
        if (directory / name).is_file():
            return directory / name
    raise LoadError(
        f"{directory}: the directory holds neither {ARCHSMITH_FILE} nor {HF_FILE}; fix: point at a config file"
    )


def _load_file(path: Path, name: str | None = None) -> ArchConfig:
    """``name`` stands for ``path`` in errors about the config (a cached Hub file is better known by its id)."""
    name = name or str(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: a config must be a JSON object, got {type(data).__name__}")
    try:
        return from_hf_config(data) if "model_type" in data else ArchConfig.from_dict(data)
    except ConfigError as e:
        raise ConfigError([f"{name}: {p}" for p in e.problems]) from None
    except UnsupportedError as e:
        raise UnsupportedError(f"{name}: {e}") from None
