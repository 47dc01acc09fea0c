"""The session change log: merge path and change-log path give the same ``playback_session``.

The resume-log tests' real-looking micro-batches (late arrivals across batches, sessions
spread over batches in shuffled order, ENDs, a trailer) are written once per batch through
``apply_events`` on each path. The change-log lake is compacted part-way, replayed,
crashed between compaction's two commits and appended to while compaction runs; it must
always read what the merged lake holds — ``event_count`` above all, a sum that a row
counted twice would show.
"""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs.core.changelog.abandoned import close_abandoned_sessions
from jobs.core.changelog.session import CHANGE, compact, current_sessions, fold_sessions
from jobs.core.tables.registry import PLAYBACK_SESSION
from tests.conftest import crash_before
from tests.jobs.core.changelog.test_resume import T0, ingest, lake, viewing_batches


def same(actual, expected) -> None:
    assert_df_equality(
        actual.select(PLAYBACK_SESSION.columns),
        expected.select(PLAYBACK_SESSION.columns),
        ignore_row_order=True,
        ignore_nullable=True,
        ignore_metadata=True,
    )


def both(spark, tmp_path, seed: int):
    """A merged and a change-log lake given the same micro-batches (nothing compacted)."""
    merged = lake(spark, tmp_path, "merged", "merge")
    logged = lake(spark, tmp_path, "logged", "change_log")
    for batch_id, batch in enumerate(viewing_batches(seed)):
        ingest(merged, spark, batch, batch_id)
        ingest(logged, spark, batch, batch_id)
    return merged, logged


def test_change_log_reads_what_the_merge_writes_before_and_after_compaction(
    spark, tmp_path, engine_name
):
    merged = lake(spark, tmp_path, "merged", "merge")
    logged = lake(spark, tmp_path, "logged", "change_log")
    batches = viewing_batches(1)
    for batch_id, batch in enumerate(batches):
        ingest(merged, spark, batch, batch_id)
        ingest(logged, spark, batch, batch_id)
        if batch_id == 1:
            compact(logged)  # part of the log folded into the base: both sources now hold rows
        if batch_id in (1, 2):
            same(current_sessions(logged), merged.read("playback_session"))
    assert logged.read("playback_session").count() > 0
    ingest(logged, spark, batches[-1], len(batches) - 1)  # a replay: skipped by its marker
    expected = merged.read("playback_session").localCheckpoint()
    assert expected.where("ended_at IS NOT NULL").count() > 0  # END folding is exercised
    assert expected.where("event_count > 1").count() > 0  # sums across batches too
    assert logged.read(CHANGE).count() > 0
    same(current_sessions(logged), expected)
    done = compact(logged)
    assert done.keys > 0 and done.rows_merged == done.keys
    assert logged.read(CHANGE).count() == 0
    same(logged.read("playback_session"), expected)  # the base alone is now current
    same(current_sessions(logged), expected)
    versions = (logged.version("playback_session"), logged.version(CHANGE))
    assert compact(logged).keys == 0  # an empty log: nothing committed
    assert (logged.version("playback_session"), logged.version(CHANGE)) == versions


def test_a_crash_between_compactions_commits_never_counts_a_row_twice(spark, tmp_path, engine_name):
    merged, logged = both(spark, tmp_path, 3)
    expected = merged.read("playback_session").localCheckpoint()
    with crash_before("merge", CHANGE), pytest.raises(RuntimeError):
        compact(logged)  # the base merge committed, the log delete did not
    assert logged.read(CHANGE).count() > 0  # every log row is also in the base now
    same(current_sessions(logged), expected)  # the reader leaves the folded rows out
    again = compact(logged)  # finishes the delete; the base merge is not repeated
    assert again.rows_pruned > 0 and again.keys == 0
    assert logged.read(CHANGE).count() == 0
    same(logged.read("playback_session"), expected)


def test_rows_appended_while_compaction_runs_are_kept_and_counted_once(
    spark, tmp_path, engine_name
):
    from jobs.core.storage.delta import add_write_hook

    merged, logged = both(spark, tmp_path, 4)
    s = merged.read("playback_session").orderBy("session_id").first()
    late = [(s.session_id, T0 + dt.timedelta(days=2), "HEARTBEAT", 120, s.profile_id, "tv",
             s.title_id, s.episode_id, "KE", False, False, 6000)]  # fmt: skip
    ingest(merged, spark, late, 5)
    fired = []

    def stream_appends(op: str, table: str) -> None:
        # the stream commits a batch between compaction's base merge and its log delete
        if (op, table) == ("merge", CHANGE) and not fired:
            fired.append(1)
            ingest(logged, spark, late, 5)

    remove = add_write_hook(stream_appends)
    try:
        compact(logged)
    finally:
        remove()
    assert fired
    assert [r.session_id for r in logged.read(CHANGE).collect()] == [s.session_id]
    same(current_sessions(logged), merged.read("playback_session"))
    compact(logged)
    same(logged.read("playback_session"), merged.read("playback_session"))


