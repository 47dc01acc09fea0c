"""kill -9 the ingest at random moments, restart it: the tables equal an uninterrupted run.

The data is generated (``jobs.generate_events``): 20 K events in 8 files with the
design's faults — ~0.5% duplicate events, ~1% late events, ~0.1% malformed lines,
abandoned sessions, device switches — one file per micro-batch.

Bounded in time: KILLS (default 3, ``LAKEHOUSE_TEST_KILLS`` to raise it) kills, each
after a random 8–20 s, then one run to completion. The uninterrupted run it is compared
with is built once per module, on delta-rs, and serves both engines.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys

import pytest
from chispa import assert_df_equality

from jobs.core.ingest import query as ingest
from jobs.core.ingest.synthetic_events import generate
from jobs.core.runtime.config import load_config
from jobs.core.storage.delta import get_engine
from tests.conftest import ENGINE_VAR, ROOT

KILLS = int(os.environ.get("LAKEHOUSE_TEST_KILLS", "3"))


def prepare(root):
    cfg = load_config(
        "test", lake_root=str(root), overrides={"ingest": {"max_files_per_trigger": 1}}
    )
    report = generate(cfg.paths.landing_dir, events=20_000, files=8, seed=11)
    assert report.duplicates > 0 and report.late > 0 and report.malformed > 0
    landing = cfg.paths.landing_dir
    for i, name in enumerate(sorted(os.listdir(landing))):  # deterministic file order
        os.utime(os.path.join(landing, name), (1_700_000_000 + i, 1_700_000_000 + i))
    return cfg, report


def ingest_cmd(root):
    return [
        sys.executable, "-m", "jobs.ingest_playback_events", "--once", "--env", "test",
        "--lake-root", str(root), "--max-files-per-trigger", "1",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def uninterrupted(spark, tmp_path_factory):
    """The uninterrupted run, once per module on delta-rs: each engine's killed run is held
    to it (the engines write the same tables, so this also holds them to each other)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENGINE_VAR, "rust")
        cfg, report = prepare(tmp_path_factory.mktemp("kill") / "clean")
        ingest.run(cfg, once=True, spark=spark)
        clean = get_engine(spark, cfg)
    assert clean.name == "rust"
    return clean, report


@pytest.mark.slow
def test_kill_9_at_random_points_loses_and_duplicates_nothing(
    spark, tmp_path, engine_name, uninterrupted
):
    clean, report = uninterrupted

    root = tmp_path / "killed"
    cfg, _ = prepare(root)
    rng = random.Random(20261122)
    env = {**os.environ, "SPARK_LOG_LEVEL": "ERROR"}
    kills = 0
    for _ in range(KILLS):
        proc = subprocess.Popen(ingest_cmd(root), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
        try:
            proc.wait(timeout=rng.uniform(8, 20))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the driver JVM and Python, at once
            proc.wait()
            kills += 1
    done = subprocess.run(
        ingest_cmd(root), cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert kills >= 1, "every run finished before its kill: nothing was tested"

    killed = get_engine(spark, cfg)
    for name in ("playback_event", "playback_session", "resume_state"):
        a, b = killed.read(name), clean.read(name)
        if name == "playback_event":  # lineage: which query and micro-batch wrote the row
            lineage = ["ingest_query_id", "ingest_batch_id"]
            a, b = a.drop(*lineage), b.drop(*lineage)
        assert_df_equality(a, b, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True)
    assert killed.read("playback_event_quarantine").count() == report.malformed
    events = killed.read("playback_event")
    stored = events.count()
    assert stored == events.select("session_id", "event_time").distinct().count()
    assert stored == report.events  # every generated event once: copies dropped, none lost
    print(f"kills={kills} events={stored} quarantined={report.malformed} files=8")
