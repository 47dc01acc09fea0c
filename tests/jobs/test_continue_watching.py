"""Continue Watching over hand-built resume points with known answers."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import types as T

from jobs.core.rules.continue_watching_spark import OUTPUT_COLUMNS, continue_watching
from jobs.core.serving.continue_watching import empty_hint, format_table
from jobs.core.tables.registry import EPISODE, RESUME_STATE, TITLE

NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
P = 1
WINDOW, LIMIT = 90, 10  # conf/base.yaml continue_watching.window_days, .limit


def at(days_ago, hours=0):
    return NOW - dt.timedelta(
        days=days_ago, hours=hours
    )  # aware: Spark reads it as UTC whatever TZ is


def resume(profile, title, episode, pos, when, finished=False, runtime=None):
    return (profile, title, episode, episode or title, pos, when, "tv", "s", finished, runtime)


def fixtures(spark):
    titles = spark.createDataFrame(
        [
            (10, "Dark", "SERIES", None),
            (20, "Roma", "FILM", 8100),
            (30, "Done Film", "FILM", 6000),
            (40, "Old Show", "SERIES", None),
            (50, "Ended", "SERIES", None),
        ],
        TITLE.schema,
    )
    episodes = spark.createDataFrame(
        [
            (101, 10, "Season 1", 1, 1, "Secrets", None),
            (102, 10, "Season 1", 1, 2, "Lies", None),
            (103, 10, "Season 1", 1, 3, "Past and Present", 3000),
            (201, 10, "Season 2", 2, 1, "Beginnings", 3300),
            (401, 40, "Season 1", 1, 1, "Pilot", None),
            (501, 50, "Season 1", 1, 1, "Finale", None),
        ],
        EPISODE.schema,
    )
    state = spark.createDataFrame(
        [
            resume(P, 10, 101, 3000, at(3), finished=True, runtime=3100),
            resume(P, 10, 102, 1200, at(1)),  # newest Dark episode: shown
            resume(P, 20, None, 4050, at(2), runtime=8100),  # film half watched
            resume(
                P, 30, None, 5900, at(0, 5), finished=True, runtime=6000
            ),  # finished film: hidden
            resume(P, 40, 401, 100, at(120)),  # outside 90 days: hidden
            resume(P, 50, 501, 2000, at(4), finished=True),  # finished, no next episode known
            resume(2, 20, None, 10, at(0, 1)),  # another profile
        ],
        RESUME_STATE.schema,
    )
    return state, titles, episodes


def test_one_row_per_series_unfinished_within_90_days_newest_first(spark):
    state, titles, episodes = fixtures(spark)
    out = continue_watching(state, titles, episodes, P, NOW, WINDOW, LIMIT)
    expected = spark.createDataFrame(
        [
            (1, P, 10, 102, "Dark", 1, 2, "Lies", 1200, None, None, at(1), "tv", False),
            (2, P, 20, None, "Roma", None, None, None, 4050, 8100, 50.0, at(2), "tv", False),
        ],
        T.StructType([f for f in out.schema.fields]),
    )
    assert out.columns == OUTPUT_COLUMNS
    assert_df_equality(out, expected, ignore_nullable=True)


def test_a_finished_episode_offers_the_next_one_across_seasons(spark):
    state, titles, episodes = fixtures(spark)
    state = state.union(
        spark.createDataFrame(
            [resume(P, 10, 103, 2990, at(0, 2), finished=True, runtime=3000)], RESUME_STATE.schema
        )
    )
    first = continue_watching(state, titles, episodes, P, NOW, WINDOW, LIMIT).first()
    assert (first.title_id, first.episode_id, first.season_number, first.episode_number) == (
        10,
        201,
        2,
        1,
    )
    assert (first.position_sec, first.progress_pct, first.is_next_episode) == (0, 0.0, True)
    assert "next: S2E1 Beginnings" in format_table([first.asDict()])


def test_limit_and_as_of(spark):
    state, titles, episodes = fixtures(spark)
    assert continue_watching(state, titles, episodes, P, NOW, WINDOW, limit=1).count() == 1
    # as of 100 days ago, only "Old Show" was within its window
    past = continue_watching(
        state, titles, episodes, P, NOW - dt.timedelta(days=100), WINDOW, LIMIT
    )
    assert [r.title_id for r in past.collect()] == [40]
    assert continue_watching(state, titles, episodes, 99, NOW, WINDOW, LIMIT).count() == 0


def test_an_empty_list_says_why_and_how_to_look(spark):
    state, _, _ = fixtures(spark)
    # an export from long ago, read as of today: nothing in the window
    later = NOW + dt.timedelta(days=400)
    hint = empty_hint(state, P, later, WINDOW)
    assert "nothing touched in the 90 days before 2025-07-06 12:00 UTC" in hint
    assert f"newest resume point is {at(0, 1):%Y-%m-%d %H:%M} UTC" not in hint  # profile 2's
    assert f"newest resume point is {at(0, 5):%Y-%m-%d %H:%M} UTC" in hint
    assert "--as-of latest" in hint
    assert "has no resume points yet" in empty_hint(state, 99, NOW, WINDOW)
    assert "is finished" in empty_hint(state, P, NOW, WINDOW)