def test_fold_is_order_free_and_keeps_the_newest_end(spark):
    """The rule column by column on three partial rows of one session, in every order."""
    t = dt.datetime(2026, 11, 20, 20, 0)
    rows = [  # (first batch, a batch with its END, a cleanup's ABANDONED close before it)
        ("s1", 7, "tv", 10, None, "KE", False, None, t, None, None,
         t + dt.timedelta(minutes=30), 1800, 61),
        ("s1", 7, "phone", 10, None, "KE", False, True, t + dt.timedelta(minutes=5),
         t + dt.timedelta(minutes=50), "END", t + dt.timedelta(minutes=50), 2900, 40),
        ("s1", 7, "tv", 10, None, "KE", False, None, t, t + dt.timedelta(minutes=30),
         "ABANDONED", t + dt.timedelta(minutes=30), 1800, 0),
    ]  # fmt: skip
    expected = spark.createDataFrame(
        [
            (
                "s1",
                7,
                "tv",
                10,
                None,
                "KE",
                False,
                True,
                t,
                t + dt.timedelta(minutes=50),
                "END",
                t + dt.timedelta(minutes=50),
                2900,
                101,
            )
        ],  # fmt: skip
        PLAYBACK_SESSION.schema,
    )
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0]):
        df = spark.createDataFrame([rows[i] for i in order], PLAYBACK_SESSION.schema)
        assert_df_equality(
            fold_sessions(df),
            expected,
            ignore_nullable=True,
            ignore_row_order=True,
            ignore_metadata=True,
        )


def test_abandoned_sessions_close_through_the_log_and_a_late_end_still_wins(spark, tmp_path):
    logged = lake(spark, tmp_path, "logged", "change_log")
    for batch_id, batch in enumerate(viewing_batches(5)):
        ingest(logged, spark, batch, batch_id)
    now = T0 + dt.timedelta(days=1)
    open_before = current_sessions(logged).where("ended_at IS NULL").count()
    assert open_before > 0
    n, result = close_abandoned_sessions(logged, 4, now)
    assert n == open_before and result is not None
    closed = current_sessions(logged).where("end_reason = 'ABANDONED'")
    assert closed.count() == n
    assert closed.where("ended_at <> last_event_at").count() == 0
    assert close_abandoned_sessions(logged, 4, now)[0] == 0  # rerun: nothing left open
    counts = current_sessions(logged).agg(F.sum("event_count")).first()[0]
    compact(logged)
    assert logged.read("playback_session").where("end_reason = 'ABANDONED'").count() == n
    assert logged.read("playback_session").agg(F.sum("event_count")).first()[0] == counts
    s = closed.orderBy("session_id").first()
    end = [(s.session_id, s.last_event_at + dt.timedelta(minutes=1), "END", 99, s.profile_id,
            "tv", s.title_id, s.episode_id, "KE", False, False, 6000)]  # fmt: skip
    ingest(logged, spark, end, 9)
    [row] = current_sessions(logged).where(F.col("session_id") == s.session_id).collect()
    assert (row.end_reason, row.last_position_sec) == ("END", 99)


def test_a_log_dropped_and_created_again_is_compacted_again(spark, tmp_path):
    """The marker names the log's table id: a new log's versions restart, nothing is skipped."""
    import shutil

    merged, logged = both(spark, tmp_path, 6)
    compact(logged)  # base marker at the old log's version
    shutil.rmtree(logged.path(CHANGE))
    logged.create_all([CHANGE])  # a new table: new id, versions from 0
    s = merged.read("playback_session").orderBy("session_id").first()
    late = [(s.session_id, T0 + dt.timedelta(days=2), "HEARTBEAT", 120, s.profile_id, "tv",
             s.title_id, s.episode_id, "KE", False, False, 6000)]  # fmt: skip
    ingest(merged, spark, late, 5)
    ingest(logged, spark, late, 5)
    same(current_sessions(logged), merged.read("playback_session"))
    assert compact(logged).rows_merged == 1
    same(logged.read("playback_session"), merged.read("playback_session"))
