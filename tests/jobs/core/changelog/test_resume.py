"""The resume-state change log: merge path and change-log path give the same resume points.

Real-looking events in several micro-batches (late arrivals across batches, ties on
event_time and on position, finished items re-watched, a trailer), written once per batch
through ``apply_events`` on each path; the change-log lake is compacted part-way, crashed
part-way and appended to during compaction, and must always read what the merged lake holds.
"""

from __future__ import annotations

import datetime as dt
import random

import pyarrow as pa
import pytest
from chispa import assert_df_equality
from pyspark.sql import types as T

from jobs.core.changelog.resume import (
    compact,
    compact_if_due,
    current_resume,
    current_resume_arrow,
    newest_per_key,
)
from jobs.core.rules.continue_watching_spark import continue_watching
from jobs.core.rules.playback_state import apply_events
from jobs.core.runtime.config import load_config
from jobs.core.storage.delta import RustDeltaEngine, get_engine
from jobs.core.tables.registry import RESUME_STATE
from tests.conftest import crash_before

EVENT_SCHEMA = T.StructType(
    [
        T.StructField("session_id", T.StringType()),
        T.StructField("event_time", T.TimestampType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("position_sec", T.IntegerType()),
        T.StructField("profile_id", T.LongType()),
        T.StructField("device_id", T.StringType()),
        T.StructField("title_id", T.LongType()),
        T.StructField("episode_id", T.LongType()),
        T.StructField("country_code", T.StringType()),
        T.StructField("is_supplemental", T.BooleanType()),
        T.StructField("is_autoplay", T.BooleanType()),
        T.StructField("runtime_sec", T.IntegerType()),
    ]
)
T0 = dt.datetime(2026, 11, 20, 20, 0)
TABLES = [
    "playback_session", "playback_session_change", "resume_state", "resume_state_change",
    "title", "episode",
]  # fmt: skip


def viewing_batches(seed: int, batches: int = 5) -> list[list[tuple]]:
    """Events of 3 profiles over 2 films and a 3-episode series, dealt into batches.

    Times fall on a coarse 10-minute grid, so different sessions share an event_time
    (ties on last_update) and, with a small position grid, share a position too; some
    viewings end at the credits (finished) and are re-watched later from the start; a
    trailer plays; events of one session are spread over batches in shuffled order
    (late arrivals). ``(session_id, event_time)`` is unique, as the ingest's dedupe keeps it.
    """
    rng = random.Random(seed)
    items = [(10, None, 6000), (20, None, 5400), (30, 301, 2700), (30, 302, 2700), (30, 303, 2700)]
    events, n = [], 0
    for profile in (1001, 1002, 1003):
        for _ in range(6):
            title, episode, runtime = rng.choice(items)
            n += 1
            session, device = f"s{n:03d}", rng.choice(["tv", "phone"])
            start = T0 + dt.timedelta(minutes=10 * rng.randrange(0, 12))
            steps = rng.randrange(1, 4)
            finish = rng.random() < 0.4
            for i in range(steps):
                pos = 300 * rng.randrange(0, 4) if i < steps - 1 or not finish else runtime - 60
                etype = "END" if i == steps - 1 else "HEARTBEAT"
                when = start + dt.timedelta(minutes=10 * i)
                events.append((session, when, etype, pos, profile, device, title, episode,
                               "KE", False, False, runtime))  # fmt: skip
        events.append(
            (f"t{profile}", T0, "PLAY", 30, profile, "tv", 10, None, "KE", True, True, 90)
        )
    rng.shuffle(events)
    return [events[i::batches] for i in range(batches)]


def lake(spark, tmp_path, name: str, write_path: str):
    """A lake on ``write_path``; the merge path's is the reference, built on delta-rs.

    The change-log lake runs on the engine under test (``engine_name``); the merge-path
    lake it is held to is built on delta-rs on both halves (the engines write the same
    tables: tests/jobs/core/storage/test_delta.py), so the spark half spends its minutes
    on the change log, not on a second copy of the merge path.
    """
    cfg = load_config(
        "test", lake_root=str(tmp_path / name), overrides={"resume": {"write_path": write_path}}
    )
    engine = RustDeltaEngine(spark, cfg) if write_path == "merge" else get_engine(spark, cfg)
    engine.create_all(TABLES)
    return engine


def ingest(engine, spark, batch: list[tuple], batch_id: int) -> None:
    """One micro-batch the way the ingest writes it (transaction markers included)."""
    events = spark.createDataFrame(batch, EVENT_SCHEMA)
    apply_events(engine, events, 0.95, "test-query:q1", batch_id,
                 write_path=engine.cfg.resume.write_path)  # fmt: skip


def same(actual, expected) -> None:
    assert_df_equality(
        actual.select(RESUME_STATE.columns),
        expected.select(RESUME_STATE.columns),
        ignore_row_order=True,
        ignore_nullable=True,
        ignore_metadata=True,
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_change_log_reads_what_the_merge_writes_before_and_after_compaction(
    spark, tmp_path, engine_name, seed
):
    merged = lake(spark, tmp_path, "merged", "merge")
    logged = lake(spark, tmp_path, "logged", "change_log")
    batches = viewing_batches(seed)
    for batch_id, batch in enumerate(batches):
        ingest(merged, spark, batch, batch_id)
        ingest(logged, spark, batch, batch_id)
        if batch_id == 1:
            compact(logged)  # part of the log already folded into the base
        if batch_id in (1, 2):
            same(current_resume(logged), merged.read("resume_state"))
    ingest(logged, spark, batches[-1], len(batches) - 1)  # a replay: skipped by its marker
    assert logged.read("resume_state_change").count() > 0  # rows pending in the log
    expected = merged.read("resume_state").localCheckpoint()
    assert expected.where("is_finished").count() > 0  # the finish rule is exercised
    same(current_resume(logged), expected)
    compact(logged)
    same(logged.read("resume_state"), expected)  # the base alone is now current
    assert logged.read("resume_state_change").count() == 0
    same(current_resume(logged), expected)


def test_ties_and_finish_follow_the_merge_rule(spark, tmp_path):
    """Same time: the higher position wins; same time and position: the greater session."""
    merged = lake(spark, tmp_path, "merged", "merge")
    logged = lake(spark, tmp_path, "logged", "change_log")
    at = T0 + dt.timedelta(hours=1)
    row = ("", at, "HEARTBEAT", 0, 7, "tv", 10, None, "KE", False, False, 6000)

    def ev(session, when, pos, etype="HEARTBEAT"):
        return (session, when, etype, pos) + row[4:]

    batches = [
        [ev("s2", at, 5800, "END")],  # finished (>= 95% of 6000)
        [ev("s1", at, 5800)],  # same time and position, smaller session: loses
        [ev("s3", at, 100)],  # same time, lower position: loses
        [ev("s4", at - dt.timedelta(minutes=5), 5990, "END")],  # older: loses
    ]
    for batch_id, batch in enumerate(batches):
        ingest(merged, spark, batch, batch_id)
        ingest(logged, spark, batch, batch_id)
    [point] = current_resume(logged).collect()
    assert (point.session_id, point.last_position_sec, point.is_finished) == ("s2", 5800, True)
    same(current_resume(logged), merged.read("resume_state"))
    ingest(logged, spark, [ev("s5", at + dt.timedelta(days=1), 60, "PLAY")], 4)  # re-watch
    [point] = current_resume(logged).collect()
    assert (point.session_id, point.is_finished) == ("s5", False)


def test_compaction_is_idempotent_and_safe_after_a_crash_between_its_steps(
    spark, tmp_path, engine_name
):
    logged = lake(spark, tmp_path, "logged", "change_log")
    for batch_id, batch in enumerate(viewing_batches(3)):
        ingest(logged, spark, batch, batch_id)
    expected = current_resume(logged).localCheckpoint()
    with crash_before("merge", "resume_state_change"), pytest.raises(RuntimeError):
        compact(logged)  # the base merge committed, the log prune did not
    assert logged.read("resume_state_change").count() > 0
    same(current_resume(logged), expected)
    again = compact(logged)
    assert again.keys > 0 and again.rows_merged == 0  # the base already held every row
    assert logged.read("resume_state_change").count() == 0
    same(logged.read("resume_state"), expected)
    versions = (logged.version("resume_state"), logged.version("resume_state_change"))
    assert compact(logged).keys == 0  # an empty log: nothing committed
    assert (logged.version("resume_state"), logged.version("resume_state_change")) == versions
    same(current_resume(logged), expected)


def test_rows_appended_while_compaction_runs_survive(spark, tmp_path, engine_name):
    from jobs.core.storage.delta import add_write_hook

    logged = lake(spark, tmp_path, "logged", "change_log")
    merged = lake(spark, tmp_path, "merged", "merge")
    batches = viewing_batches(4)
    for batch_id, batch in enumerate(batches):
        ingest(logged, spark, batch, batch_id)
        ingest(merged, spark, batch, batch_id)
    a, b = current_resume(logged).orderBy("profile_id", "content_key").take(2)
    late = [  # a newer position for one key, an older one for another (a late event)
        ("s900", T0 + dt.timedelta(days=2), "HEARTBEAT", 120, a.profile_id, "tv", a.title_id,
         a.episode_id, "KE", False, False, a.runtime_sec),
        ("s901", T0 - dt.timedelta(days=2), "HEARTBEAT", 900, b.profile_id, "tv", b.title_id,
         b.episode_id, "KE", False, False, b.runtime_sec),
    ]  # fmt: skip
    ingest(merged, spark, late, len(batches))
    fired = []

    def stream_appends(op: str, table: str) -> None:
        # the stream commits a batch between compaction's base merge and its log prune
        if (op, table) == ("merge", "resume_state_change") and not fired:
            fired.append(1)
            ingest(logged, spark, late, len(batches))

    remove = add_write_hook(stream_appends)
    try:
        compact(logged)
    finally:
        remove()
    assert fired
    kept = logged.read("resume_state_change").collect()
    assert [r.session_id for r in kept] == ["s900"]  # newer: kept; older (s901): superseded
    same(current_resume(logged), merged.read("resume_state"))
    compact(logged)
    same(logged.read("resume_state"), merged.read("resume_state"))


def test_continue_watching_is_the_same_before_and_after_compaction(spark, tmp_path):
    logged = lake(spark, tmp_path, "logged", "change_log")
    for batch_id, batch in enumerate(viewing_batches(5)):
        ingest(logged, spark, batch, batch_id)
    as_of = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    titles, episodes = logged.read("title"), logged.read("episode")

    def rows(profile: int) -> list:
        resume = current_resume(logged)
        return continue_watching(resume, titles, episodes, profile, as_of, 90, 10).collect()

    before = {p: rows(p) for p in (1001, 1002, 1003)}
    assert all(before.values())
    compact(logged)
    assert {p: rows(p) for p in (1001, 1002, 1003)} == before


def test_compact_if_due_counts_micro_batches(spark, tmp_path):
    logged = lake(spark, tmp_path, "logged", "change_log")
    ingest(logged, spark, viewing_batches(6)[0], 0)
    assert compact_if_due(logged, 0, 9) is None  # 0: never inline
    assert compact_if_due(logged, 3, 0) is None
    assert compact_if_due(logged, 3, 2).keys > 0  # after the 3rd micro-batch
    assert logged.read("resume_state_change").count() == 0


def test_time_travel_reads_the_log_as_it_stood_at_that_base_version(spark, tmp_path):
    logged = lake(spark, tmp_path, "logged", "change_log")
    batches = viewing_batches(7)
    ingest(logged, spark, batches[0], 0)
    compact(logged)
    first = logged.version("resume_state")
    at_first = current_resume(logged).localCheckpoint()
    ingest(logged, spark, batches[1], 1)  # pending in the log, after that base version
    same(current_resume(logged, version=first), at_first)
    assert current_resume(logged).subtract(at_first).count() > 0


def _arrow(rows: list[tuple]) -> pa.Table:
    names = [
        "profile_id",
        "content_key",
        "last_update",
        "last_position_sec",
        "session_id",
        "device_id",
    ]
    return pa.Table.from_pylist([dict(zip(names, r, strict=True)) for r in rows])


def test_the_arrow_form_applies_the_same_rule(spark):
    t1, t2 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    base = _arrow([(1, 10, t1, 50, "a", "base"), (1, 20, t2, 10, "b", "base"),
                   (2, 10, t1, 70, "c", "base")])  # fmt: skip
    change = _arrow([(1, 10, t2, 5, "d", "log"),  # newer: wins
                     (1, 20, t2, 10, "b", "log"),  # exact tie: the base row stays
                     (2, 10, t1, 70, "z", "log"),  # same time and position, greater session
                     (3, 30, t1, 1, "e", "log")])  # fmt: skip
    got = current_resume_arrow(base, change).to_pylist()
    assert [(r["profile_id"], r["content_key"], r["session_id"], r["device_id"]) for r in got] == [
        (1, 10, "d", "log"),
        (1, 20, "b", "base"),
        (2, 10, "z", "log"),
        (3, 30, "e", "log"),
    ]
    assert current_resume_arrow(base, None).num_rows == 3

    # the Spark form agrees on the same rows
    def full(t: pa.Table):
        rows = [{c: r.get(c) for c in RESUME_STATE.columns} for r in t.to_pylist()]
        return spark.createDataFrame(rows, RESUME_STATE.schema)

    spark_rows = sorted(
        (r.profile_id, r.content_key, r.session_id, r.device_id)
        for r in newest_per_key(full(base), full(change)).collect()
    )
    assert spark_rows == [
        (r["profile_id"], r["content_key"], r["session_id"], r["device_id"]) for r in got
    ]


def test_the_ttl_expires_old_rows_from_both_tables(spark, tmp_path):
    from jobs.core.changelog.maintenance import compact_logs, expire_resume_state

    logged = lake(spark, tmp_path, "logged", "change_log")
    old, new = T0 - dt.timedelta(days=200), T0
    ev = ("s", old, "HEARTBEAT", 60, 1, "tv", 10, None, "KE", False, False, 6000)
    ingest(logged, spark, [ev], 0)
    compact_logs(logged)  # the old row now in resume_state
    ingest(logged, spark, [("s2", old, "HEARTBEAT", 90, 2, "tv", 10, None, "KE", False, False, 6000),
                           ("s3", new, "HEARTBEAT", 30, 3, "tv", 20, None, "KE", False, False, 5400)],
           1)  # fmt: skip
    now = T0.replace(tzinfo=dt.UTC) + dt.timedelta(days=1)
    assert expire_resume_state(logged, logged.cfg, now=now) == 2  # one per table
    assert [r.session_id for r in current_resume(logged).collect()] == ["s3"]
    assert compact_logs(logged)["resume_state"]["keys"] == 1
    assert [r.session_id for r in logged.read("resume_state").collect()] == ["s3"]


def test_the_stream_appends_per_batch_compacts_every_n_and_at_the_end_of_once(spark, tmp_path):
    from jobs.core.ingest import query as ingest_job
    from jobs.core.storage.delta import add_write_hook
    from tests.jobs.test_ingest_playback_events import _landing_for_crash_tests

    overrides = {"ingest": {"max_files_per_trigger": 1}, "resume": {"compact_every_batches": 2}}
    cfg = load_config("test", lake_root=str(tmp_path / "lake"), overrides=overrides)
    _landing_for_crash_tests(cfg)  # 3 files: 3 micro-batches
    writes: list[tuple[str, str]] = []
    remove = add_write_hook(lambda op, table: writes.append((op, table)))
    try:
        ingest_job.run(cfg, once=True, spark=spark)
    finally:
        remove()
    assert writes.count(("append", "resume_state_change")) == 3  # one per micro-batch
    # compactions: after the 2nd micro-batch, then at the end of the bounded run
    assert writes.count(("merge", "resume_state")) == 2
    engine = get_engine(spark, cfg)
    assert engine.read("resume_state_change").count() == 0
    [point] = engine.read("resume_state").collect()  # one profile, one title
    assert (point.session_id, point.last_position_sec) == ("long", 300)  # the newest event
