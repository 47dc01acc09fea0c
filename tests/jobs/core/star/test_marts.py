"""The marts of the star schema (jobs.core.star.marts) on a few inline fact rows.

``window_moved_profiles`` is pinned in ``tests/jobs/core/rules/test_rules.py``.
"""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality

from jobs.core.star.marts import (
    PER_PROFILE,
    content_preference,
    daily_minutes,
    history_window,
    last_n_movies,
    region_activity,
)

UTC = dt.UTC
FACT = (
    "session_id string, profile_id long, movie_key long, started_at timestamp, "
    "end_position_sec int, watch_seconds long, country_code string, date_key int"
)
MOVIES = (
    "movie_key long, content_type string, title_name string, season_number int, "
    "episode_number int, episode_title string, genres string"
)
UMBRELLA_S1E9, UMBRELLA_S1E10, FILM, UNMATCHED = 7001, 7002, 7100, 7200


def at(day: int, hour: int = 20, minute: int = 0) -> dt.datetime:
    return dt.datetime(2023, 2, day, hour, minute, tzinfo=UTC)


def movies(spark):
    return spark.createDataFrame(
        [
            (UMBRELLA_S1E9, "EPISODE", "The Umbrella Academy", 1, 9, "Changes", "Sci-Fi, Drama"),
            (UMBRELLA_S1E10, "EPISODE", "The Umbrella Academy", 1, 10, "The White Violin",
             "Sci-Fi, Drama"),
            (FILM, "MOVIE", "90 minutos en el Cielo", None, None, None, "Drama"),
        ],
        MOVIES,
    )  # fmt: skip


