"""The shape of the code: a core without cycles, thin jobs, one owner per rule.

Everything two jobs share lives in ``jobs/core`` (its sub-packages and their order:
``python -m jobs.core.runtime.check_layout``); no job imports another, not even
``jobs/demo.py``, which runs the pipeline's core functions. A job only composes (at most 250
lines); tests and bench use a job only through its ``main``. Times are parsed only by
``jobs/core/rules/as_of.py``; the API's modules share public helpers, not private names.
Imports and calls are read with ``ast``, so a function-level import counts as much as a
top-level one. docs/architecture.md explains each rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from jobs.core.runtime.check_layout import cycles, scan

ROOT = Path(__file__).resolve().parents[1]
JOBS = ROOT / "jobs"
JOB_MODULES = sorted(p.stem for p in JOBS.glob("*.py") if p.stem != "__init__")


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


@pytest.mark.parametrize("name", JOB_MODULES)
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
    assert "__import__" not in (JOBS / "core" / "tables" / "registry.py").read_text(
        encoding="utf-8"
    )
    from jobs.core.tables.registry import TABLES

    assert {"dim_users", "fact_watch_history", "dq_result", "playback_event"} <= set(TABLES)


# ------------------------------------------------------------------ the core's package graph
def test_core_has_no_import_cycle_and_no_lazy_core_import():
    """``python -m jobs.core.runtime.check_layout``'s checks (a lazy import hides a cycle)."""
    layout = scan()
    assert cycles(layout.packages()) == [], "a package cycle in jobs/core"
    assert cycles(layout.modules) == [], "a module cycle in jobs/core"
    assert layout.lazy == [], "import these jobs.core modules at the top of the module"


def test_the_cycle_check_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


# ------------------------------------------------------------------ jobs only compose
JOB_MAX_LINES = 250
# job -> (lines tolerated, why and until when); empty: every job is within the limit
OVERSIZED_JOBS: dict[str, tuple[int, str]] = {}


def lines_of(path: Path) -> int:
    """The number of lines of ``path``."""
    return len(path.read_text(encoding="utf-8").splitlines())


@pytest.mark.parametrize("name", JOB_MODULES)
def test_a_job_only_composes_in_at_most_250_lines(name):
    limit, _why = OVERSIZED_JOBS.get(name, (JOB_MAX_LINES, ""))
    assert lines_of(JOBS / f"{name}.py") <= limit, (
        f"jobs/{name}.py is over {limit} lines: a job parses its arguments, calls "
        "jobs.core.runtime.cli.run_job and core functions, and reports; move the rest to "
        "jobs/core/<package>/"
    )


def test_the_oversized_allow_list_only_holds_jobs_still_over_the_limit():
    stale = {
        n for n, (_, _) in OVERSIZED_JOBS.items() if lines_of(JOBS / f"{n}.py") <= JOB_MAX_LINES
    }
    assert stale == set(), "these jobs are within the limit now: drop them from OVERSIZED_JOBS"


# tests/bench file -> job names it may use beyond main, with why (empty: none)
JOB_LIBRARY_USERS: dict[str, tuple[str, ...]] = {}


