"""The star build's bookkeeping: which sessions a run recomputes."""

from __future__ import annotations

from jobs.core.star.build import affected_sessions

SCHEMA = "session_id string, profile_id long, title_id long, episode_id long"
SESSIONS = [
    ("s1", 1, 10, None),
    ("s2", 1, 20, 21),
    ("s3", 2, 20, 22),
    ("s4", 3, 30, None),
]


def affected(spark, changed, profiles, movies, first_run=False):
    sessions = spark.createDataFrame(SESSIONS, SCHEMA)
    got = affected_sessions(
        sessions, sessions.where(sessions.session_id.isin(changed)), profiles, movies, first_run
    )
    return sorted(r.session_id for r in got.collect())


def test_the_changed_sessions_alone_when_no_dimension_moved(spark):
    assert affected(spark, ["s4"], [], []) == ["s4"]


def test_a_new_user_version_or_a_changed_item_adds_all_their_sessions(spark):
    assert affected(spark, ["s4"], [1], []) == ["s1", "s2", "s4"]
    assert affected(spark, [], [], [22]) == ["s3"]  # an episode: by episode_id
    assert affected(spark, [], [], [10]) == ["s1"]  # a film: by title_id


def test_a_first_run_recomputes_only_what_it_reads(spark):
    assert affected(spark, ["s1", "s2"], [3], [10], first_run=True) == ["s1", "s2"]
