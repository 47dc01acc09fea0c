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

from jobs import ingest_playback_events as ingest
from jobs.core.config import load_config
from jobs.core.delta import TableFileMissingError, get_engine
from jobs.core.table_health import TableUnreadableError
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


def test_a_lost_batch_whose_landing_files_are_gone_is_refused_with_the_way_out(spark, tmp_path):
    cfg = config(tmp_path, landing_cleanup="delete")
    ingest_batches(spark, cfg)
    before = snapshot(get_engine(spark, cfg))
    os.remove(last_commit(cfg))  # the last batch's playback_event commit

    landing = Path(cfg.paths.landing_dir)
    with pytest.raises(ingest.RecoveryError) as error:
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
    versions = {t: engine.version(t) for t in ingest.WRITES}

    with pytest.raises(TableFileMissingError) as error:
        ingest.run(cfg, once=True, spark=spark)
    message = str(error.value)
    assert message.startswith("table playback_event at ") and gone in message
    assert "FSCK REPAIR TABLE" in message and "\n" not in message
    assert {t: engine.version(t) for t in ingest.WRITES} == versions


def test_a_data_file_deleted_while_the_ingest_runs_leaves_no_dq_rows_of_the_failed_batch(
    spark, tmp_path, engine_name, monkeypatch
):
    cfg = config(tmp_path)
    for i, lines in enumerate(BATCHES[:2]):
        land(cfg, f"part-{i}.jsonl", lines)
    original = ingest.BatchWriter.__call__
    gone: list[str] = []

    def delete_then_write(self, batch, batch_id):
        if batch_id == 1:
            gone.append(_delete_a_data_file(cfg))
        return original(self, batch, batch_id)

    monkeypatch.setattr(ingest.BatchWriter, "__call__", delete_then_write)
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