def names_used_from_jobs(path: Path) -> set[str]:
    """``jobs.<job>.<name>`` that ``path`` uses: imported by name or reached as an attribute.

    ``from jobs.query import main`` gives ``jobs.query.main``; ``from jobs import query``
    (or ``import jobs.query as q``) followed by ``query.parse(...)`` gives
    ``jobs.query.parse``. A job module imported and only called as ``x.main`` is fine.
    """
    jobs = {f"jobs.{j}" for j in JOB_MODULES}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                if node.module in jobs:
                    found.add(f"{node.module}.{alias.name}")
                elif node.module == "jobs" and f"jobs.{alias.name}" in jobs:
                    aliases[alias.asname or alias.name] = f"jobs.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in jobs:
                    aliases[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            dotted = _dotted(node.value)
            if dotted in aliases:
                found.add(f"{aliases[dotted]}.{node.attr}")
    return found


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def test_tests_and_bench_use_only_main_of_a_job():
    offenders = {}
    for folder in (ROOT / "tests", ROOT / "bench"):
        for path in sorted(folder.rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            allowed = set(JOB_LIBRARY_USERS.get(rel, ()))
            used = {n for n in names_used_from_jobs(path) if n.rpartition(".")[2] != "main"}
            if used - allowed:
                offenders[rel] = sorted(used - allowed)
    assert offenders == {}, (
        "tests and bench import library code (jobs.core, api, dq) and call a job only "
        "through its main(argv)"
    )


def test_the_job_use_check_sees_names_aliases_and_attributes(tmp_path):
    src = tmp_path / "t.py"
    src.write_text(
        "from jobs.query import main, parse_args\n"
        "from jobs import demo as d\n"
        "import jobs.erase_profile\n"
        "d.main([])\n"
        "d.build_lake()\n"
        "jobs.erase_profile.erase()\n",
        encoding="utf-8",
    )
    assert names_used_from_jobs(src) == {
        "jobs.query.main",
        "jobs.query.parse_args",
        "jobs.demo.main",
        "jobs.demo.build_lake",
        "jobs.erase_profile.erase",
    }


# ------------------------------------------------------------------ one owner per rule
AS_OF_OWNER = "jobs/core/rules/as_of.py"
PARSERS = {"fromisoformat", "strptime"}
# (file, parser) -> why that text is not a moment to resolve; everything else goes
# through jobs.core.rules.as_of (parse_utc, parse_as_of, parse_day, the argparse types)
NOT_AN_AS_OF = {
    ("jobs/core/ingest/landing.py", "fromisoformat"): (
        "the landing archive's folder names (YYYY-MM-DD); a name that is not a day is "
        "skipped, never an error"
    ),
    ("jobs/generate_events.py", "strptime"): (
        "the synthetic generator's --start day (a naive midnight the generator counts "
        "from), not a reference time of a build or a query"
    ),
}


def time_parsers(path: Path) -> list[tuple[str, int]]:
    """``(parser, line)`` of each ``fromisoformat``/``strptime`` call in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            if name in PARSERS:
                found.append((name, node.lineno))
    return found


def test_as_of_and_utc_text_is_parsed_only_by_the_as_of_module():
    offenders = []
    for folder in ("jobs", "api", "dq"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            if rel == AS_OF_OWNER:
                continue
            offenders += [
                f"{rel}:{line} {name}"
                for name, line in time_parsers(path)
                if (rel, name) not in NOT_AN_AS_OF
            ]
    assert offenders == [], (
        "parse times with jobs.core.rules.as_of (parse_utc / parse_as_of / parse_day / "
        "as_of_argument / utc_argument), or add the call to NOT_AN_AS_OF with the reason"
    )


def test_the_as_of_allow_list_has_no_stale_entry():
    stale = [
        key
        for key in NOT_AN_AS_OF
        if key[1] not in {name for name, _ in time_parsers(ROOT / key[0])}
    ]
    assert stale == []


def test_the_parser_check_sees_methods_and_bare_names(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        "import datetime as dt\nfrom time import strptime\n"
        "dt.datetime.fromisoformat('2024-01-01')\nstrptime('1', '%d')\n",
        encoding="utf-8",
    )
    assert time_parsers(src) == [("fromisoformat", 3), ("strptime", 4)]


# ------------------------------------------------------------------ the API's shared helpers
def private_imports(path: Path, package: str = "api") -> list[str]:
    """``module._name`` that ``path`` imports (or reaches) from another module of ``package``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = f"{package}.{path.stem}"
    found = []
    modules: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                if node.module.startswith(f"{package}.") and node.module != own:
                    if alias.name.startswith("_"):
                        found.append(f"{node.module}.{alias.name}")
                elif node.module == package:
                    modules[alias.asname or alias.name] = f"{package}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module = modules.get(node.value.id)
            if module and module != own and node.attr.startswith("_"):
                found.append(f"{module}.{node.attr}")
    return sorted(found)


def test_no_api_module_uses_a_private_name_of_another():
    offenders = {p.name: private_imports(p) for p in sorted((ROOT / "api").glob("*.py"))}
    assert {k: v for k, v in offenders.items() if v} == {}, (
        "what two api modules share is public (api.paging, api.lookups, api.deps)"
    )


def test_the_private_import_check_sees_from_imports_and_attributes(tmp_path):
    src = tmp_path / "routes_x.py"
    src.write_text(
        "from api.routes_read import _limit, catalog\nfrom api import models\n"
        "models._clean(1)\nmodels.clean_text('a')\n",
        encoding="utf-8",
    )
    assert private_imports(src) == ["api.models._clean", "api.routes_read._limit"]
