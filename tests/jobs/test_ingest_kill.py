"""kill -9 the ingest at random moments, restart it: the tables equal an uninterrupted run.

Bounded in time: KILLS (default 3, ``LAKEHOUSE_TEST_KILLS`` to raise it) kills, each
after a random 8–20 s, then one run to completion.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys

import pytest
from chispa import assert_df_equality

from jobs import import_viewing_activity as imp
from jobs import ingest_playback_events as ingest
from jobs.core.config import load_config
from jobs.core.delta import get_engine
from tests.conftest import ROOT, SAMPLES

KILLS = int(os.environ.get("LAKEHOUSE_TEST_KILLS", "3"))
CSV = SAMPLES / "viewing-activity" / "household-ke.csv"


def prepare(root):
    cfg = load_config(
        "test", lake_root=str(root), overrides={"ingest": {"max_files_per_trigger": 1}}
    )
    imp.import_files([str(CSV)], "ke", cfg.paths.landing_dir, cfg.paths.rejects_dir, 60, 300)
    landing = cfg.paths.landing_dir
    with open(os.path.join(landing, "zz-bad.jsonl"), "w") as fh:
        fh.write('{"session_id": "broken"\n')
    for i, name in enumerate(sorted(os.listdir(landing))):  # deterministic file order
        os.utime(os.path.join(landing, name), (1_700_000_000 + i, 1_700_000_000 + i))
    return cfg


def ingest_cmd(root):
    return [
        sys.executable, "-m", "jobs.ingest_playback_events", "--once", "--env", "test",
        "--lake-root", str(root), "--max-files-per-trigger", "1",
    ]  # fmt: skip


@pytest.mark.slow
def test_kill_9_at_random_points_loses_and_duplicates_nothing(spark, tmp_path):
    clean_cfg = prepare(tmp_path / "clean")
    ingest.run(clean_cfg, once=True, spark=spark)
    clean = get_engine(spark, clean_cfg)

    root = tmp_path / "killed"
    cfg = prepare(root)
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
    assert killed.read("playback_event_quarantine").count() == 1
    events = killed.read("playback_event")
    assert events.count() == events.select("session_id", "event_time").distinct().count()
