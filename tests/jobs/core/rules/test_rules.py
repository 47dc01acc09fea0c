"""Each shared rule on its own, on a few inline rows (no Delta, except ``sync_table``).

The end-to-end tests (``tests/jobs/test_build_*.py``) show the rules working together;
these pin each rule where it lives, so a change to one shows up here first.
"""

from __future__ import annotations

import datetime as dt
import os
import time

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.core.activity.binges import binge_sessions
from jobs.core.rules.as_of import collected_utc, newest, resolve_as_of
from jobs.core.rules.continue_watching_spark import continue_watching
from jobs.core.rules.episodes import is_successor, next_episodes
from jobs.core.rules.keys import MAX_TS, MIN_TS
from jobs.core.rules.watched import at_credits, finished, progress_pct
from jobs.core.star.dimensions import scd2_changes
from jobs.core.star.marts import window_moved_profiles
from jobs.core.storage.incremental import is_up_to_date, sync_table
from jobs.core.tables.registry import EPISODE, RESUME_STATE, TITLE, get_spec

UTC = dt.UTC


def at(day: int, hour: int = 20, minute: int = 0, month: int = 1) -> dt.datetime:
    return dt.datetime(2023, month, day, hour, minute, tzinfo=UTC)


# ------------------------------------------------------------------ next episode
EPISODES_SCHEMA = T.StructType(
    [
        T.StructField("episode_id", T.LongType()),
        T.StructField("title_id", T.LongType()),
        T.StructField("season_number", T.IntegerType()),
        T.StructField("episode_number", T.IntegerType()),
    ]
)
# series 1: S1E1, S1E2, S2E1 (and a duplicate S2E1 row); series 2: E1, E3 (E2 unknown)
KNOWN = [(11, 1, 1, 1), (12, 1, 1, 2), (21, 1, 2, 1), (29, 1, 2, 1), (31, 2, 1, 1), (33, 2, 1, 3)]


def test_is_successor_next_number_or_first_of_next_season(spark):
    pairs = spark.createDataFrame(
        [
            (1, 1, 1, 1, 1, 2),
            (1, 1, 2, 1, 2, 1),
            (1, 1, 1, 1, 1, 3),
            (1, 1, 1, 2, 1, 2),
            (1, 1, None, 1, 1, 1),
            (1, 2, 5, 1, 3, 1),
        ],
        "t long, s int, n int, nt long, ns int, nn int",
    )
    got = pairs.select(
        is_successor(*[F.col(c) for c in ("t", "s", "n", "nt", "ns", "nn")]).alias("ok")
    )
    # a NULL episode number never matches (NULL, not true)
    assert [r.ok for r in got.collect()] == [True, True, False, False, None, True]


def test_next_episodes_takes_the_first_successor_and_none_across_a_gap(spark):
    current = spark.createDataFrame(
        [(7, 1, 1, 2), (8, 1, 1, 1), (9, 2, 1, 1), (10, 3, None, None)],
        "profile_id long, title_id long, season_number int, episode_number int",
    )
    got = next_episodes(current, spark.createDataFrame(KNOWN, EPISODES_SCHEMA), ["profile_id"])
    expected = spark.createDataFrame(
        [(7, 21, 2, 1), (8, 12, 1, 2)],
        T.StructType(
            [
                T.StructField("profile_id", T.LongType()),
                T.StructField("next_episode_id", T.LongType()),
                T.StructField("next_season_number", T.IntegerType()),
                T.StructField("next_episode_number", T.IntegerType()),
            ]
        ),
    )
    # S1E2 -> S2E1 (the smaller id of the duplicate); E1 of series 2 -> nothing (E2 unknown)
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


