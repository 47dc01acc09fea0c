"""The ingest and maintenance / catch-up jobs at once: conflicts retried, nothing lost."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from chispa import assert_df_equality

from jobs.core.changelog.resume_merge import merge_resume_state
from jobs.core.ingest import query as ingest
from jobs.core.ingest.synthetic_events import generate
from jobs.core.runtime.config import load_config
from jobs.core.storage.delta import get_engine
from tests.conftest import ENGINE_VAR, ROOT


def lake(root):
    cfg = load_config(
        "test", lake_root=str(root), overrides={"ingest": {"max_files_per_trigger": 1}}
    )
    generate(cfg.paths.landing_dir, events=6_000, files=6, seed=3, accounts=40)
    names = sorted(os.listdir(cfg.paths.landing_dir))
    for i, name in enumerate(names):  # a fixed file order
        os.utime(os.path.join(cfg.paths.landing_dir, name), (1_700_000_000 + i,) * 2)
    return cfg


@pytest.fixture(scope="module")
def quiet(spark, tmp_path_factory):
    """The ingest alone, once per module on delta-rs: each engine's busy lake is held to it
    (the engines write the same tables, so this also holds them to each other)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENGINE_VAR, "rust")
        cfg = lake(tmp_path_factory.mktemp("writers") / "clean")
        ingest.run(cfg, once=True, spark=spark)
        clean = get_engine(spark, cfg)
    assert clean.name == "rust"
    return clean


@pytest.mark.slow
def test_ingest_with_concurrent_optimize_and_resume_catch_up(spark, tmp_path, engine_name, quiet):
    clean = quiet

    cfg = lake(tmp_path / "busy")
    engine = get_engine(spark, cfg)
    engine.create_all()
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobs.ingest_playback_events", "--once", "--env", "test",
         "--lake-root", cfg.paths.lake_root, "--max-files-per-trigger", "1"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    rounds = 0
    while proc.poll() is None:
        engine.optimize("playback_event")  # compaction racing the appends
        merge_resume_state(engine, cfg)  # a catch-up merge racing the stream's merges
        rounds += 1
    assert proc.returncode == 0, proc.stderr.read()[-3000:]
    assert rounds >= 2, "the jobs never overlapped"

    lineage = ["ingest_query_id", "ingest_batch_id"]
    assert_df_equality(
        engine.read("playback_event").drop(*lineage),
        clean.read("playback_event").drop(*lineage),
        ignore_row_order=True,
        ignore_nullable=True,
        ignore_metadata=True,
    )
    for name in ("playback_session", "resume_state"):
        assert_df_equality(
            engine.read(name),
            clean.read(name),
            ignore_row_order=True,
            ignore_nullable=True,
            ignore_metadata=True,
        )
