"""Every HF family archsmith reads and writes: one module per family in families/, found here.

A family module defines ``FAMILY`` (a :class:`~archsmith.hf.family.Family`); dropping a new
file into families/ registers it for ``load_config``, ``count``, ``validate``, ``estimate``,
``from_hf`` and export alike. Export tries the families in ``export_rank`` order.
"""

from __future__ import annotations

import importlib
import pkgutil

from . import families
from .family import Family


def _discover() -> tuple[Family, ...]:
    found = []
    for module in pkgutil.iter_modules(families.__path__):
        family = importlib.import_module(f"{families.__name__}.{module.name}").FAMILY
        if family.model_type != module.name:
            raise ValueError(f"families/{module.name}.py declares model_type {family.model_type!r}; name the file after it")
        found.append(family)
    ranks = [f.export_rank for f in found]
    if len(set(ranks)) != len(ranks):
        raise ValueError(f"two families share an export_rank: {sorted(ranks)}; give each its own")
    return tuple(sorted(found, key=lambda f: f.export_rank))


FAMILIES: tuple[Family, ...] = _discover()
BY_MODEL_TYPE: dict[str, Family] = {f.model_type: f for f in FAMILIES}
SUPPORTED_MODEL_TYPES: tuple[str, ...] = tuple(BY_MODEL_TYPE)