# ------------------------------------------------------------------ finished
def test_progress_and_the_two_finished_rules(spark):
    rows = spark.createDataFrame(
        [  # position, runtime, has END
            (900, 1000, False),  # 90%: watched (viewing rule), not at the credits (resume rule)
            (950, 1000, False),  # 95%: both
            (899, 1000, True),  # 89.9% with END: END not in the last 5% -> neither
            (960, 1000, True),
            (500, None, True),  # unknown runtime: nothing is finished
            (1200, 1000, False),  # past the runtime: capped at 100
        ],
        "pos int, runtime int, has_end boolean",
    )
    pct = progress_pct(F.col("pos"), F.col("runtime"))
    got = rows.select(
        pct.alias("pct"),
        finished(pct, F.col("pos"), F.col("runtime"), F.col("has_end"), 90.0, 5.0).alias("w"),
        at_credits(F.col("pos"), F.col("runtime"), 0.95).alias("c"),
    )
    assert [tuple(r) for r in got.collect()] == [
        (90.0, True, False),
        (95.0, True, True),
        (89.9, False, False),
        (96.0, True, True),
        (None, False, False),
        (100.0, True, True),
    ]


def test_an_end_in_the_tail_counts_even_below_the_watched_percent(spark):
    rows = spark.createDataFrame(
        [(960, 1000, True), (960, 1000, False)], "pos int, rt int, e boolean"
    )
    pct = progress_pct(F.col("pos"), F.col("rt"))
    got = rows.select(finished(pct, F.col("pos"), F.col("rt"), F.col("e"), 99.0, 5.0).alias("w"))
    assert [r.w for r in got.collect()] == [True, False]


# ------------------------------------------------------------------ binge
def test_binge_sessions_split_at_a_gap_over_the_limit(spark, cfg):
    schema = T.StructType(
        [
            T.StructField("session_id", T.StringType()),
            T.StructField("profile_id", T.LongType()),
            T.StructField("title_id", T.LongType()),
            T.StructField("content_key", T.LongType()),
            T.StructField("content_type", T.StringType()),
            T.StructField("started_at", T.TimestampType()),
            T.StructField("ended_at", T.TimestampType()),
            T.StructField("last_event_at", T.TimestampType()),
            T.StructField("watch_seconds", T.LongType()),
        ]
    )
    sessions = spark.createDataFrame(
        [
            ("a", 1, 5, 51, "EPISODE", at(1, 20, 0), at(1, 20, 40), at(1, 20, 40), 2400),
            ("b", 1, 5, 52, "EPISODE", at(1, 21, 10), None, at(1, 21, 50), 2400),  # 30 min gap
            ("c", 1, 5, 53, "EPISODE", at(1, 22, 21), at(1, 23, 0), at(1, 23, 0), 2340),  # 31
            ("d", 1, 6, 61, "MOVIE", at(1, 20, 0), at(1, 22, 0), at(1, 22, 0), 7200),
        ],
        schema,
    )
    got = binge_sessions(sessions, cfg.activity).select(
        "profile_id",
        "title_id",
        "started_at",
        "ended_at",
        "episodes_watched",
        "sessions",
        "watch_seconds",
    )
    expected = spark.createDataFrame(
        [(1, 5, at(1, 20, 0), at(1, 21, 50), 2, 2, 4800)],
        "profile_id long, title_id long, started_at timestamp, ended_at timestamp, "
        "episodes_watched long, sessions long, watch_seconds long",
    )
    assert_df_equality(got, expected, ignore_nullable=True)


