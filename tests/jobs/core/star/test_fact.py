"""``fact_watch_history`` rows (jobs.core.star.fact) on a few inline sessions and events."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs.core.rules.keys import MAX_TS, MIN_TS, UNKNOWN_KEY, unknown_rows
from jobs.core.star.fact import NOT_PLAYING, fact_rows, session_playback
from jobs.core.tables.registry import get_spec

UTC = dt.UTC
T0 = dt.datetime(2023, 2, 9, 23, 30, tzinfo=UTC)
SWITCH = dt.datetime(2023, 2, 10, tzinfo=UTC)  # profile 1 moved from KE to US then
EVENTS = "session_id string, event_time timestamp, event_type string, position_sec int"


def at(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def test_playback_time_counts_gaps_after_playing_events_only(spark):
    events = spark.createDataFrame(
        [  # rows out of order: the rule orders by event_time
            ("s-ke-1", at(360), "END", 180),
            ("s-ke-1", at(0), "PLAY", 0),
            ("s-ke-1", at(120), "PAUSE", 120),  # 180 s paused: not playback
            ("s-ke-1", at(60), "HEARTBEAT", 60),
            ("s-ke-1", at(300), "PLAY", 120),
            ("s-ke-2", at(0), "PLAY", 1500),  # a resumed viewing: starts at 1500
            ("s-ke-2", at(30), "ERROR", 1530),  # after an ERROR: not playback
            ("s-ke-2", at(90), "HEARTBEAT", 1530),  # last event: nothing after it
            ("s-ke-3", at(10), "END", 2553),  # a lone END
        ],
        EVENTS,
    )
    expected = spark.createDataFrame(
        [("s-ke-1", 180, 0), ("s-ke-2", 30, 1500), ("s-ke-3", 0, 2553)],
        "session_id string, watch_seconds long, start_position_sec int",
    )
    assert NOT_PLAYING == ("PAUSE", "END", "ERROR")
    assert_df_equality(
        session_playback(events), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_fact_rows_pick_the_dimension_version_and_fall_back_to_the_unknown_member(spark, cfg):
    users = spark.createDataFrame(
        [
            (501, 1, 10, "household-ke", "Profile 1", None, "KE", "Africa", None, MIN_TS, SWITCH, False),
            (502, 1, 10, "household-ke", "Profile 1", None, "US", "Americas", None, SWITCH, MAX_TS, True),
        ],
        get_spec("dim_users").schema,
    ).unionByName(unknown_rows(spark, "dim_users"))  # fmt: skip
    movies = spark.createDataFrame(
        [
            (7001, 1109, 100, 1109, "EPISODE", "The Umbrella Academy", 1, 9, "Changes")
            + (None,) * 4 + (2553, "catalog", None, "matched"),
            (7002, 200, 200, None, "MOVIE", "90 minutos en el Cielo", None, None, None)
            + (None,) * 4 + (7200, "catalog", None, "matched"),
        ],
        get_spec("dim_movies").schema,
    ).unionByName(unknown_rows(spark, "dim_movies"))  # fmt: skip
    devices = spark.createDataFrame(
        [(8001, "tv-1", 10, "TV", "Samsung CE 2019 Muse-L UHD TV")], get_spec("dim_device").schema
    ).unionByName(unknown_rows(spark, "dim_device"))
    sess = get_spec("playback_session").schema
    sessions = spark.createDataFrame(
        [  # session, profile, device, title, episode, country, supplemental, autoplay,
            # started, ended, reason, last event, last position, events
            ("s1", 1, "tv-1", 100, 1109, "KE", False, None, T0, None, None, at(2400), 2298, 40),
            ("s2", 1, "tv-1", 200, None, "KE", None, True, at(60), at(6600), "END", at(6600), 6470, 9),
            ("s3", 1, "tv-1", 200, None, "US", False, False, SWITCH, SWITCH, "END", SWITCH, 7200, 2),
            ("s4", 1, "tv-1", 200, None, "US", True, False, SWITCH, None, None, SWITCH, 30, 1),
            ("s5", 9, "phone-9", 999, None, None, False, False, at(5), None, None, at(65), 60, 3),
        ],
        sess,
    )  # fmt: skip
    playback = spark.createDataFrame(
        [("s1", 2400, 0), ("s2", 6540, 0), ("s3", 0, 7200), ("s4", 30, 0)],
        "session_id string, watch_seconds long, start_position_sec int",
    )
    got = fact_rows(sessions, playback, users, movies, devices, cfg.activity)
    expected = spark.createDataFrame(
        [
            # 2298 / 2553 = 90.01%: watched without an END (activity.watched_pct 90)
            ("s1", 501, 7002 - 1, 8001, 20230209, 1, 1109, T0, None, 2400, 0, 2298, 90.0, True, False, "KE", 40, at(2400)),
            # 6470 / 7200 = 89.9% with END at 6470, not in the last 5% (>= 6840): not watched
            ("s2", 501, 7002, 8001, 20230209, 1, 200, at(60), at(6600), 6540, 0, 6470, 89.9, False, True, "KE", 9, at(6600)),
            # started exactly at the switch: the US version (valid_from inclusive), its UTC day
            ("s3", 502, 7002, 8001, 20230210, 1, 200, SWITCH, SWITCH, 0, 7200, 7200, 100.0, True, False, "US", 2, SWITCH),
            # no user, title or device row: -1 keys, no runtime so no progress and not watched;
            # no playback row: 0 s and the start position is the end position
            ("s5", UNKNOWN_KEY, UNKNOWN_KEY, UNKNOWN_KEY, 20230209, 9, 999, at(5), None, 0, 60, 60, None, False, False, None, 3, at(65)),
        ],
        get_spec("fact_watch_history").schema,
    )  # fmt: skip
    assert got.columns == get_spec("fact_watch_history").columns
    assert_df_equality(
        got, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True
    )


def test_the_watched_thresholds_come_from_the_settings(spark, cfg):
    # END at 96% is in the last 5%: watched even when watched_pct asks for 99%
    strict = cfg.activity.model_copy(update={"watched_pct": 99.0})
    sessions = spark.createDataFrame(
        [
            ("a", 1, None, 200, None, None, False, False, T0, at(10), "END", at(10), 6912, 2),
            ("b", 1, None, 200, None, None, False, False, T0, None, None, at(10), 6912, 2),
        ],
        get_spec("playback_session").schema,
    )
    movies = spark.createDataFrame(
        [(7002, 200, 200) + (None,) * 10 + (7200,) + (None,) * 3], get_spec("dim_movies").schema
    )
    none = spark.createDataFrame([], get_spec("dim_users").schema)
    devices = spark.createDataFrame([], get_spec("dim_device").schema)
    playback = spark.createDataFrame(
        [], "session_id string, watch_seconds long, start_position_sec int"
    )
    got = fact_rows(sessions, playback, none, movies, devices, strict)
    assert {r.session_id: r.is_finished for r in got.collect()} == {"a": True, "b": False}
    assert got.where(F.col("user_key") != UNKNOWN_KEY).isEmpty()
