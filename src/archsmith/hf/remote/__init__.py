"""Self-contained remote code for architectures no transformers class runs exactly.

An export directory gets configuration_archsmith.py and modeling_archsmith.py (the
templates next to this file) plus archsmith's own config and model sources, copied as
archsmith_<module>.py with their package imports rewritten to sibling-relative ones
(``from ..config import X`` -> ``from .archsmith_config import X``). transformers copies a
remote module's relative imports along with it, so ``from_pretrained(path,
trust_remote_code=True)`` runs exactly archsmith's math without archsmith installed.
The two templates import those copies, so they run only inside an export directory.
"""

from __future__ import annotations

import re
from pathlib import Path

_TEMPLATES = ("configuration_archsmith.py", "modeling_archsmith.py")
# archsmith modules the model needs, as paths under the package root.
_SOURCES = (
    "config.py",
    "dtypes.py",
    "errors.py",
    "jsonfile.py",
    "model/norms.py",
    "model/positions.py",
    "model/masks.py",
    "model/attention.py",
    "model/mla.py",
    "model/ffn.py",
    "model/init.py",
    "model/moe.py",
    "model/block.py",
    "model/cache.py",
    "model/generation.py",
    "model/transformer.py",
)
_PACKAGE = Path(__file__).resolve().parents[2]  # src/archsmith
_RELATIVE_IMPORT = re.compile(r"^from (\.+)([\w.]*) import ", re.MULTILINE)


def _flat_name(source: str) -> str:
    """'model/norms.py' -> 'archsmith_norms'."""
    return "archsmith_" + Path(source).stem


def _rewrite_imports(text: str, source: str) -> str:
    """Turn package-relative imports into imports of the flat sibling files."""
    package = Path(source).parent.parts  # e.g. ("model",)

    def resolve(match: re.Match) -> str:
        dots, name = match.group(1), match.group(2)
        base = list(package[: len(package) - (len(dots) - 1)]) if len(dots) > 1 else list(package)
        target = "/".join(base + name.split(".")) + ".py"
        if target not in _SOURCES:
            raise RuntimeError(f"{source} imports {dots}{name}, which the remote code does not bundle; add it to _SOURCES")
        return f"from .{_flat_name(target)} import "

    return _RELATIVE_IMPORT.sub(resolve, text)


def remote_files() -> dict[str, str]:
    """File name -> content of everything a remote-code export directory needs."""
    here = Path(__file__).parent
    files = {name: (here / name).read_text() for name in _TEMPLATES}
    for source in _SOURCES:
        text = (_PACKAGE / source).read_text()
        header = f"# Copied from archsmith/{source} by archsmith export; imports made sibling-relative.\n"
        files[_flat_name(source) + ".py"] = header + _rewrite_imports(text, source)
    return files


def write_remote_code(directory: Path) -> None:
    for name, text in remote_files().items():
        (directory / name).write_text(text)
