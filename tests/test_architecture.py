"""The shape of the code: jobs are thin and never import each other.

Everything two jobs share lives in ``jobs/core``; only ``jobs/demo.py`` (which runs the
pipeline end to end for ``make demo``) composes jobs. Imports are read with ``ast``, so a
function-level import counts as much as a top-level one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

JOBS = Path(__file__).resolve().parents[1] / "jobs"
JOB_MODULES = sorted(p.stem for p in JOBS.glob("*.py") if p.stem != "__init__")
COMPOSERS = {"demo"}


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, as dotted names (``from jobs import x`` gives ``jobs.x``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__":
            found.update(a.value for a in node.args if isinstance(a, ast.Constant))
    return found


def job_imports(path: Path) -> list[str]:
    """The job modules (``jobs.<name>``, not ``jobs.core``) that ``path`` imports."""
    own = f"jobs.{path.stem}"
    return sorted(
        m for m in imported_modules(path) if m in {f"jobs.{j}" for j in JOB_MODULES} and m != own
    )


@pytest.mark.parametrize("name", [j for j in JOB_MODULES if j not in COMPOSERS])
def test_a_job_never_imports_another_job(name):
    assert job_imports(JOBS / f"{name}.py") == [], (
        f"jobs/{name}.py imports another job; move what they share into jobs/core/"
    )


def test_the_check_sees_function_level_and_from_imports(tmp_path):
    src = tmp_path / "query.py"
    src.write_text(
        "from jobs.core.rules.as_of import newest\n"
        "def f():\n"
        "    from jobs.continue_watching import continue_watching\n"
        "    from jobs import build_star_schema\n"
        "    import jobs.load_catalog\n",
        encoding="utf-8",
    )
    assert job_imports(src) == [
        "jobs.build_star_schema",
        "jobs.continue_watching",
        "jobs.load_catalog",
    ]


def test_core_never_imports_a_job():
    offenders = {
        str(p.relative_to(JOBS)): sorted(
            m for m in imported_modules(p) if m in {f"jobs.{j}" for j in JOB_MODULES}
        )
        for p in (JOBS / "core").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_table_specs_are_registered_without_an_import_dodge():
    assert "__import__" not in (JOBS / "core" / "tables" / "registry.py").read_text(encoding="utf-8")
    from jobs.core.tables.registry import TABLES

    assert {"dim_users", "fact_watch_history", "dq_result", "playback_event"} <= set(TABLES)
