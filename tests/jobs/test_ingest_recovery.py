"""Recovery of committed micro-batches a table lost, and corrupt tables (issue 20, items 3, 6).

Each test damages a real lake the way an operator meets it — the last commit file of
``playback_event`` truncated and then removed as the error says, a referenced Parquet
file deleted — and asserts the outcome: one line naming what is wrong and the way out,
nothing of a failed batch committed, and after the advised fix every event stored
exactly once.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from chispa import assert_df_equality

from jobs.core.ingest import query as ingest
from jobs.core.ingest.batch_writer import WRITES, BatchWriter
from jobs.core.ingest.recovery import RecoveryError, locate_landing_file, missing_batches
from jobs.core.ingest.table_writes import EMPTY_BATCHES, record_writes
from jobs.core.runtime.config import load_config
from jobs.core.storage.delta import TableFileMissingError, get_engine
from jobs.core.storage.table_health import TableUnreadableError
from tests.jobs.test_ingest_playback_events import ev, land

# three files, one micro-batch each: sessions spread over the batches, a duplicate and a
# bad line, so each table gets rows from every batch
BATCHES = [
    [ev(session="s1", t="2024-06-01T10:00:00Z", etype="PLAY", pos=0),
     ev(session="s1", t="2024-06-01T10:00:30Z", pos=30),
     ev(session="s2", t="2024-06-01T11:00:00Z", etype="PLAY", pos=0, profile_id=8),
     "{bad line"],
    [ev(session="s1", t="2024-06-01T10:01:00Z", pos=60),
     ev(session="s1", t="2024-06-01T10:00:30Z", pos=30),  # a duplicate of batch 0's
     ev(session="s2", t="2024-06-01T11:00:30Z", pos=30, profile_id=8)],
    [ev(session="s1", t="2024-06-01T10:01:30Z", pos=90),
     ev(session="s2", t="2024-06-01T11:01:00Z", pos=60, profile_id=8),
     ev(session="s3", t="2024-06-02T09:00:00Z", etype="PLAY", pos=0, title_id=101),
     "{another bad line"],
]  # fmt: skip
EVENTS = 8  # distinct (session_id, event_time)


def config(root, **ingest_settings):
    settings = {"max_files_per_trigger": 1, **ingest_settings}
    return load_config("test", lake_root=str(root), overrides={"ingest": settings})


def ingest_batches(spark, cfg):
    for i, lines in enumerate(BATCHES):
        land(cfg, f"part-{i}.jsonl", lines)
    ingest.run(cfg, once=True, spark=spark)


def snapshot(engine):
    """The tables an analyst reads, without the columns naming the query that wrote a row."""
    return {
        "playback_event": engine.read("playback_event").drop("ingest_query_id"),
        "playback_session": engine.read("playback_session"),
        "resume_state": engine.read("resume_state"),
        "quarantine": engine.read("playback_event_quarantine").drop("quarantined_at"),
    }


def assert_same(actual, expected):
    for name in expected:
        assert_df_equality(
            actual[name], expected[name], ignore_row_order=True, ignore_nullable=True,
            ignore_metadata=True,
        )  # fmt: skip


def last_commit(cfg, table="playback_event") -> Path:
    commits = (Path(cfg.table_path(table)) / "_delta_log").glob("*.json")
    return max(commits, key=lambda p: int(p.stem))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.slow
def test_removing_the_damaged_last_commit_as_the_error_says_loses_nothing(
    spark, tmp_path, engine_name
):
    cfg = config(tmp_path)
    ingest_batches(spark, cfg)
    engine = get_engine(spark, cfg)
    before = snapshot(engine)
    assert before["playback_event"].count() == EVENTS
    damaged = last_commit(cfg)
    truncate(damaged)

    with pytest.raises(TableUnreadableError) as error:
        ingest.run(cfg, once=True, spark=spark)
    # the error's own advice, followed to the letter
    command = re.search(r"\(rm ([^)]+)\)", str(error.value))
    assert command, str(error.value)
    files = command.group(1).split()
    assert files[0] == str(damaged)
    for file in files:
        os.remove(file)
    assert engine.read("playback_event").count() < EVENTS  # the last batch's events are gone

    ingest.run(cfg, once=True, spark=spark)

    after = snapshot(get_engine(spark, cfg))
    assert_same(after, before)
    keys = after["playback_event"].groupBy("session_id", "event_time").count()
    assert keys.where("count > 1").count() == 0
    assert after["playback_session"].where("session_id = 's1'").first().event_count == 4
    # a run after the recovery has nothing to redo
    assert ingest.run(cfg, once=True, spark=spark)["written"] == 0
    assert_same(snapshot(get_engine(spark, cfg)), before)


@pytest.mark.slow
def test_a_lost_batch_whose_landing_files_are_gone_is_refused_with_the_way_out(spark, tmp_path):
    cfg = config(tmp_path, landing_cleanup="delete")
    ingest_batches(spark, cfg)
    before = snapshot(get_engine(spark, cfg))
    os.remove(last_commit(cfg))  # the last batch's playback_event commit

    landing = Path(cfg.paths.landing_dir)
    with pytest.raises(RecoveryError) as error:
        ingest.run(cfg, once=True, spark=spark)
    message = str(error.value)
    assert "playback_event lost committed micro-batch 2" in message
    assert str(landing / "part-2.jsonl") in message and "put them back" in message
    # putting the file back, as the error says, recovers the batch exactly once
    land(cfg, "part-2.jsonl", BATCHES[2])
    ingest.run(cfg, once=True, spark=spark)
    assert_same(snapshot(get_engine(spark, cfg)), before)


def _delete_a_data_file(cfg, table="playback_event") -> str:
    files = sorted(Path(cfg.table_path(table)).rglob("*.parquet"))
    files[0].unlink()
    return str(files[0])


def test_a_deleted_data_file_is_named_and_nothing_of_the_batch_is_committed(
    spark, tmp_path, engine_name
):
    cfg = config(tmp_path)
    land(cfg, "part-0.jsonl", BATCHES[0])
    ingest.run(cfg, once=True, spark=spark)
    gone = _delete_a_data_file(cfg)
    land(cfg, "part-1.jsonl", BATCHES[1])
    engine = get_engine(spark, cfg)
    versions = {t: engine.version(t) for t in WRITES}

    with pytest.raises(TableFileMissingError) as error:
        ingest.run(cfg, once=True, spark=spark)
    message = str(error.value)
    assert message.startswith("table playback_event at ") and gone in message
    assert "FSCK REPAIR TABLE" in message and "\n" not in message
    assert {t: engine.version(t) for t in WRITES} == versions


def test_a_data_file_deleted_while_the_ingest_runs_leaves_no_dq_rows_of_the_failed_batch(
    spark, tmp_path, engine_name, monkeypatch
):
    cfg = config(tmp_path)
    for i, lines in enumerate(BATCHES[:2]):
        land(cfg, f"part-{i}.jsonl", lines)
    original = BatchWriter.__call__
    gone: list[str] = []

    def delete_then_write(self, batch, batch_id):
        if batch_id == 1:
            gone.append(_delete_a_data_file(cfg))
        return original(self, batch, batch_id)

    monkeypatch.setattr(BatchWriter, "__call__", delete_then_write)
    with pytest.raises(TableFileMissingError, match="table playback_event at .* data file"):
        ingest.run(cfg, once=True, spark=spark)
    engine = get_engine(spark, cfg)
    assert engine.read("dq_result").where("batch_id = 1").count() == 0
    for table in ("playback_event_quarantine", "playback_session_change", "resume_state_change"):
        assert engine.transaction_version(table, _app_id(cfg, table)) == 0, table


def _app_id(cfg, table):
    checkpoint = cfg.checkpoint_path(cfg.ingest.query_name)
    with open(os.path.join(checkpoint, "metadata"), encoding="utf-8") as fh:
        import json

        query_id = json.loads(fh.readline())["id"]
    return f"{cfg.ingest.query_name}:{query_id}:{table}"


# --- the bookkeeping, without Spark --------------------------------------------------------
class _Engine:
    def __init__(self, markers):
        self.markers = markers

    def exists(self, table):
        return True

    def transaction_version(self, table, app_id):
        return self.markers.get(table)


class _Writer:
    def __init__(self, checkpoint):
        self.checkpoint = str(checkpoint)

    def app_id(self, table):
        return f"q:id:{table}"


def _checkpoint(tmp_path, committed: int) -> Path:
    cp = tmp_path / "cp"
    (cp / "commits").mkdir(parents=True)
    (cp / "metadata").write_text('{"id":"id"}\n')
    for b in range(committed + 1):
        (cp / "commits" / str(b)).write_text("v1\n{}\n")
    return cp


def test_missing_batches_compares_each_tables_marker_with_the_committed_batches(tmp_path):
    cp = _checkpoint(tmp_path, committed=5)
    record_writes(str(cp), 2, ["playback_event", "playback_event_quarantine"])
    record_writes(str(cp), 4, ["playback_event", "playback_event_quarantine"])
    record_writes(str(cp), 5, ["playback_event"])
    engine = _Engine({"playback_event": 3, "playback_event_quarantine": 2})
    # playback_event lost 4 and 5; the quarantine lost 4 (the only later batch that wrote it)
    assert missing_batches(engine, _Writer(cp)) == {
        4: ["playback_event", "playback_event_quarantine"],
        5: ["playback_event"],
    }
    whole = _Engine({"playback_event": 5, "playback_event_quarantine": 4})
    assert missing_batches(whole, _Writer(cp)) == {}


def test_a_batch_that_read_no_row_is_never_taken_for_a_lost_one(tmp_path):
    cp = _checkpoint(tmp_path, committed=3)
    record_writes(str(cp), 3, [EMPTY_BATCHES])  # its only file vanished
    assert missing_batches(_Engine({"playback_event": 2}), _Writer(cp)) == {}


def test_a_processed_landing_file_is_found_where_it_was_archived(tmp_path):
    landing, archive = tmp_path / "landing", tmp_path / "archive"
    (archive / "2026-12-06").mkdir(parents=True)
    (archive / "2026-12-07").mkdir(parents=True)
    (archive / "2026-12-06" / "a.jsonl").write_text("old")
    (archive / "2026-12-07" / "a.jsonl.1").write_text("renamed")
    (archive / "2026-12-07" / "b [1].jsonl").write_text("b")
    find = locate_landing_file
    assert find(str(landing / "a.jsonl"), str(archive)) == str(archive / "2026-12-06" / "a.jsonl")
    assert find(str(landing / "b [1].jsonl"), str(archive)) == str(
        archive / "2026-12-07" / "b [1].jsonl"
    )
    assert find(str(landing / "c.jsonl"), str(archive)) is None
    landing.mkdir()
    (landing / "c.jsonl").write_text("back")
    assert find(str(landing / "c.jsonl"), str(archive)) == str(landing / "c.jsonl")
