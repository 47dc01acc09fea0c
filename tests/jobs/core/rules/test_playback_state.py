"""Session and resume-point folding (jobs.core.rules.playback_state)."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.core.rules.playback_state import (
    RESUME_MERGE,
    SESSION_MERGE,
    as_change_rows,
    content_key,
    newer_than,
    resume_updates,
    session_updates,
)
from jobs.core.tables.registry import PLAYBACK_EVENT, PLAYBACK_SESSION, RESUME_STATE

T0 = dt.datetime(2023, 1, 25, 21, 0)


def ev(
    session,
    sec,
    etype="HEARTBEAT",
    pos=0,
    profile=1,
    title=10,
    episode=None,
    device="d1",
    supplemental=False,
    runtime=None,
):
    t = T0 + dt.timedelta(seconds=sec)
    return (
        session,
        t,
        etype,
        pos,
        None,
        profile,
        device,
        title,
        episode,
        supplemental,
        False,
        runtime,
        "q",
        0,
        "GT",
        t.date(),
    )


def events(spark, rows):
    return spark.createDataFrame(rows, PLAYBACK_EVENT.schema)


def test_session_updates_fold_events_into_one_row_per_session(spark):
    df = events(
        spark,
        [
            ev("s1", 0, "PLAY", 100),
            ev("s1", 30, pos=130),
            ev("s1", 45, "END", 140),
            ev("s2", 10, "PLAY", 0),
            ev("s2", 40, pos=30),
        ],
    )
    expected = spark.createDataFrame(
        [
            (
                "s1",
                1,
                "d1",
                10,
                None,
                "GT",
                False,
                False,
                T0,
                T0 + dt.timedelta(seconds=45),
                "END",
                T0 + dt.timedelta(seconds=45),
                140,
                3,
            ),
            (
                "s2",
                1,
                "d1",
                10,
                None,
                "GT",
                False,
                False,
                T0 + dt.timedelta(seconds=10),
                None,
                None,
                T0 + dt.timedelta(seconds=40),
                30,
                2,
            ),
        ],
        PLAYBACK_SESSION.schema,
    )
    assert_df_equality(
        session_updates(df),
        expected.select(session_updates(df).columns),
        ignore_row_order=True,
        ignore_nullable=True,
        ignore_metadata=True,
    )


def test_resume_updates_take_the_newest_event_and_skip_supplementals(spark):
    df = events(
        spark,
        [
            ev("s1", 0, "PLAY", 0, episode=11),
            ev("s1", 600, "END", 600, episode=11),
            ev("s2", 700, "PLAY", 0, episode=12, device="tv", runtime=1000),
            ev("s2", 1650, "END", 960, episode=12, device="tv", runtime=1000),  # 96% => finished
            ev("s0", 300, "END", 50, episode=11),  # older session, late
            ev("t1", 2000, "END", 90, title=99, supplemental=True),
        ],
    )
    expected = spark.createDataFrame(
        [
            (1, 10, 11, 11, 600, T0 + dt.timedelta(seconds=600), "d1", "s1", False, None),
            (1, 10, 12, 12, 960, T0 + dt.timedelta(seconds=1650), "tv", "s2", True, 1000),
        ],
        RESUME_STATE.schema,
    )
    assert_df_equality(
        resume_updates(df, 0.95),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
        ignore_metadata=True,
    )


def test_same_time_ties_break_on_position_then_session(spark):
    df = events(spark, [ev("a", 60, "END", 100), ev("b", 60, "END", 200), ev("c", 60, "END", 200)])
    row = resume_updates(df, 0.95).first()
    assert (row.last_position_sec, row.session_id) == (200, "c")


def test_merging_batches_in_any_order_gives_the_same_resume_state(spark, engine):
    rows = [
        ev("s1", i * 30, pos=i * 30, episode=11 + (i % 3), device=f"d{i % 2}") for i in range(12)
    ]
    results = []
    for order in (rows, list(reversed(rows))):
        engine.create_all(["resume_state"])
        engine.delete("resume_state", "true")
        for chunk in (order[:5], order[5:9], order[9:]):
            engine.merge("resume_state", resume_updates(events(spark, chunk), 0.95), RESUME_MERGE)
        results.append(engine.read("resume_state").collect())
    assert sorted(results[0]) == sorted(results[1])
    assert len(results[0]) == 3


def test_session_merge_accumulates_counts_and_keeps_the_earliest_start(spark, engine):
    engine.create_all(["playback_session"])
    first = events(spark, [ev("s1", 30, pos=30), ev("s1", 60, pos=60)])
    late = events(spark, [ev("s1", 0, "PLAY", 0), ev("s1", 90, "END", 90)])
    engine.merge("playback_session", session_updates(first), SESSION_MERGE)
    engine.merge("playback_session", session_updates(late), SESSION_MERGE)
    row = engine.read("playback_session").first()
    assert (row.event_count, row.started_at, row.last_position_sec, row.end_reason) == (
        4,
        T0,
        90,
        "END",
    )
    assert row.ended_at == T0 + dt.timedelta(seconds=90)


def test_schemas_used_here_are_the_declared_ones():
    assert isinstance(PLAYBACK_EVENT.schema["event_time"].dataType, T.TimestampType)
    assert PLAYBACK_EVENT.partition_by == ("dt", "country_code")
    assert RESUME_STATE.partition_by == ()


# ------------------------------------------------------------------ statements, order, keys
def test_a_watched_statement_finishes_without_moving_back_and_abandoned_is_no_resume_point(spark):
    df = events(
        spark,
        [
            ev("s1", 0, "PLAY", 0, episode=11),
            ev("s1", 2000, pos=2000, episode=11),
            # "I watched it", posted at position 0 with no runtime: finished, kept at 2000
            ev("api-w1", 2100, "WATCHED", 0, episode=11),
            ev("s2", 100, "END", 500, episode=12),
            ev("api-a1", 200, "ABANDONED", 0, episode=12),  # keeps s2's point as it is
            ev("api-a2", 300, "ABANDONED", 0, episode=13),  # only a statement: no row
            ev("s3", 400, "END", 90, profile=None, episode=14),  # no profile: no row
            ev("s4", 400, "END", 90, title=None),  # no title: no row
        ],
    )
    got = resume_updates(df, 0.95).select(
        "content_key", "last_position_sec", "session_id", "is_finished", "last_update"
    )
    expected = spark.createDataFrame(
        [
            (11, 2000, "api-w1", True, T0 + dt.timedelta(seconds=2100)),
            (12, 500, "s2", False, T0 + dt.timedelta(seconds=100)),
        ],
        "content_key long, last_position_sec int, session_id string, is_finished boolean, "
        "last_update timestamp",
    )
    assert_df_equality(
        got, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True
    )


def test_newer_than_is_a_strict_total_order_on_time_position_session(spark):
    pairs = spark.createDataFrame(
        [  # a: (time, position, session); b: the same
            (T0, 10, "s1", T0, 10, "s1"),  # an exact tie is never newer
            (T0 + dt.timedelta(seconds=1), 0, "s0", T0, 999, "s9"),  # time first
            (T0, 11, "s0", T0, 10, "s9"),  # then position
            (T0, 10, "s2", T0, 10, "s1"),  # then session id
            (T0, 10, "s1", T0, 10, "s2"),
        ],
        "t1 timestamp, p1 int, s1 string, t2 timestamp, p2 int, s2 string",
    )
    as_rows = pairs.select(
        F.struct(
            F.col("t1").alias("last_update"),
            F.col("p1").alias("last_position_sec"),
            F.col("s1").alias("session_id"),
        ).alias("a"),
        F.struct(
            F.col("t2").alias("last_update"),
            F.col("p2").alias("last_position_sec"),
            F.col("s2").alias("session_id"),
        ).alias("b"),
    )
    got = as_rows.select(
        F.expr(newer_than("a", "b")).alias("ab"), F.expr(newer_than("b", "a")).alias("ba")
    ).collect()
    assert [(r.ab, r.ba) for r in got] == [
        (False, False),
        (True, False),
        (True, False),
        (True, False),
        (False, True),
    ]
    assert RESUME_MERGE.update_condition == newer_than("s", "t")


def test_content_key_and_change_rows(spark):
    df = events(spark, [ev("s1", 0, "PLAY", 0, episode=11), ev("s2", 5, "PLAY", 0, title=20)])
    keys = df.select(content_key().alias("k")).collect()
    assert sorted(r.k for r in keys) == [11, 20]  # the episode, else the title
    change = as_change_rows(session_updates(df), "ingest-q:42")
    assert change.columns == [*PLAYBACK_SESSION.columns, "change_id"]
    assert {r.change_id for r in change.collect()} == {"ingest-q:42"}
