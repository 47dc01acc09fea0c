"""Viewing activity: hand-built star rows with known answers.

One profile watches: series A's four episodes (three in a binge, the fourth after a gap
over the limit: season and show completed); series B's episodes 1 and 3 (a skipped
episode); film F1 to 30% (abandoned); film F2 twice (a rewatch).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    IntegerType,
    LongType,
    StructField,
    StructType,
    TimestampType,
)

from jobs.core.activity.build import build
from jobs.core.runtime.config import load_config
from jobs.core.storage.delta import get_engine
from jobs.core.tables.registry import get_spec
from jobs.core.tables.star import ACTIVITY_TABLES

UTC = dt.UTC
P = 1
A, B, F1, F2 = 200, 300, 100, 110
AS_OF = dt.datetime(2023, 6, 1, tzinfo=UTC)


def t(month: int, day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2023, month, day, hour, minute, tzinfo=UTC)


def movie(content_key, title_id, episode_id, kind, name, season, number, runtime, seasons=None):
    values = {
        "movie_key": content_key + 10_000, "content_key": content_key, "title_id": title_id,
        "episode_id": episode_id, "content_type": kind, "title_name": name,
        "season_number": season, "episode_number": number, "genres": "TV Dramas, Thrillers",
        "number_of_seasons": seasons, "runtime_sec": runtime, "runtime_source": "source",
        "catalog_match": "matched",
    }  # fmt: skip
    return tuple(values.get(c) for c in get_spec("dim_movies").columns)


def session(sid, content_key, start, minutes, progress, finished, profile=P):
    end = start + dt.timedelta(minutes=minutes)
    values = {
        "session_id": sid, "user_key": 7, "movie_key": content_key + 10_000, "device_key": 1,
        "date_key": int(start.strftime("%Y%m%d")), "profile_id": profile,
        "content_key": content_key,
        "started_at": start, "ended_at": end, "watch_seconds": minutes * 60,
        "start_position_sec": 0, "end_position_sec": int(progress * 18),
        "progress_pct": float(progress), "is_finished": finished, "is_autoplay": False,
        "country_code": "KE", "event_count": 2, "last_event_at": end,
    }  # fmt: skip
    return tuple(values.get(c) for c in get_spec("fact_watch_history").columns)


MOVIES = [
    *[movie(200 + n, A, 200 + n, "EPISODE", "Show A", 1, n, 1800, seasons=1) for n in (1, 2, 3, 4)],
    *[movie(300 + n, B, 300 + n, "EPISODE", "Show B", 1, n, 1800) for n in (1, 2, 3)],
    movie(311, B, 311, "EPISODE", "Show B", 2, 1, 1800),
    movie(F1, F1, None, "MOVIE", "Film One", None, None, 6000),
    movie(F2, F2, None, "MOVIE", "Film Two", None, None, 3000),
]
FACTS = [
    session("a1", 201, t(3, 1, 20, 0), 30, 100, True),
    session("a2", 202, t(3, 1, 20, 35), 30, 100, True),  # gap 5 min
    session("a3", 203, t(3, 1, 21, 15), 30, 100, True),  # gap 10 min
    session("a4", 204, t(3, 1, 22, 30), 30, 100, True),  # gap 45 min: over the limit
    session("b1", 301, t(3, 5, 20), 30, 100, True),
    session("b3", 303, t(3, 6, 20), 30, 100, True),  # episode 2 skipped
    session("f1", F1, t(1, 10, 20), 30, 30, False),  # abandoned at 30%
    session("r1", F2, t(2, 1, 20), 50, 100, True),
    session("r2", F2, t(2, 10, 20), 50, 100, True),  # a rewatch
]


@pytest.fixture(scope="module")
def activity(spark, tmp_path_factory):
    cfg = load_config("test", lake_root=str(tmp_path_factory.mktemp("activity") / "lake"))
    engine = get_engine(spark, cfg)
    for name in ("dim_movies", "dim_device", "fact_watch_history"):
        engine.create(get_spec(name))
    engine.append("dim_movies", spark.createDataFrame(MOVIES, get_spec("dim_movies").schema))
    engine.append(
        "dim_device",
        spark.createDataFrame([(1, "d1", 10, "TV", "Smart TV")], get_spec("dim_device").schema),
    )
    engine.append(
        "fact_watch_history", spark.createDataFrame(FACTS, get_spec("fact_watch_history").schema)
    )
    first = build(engine, as_of=AS_OF)
    before = {s.name: engine.version(s.name) for s in ACTIVITY_TABLES}
    # a day later nothing new happened: no profile is near the moved abandonment limit,
    # so none is recomputed and nothing is written
    again = build(engine, as_of=AS_OF + dt.timedelta(days=1))
    after = {s.name: engine.version(s.name) for s in ACTIVITY_TABLES}
    rerun = build(engine, as_of=AS_OF + dt.timedelta(days=1, hours=3))
    return engine, {"first": first, "again": again, "rerun": rerun}, before, after


def test_binge_of_three_episodes_stops_at_the_gap_over_the_limit(activity, spark):
    engine, *_ = activity
    got = engine.read("binge_session").select(
        "title_id", "started_at", "ended_at", "episodes_watched", "sessions", "watch_seconds"
    )
    schema = StructType(
        [
            StructField("title_id", LongType()),
            StructField("started_at", TimestampType()),
            StructField("ended_at", TimestampType()),
            StructField("episodes_watched", LongType()),
            StructField("sessions", LongType()),
            StructField("watch_seconds", LongType()),
        ]
    )
    expected = spark.createDataFrame([(A, t(3, 1, 20), t(3, 1, 21, 45), 3, 3, 5400)], schema)
    assert_df_equality(got, expected, ignore_nullable=True, ignore_metadata=True)


def test_records_flag_rewatch_and_skipped_episode(activity, spark):
    engine, *_ = activity
    got = engine.read("viewing_record").select(
        "content_key", "watch_number", "is_rewatch", "is_completed", "is_out_of_order",
        "skipped_episodes",
    )  # fmt: skip
    schema = StructType(
        [
            StructField("content_key", LongType()),
            StructField("watch_number", IntegerType()),
            StructField("is_rewatch", BooleanType()),
            StructField("is_completed", BooleanType()),
            StructField("is_out_of_order", BooleanType()),
            StructField("skipped_episodes", IntegerType()),
        ]
    )
    expected = spark.createDataFrame(
        [
            (201, 1, False, True, False, 0),
            (202, 1, False, True, False, 0),
            (203, 1, False, True, False, 0),
            (204, 1, False, True, False, 0),
            (301, 1, False, True, False, 0),
            (303, 1, False, True, True, 1),
            (F1, 1, False, False, False, 0),
            (F2, 1, False, True, False, 0),
            (F2, 2, True, True, False, 0),
        ],
        schema,
    )
    assert_df_equality(
        got, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True
    )


def test_show_progress_completions_and_next_episode(activity, spark):
    engine, *_ = activity
    got = engine.read("show_progress").select(
        "title_id", "last_season_number", "last_episode_number", "episodes_watched",
        "completed_seasons", "is_completed", "completed_at", "next_season_number",
        "next_episode_number", "next_episode_id",
    )  # fmt: skip
    schema = StructType(
        [
            StructField("title_id", LongType()),
            StructField("last_season_number", IntegerType()),
            StructField("last_episode_number", IntegerType()),
            StructField("episodes_watched", LongType()),
            StructField("completed_seasons", IntegerType()),
            StructField("is_completed", BooleanType()),
            StructField("completed_at", TimestampType()),
            StructField("next_season_number", IntegerType()),
            StructField("next_episode_number", IntegerType()),
            StructField("next_episode_id", LongType()),
        ]
    )
    expected = spark.createDataFrame(
        [
            (A, 1, 4, 4, 1, True, t(3, 1, 23), None, None, None),
            # after S1E3 the data knows no S1E4, but knows S2E1
            (B, 1, 3, 2, 0, False, None, 2, 1, 311),
        ],
        schema,
    )
    assert_df_equality(
        got, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True
    )


def test_abandoned_film_and_domain_events(activity):
    engine, *_ = activity
    gone = engine.read("abandoned_content").select(
        "content_key", "progress_pct", F.date_format("abandoned_at", "yyyy-MM-dd HH:mm").alias("at")
    )
    assert [tuple(r) for r in gone.collect()] == [(F1, 30.0, "2023-04-10 20:30")]
    events = engine.read("viewing_domain_event").collect()
    kinds = sorted(r.event_type for r in events)
    assert kinds == sorted(
        ["MovieWatched"] * 2
        + ["TVEpisodeWatched"] * 6
        + ["TVSeasonCompleted", "TVShowCompleted", "ViewingAbandoned"]
    )
    payload = {r.event_type: json.loads(r.payload) for r in events}
    assert payload["TVSeasonCompleted"]["episodes_watched"] == 4
    assert payload["TVSeasonCompleted"]["binge_duration_sec"] == 3 * 3600
    assert payload["TVShowCompleted"]["total_episodes"] == 4
    assert payload["TVShowCompleted"]["total_viewing_time_sec"] == 4 * 1800
    assert payload["ViewingAbandoned"]["progress_percent"] == 30.0
    assert len({r.event_id for r in events}) == len(events)


def test_statistics_all_time_totals(activity):
    engine, *_ = activity
    stats = engine.read("viewing_statistics").where(
        (F.col("period") == "all") & (F.col("profile_id") == P)
    )
    rows = {(r.breakdown, r.breakdown_value): r for r in stats.collect()}
    total = rows[("total", "all")]
    assert (total.items_watched, total.items_completed, total.watch_hours) == (8, 7, 5.17)
    assert rows[("content_type", "MOVIE")].items_watched == 2
    assert rows[("device_type", "TV")].watch_hours == 5.17
    assert rows[("genre", "Thrillers")].items_watched == 8
    months = engine.read("viewing_statistics").where(
        (F.col("period") == "month") & (F.col("breakdown") == "total")
    )
    assert {str(r.period_start) for r in months.collect()} == {
        "2023-01-01",
        "2023-02-01",
        "2023-03-01",
    }


def test_recompute_with_nothing_new_writes_nothing(activity):
    engine, reports, before, after = activity
    assert reports["first"]["status"] == "built"
    assert reports["again"]["status"] == "built"
    assert reports["again"]["profiles_recomputed"] == 0
    assert reports["again"]["viewing_domain_event"] == {"appended": 0}
    assert after == before
    assert reports["rerun"]["status"] == "up-to-date"
