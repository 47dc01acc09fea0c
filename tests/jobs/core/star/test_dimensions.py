"""Dimension rows of the star schema (jobs.core.star.dimensions) on a few inline rows.

``scd2_changes`` (the SCD2/SCD1 rule of ``dim_users``) is pinned in
``tests/jobs/core/rules/test_rules.py``.
"""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs.core.rules.keys import surrogate_key
from jobs.core.star.dimensions import (
    catalog_matches,
    change_times,
    date_rows,
    match_report,
    movie_rows,
    observed_runtimes,
    user_attributes,
)

UTC = dt.UTC
REINA, CIELO, OFFICE, YOU = 300, 200, 500, 400
TITLES = "title_id long, title_type string, title_name string, runtime_sec int"
EPISODES = (
    "episode_id long, title_id long, season_number int, episode_number int, "
    "episode_title string, runtime_sec int"
)
SESSIONS = (
    "session_id string, profile_id long, country_code string, title_id long, episode_id long, "
    "is_supplemental boolean, started_at timestamp, last_position_sec int"
)


def at(day: int, hour: int = 21, month: int = 1) -> dt.datetime:
    return dt.datetime(2023, month, day, hour, 8, tzinfo=UTC)


def test_user_attributes_add_the_region_and_keep_profiles_without_an_account(spark):
    profiles = spark.createDataFrame(
        [(1, 10, "Profile 1", None, "GT"), (2, 20, "Kids", "KIDS", "KE"), (3, 99, "Ann", None, "XX")],
        "profile_id long, account_id long, profile_name string, maturity_setting string, "
        "country_code string",
    )  # fmt: skip
    accounts = spark.createDataFrame(
        [(10, "household-gt"), (20, "household-ke")], "account_id long, account_label string"
    )
    expected = spark.createDataFrame(
        [
            (1, 10, "household-gt", "Profile 1", None, "GT", "Americas", None),
            (2, 20, "household-ke", "Kids", "KIDS", "KE", "Africa", None),
            (3, 99, None, "Ann", None, "XX", None, None),  # unknown country: no region
        ],
        "profile_id long, account_id long, account_label string, profile_name string, "
        "maturity_setting string, country_code string, region string, subscription_plan string",
    )
    assert_df_equality(
        user_attributes(profiles, accounts), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_change_times_are_the_first_session_per_profile_and_country(spark):
    sessions = spark.createDataFrame(
        [
            ("a", 1, "KE", YOU, None, False, at(17, month=2), 10),
            ("b", 1, "KE", YOU, None, False, at(2, month=2), 10),
            ("c", 1, "US", YOU, None, False, at(20, month=2), 10),
            ("d", None, "US", YOU, None, False, at(1, month=2), 10),  # no profile: ignored
        ],
        SESSIONS,
    )
    expected = spark.createDataFrame(
        [(1, "KE", at(2, month=2)), (1, "US", at(20, month=2))],
        "profile_id long, country_code string, effective_at timestamp",
    )
    assert_df_equality(
        change_times(sessions), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_a_catalogue_match_needs_one_row_of_the_same_type_never_a_guess(spark):
    titles = spark.createDataFrame(
        [
            (REINA, "SERIES", "La Reina del Sur", None),
            (CIELO, "FILM", "90 minutos en el Cielo", None),  # two Movie rows: ambiguous
            (OFFICE, "SERIES", "The Office (U.S.)", None),  # only a Movie of that name
            (YOU, "SUPPLEMENTAL", "You", None),  # not a film or series: no row
        ],
        TITLES,
    )
    normalized = spark.createDataFrame(
        [(REINA, "la reina del sur"), (CIELO, "90 minutos en el cielo"),
         (OFFICE, "the office u s"), (YOU, "you")],
        "title_id long, normalized_title string",
    )  # fmt: skip
    catalog = spark.createDataFrame(
        [
            ("TV Show", "la reina del sur", "s101", "Crime TV Shows, Spanish-Language TV Shows",
             2011, "TV-MA", None, 3),
            ("Movie", "90 minutos en el cielo", "s201", "Dramas", 2015, "PG-13", 7260, None),
            ("Movie", "90 minutos en el cielo", "s202", "Dramas", 2016, "PG-13", 7200, None),
            ("Movie", "the office u s", "s301", "Comedies", 2005, "TV-14", 1320, None),
            ("TV Show", "you", "s401", "TV Thrillers", 2018, "TV-MA", None, 4),
        ],
        "catalog_type string, normalized_title string, show_id string, genres string, "
        "release_year int, rating string, runtime_sec int, number_of_seasons int",
    )  # fmt: skip
    matches = catalog_matches(titles, normalized, catalog)
    expected = spark.createDataFrame(
        [
            (REINA, "matched", "s101", "Crime TV Shows, Spanish-Language TV Shows", 2011,
             "TV-MA", None, 3),
            (CIELO, "ambiguous", None, None, None, None, None, None),
            (OFFICE, "unmatched", None, None, None, None, None, None),
        ],
        "title_id long, catalog_match string, catalog_show_id string, genres string, "
        "release_year int, rating string, catalog_runtime_sec int, number_of_seasons int",
    )  # fmt: skip
    assert_df_equality(matches, expected, ignore_row_order=True, ignore_nullable=True)
    assert match_report(matches) == {
        "matched": 1,
        "ambiguous": 1,
        "unmatched": 1,
        "titles": 3,
        "match_rate": 0.3333,
    }


def test_observed_runtimes_lend_the_series_median_only_from_enough_episodes(spark):
    episodes = spark.createDataFrame(
        [(3301, REINA, 3, 1, "Morir para vivir", None), (3302, REINA, 3, 2, "Un pacto", None),
         (3303, REINA, 3, 3, "La trampa", None), (4401, YOU, 4, 1, "Joe", None),
         (4402, YOU, 4, 2, "Love", None)],
        EPISODES,
    )  # fmt: skip
    sessions = spark.createDataFrame(
        [
            ("a", 1, "GT", REINA, 3301, False, at(25), 2700),
            ("b", 1, "GT", REINA, 3302, False, at(25), 2640),
            ("c", 2, "GT", REINA, 3302, False, at(26), 2650),  # the highest end position
            ("d", 1, "GT", REINA, 3303, False, at(26), 300),  # partial: the median instead
            ("e", 1, "GT", REINA, 3303, True, at(26), 9999),  # a trailer: never
            ("f", 1, "KE", YOU, 4401, False, at(27), 1200),  # 2 episodes < 3: its own max
            ("g", 1, "KE", YOU, 4402, False, at(27), 3000),
            ("h", 1, "KE", CIELO, None, False, at(28), 7100),  # a film: its own max
            ("i", 1, "KE", OFFICE, None, False, at(28), 0),  # nothing seen: no estimate
        ],
        SESSIONS,
    )
    expected = spark.createDataFrame(
        [(3301, 2700), (3302, 2650), (3303, 2650), (4401, 1200), (4402, 3000), (CIELO, 7100)],
        "content_key long, observed_runtime_sec int",
    )
    assert_df_equality(
        observed_runtimes(sessions, episodes, 3),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_movie_rows_take_the_runtime_from_source_then_catalogue_then_observation(spark):
    titles = spark.createDataFrame(
        [(CIELO, "FILM", "90 minutos en el Cielo", None), (YOU, "SERIES", "You", None),
         (OFFICE, "FILM", "The Office Movie", 5400)],
        TITLES,
    )  # fmt: skip
    episodes = spark.createDataFrame(
        [(4401, YOU, 4, 1, "Joe", 3000), (4402, YOU, 4, 2, "Love", None)], EPISODES
    )
    matches = spark.createDataFrame(
        [(CIELO, "matched", "s201", "Dramas", 2015, "PG-13", 7260, None),
         (YOU, "matched", "s401", "TV Thrillers", 2018, "TV-MA", None, 4)],
        "title_id long, catalog_match string, catalog_show_id string, genres string, "
        "release_year int, rating string, catalog_runtime_sec int, number_of_seasons int",
    )  # fmt: skip
    observed = spark.createDataFrame(
        [(CIELO, 7000), (4401, 2900), (4402, 2950), (OFFICE, 100)],
        "content_key long, observed_runtime_sec int",
    )
    got = movie_rows(titles, episodes, matches, observed)
    expected = spark.createDataFrame(
        [
            (CIELO, CIELO, None, "MOVIE", "90 minutos en el Cielo", None, None, "Dramas",
             7260, "catalog", "matched"),
            (OFFICE, OFFICE, None, "MOVIE", "The Office Movie", None, None, None, 5400,
             "source", "unmatched"),
            # episodes carry their series' catalogue attributes, never its runtime
            (4401, YOU, 4401, "EPISODE", "You", 4, 1, "TV Thrillers", 3000, "source", "matched"),
            (4402, YOU, 4402, "EPISODE", "You", 4, 2, "TV Thrillers", 2950, "observed",
             "matched"),
        ],
        "content_key long, title_id long, episode_id long, content_type string, "
        "title_name string, season_number int, episode_number int, genres string, "
        "runtime_sec int, runtime_source string, catalog_match string",
    )  # fmt: skip
    cols = expected.columns
    assert_df_equality(got.select(cols), expected, ignore_row_order=True, ignore_nullable=True)
    keys = got.select(
        (F.col("movie_key") == surrogate_key("movie", "content_key")).alias("ok")
    ).collect()
    assert all(r.ok for r in keys)  # the deterministic key of the item


def test_date_rows_cover_every_utc_day_from_first_to_last_session(spark):
    sessions = spark.createDataFrame(
        [(at(17, 23, month=2),), (at(20, 0, month=2),), (at(18, month=2),)], "started_at timestamp"
    )
    got = date_rows(sessions).select("date_key", "day", "month", "year", "weekday", "is_weekend")
    expected = spark.createDataFrame(
        [
            (20230217, 17, 2, 2023, "Fri", False),
            (20230218, 18, 2, 2023, "Sat", True),
            (20230219, 19, 2, 2023, "Sun", True),  # no session that day: still a row
            (20230220, 20, 2, 2023, "Mon", False),
        ],
        "date_key int, day int, month int, year int, weekday string, is_weekend boolean",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    assert date_rows(sessions.limit(0)).isEmpty()
