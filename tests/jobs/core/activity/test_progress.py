"""Series progress: known seasons, completed seasons and shows, the next episode."""

from __future__ import annotations

import pytest

from jobs.core.activity.progress import (
    known_seasons,
    season_completions,
    show_completions,
    show_progress,
)
from jobs.core.activity.records import viewing_records
from jobs.core.tables.registry import get_spec
from tests.jobs.core.activity.test_records import enriched
from tests.jobs.test_build_viewing_activity import MOVIES, A, B, session, t

SHOW_A = [session(f"a{n}", 200 + n, t(3, n, 20), 30, 100, True) for n in (1, 2, 3, 4)]
SHOW_B = [
    session("b1", 301, t(3, 5, 20), 30, 100, True),
    session("b2", 302, t(3, 6, 20), 30, 100, True),
    session("b3", 303, t(3, 7, 20), 10, 40, False),  # S1E3 unfinished
]


def progress(spark, facts):
    movies = spark.createDataFrame(MOVIES, get_spec("dim_movies").schema)
    records = viewing_records(enriched(spark, facts))
    seasons = season_completions(records, movies)
    shows = show_completions(seasons, records, movies)
    return movies, records, seasons, shows


def test_known_seasons_count_episodes_and_check_they_run_from_one(spark):
    movies = spark.createDataFrame(MOVIES, get_spec("dim_movies").schema)
    got = {(r.title_id, r.season_number): r for r in known_seasons(movies).collect()}
    assert (got[(A, 1)].known_episodes, got[(A, 1)].is_contiguous) == (4, True)
    assert (got[(B, 1)].known_episodes, got[(B, 2)].known_episodes) == (3, 1)


@pytest.mark.slow  # a Spark pipeline of its own (~10-45 s): make test, not test-fast
def test_every_known_episode_finished_completes_the_season_and_the_show(spark):
    _, _, seasons, shows = progress(spark, SHOW_A + SHOW_B)
    assert [(r.title_id, r.season_number, r.episodes_watched) for r in seasons.collect()] == [
        (A, 1, 4)
    ]
    done = shows.collect()
    assert [(r.title_id, r.total_episodes, r.total_viewing_sec) for r in done] == [
        (A, 4, 4 * 30 * 60)
    ]


@pytest.mark.slow  # a Spark pipeline of its own (~10-45 s): make test, not test-fast
def test_show_progress_offers_the_unfinished_episode_or_the_successor(spark):
    movies, records, seasons, shows = progress(spark, SHOW_A + SHOW_B)
    rows = {r.title_id: r for r in show_progress(records, movies, seasons, shows).collect()}
    a, b = rows[A], rows[B]
    assert (a.is_completed, a.completed_seasons, a.episodes_watched) == (True, 1, 4)
    assert (a.next_season_number, a.next_episode_number) == (None, None)  # nothing after S1E4
    assert (b.is_completed, b.episodes_watched) == (False, 2)
    assert (b.next_season_number, b.next_episode_number, b.next_episode_id) == (1, 3, 303)


@pytest.mark.slow  # a Spark pipeline of its own (~10-45 s): make test, not test-fast
def test_show_progress_after_a_finished_episode_is_its_successor(spark):
    movies, records, seasons, shows = progress(spark, SHOW_B[:2])
    (b,) = show_progress(records, movies, seasons, shows).collect()
    assert (b.last_episode_number, b.next_season_number, b.next_episode_number) == (2, 1, 3)
