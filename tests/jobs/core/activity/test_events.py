"""Domain events: one per fact, ids that depend only on the event's subject."""

from __future__ import annotations

import json

import pytest

from jobs.core.activity.events import abandoned_events, completion_events, domain_events
from jobs.core.activity.progress import season_completions, show_completions
from jobs.core.activity.records import viewing_records
from jobs.core.tables.registry import VIEWING_STATEMENT, get_spec
from tests.jobs.core.activity.test_records import enriched
from tests.jobs.test_build_viewing_activity import F2, MOVIES, A, session, t

FACTS = [
    *[session(f"a{n}", 200 + n, t(3, n, 20), 30, 100, True) for n in (1, 2, 3, 4)],
    session("r1", F2, t(2, 1, 20), 50, 100, True),
]


def events(spark, facts):
    movies = spark.createDataFrame(MOVIES, get_spec("dim_movies").schema)
    statements = spark.createDataFrame([], VIEWING_STATEMENT.schema)
    records = viewing_records(enriched(spark, facts)).selectExpr(
        "*", "CAST(NULL AS STRING) AS statement_id"
    )
    seasons = season_completions(records, movies)
    shows = show_completions(seasons, records, movies)
    abandoned = spark.createDataFrame([], get_spec("abandoned_content").schema)
    return domain_events(records, seasons, shows, abandoned, movies, statements)


@pytest.mark.slow  # a Spark pipeline of its own (~10-45 s): make test, not test-fast
def test_one_event_per_completed_viewing_season_and_show(spark):
    got = events(spark, FACTS).collect()
    kinds = sorted(r.event_type for r in got)
    assert kinds == [
        "MovieWatched",
        *["TVEpisodeWatched"] * 4,
        "TVSeasonCompleted",
        "TVShowCompleted",
    ]
    film = next(r for r in got if r.event_type == "MovieWatched")
    payload = json.loads(film.payload)
    assert (payload["title_name"], payload["is_rewatch"]) == ("Film Two", False)
    assert "viewing_location" not in payload  # no statement: NULL fields are left out
    show = next(r for r in got if r.event_type == "TVShowCompleted")
    assert (show.title_id, json.loads(show.payload)["total_episodes"]) == (A, 4)


@pytest.mark.slow  # a Spark pipeline of its own (~10-45 s): make test, not test-fast
def test_event_ids_are_deterministic_and_distinct(spark):
    first = {(r.event_type, r.event_id) for r in events(spark, FACTS).collect()}
    again = {(r.event_type, r.event_id) for r in events(spark, FACTS).collect()}
    assert first == again
    assert len({i for _, i in first}) == len(first)
    assert all(len(i) == 32 for _, i in first)


def test_completion_and_abandon_events_are_empty_without_input(spark):
    none = spark.createDataFrame([], get_spec("abandoned_content").schema)
    assert abandoned_events(none).count() == 0
    movies = spark.createDataFrame(MOVIES, get_spec("dim_movies").schema)
    records = viewing_records(enriched(spark, FACTS[-1:]))
    seasons = season_completions(records, movies)
    assert completion_events(seasons, show_completions(seasons, records, movies)).count() == 0
