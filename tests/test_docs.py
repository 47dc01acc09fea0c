"""Generated or derived docs match their source: docs/tables.md the specs, the package graph."""

from __future__ import annotations

from jobs.core.runtime import check_layout
from jobs.core.tables.registry import markdown
from tests.conftest import ROOT


def test_tables_doc_matches_the_specs():
    doc = (ROOT / "docs" / "tables.md").read_text(encoding="utf-8")
    assert doc == markdown(), "run: python -m jobs.core.tables > docs/tables.md"


def test_architecture_doc_prints_the_package_graph_as_check_layout_does(capsys):
    assert check_layout.main([]) == 0
    graph = [line for line in capsys.readouterr().out.splitlines() if "->" in line]
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = doc.split("runtime.check_layout`", 1)[1].split("```\n", 2)[1]
    assert block.splitlines() == graph, (
        "docs/architecture.md: paste the graph of python -m jobs.core.runtime.check_layout"
    )
