"""Operating the ingest: a moved lake, the landing lifecycle, corrupt tables, two writers.

Each test reproduces what an operator meets (a lake copied with ``cp -a``, a landing
file deleted under a running ingest, a truncated Delta log, a second ingest started on
the same checkpoint) and asserts the outcome: a one-line error with the way out, or
tables with every event exactly once.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from chispa import assert_df_equality

from jobs.core.ingest import landing
from jobs.core.ingest import query as ingest
from jobs.core.ingest.batch_writer import BatchWriter
from jobs.core.runtime.config import load_config
from jobs.core.storage import checkpoints, locks
from jobs.core.storage.checkpoints import CheckpointRelocatedError
from jobs.core.storage.delta import get_engine
from jobs.core.storage.table_health import TableUnreadableError
from tests.conftest import ROOT
from tests.jobs.test_ingest_playback_events import ev, land, tables

FIRST = [
    ev(session="s1", t="2024-06-01T10:00:00Z", etype="PLAY", pos=0),
    ev(session="s1", t="2024-06-01T10:00:30Z", pos=30),
    "{bad line",
]
SECOND = [ev(session="s2", t="2024-06-01T11:00:00Z", etype="PLAY", pos=0)]
# after the move: one event already stored, two new ones
THIRD = [
    ev(session="s1", t="2024-06-01T10:00:30Z", pos=30),
    ev(session="s1", t="2024-06-01T10:01:00Z", pos=60),
    ev(session="s2", t="2024-06-01T11:00:30Z", pos=30),
]


def config(root, **ingest_settings):
    return load_config("test", lake_root=str(root), overrides={"ingest": ingest_settings})


def comparable(engine):
    """The tables without the columns that name the query and batch that wrote a row."""
    t = tables(engine)
    t["playback_event"] = t["playback_event"].drop("ingest_query_id", "ingest_batch_id")
    t["playback_event_quarantine"] = t["playback_event_quarantine"].select("raw_record", "reason")
    return t


def assert_same(actual, expected, names=("playback_event", "playback_session", "resume_state")):
    for name in names:
        assert_df_equality(
            actual[name], expected[name], ignore_row_order=True, ignore_nullable=True,
            ignore_metadata=True,
        )  # fmt: skip


def delta_log_tail(cfg, table) -> Path:
    return sorted((Path(cfg.table_path(table)) / "_delta_log").glob("*.json"))[-1]


# --- a moved, copied or restored lake -------------------------------------------------
@pytest.mark.parametrize("action, cleanup", [("rebase", "archive"), ("reset", "off")])
def test_a_copied_lake_says_how_to_go_on_and_then_ingests_every_event_once(
    spark, tmp_path, action, cleanup
):
    clean = config(tmp_path / "clean", landing_cleanup=cleanup)
    land(clean, "a.jsonl", FIRST)
    land(clean, "b.jsonl", SECOND)
    ingest.run(clean, once=True, spark=spark)
    land(clean, "c.jsonl", THIRD)
    ingest.run(clean, once=True, spark=spark)

    lake_a = config(tmp_path / "A", landing_cleanup=cleanup)
    land(lake_a, "a.jsonl", FIRST)
    land(lake_a, "b.jsonl", SECOND)
    ingest.run(lake_a, once=True, spark=spark)
    subprocess.run(["cp", "-a", str(tmp_path / "A"), str(tmp_path / "B")], check=True)
    lake_b = config(tmp_path / "B", landing_cleanup=cleanup)
    land(lake_b, "c.jsonl", THIRD)

    with pytest.raises(CheckpointRelocatedError, match=r"--rebase-checkpoint.*--reset-checkpoint"):
        ingest.run(lake_b, once=True, spark=spark)
    totals = ingest.run(lake_b, once=True, spark=spark, checkpoint_action=action)

    # rebase: only the new file is read; reset: the whole landing dir again, every
    # event already stored is dropped by the exact dedupe
    assert totals["written"] == 2
    assert totals["rows_in"] == (3 if action == "rebase" else 7)
    b = comparable(get_engine(spark, lake_b))
    assert_same(b, comparable(get_engine(spark, clean)))
    assert b["playback_session"].where("session_id = 's1'").first().event_count == 3
    # the original lake is untouched and still ingests on its own checkpoint
    land(lake_a, "d.jsonl", [ev(session="s3", t="2024-06-02T10:00:00Z", etype="PLAY", pos=0)])
    assert ingest.run(lake_a, once=True, spark=spark)["written"] == 1


def test_rebase_rewrites_only_the_folder_of_each_recorded_file(tmp_path):
    cp = tmp_path / "cp"
    (cp / "sources" / "0").mkdir(parents=True)
    entries = [{"path": f"file:///old/landing/{n}.jsonl", "timestamp": 1, "batchId": i}
               for i, n in enumerate(["a", "b c"])]  # fmt: skip
    (cp / "sources" / "0" / "1.compact").write_text(
        "v1\n" + "\n".join(json.dumps(e) for e in entries) + "\n"
    )
    (cp / "sources" / "0" / ".1.compact.crc").write_bytes(b"stale")
    assert checkpoints.recorded_landing_dir(str(cp)) == "/old/landing"
    assert checkpoints.rebase(str(cp), str(tmp_path / "new")) == 2
    assert checkpoints.recorded_landing_dir(str(cp)) == str(tmp_path / "new")
    assert checkpoints.batch_files(str(cp), 1) == [str(tmp_path / "new" / "b c.jsonl")]
    assert not (cp / "sources" / "0" / ".1.compact.crc").exists()
    checkpoints.check_location(str(cp), str(tmp_path / "new"))  # no error now


# --- the landing lifecycle ------------------------------------------------------------
def test_processed_landing_files_are_archived_then_purged_after_the_retention(spark, tmp_path):
    cfg = config(tmp_path, landing_retention_days=30, max_files_per_trigger=1)
    land(cfg, "a.jsonl", FIRST)
    land(cfg, "b.jsonl", SECOND)
    ingest.run(cfg, once=True, spark=spark)
    archive = Path(landing.archive_dir(cfg.ingest, cfg.paths.lake_root))
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert os.listdir(cfg.paths.landing_dir) == []  # the last batch's file too
    assert sorted(os.listdir(archive / today)) == ["a.jsonl", "b.jsonl"]
    assert get_engine(spark, cfg).read("playback_event").count() == 3
    # an archive day past the retention goes at the next start; other folders stay
    for folder in ("2026-01-01", "notes"):
        (archive / folder).mkdir()
        (archive / folder / "x.jsonl").write_text("{}\n")
    land(cfg, "c.jsonl", THIRD)
    ingest.run(cfg, once=True, spark=spark)
    assert sorted(os.listdir(archive)) == [today, "notes"]
    assert sorted(os.listdir(archive / today)) == ["a.jsonl", "b.jsonl", "c.jsonl"]


def test_files_of_committed_batches_left_by_a_crash_are_archived_at_the_next_start(spark, tmp_path):
    cfg = config(tmp_path, landing_cleanup="off")
    land(cfg, "a.jsonl", FIRST)
    ingest.run(cfg, once=True, spark=spark)
    assert os.listdir(cfg.paths.landing_dir) == ["a.jsonl"]
    archiving = config(tmp_path)
    land(archiving, "b.jsonl", SECOND)
    assert ingest.run(archiving, once=True, spark=spark)["rows_in"] == 1
    assert os.listdir(cfg.paths.landing_dir) == []


def test_delete_mode_removes_processed_files(spark, tmp_path):
    cfg = config(tmp_path, landing_cleanup="delete")
    land(cfg, "a.jsonl", FIRST)
    ingest.run(cfg, once=True, spark=spark)
    assert os.listdir(cfg.paths.landing_dir) == []
    assert not Path(landing.archive_dir(cfg.ingest, cfg.paths.lake_root)).exists()


def test_purge_keeps_the_days_within_the_retention(tmp_path):
    for day in ("2026-10-23", "2026-10-24", "2026-11-22"):
        (tmp_path / day).mkdir()
        (tmp_path / day / "a.jsonl").write_text("{}\n")
    assert landing.purge_archive(str(tmp_path), 30, today=dt.date(2026, 11, 23)) == 1
    assert sorted(os.listdir(tmp_path)) == ["2026-10-24", "2026-11-22"]


def test_an_archive_dir_inside_the_landing_dir_is_a_config_error(tmp_path):
    from jobs.core.runtime.config import ConfigError

    cfg = config(tmp_path, landing_archive_dir="{lake_root}/landing/old")
    with pytest.raises(ConfigError, match="must be outside paths.landing_dir"):
        landing.cleanup_mode(cfg.ingest, cfg.paths.lake_root, cfg.paths.landing_dir)


def test_a_landing_file_that_vanishes_before_it_is_read_is_counted_not_fatal(
    spark, tmp_path, monkeypatch
):
    cfg = config(tmp_path)
    land(cfg, "a.jsonl", FIRST)
    land(cfg, "b.jsonl", SECOND)
    land(cfg, "c.jsonl", [ev(session="s3", t="2024-06-01T12:00:00Z", etype="PLAY", pos=0)])
    original = BatchWriter.__call__

    def delete_then_write(self, batch, batch_id):
        # between Spark's listing (the batch's files are planned) and the read
        (Path(cfg.paths.landing_dir) / "b.jsonl").unlink(missing_ok=True)
        return original(self, batch, batch_id)

    monkeypatch.setattr(BatchWriter, "__call__", delete_then_write)
    totals = ingest.run(cfg, once=True, spark=spark)
    assert (totals["missing_files"], totals["written"]) == (1, 3)
    sessions = {r.session_id for r in get_engine(spark, cfg).read("playback_event").collect()}
    assert sessions == {"s1", "s3"}


# --- no partial commits ---------------------------------------------------------------
def _ingest_then_corrupt(spark, cfg):
    land(cfg, "a.jsonl", FIRST)
    ingest.run(cfg, once=True, spark=spark)
    tail = delta_log_tail(cfg, "playback_event")
    tail.write_bytes(tail.read_bytes()[: tail.stat().st_size // 2])
    land(cfg, "b.jsonl", [*SECOND, "{another bad line"])


def test_a_corrupt_table_stops_the_ingest_before_any_commit(spark, tmp_path):
    cfg = config(tmp_path)
    _ingest_then_corrupt(spark, cfg)
    engine = get_engine(spark, cfg)
    before = {t: engine.version(t) for t in ("playback_event_quarantine", "dq_result")}
    with pytest.raises(TableUnreadableError, match="table playback_event at .* cannot be loaded"):
        ingest.run(cfg, once=True, spark=spark)
    assert {t: engine.version(t) for t in before} == before


def test_a_table_corrupted_while_the_ingest_runs_stops_the_batch_before_any_commit(
    spark, tmp_path, monkeypatch
):
    cfg = config(tmp_path, max_files_per_trigger=1)
    land(cfg, "a.jsonl", FIRST)
    land(cfg, "b.jsonl", [*SECOND, "{another bad line"])
    original = BatchWriter.__call__

    def corrupt_then_write(self, batch, batch_id):
        if batch_id == 1:
            tail = delta_log_tail(cfg, "playback_event")
            tail.write_bytes(tail.read_bytes()[: tail.stat().st_size // 2])
        return original(self, batch, batch_id)

    monkeypatch.setattr(BatchWriter, "__call__", corrupt_then_write)
    with pytest.raises(TableUnreadableError, match="playback_event"):
        ingest.run(cfg, once=True, spark=spark)
    engine = get_engine(spark, cfg)
    assert engine.read("playback_event_quarantine").count() == 1  # batch 0's only
    assert engine.read("dq_result").where("batch_id = 1").count() == 0


def _cli(root, *extra):
    cmd = [sys.executable, "-m", "jobs.ingest_playback_events", "--once", "--env", "test",
           "--lake-root", str(root), *extra]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPARK_LOG_LEVEL": "ERROR"}
    return subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, stderr
    assert "Traceback" not in stderr and "\tat " not in stderr, stderr
    return errors[0]


def test_the_cli_names_the_corrupt_table_in_one_line_and_exits_1(spark, tmp_path):
    cfg = config(tmp_path)
    _ingest_then_corrupt(spark, cfg)
    proc = _cli(tmp_path)
    _, stderr = proc.communicate()
    assert proc.returncode == 1
    assert "table playback_event at" in _one_error_line(stderr)


# --- one writer per checkpoint --------------------------------------------------------
def test_two_real_ingests_on_one_checkpoint_the_second_refuses_at_start(spark, tmp_path):
    cfg = config(tmp_path)
    land(cfg, "a.jsonl", FIRST)
    land(cfg, "b.jsonl", SECOND)
    first = _cli(tmp_path)
    lock = Path(cfg.checkpoint_path(cfg.ingest.query_name)) / locks.LOCK_NAME
    while not lock.exists() and first.poll() is None:
        time.sleep(0.2)
    assert first.poll() is None, "the first ingest ended before the second started"
    second = _cli(tmp_path)
    _, stderr = second.communicate()
    first_out = first.communicate()
    assert second.returncode == 1
    line = _one_error_line(stderr)
    assert f"pid {first.pid} on {socket.gethostname()}" in line and "is writing checkpoint" in line
    assert first.returncode == 0, first_out[1][-2000:]
    assert not lock.exists()
    engine = get_engine(spark, cfg)
    assert engine.read("playback_event").count() == 3
    assert engine.read("playback_session").where("session_id = 's1'").first().event_count == 2


def _write_lock(folder, **holder):
    os.makedirs(folder, exist_ok=True)
    info = {"owner": "ingest", "pid": os.getppid(), "host": socket.gethostname(),
            "started_at": "2026-11-23T10:00:00+00:00", "checkpoint": str(folder)}  # fmt: skip
    info.update(holder)
    (Path(folder) / locks.LOCK_NAME).write_text(json.dumps(info))


def test_a_live_lock_refuses_and_names_its_holder(tmp_path):
    _write_lock(tmp_path / "cp", pid_start=locks.start_ticks(os.getppid()))
    with pytest.raises(locks.WriterLockedError, match=rf"pid {os.getppid()} .* since 2026-11-23"):
        locks.acquire(str(tmp_path / "cp"), "ingest")


def test_a_lock_from_another_host_is_never_taken_over(tmp_path):
    _write_lock(tmp_path / "cp", host="other-node", pid=1)
    with pytest.raises(locks.WriterLockedError, match="on other-node.*if it is dead, delete"):
        locks.acquire(str(tmp_path / "cp"), "ingest")


@pytest.mark.parametrize(
    "holder, reason",
    [
        ({"pid": 2**22 + 12345}, "is no longer running"),  # a pid beyond pid_max: dead
        ({"checkpoint": "ELSEWHERE"}, "a copied or moved lake"),  # the folder copied from
        ({"checkpoint_id": "0:1"}, "a copied or moved lake"),  # another device and inode
        ({"pid_start": "1"}, "is no longer running"),  # a live pid, reused by another process
    ],
)
def test_a_stale_lock_is_taken_over_with_a_warning(tmp_path, caplog, holder, reason):
    checkpoint = tmp_path / "cp"
    if holder.get("checkpoint") == "ELSEWHERE":
        (tmp_path / "elsewhere").mkdir()
        holder = {"checkpoint": str(tmp_path / "elsewhere")}
    _write_lock(checkpoint, **holder)
    with locks.writer_lock(str(checkpoint), "ingest") as path:
        assert json.loads(Path(path).read_text())["pid"] == os.getpid()
    assert reason in caplog.text
    assert not (checkpoint / locks.LOCK_NAME).exists()


@pytest.mark.parametrize("spelling", ["symlink", "recorded_id"])
def test_a_live_lock_is_never_taken_over_through_another_path_to_the_same_lake(tmp_path, spelling):
    # the lake reached through a second mount path: a symlink, or a path that only the
    # holder's mount namespace has (a bind mount elsewhere) with the folder's device:inode
    real = tmp_path / "mnt-a" / "cp"
    alias = tmp_path / "mnt-b"
    alias.symlink_to(tmp_path / "mnt-a", target_is_directory=True)
    real.mkdir(parents=True)
    holder = {"pid_start": locks.start_ticks(os.getppid()), "checkpoint": str(real)}
    if spelling == "recorded_id":
        holder.update(checkpoint="/mnt/elsewhere/cp", checkpoint_id=locks.folder_id(str(real)))
    _write_lock(real, **holder)
    with pytest.raises(locks.WriterLockedError, match=rf"pid {os.getppid()} "):
        locks.acquire(str(alias / "cp"), "ingest")
    assert json.loads((real / locks.LOCK_NAME).read_text())["pid"] == os.getppid()


def test_the_lock_records_the_checkpoint_by_identity(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").symlink_to(tmp_path / "a", target_is_directory=True)
    with locks.writer_lock(str(tmp_path / "b" / "cp"), "ingest") as path:
        info = json.loads(Path(path).read_text())
        assert info["checkpoint"] == str((tmp_path / "a" / "cp").resolve())
        assert info["checkpoint_id"] == locks.folder_id(str(tmp_path / "a" / "cp"))