def test_last_n_movies_keeps_each_items_newest_session_newest_first(spark):
    fact = spark.createDataFrame(
        [
            ("a", 1, UMBRELLA_S1E9, at(1), 600, 600, "KE", 20230201),
            ("b", 1, UMBRELLA_S1E9, at(3), 2553, 1953, "KE", 20230203),  # its newest session
            ("c", 1, FILM, at(2), 4000, 4000, "KE", 20230202),
            ("d", 1, UMBRELLA_S1E10, at(2), 100, 100, "KE", 20230202),  # same time as c
            ("e", 2, FILM, at(1), 50, 50, "US", 20230201),
        ],
        FACT,
    )
    got = last_n_movies(fact, movies(spark), 3).select(
        "profile_id", "rank", "movie_key", "title_name", "episode_title", "last_watched_at",
        "last_position_sec",
    )  # fmt: skip
    expected = spark.createDataFrame(
        [
            (1, 1, UMBRELLA_S1E9, "The Umbrella Academy", "Changes", at(3), 2553),
            # a tie in time: the smaller movie_key first
            (1, 2, UMBRELLA_S1E10, "The Umbrella Academy", "The White Violin", at(2), 100),
            (1, 3, FILM, "90 minutos en el Cielo", None, at(2), 4000),
            (2, 1, FILM, "90 minutos en el Cielo", None, at(1), 50),
        ],
        "profile_id long, rank int, movie_key long, title_name string, episode_title string, "
        "last_watched_at timestamp, last_position_sec int",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    top1 = last_n_movies(fact, movies(spark), 1)
    assert sorted((r.profile_id, r.movie_key) for r in top1.collect()) == [
        (1, UMBRELLA_S1E9),
        (2, FILM),
    ]


def test_history_window_is_the_utc_days_after_as_of_minus_days_up_to_as_of(spark):
    fact = spark.createDataFrame(
        [
            ("a", 1, FILM, at(7, 23, 59), 10, 100, "KE", 20230207),  # day 7 = as_of - 3: out
            ("b", 1, FILM, at(8, 0, 0), 20, 200, "KE", 20230208),  # first day in
            ("c", 1, FILM, at(10, 23, 59), 30, 300, "KE", 20230210),  # as_of day: in, newest
            ("d", 1, UMBRELLA_S1E9, at(11, 0, 0), 40, 400, "KE", 20230211),  # after: out
            ("e", 1, UMBRELLA_S1E9, at(9), 50, 500, "KE", 20230209),
            ("f", 1, UMBRELLA_S1E9, at(9), 60, 600, "KE", 20230209),  # same start: f > e
        ],
        FACT,
    )
    got = history_window(fact, movies(spark), dt.date(2023, 2, 10), 3)
    expected = spark.createDataFrame(
        [
            (1, FILM, "90 minutos en el Cielo", "MOVIE", None, None, 2, 500, at(10, 23, 59), 30),
            (1, UMBRELLA_S1E9, "The Umbrella Academy", "EPISODE", 1, 9, 2, 1100, at(9), 60),
        ],
        "profile_id long, movie_key long, title_name string, content_type string, "
        "season_number int, episode_number int, sessions long, total_seconds long, "
        "last_watched_at timestamp, last_position_sec int",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_content_preference_counts_each_genre_fully_and_unknowns_by_name(spark):
    fact = spark.createDataFrame(
        [
            ("a", 1, UMBRELLA_S1E9, at(1), 0, 3000, "KE", 20230201),
            ("b", 1, FILM, at(2), 0, 6000, "KE", 20230202),
            ("c", 1, UNMATCHED, at(3), 0, 1000, "KE", 20230203),  # no dim_movies row
            ("d", 2, FILM, at(3), 0, 0, "US", 20230203),  # nothing watched: share 0
        ],
        FACT,
    )
    got = content_preference(fact, movies(spark)).select(
        "profile_id", "dimension", "value", "watch_seconds", "share"
    )
    expected = spark.createDataFrame(
        [
            (1, "content_type", "EPISODE", 3000, 0.3),
            (1, "content_type", "MOVIE", 6000, 0.6),
            (1, "content_type", "UNKNOWN", 1000, 0.1),
            (1, "genre", "Sci-Fi", 3000, 0.3),
            (1, "genre", "Drama", 9000, 0.9),  # Umbrella Academy counts in both of its genres
            (1, "genre", "unknown", 1000, 0.1),
            (2, "content_type", "MOVIE", 0, 0.0),
            (2, "genre", "Drama", 0, 0.0),
        ],
        "profile_id long, dimension string, value string, watch_seconds long, share double",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_content_preference_shares_round_to_four_places(spark):
    fact = spark.createDataFrame(
        [("a", 1, FILM, at(1), 0, 1, "KE", 1), ("b", 1, UNMATCHED, at(1), 0, 2, "KE", 1)], FACT
    )
    got = content_preference(fact, movies(spark)).where("dimension = 'content_type'")
    assert sorted((r.value, r.share) for r in got.collect()) == [
        ("MOVIE", 0.3333),
        ("UNKNOWN", 0.6667),
    ]


def test_region_and_daily_marts_group_by_utc_day(spark):
    fact = spark.createDataFrame(
        [
            ("a", 1, FILM, at(1), 0, 1500, "GT", 20230201),
            ("b", 1, FILM, at(1, 21), 0, 45, "GT", 20230201),
            ("c", 2, FILM, at(1), 0, 600, "GT", 20230201),
            ("d", 3, FILM, at(2), 0, 60, None, 20230202),  # no country: ZZ
        ],
        FACT,
    )
    region = spark.createDataFrame(
        [("GT", 20230201, 2, 3, 2145), ("ZZ", 20230202, 1, 1, 60)],
        "country_code string, date_key int, active_profiles long, sessions long, "
        "watch_seconds long",
    )
    assert_df_equality(region_activity(fact), region, ignore_row_order=True, ignore_nullable=True)
    daily = spark.createDataFrame(
        [(1, 20230201, 2, 25.8), (2, 20230201, 1, 10.0), (3, 20230202, 1, 1.0)],
        "profile_id long, date_key int, sessions long, watch_minutes double",
    )  # 1545 s = 25.75 min -> 25.8
    assert_df_equality(daily_minutes(fact), daily, ignore_row_order=True, ignore_nullable=True)


def test_every_mart_but_region_login_is_per_profile():
    assert set(PER_PROFILE) == {
        "last_10_movies",
        "history_90_days",
        "content_type_preference",
        "daily_watch_minutes",
    }