# ------------------------------------------------------------------ SCD2
def test_scd2_changes_close_and_open_a_version_insert_new_and_update_scd1(spark):
    users = get_spec("dim_users").schema
    current = spark.createDataFrame(
        [
            (111, 1, 10, "hh", "Ann", None, "KE", "Africa", None, MIN_TS, MAX_TS, True),
            (333, 3, 10, "hh", "Cy", None, "KE", "Africa", None, MIN_TS, MAX_TS, True),
        ],
        users,
    )
    attrs = (
        "profile_id long, account_id long, account_label string, profile_name string, "
        "maturity_setting string, country_code string, region string, subscription_plan string"
    )
    source = spark.createDataFrame(
        [
            (1, 10, "hh", "Ann", None, "US", "Americas", None),  # moved: SCD2
            (2, 10, "hh", "Bo", None, "KE", "Africa", None),  # new profile
            (3, 10, "hh", "Cyd", None, "KE", "Africa", None),  # renamed: SCD1
        ],
        attrs,
    )
    effective = spark.createDataFrame(
        [(1, "KE", at(2)), (1, "US", at(5))],
        "profile_id long, country_code string, effective_at timestamp",
    )
    got = scd2_changes(current, source, effective, at(9)).select(
        "merge_key",
        "profile_id",
        "profile_name",
        "country_code",
        "valid_from",
        "valid_to",
        "is_current",
    )
    expected = spark.createDataFrame(
        [
            (None, 1, "Ann", "US", at(5), MAX_TS, True),  # new version from the first US session
            (111, 1, "Ann", "KE", MIN_TS, at(5), False),  # the KE version closed then
            (None, 2, "Bo", "KE", MIN_TS, MAX_TS, True),
            (333, 3, "Cyd", "KE", MIN_TS, MAX_TS, True),
        ],
        "merge_key long, profile_id long, profile_name string, country_code string, "
        "valid_from timestamp, valid_to timestamp, is_current boolean",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


# ------------------------------------------------------------------ as of
@pytest.fixture
def new_york():
    """The process in America/New_York (UTC-5 in February) for one test."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


def test_resolve_as_of_forms():
    assert resolve_as_of("2023-02-17T17:52:00Z") == at(17, 17, 52, month=2)
    assert resolve_as_of("2023-02-17T17:52:00") == at(17, 17, 52, month=2)  # no offset: UTC
    assert resolve_as_of("2023-02-17T12:52:00-05:00") == at(17, 17, 52, month=2)
    assert resolve_as_of("latest", lambda: at(3)) == at(3)
    assert resolve_as_of(dt.datetime(2023, 1, 3, 20, 0)) == at(3)
    now = resolve_as_of("latest", lambda: None)  # no data yet: now
    assert now.tzinfo == UTC and abs((now - dt.datetime.now(UTC)).total_seconds()) < 60
    with pytest.raises(ValueError, match="ISO-8601"):
        resolve_as_of("yesterday")


def test_latest_keeps_the_newest_resume_point_in_another_time_zone(spark, new_york):
    newest_at = dt.datetime(2023, 2, 17, 17, 52, 30, 250000, tzinfo=UTC)
    resume = spark.createDataFrame(
        [
            (1, 100, None, 100, 600, at(10, month=2), "tv", "s1", False, 5400),
            (1, 200, 201, 201, 300, newest_at, "tv", "s2", False, 2700),
        ],
        RESUME_STATE.schema,
    )
    titles = spark.createDataFrame(
        [(100, "A film", "FILM", 5400), (200, "A show", "SERIES", None)], TITLE.schema
    )
    episodes = spark.createDataFrame([], EPISODE.schema)
    latest = newest(resume.where(F.col("profile_id") == 1), "last_update")
    assert latest == newest_at  # exact, whatever the process's time zone
    as_of = resolve_as_of("latest", latest)
    got = continue_watching(resume, titles, episodes, 1, as_of, 90, 10).select("title_id").collect()
    assert [r.title_id for r in got] == [200, 100]
    # what the jobs did before: a collected TIMESTAMP is naive *local* time
    naive = resume.agg(F.max("last_update")).first()[0]
    assert naive.replace(tzinfo=UTC) != newest_at
    assert collected_utc(naive) == newest_at  # the display conversion reads it as local time


# ------------------------------------------------------------------ incremental
def test_sync_table_writes_only_what_differs(spark, engine):
    spec = get_spec("daily_watch_minutes")
    engine.create(spec)
    rows = [(1, 20230101, 2, 90.0), (1, 20230102, 1, 45.0)]
    first = sync_table(engine, "daily_watch_minutes", spark.createDataFrame(rows, spec.schema))
    again = sync_table(engine, "daily_watch_minutes", spark.createDataFrame(rows, spec.schema))
    changed = [(1, 20230101, 3, 120.0), (2, 20230102, 1, 10.0)]
    last = sync_table(engine, "daily_watch_minutes", spark.createDataFrame(changed, spec.schema))
    assert (first["upserted"], first["deleted"]) == (2, 0)
    assert (again["upserted"], again["deleted"], again["version"]) == (0, 0, first["version"])
    assert (last["upserted"], last["deleted"]) == (2, 1)
    assert_df_equality(
        engine.read("daily_watch_minutes"),
        spark.createDataFrame(changed, spec.schema),
        ignore_row_order=True,
        ignore_nullable=True,
    )


@pytest.mark.slow  # a Spark pipeline of its own (~10-45 s): make test, not test-fast
def test_sync_table_scoped_to_profiles_leaves_the_others_alone(spark, engine_name, engine):
    spec = get_spec("daily_watch_minutes")
    engine.create(spec)
    stored = [(1, 20230101, 2, 90.0), (1, 20230102, 1, 45.0), (2, 20230101, 1, 30.0)]
    sync_table(engine, "daily_watch_minutes", spark.createDataFrame(stored, spec.schema))
    # profile 1 recomputed: one day changed, one gone; a stray profile-2 row is ignored
    rows = [(1, 20230101, 3, 120.0), (2, 20230105, 9, 999.0)]
    scope = spark.createDataFrame([(1,)], "profile_id long")
    out = sync_table(
        engine, "daily_watch_minutes", spark.createDataFrame(rows, spec.schema), scope=scope
    )
    assert (out["upserted"], out["deleted"]) == (1, 1)
    assert len(engine.history("daily_watch_minutes", limit=10)) == 3  # create, write, merge
    assert_df_equality(
        engine.read("daily_watch_minutes"),
        spark.createDataFrame([(1, 20230101, 3, 120.0), (2, 20230101, 1, 30.0)], spec.schema),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    # a profile with nothing left is emptied; nothing else moves
    empty = spark.createDataFrame([], spec.schema)
    gone = sync_table(engine, "daily_watch_minutes", empty, scope=scope)
    assert (gone["upserted"], gone["deleted"]) == (0, 1)
    assert [r.profile_id for r in engine.read("daily_watch_minutes").collect()] == [2]


def test_window_moved_profiles_are_those_on_days_entering_or_leaving_the_window(spark):
    # as of 10 Apr with 30 days the window is (11 Mar, 10 Apr]; as of 20 Apr, (21 Mar, 20 Apr]
    fact = spark.createDataFrame(
        [
            (1, at(12, month=3)),  # leaves the window
            (2, at(25, month=3)),  # in both
            (3, at(5, month=4)),  # in both
            (4, at(18, month=4)),  # enters it
            (5, at(1, month=3)),  # in neither
        ],
        "profile_id long, started_at timestamp",
    )
    moved = window_moved_profiles(fact, dt.date(2023, 4, 10), dt.date(2023, 4, 20), 30)
    assert sorted(r.profile_id for r in moved.collect()) == [1, 4]
    back = window_moved_profiles(fact, dt.date(2023, 4, 20), dt.date(2023, 4, 10), 30)
    assert sorted(r.profile_id for r in back.collect()) == [1, 4]
    assert window_moved_profiles(fact, dt.date(2023, 4, 10), dt.date(2023, 4, 10), 30).isEmpty()


def test_is_up_to_date_needs_the_same_versions_and_date():
    day = dt.date(2023, 2, 17)
    marks = {"a": (3, day), "b": (7, day)}
    assert is_up_to_date(marks, {"a": 3, "b": 7}, day)
    assert not is_up_to_date(marks, {"a": 4, "b": 7}, day)
    assert not is_up_to_date(marks, {"a": 3, "b": 7}, day + dt.timedelta(days=1))
    assert not is_up_to_date({}, {"a": 3}, day)
