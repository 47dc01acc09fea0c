"""The exact dedupe against ``playback_event``, bounded to the batch's per-``dt`` time spans.

Replays of a day-old and a week-old landing file (under new names, so the stream reads
them again) must add nothing, on both engines, while new events in the same ``dt``
partitions, before, between and after the stored ones, are still written.
"""

from __future__ import annotations

import datetime as dt

from jobs.core.ingest import query as ingest
from jobs.core.ingest.stream import plan_batch
from jobs.core.runtime.config import load_config
from jobs.core.storage.delta import get_engine
from tests.jobs.test_ingest_playback_events import ev, land

TODAY = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(hours=1)


def at(days: float, minutes: float = 0) -> str:
    """ISO-8601 UTC text ``days`` before :data:`TODAY`, plus ``minutes``."""
    t = TODAY - dt.timedelta(days=days) + dt.timedelta(minutes=minutes)
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def day_file(days: float, session: str) -> list[dict]:
    """Three events of one session ``days`` ago, a minute apart (one with microseconds)."""
    return [
        ev(session=session, t=at(days), etype="PLAY", pos=0),
        ev(session=session, t=at(days, 1), pos=60),
        ev(session=session, t=at(days, 2.0000005), pos=120),
    ]


def duplicate_keys(engine) -> int:
    df = engine.read("playback_event")
    return df.groupBy("session_id", "event_time").count().where("count > 1").count()


def test_replays_of_a_day_old_and_a_week_old_file_add_nothing(spark, tmp_path, engine_name):
    cfg = load_config(
        "test", lake_root=str(tmp_path), overrides={"ingest": {"max_files_per_trigger": 1}}
    )
    week, day, today = day_file(7, "w"), day_file(1, "d"), day_file(0, "t")
    land(cfg, "1-week.jsonl", week)
    land(cfg, "2-day.jsonl", day)
    land(cfg, "3-today.jsonl", today)
    first = ingest.run(cfg, once=True, spark=spark)
    assert first["written"] == 9

    # the two old files again, then one file mixing replayed rows of three dts with new
    # rows in those same dts, before, between and after the stored times
    land(cfg, "4-week-replay.jsonl", week)
    land(cfg, "5-day-replay.jsonl", day)
    new = [
        ev(session="w", t=at(7, -1), etype="PLAY", pos=0),  # before the stored week rows
        ev(session="d", t=at(1, 1.5), pos=90),  # between two stored day-old rows
        ev(session="t", t=at(0, 3), pos=180),  # after today's stored rows
    ]
    land(cfg, "6-mixed.jsonl", [week[1], day[2], today[0], *new])
    second = ingest.run(cfg, once=True, spark=spark)

    engine = get_engine(spark, cfg)
    assert (second["rows_in"], second["written"], second["duplicates"]) == (12, 3, 9)
    assert engine.read("playback_event").count() == 12
    assert duplicate_keys(engine) == 0
    stored = {
        (r.session_id, r.event_time.isoformat())
        for r in engine.read("playback_event").select("session_id", "event_time").collect()
    }
    expected = {
        (
            e["session_id"],
            dt.datetime.fromisoformat(e["event_time"]).replace(tzinfo=None).isoformat(),
        )
        for e in [*week, *day, *today, *new]
    }
    assert stored == expected
    sessions = {r.session_id: r.event_count for r in engine.read("playback_session").collect()}
    assert sessions == {"w": 4, "d": 4, "t": 4}


def test_the_plan_gives_each_dt_its_own_time_span(spark):
    import json

    from pyspark.sql import functions as F

    from jobs.core.ingest.stream import parse_landing_lines, validate

    cfg = load_config("test")
    lines = [
        json.dumps(e)
        for e in [
            ev(t="2024-05-01T08:00:00Z"),
            ev(t="2024-06-01T10:00:00.000001Z"),
            ev(t="2024-06-01T23:59:59Z"),
            ev(t="2024-06-01T12:00:00Z", country_code="bad"),  # rejected: not in a span
        ]
    ]
    raw = (
        spark.createDataFrame([(x, "f") for x in lines], "raw_record string, source_file string")
        .transform(parse_landing_lines)
        .withColumn("arrived_at", F.current_timestamp())
        .transform(validate(cfg.ingest))
    )
    plan = plan_batch(raw, [], batch_id=0)
    assert plan.spans == {
        "2024-05-01": ("2024-05-01T08:00:00.000000Z", "2024-05-01T08:00:00.000000Z"),
        "2024-06-01": ("2024-06-01T10:00:00.000001Z", "2024-06-01T23:59:59.000000Z"),
    }
    assert plan.dts == ["2024-05-01", "2024-06-01"] and plan.valid == 3


def test_a_session_already_running_is_left_running(spark, tmp_path):
    """``run`` without ``spark`` stops only a session it started: a notebook's or a test
    suite's own session, which ``getOrCreate`` hands back, keeps running after it."""
    cfg = load_config("test", lake_root=str(tmp_path))
    land(cfg, "1-today.jsonl", day_file(0, "s"))
    assert ingest.run(cfg, once=True, session=lambda: spark)["written"] == 3
    assert spark.range(3).count() == 3  # a stopped session raises here
