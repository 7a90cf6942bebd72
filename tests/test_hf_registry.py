"""The family registry: every file in hf/families/ is one registered family, and each
declaration reads back exactly what it writes (so reader and exporter cannot disagree)."""

from __future__ import annotations

import pkgutil

import pytest

from archsmith.hf import SUPPORTED_MODEL_TYPES, families, from_hf_config
from archsmith.hf.export_config import plan_export
from archsmith.hf.registry import FAMILIES
from hf_testing import tiny_config


def test_every_family_file_is_registered_once_in_export_order():
    files = sorted(m.name for m in pkgutil.iter_modules(families.__path__))
    assert sorted(SUPPORTED_MODEL_TYPES) == files
    ranks = [f.export_rank for f in FAMILIES]
    assert ranks == sorted(set(ranks))  # tried in rank order, no two alike


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.model_type)
def test_declaration_reads_back_what_it_writes(family):
    cfg = tiny_config(family)
    assert family.export_problems(cfg) == []
    written = {"model_type": family.model_type, **family.hf_config(cfg)}
    assert family.read(written) == cfg
    assert from_hf_config(written) == cfg  # the typo check knows every key it writes
    # every key the table reads is written, so a file's value reaches the model both ways
    assert set(family.keys) <= set(written)


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.model_type)
def test_export_picks_this_class_or_a_more_common_one(family):
    plan = plan_export(tiny_config(family))
    chosen = next((f for f in FAMILIES if f.architecture == plan.architecture), None)
    assert chosen is not None and chosen.export_rank <= family.export_rank, plan.reason
