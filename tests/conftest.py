"""Shared fixtures: one session-scoped SparkSession, a private lake per test, the engine dimension.

Engines: every test runs on the rust engine (delta-rs) unless ``LAKEHOUSE_DELTA_ENGINE``
or ``DELTA_ENGINE`` names another for the whole run. Tests that request ``engine_name``
(directly, or through ``any_engine``-style fixtures) run once per engine: rust always,
spark when the delta-spark jars are there — ``DELTA_JARS_DIR``, or
``../shared/delta-spark-jars`` beside the repository (CI has it) — and are skipped,
saying why, elsewhere. One SparkSession serves both: with the jars on its classpath
the session carries the Delta extension, which the rust engine ignores, and each test
picks its engine through ``LAKEHOUSE_DELTA_ENGINE`` (read by ``get_engine``, inherited
by the jobs a test starts as subprocesses).

``--engines rust`` (``make test-fast``) deselects the spark half. ``make test`` runs on two
pytest-xdist workers (``-n 2 --dist loadfile``), one SparkSession each: every module goes
whole to one worker (its module-scoped lakes are built once) and the longest start first.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from jobs.core.runtime.config import Config, load_config

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
SHARED_DATA = ROOT.parent / "shared" / "data"
SHARED_JARS = ROOT.parent / "shared" / "delta-spark-jars"
ENGINE_VAR = "LAKEHOUSE_DELTA_ENGINE"

os.environ.setdefault("SPARK_LOG_LEVEL", "ERROR")
if not os.environ.get("DELTA_JARS_DIR") and SHARED_JARS.is_dir():
    os.environ["DELTA_JARS_DIR"] = str(SHARED_JARS)  # before the session starts
# the run's default engine: as asked, else rust (the spark half is the engine_name dimension)
os.environ[ENGINE_VAR] = os.environ.get(ENGINE_VAR) or os.environ.get("DELTA_ENGINE") or "rust"


@pytest.fixture(scope="session")
def spark():
    """One local[2] SparkSession for the whole run (conf/test.yaml: UTC, 2 shuffle partitions, no UI)."""
    from jobs.core.runtime.spark import build_spark

    cfg = load_config("test", lake_root="/tmp/viewing-lakehouse-unused")
    session = build_spark("tests", cfg)
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def _release_cached_frames():
    """Drop what a test cached: the one session lives all run, and frames a job cached and
    never released (harmless in a job's own process) would fill its heap until Spark
    refuses broadcast joins late in the suite."""
    yield
    from pyspark.sql import SparkSession

    active = SparkSession.getActiveSession()
    if active is not None:
        active.catalog.clearCache()


SPARK_SCENARIOS_VAR = "LAKEHOUSE_SPARK_SCENARIOS"


def spark_scenario_wanted(nodeid: str) -> bool:
    """Whether ``LAKEHOUSE_SPARK_SCENARIOS`` asks for this scenario on the spark engine.

    ``1`` (or ``all``): every scenario; else a comma-separated list of module names,
    e.g. ``test_ingest_kill,test_concurrent_writers``.
    """
    wanted = os.environ.get(SPARK_SCENARIOS_VAR, "").strip()
    if wanted in ("1", "all"):
        return True
    module = nodeid.split("::", 1)[0].rsplit("/", 1)[-1].removesuffix(".py")
    return module in {w.strip() for w in wanted.split(",") if w.strip()}


@pytest.fixture(params=["rust", "spark"])
def engine_name(request, spark, monkeypatch) -> str:
    """The Delta engine this test runs on; ``get_engine`` (and every job) picks it.

    Skips the spark half, with the reason, where the delta-spark jars are not there.
    """
    if request.param == "spark":
        from jobs.core.runtime.spark import delta_spark_available

        scenario = "tests/scenarios/" in request.node.nodeid
        if scenario and not spark_scenario_wanted(request.node.nodeid):
            # kill, fuzz and concurrency runs on delta-spark take minutes each on a
            # 2-core runner; CI asks for the kill and concurrency ones (.ci/run)
            pytest.skip(
                f"long scenario on the spark engine: set {SPARK_SCENARIOS_VAR}=1 (or a "
                "comma-separated list of scenario modules) to run it"
            )

        ok, why = delta_spark_available(spark)
        if not ok:
            pytest.skip(
                f"spark engine not testable here: {why}; set DELTA_JARS_DIR or put the jars "
                f"in {SHARED_JARS}"
            )
    monkeypatch.setenv(ENGINE_VAR, request.param)
    return request.param


@pytest.fixture
def cfg(tmp_path) -> Config:
    """The test configuration with its lake under this test's tmp_path."""
    return load_config("test", lake_root=str(tmp_path / "lake"))


@pytest.fixture
def engine(request, spark, cfg):
    """The engine of this test: ``engine_name``'s when the test has that dimension, else rust."""
    from jobs.core.storage.delta import get_engine

    if "engine_name" in request.fixturenames:
        request.getfixturevalue("engine_name")  # set the engine before choosing it
    return get_engine(spark, cfg)


@contextmanager
def crash_before(operation: str, table: str, call: int = 1) -> Iterator[dict[str, int]]:
    """Raise ``RuntimeError("simulated crash ...")`` before the ``call``-th ``operation`` on ``table``.

    Injected at the ``DeltaEngine`` interface (``add_write_hook``), so it works the same
    on every engine: the write never starts, as when the process dies before the commit.
    Yields the call counter.
    """
    from jobs.core.storage.delta import add_write_hook

    calls = {"n": 0}

    def hook(op: str, name: str) -> None:
        if op == operation and name == table:
            calls["n"] += 1
            if calls["n"] == call:
                raise RuntimeError(f"simulated crash before the {table} {operation} commit")

    remove = add_write_hook(hook)
    try:
        yield calls
    finally:
        remove()


# --- the suite's shape: which engines run, and the longest tests first ------------------

ENGINES_VAR = "LAKEHOUSE_TEST_ENGINES"
# the longest modules (minutes a test on a 2-core runner), in the order they start: under
# ``make test`` (pytest-xdist, ``-n 2 --dist loadfile``) each worker takes two of them
# first and fills the rest of its time with the short ones, instead of ending on them
LONG_FIRST = (
    "tests/scenarios/test_ingest_kill.py",
    "tests/jobs/test_standalone_cluster.py",
    "tests/bench/test_soak.py",
    "tests/scenarios/test_concurrent_writers.py",
    "tests/api/test_api_playback.py",  # a real uvicorn + redis-server, an ingest and a rebuild
)


# end-to-end modules: every test runs real jobs (import, the stream, builds, the DQ runner,
# a real uvicorn) over real-looking lakes, so every test of them is ``slow`` and
# ``make test-fast`` (-m "not slow": the rules and contracts) leaves them to ``make test``
END_TO_END = (
    "tests/jobs/test_",  # one module per job
    "tests/scenarios/",  # kill -9, concurrent writers, fuzzed landing files
    "tests/dq/test_run.py",  # the DQ runner over a built lake
    "tests/dq/test_suites.py",  # each expectation suite against a built table
    "tests/api/test_api_playback.py",  # real uvicorn + redis-server, an ingest, a rebuild
    "tests/api/test_api_reco.py",  # the recommendation jobs, then the API beside Spark
    "tests/jobs/core/changelog/test_resume.py",  # micro-batches through both write paths
    "tests/jobs/core/changelog/test_session.py",
)


def pytest_itemcollected(item):
    """Mark every test of the :data:`END_TO_END` modules ``slow`` (before ``-m`` selects)."""
    if _module(item).startswith(END_TO_END):
        item.add_marker(pytest.mark.slow)


def pytest_addoption(parser):
    parser.addoption(
        "--engines",
        default=os.environ.get(ENGINES_VAR, "rust,spark"),
        help="comma-separated Delta engines whose half of the engine dimension runs "
        f"(default rust,spark, or ${ENGINES_VAR}); `make test-fast` passes --engines rust: "
        "the other half is deselected, not skipped",
    )


def _engine_param(item: pytest.Item) -> str | None:
    """The engine a test's parameters name (``engine_name``, or a module lake's param)."""
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    return next((v for v in callspec.params.values() if v in ("rust", "spark")), None)


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """Deselect the engines not asked for (``--engines``); the longest modules first.

    ``make test`` runs pytest-xdist with ``--dist loadfile --no-loadscope-reorder``: each
    module goes whole to one worker (its module-scoped lakes are built once), in this
    order. Not ``loadgroup``: with pytest 9.2 pytest-xdist 3.8 can no longer append the
    group to a test's node id, so every test became its own unit, modules were split over
    both workers and each built the module's lakes again.
    """
    engines = {e.strip() for e in config.getoption("--engines").split(",") if e.strip()}
    keep, drop = [], []
    for item in items:
        (keep if _engine_param(item) in (None, *engines) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)

    def rank(item: pytest.Item) -> int:
        path = _module(item)
        return LONG_FIRST.index(path) if path in LONG_FIRST else len(LONG_FIRST)

    keep.sort(key=rank)  # stable: modules stay whole, in pytest's order
    items[:] = keep
