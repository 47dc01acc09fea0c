"""The cluster path the README promises: ``./spark-submit.sh --master spark://...`` with the jars.

Starts a Spark standalone master and two workers on 127.0.0.1 with PySpark's own
``spark-class`` (``org.apache.spark.deploy.master.Master`` / ``worker.Worker``), submits
the streaming ingest and the star build through ``./spark-submit.sh`` with the delta-spark
jars (the spark engine), checks the tables and that both applications ran on the
cluster, and stops the daemons (always). Skipped, saying why, without the jars.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pyspark
import pytest
from pyspark.sql import functions as F

from jobs.core.ingest import export_import as imp
from jobs.core.ingest.catalog import load_catalog
from jobs.core.runtime.config import load_config
from jobs.core.storage.delta import SparkDeltaEngine
from tests.conftest import ROOT, SAMPLES

ACCOUNT = "household-ke"
SPARK_HOME = Path(pyspark.__file__).parent  # pip's pyspark is a whole Spark distribution
BIN = SPARK_HOME / "bin"  # its spark-class and spark-submit


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, limit_s: float = 300) -> None:
    """Poll ``check()`` until true; fail naming ``what`` after ``limit_s`` (a hang guard)."""
    deadline = time.monotonic() + limit_s
    while not check():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what} after {limit_s:.0f}s")
        time.sleep(1)


def master_state(ui_port: int) -> dict:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=5) as r:
            return json.load(r)
    except OSError:
        return {}


@pytest.fixture
def cluster(tmp_path):
    """A standalone master and two 1-core workers; yields ``(master URL, web UI port)``."""
    jars = os.environ.get("DELTA_JARS_DIR")
    if not jars:
        pytest.skip("no delta-spark jars (DELTA_JARS_DIR or ../shared/delta-spark-jars)")
    port, ui = free_port(), free_port()
    url = f"spark://127.0.0.1:{port}"
    env = {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOG_DIR": str(tmp_path),
        "PYSPARK_PYTHON": sys.executable,
    }
    procs = []
    logs = tmp_path / "daemons"
    logs.mkdir()

    def start(name: str, *args: str) -> None:
        out = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        procs.append(
            (subprocess.Popen([str(BIN / "spark-class"), *args], env=env, stdout=out,
                              stderr=subprocess.STDOUT, start_new_session=True), out)
        )  # fmt: skip

    try:
        start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
              "--port", str(port), "--webui-port", str(ui))  # fmt: skip
        wait_for("the master", lambda: master_state(ui).get("status") == "ALIVE")
        for i in (1, 2):
            work = tmp_path / f"worker{i}"
            start(f"worker{i}", "org.apache.spark.deploy.worker.Worker", url,
                  "--host", "127.0.0.1", "--cores", "1", "--memory", "1g",
                  "--webui-port", str(free_port()), "--work-dir", str(work))  # fmt: skip
        wait_for(
            "two live workers",
            lambda: sum(w["state"] == "ALIVE" for w in master_state(ui).get("workers", [])) == 2,
        )
        yield url, ui
    finally:
        for proc, out in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            out.close()


def submit(url: str, lake_root: str, job: str, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_SUBMIT": str(BIN / "spark-submit"),
        "PYSPARK_PYTHON": sys.executable,  # the executors' Python workers: this venv's
        "LAKEHOUSE_DELTA_ENGINE": "spark",
        "SPARK_LOG_LEVEL": "WARN",
        "SPARK_SUBMIT_OPTS_EXTRA": "--executor-memory 768m --driver-memory 1g",
    }
    cmd = ["./spark-submit.sh", "--master", url, "--env", "test", "--delta", "jars", job,
           "--lake-root", lake_root, *args]  # fmt: skip
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)


@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("LAKEHOUSE_TEST_CLUSTER"),
    reason="starts a standalone master and two workers (minutes on a 2-core runner): "
    "set LAKEHOUSE_TEST_CLUSTER=1 to run it",
)
def test_ingest_and_star_build_submitted_to_a_standalone_cluster(spark, cluster, tmp_path):
    url, ui = cluster
    cfg = load_config("test", lake_root=str(tmp_path / "lake"))
    # the export's first 60 viewings (~3 landing files, one micro-batch): what is tested
    # is the cluster path, not the volume; the whole export costs ~15 cluster micro-batches
    lines = (SAMPLES / "viewing-activity" / f"{ACCOUNT}.csv").read_text().splitlines(True)
    csv_path = str(tmp_path / f"{ACCOUNT}.csv")
    Path(csv_path).write_text("".join(lines[:61]))
    _report, viewings, runtimes = imp.import_files(
        [csv_path], ACCOUNT, cfg.paths.landing_dir, cfg.paths.rejects_dir,
        cfg.importer.heartbeat_sec, cfg.importer.events_per_file, cfg.paths.catalog_csv,
    )  # fmt: skip
    imp.upsert_dimensions(spark, cfg, imp.dimension_rows(viewings, ACCOUNT, runtimes))
    engine = SparkDeltaEngine(spark, cfg)
    load_catalog(engine, cfg.paths.catalog_csv)

    ingest = submit(url, cfg.paths.lake_root, "ingest_playback_events", "--once")
    assert ingest.returncode == 0, ingest.stderr[-4000:]
    # transaction markers come from the log snapshot, not spark.read over _delta_log/*.json
    assert "Assume no metadata directory" not in ingest.stderr
    build = submit(url, cfg.paths.lake_root, "build_star_schema", "--as-of", "latest")
    assert build.returncode == 0, build.stderr[-4000:]

    events = engine.read("playback_event")
    assert events.count() == events.select("session_id", "event_time").distinct().count() > 0
    assert engine.read("resume_state").count() > 0
    watched = sum(v.duration_sec for v in viewings if v.supplemental_type is None)
    got = engine.read("fact_watch_history").agg(F.sum("watch_seconds")).first()[0]
    assert abs(got / watched - 1) < 0.01
    apps: list[str] = []
    for _ in range(30):  # the master lists an application once its driver has unregistered
        state = master_state(ui)
        apps = [a["name"] for a in state.get("completedapps", []) + state.get("activeapps", [])]
        if any("build_star_schema" in a for a in apps):
            break
        time.sleep(1)
    assert any("ingest_playback_events" in a for a in apps), apps  # ran on the cluster
    assert any("build_star_schema" in a for a in apps), apps
