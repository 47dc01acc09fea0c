"""The package graph of jobs/core: cycles and lazy core imports are found, the real tree has none.

A synthetic ``jobs/core`` is written under ``tmp_path`` and scanned there; its modules import each other as ``jobs.core.<pkg>.<module>`` like the real ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.core.runtime import check_layout
from jobs.core.runtime.check_layout import cycles, dependency_order, package_of, scan


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """``{"a/m.py": source}`` as files under ``root/core`` (each folder a package)."""
    core = root / "core"
    core.mkdir()
    (core / "__init__.py").write_text("")
    for rel, source in files.items():
        path = core / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        (path.parent / "__init__.py").touch()
        path.write_text(source)
    return core


@pytest.fixture
def synthetic(tmp_path):
    def make(files: dict[str, str]) -> check_layout.Layout:
        return scan(write_tree(tmp_path, files))  # module names relative to that core

    return make


def test_package_of_is_the_first_name():
    assert package_of("storage.delta") == "storage"
    assert package_of("errors") == "errors"


def test_a_clean_tree_is_listed_in_dependency_order(synthetic):
    layout = synthetic(
        {
            "low/spec.py": "X = 1\n",
            "mid/use.py": "from jobs.core.low.spec import X\n",
            "top/job.py": "import jobs.core.mid.use\nfrom jobs.core.low import spec\n",
        }
    )
    # ``from jobs.core.low import spec``: the package (its __init__) and the module
    assert layout.modules["top.job"] == {"mid.use", "low", "low.spec"}
    graph = layout.packages()
    assert graph == {"low": set(), "mid": {"low"}, "top": {"low", "mid"}}
    assert dependency_order(graph) == ["low", "mid", "top"]
    assert cycles(graph) == [] and cycles(layout.modules) == [] and layout.lazy == []


def test_a_package_cycle_is_found_even_without_a_module_cycle(synthetic):
    layout = synthetic(
        {
            "a/one.py": "from jobs.core.b.two import Y\nX = 1\n",
            "b/two.py": "Y = 2\n",
            "b/three.py": "from jobs.core.a.four import Z\n",
            "a/four.py": "Z = 3\n",
        }
    )
    assert cycles(layout.modules) == []  # a.one -> b.two, b.three -> a.four
    assert cycles(layout.packages()) == [["a", "b"]]
    assert set(dependency_order(layout.packages())) == {"a", "b"}  # listed, not lost


def test_a_module_cycle_is_found(synthetic):
    layout = synthetic(
        {
            "a/one.py": "from jobs.core.a.two import Y\nX = 1\n",
            "a/two.py": "from jobs.core.a.one import X\nY = 2\n",
        }
    )
    assert cycles(layout.modules) == [["a.one", "a.two"]]
    assert layout.packages() == {"a": set()}  # within one package: no package edge


def test_a_core_import_inside_a_function_or_class_is_lazy(synthetic):
    layout = synthetic(
        {
            "a/one.py": "X = 1\n",
            "b/two.py": (
                "import json\n\n\n"
                "def f():\n"
                "    import pyarrow  # a third-party library may be imported late\n"
                "    from jobs.core.a.one import X\n"
                "    return X\n\n\n"
                "class C:\n"
                "    def g(self):\n"
                "        import jobs.core.a.one\n"
            ),
        }
    )
    assert layout.lazy == [("b.two", 6, "a.one"), ("b.two", 12, "a.one")]
    assert layout.modules["b.two"] == {"a.one"}  # still an edge of the graph


def test_the_real_tree_has_no_cycle_and_no_lazy_core_import(capsys):
    layout = scan()
    assert cycles(layout.packages()) == []
    assert cycles(layout.modules) == []
    assert layout.lazy == []
    assert check_layout.main([]) == 0
    out = capsys.readouterr().out
    assert "no cycles" in out and out.splitlines()[0].startswith("tables")


def test_main_exits_1_naming_the_cycle_and_the_lazy_import(tmp_path, monkeypatch, capsys):
    core = write_tree(
        tmp_path,
        {
            "a/one.py": "from jobs.core.b.two import Y\nX = 1\n",
            "b/two.py": "Y = 2\n\n\ndef f():\n    from jobs.core.a.one import X\n",
        },
    )
    real_scan = check_layout.scan
    monkeypatch.setattr(check_layout, "scan", lambda: real_scan(core))
    assert check_layout.main([]) == 1
    err = capsys.readouterr().err
    assert "package cycle: a <-> b" in err
    assert "lazy import of jobs.core.a.one in jobs/core/b/two.py:5" in err
