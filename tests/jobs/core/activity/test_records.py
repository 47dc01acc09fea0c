"""Viewings from sessions: rewatch numbering, out-of-order episodes, the session end."""

from __future__ import annotations

from jobs.core.activity.records import enrich_sessions, session_end, viewing_records
from jobs.core.rules.as_of import collected_utc
from jobs.core.tables.registry import get_spec
from tests.jobs.test_build_viewing_activity import F2, MOVIES, P, session, t

DEVICES = [(1, "d1", 10, "TV", "Smart TV")]


def enriched(spark, facts):
    """``enrich_sessions`` over hand-built fact rows and the shared ``MOVIES``."""
    return enrich_sessions(
        spark.createDataFrame(facts, get_spec("fact_watch_history").schema),
        spark.createDataFrame(MOVIES, get_spec("dim_movies").schema),
        spark.createDataFrame(DEVICES, get_spec("dim_device").schema),
    )


def test_enrich_sessions_adds_item_and_device_and_drops_unknown_items(spark):
    unknown = session("u", -10_001, t(3, 1, 20), 30, 50, False)  # movie_key -1
    rows = enriched(spark, [session("r1", F2, t(2, 1, 20), 50, 100, True), unknown]).collect()
    assert [(r.session_id, r.content_type, r.title_name, r.device_type) for r in rows] == [
        ("r1", "MOVIE", "Film Two", "TV")
    ]


def test_a_finished_session_closes_a_viewing_and_the_next_opens_a_rewatch(spark):
    facts = [
        session("s1", F2, t(2, 1, 20), 20, 40, False),
        session("s2", F2, t(2, 2, 20), 30, 100, True),  # finishes viewing 1
        session("s3", F2, t(2, 9, 20), 10, 20, False),  # opens viewing 2
    ]
    rows = viewing_records(enriched(spark, facts)).orderBy("watch_number").collect()
    assert [(r.watch_number, r.sessions, r.is_completed, r.is_rewatch) for r in rows] == [
        (1, 2, True, False),
        (2, 1, False, True),
    ]
    assert collected_utc(rows[0].completed_at) == t(2, 2, 20, 30)
    assert rows[0].watch_seconds == 50 * 60
    assert rows[0].record_id != rows[1].record_id


def test_first_viewing_of_an_episode_after_a_skip_is_out_of_order(spark):
    facts = [
        session("e1", 301, t(3, 5, 20), 30, 100, True),
        session("e3", 303, t(3, 6, 20), 30, 100, True),  # episode 2 skipped
    ]
    rows = {r.content_key: r for r in viewing_records(enriched(spark, facts)).collect()}
    assert (rows[301].skipped_episodes, rows[301].is_out_of_order) == (0, False)
    assert (rows[303].skipped_episodes, rows[303].is_out_of_order) == (1, True)
    assert {r.profile_id for r in rows.values()} == {P}


def test_session_end_is_the_end_event_else_the_last_event(spark):
    end, last = t(1, 1, 21), t(1, 1, 22)
    df = spark.createDataFrame(
        [(1, end, last), (2, None, last)], "n int, ended_at timestamp, last_event_at timestamp"
    )
    got = df.orderBy("n").select(session_end().alias("end")).collect()
    assert [collected_utc(r.end) for r in got] == [end, last]
