"""docs/tables.md is generated from the table specs and must match them."""

from __future__ import annotations

from jobs.core.tables.registry import markdown
from tests.conftest import ROOT


def test_tables_doc_matches_the_specs():
    doc = (ROOT / "docs" / "tables.md").read_text(encoding="utf-8")
    assert doc == markdown(), "run: python -m jobs.core.tables > docs/tables.md"
