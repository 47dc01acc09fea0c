"""Python versions: the supported range, and Spark workers on the driver's interpreter."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]


def test_requires_python_covers_3_11_to_3_13():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    spec = SpecifierSet(project["requires-python"])
    assert all(v in spec for v in ("3.11.7", "3.12.1", "3.13.0"))
    assert "3.10.13" not in spec and "3.14.0" not in spec  # untested: not claimed


def test_spark_workers_run_the_drivers_python(spark):
    """A bare ``python3`` on PATH may be another version: PYTHON_VERSION_MISMATCH on every task."""
    # the tests never set PYSPARK_PYTHON: build_spark chose the interpreter
    assert spark.sparkContext.pythonExec == sys.executable

    def worker_python(_):
        import sys as worker_sys

        return [(worker_sys.executable, tuple(worker_sys.version_info[:3]))]

    (found,) = set(spark.sparkContext.parallelize([0], 1).mapPartitions(worker_python).collect())
    assert found[1] == tuple(sys.version_info[:3])
