"""Abandonment inferred from inactivity: idle past the limit, and no later series activity."""

from __future__ import annotations

import datetime as dt

from jobs.core.activity.abandoned import abandoned_content
from jobs.core.activity.records import viewing_records
from jobs.core.runtime.config import load_config
from tests.jobs.core.activity.test_records import enriched
from tests.jobs.test_build_viewing_activity import F1, F2, session, t

AS_OF = dt.datetime(2023, 6, 1, tzinfo=dt.UTC)
SETTINGS = load_config("test", lake_root="/tmp/unused").activity


def abandoned(spark, facts, as_of=AS_OF):
    sessions = enriched(spark, facts)
    return abandoned_content(viewing_records(sessions), sessions, as_of, SETTINGS)


def test_an_unfinished_film_idle_past_the_limit_is_abandoned_at_last_activity_plus_limit(spark):
    facts = [session("f1", F1, t(1, 10, 20), 30, 30, False)]
    (row,) = abandoned(spark, facts).collect()
    assert (row.content_key, row.content_type, row.progress_pct) == (F1, "MOVIE", 30.0)
    days = (row.abandoned_at - row.last_activity_at).days
    assert days == SETTINGS.abandoned_after_days


def test_recent_or_finished_items_are_not_abandoned(spark):
    facts = [
        session("f1", F1, t(5, 20, 20), 30, 30, False),  # idle less than the limit
        session("r1", F2, t(1, 1, 20), 50, 100, True),  # finished
    ]
    assert abandoned(spark, facts).count() == 0


def test_an_episode_is_not_abandoned_when_the_series_went_on(spark):
    facts = [
        session("b1", 301, t(1, 5, 20), 10, 30, False),  # unfinished ...
        session("b2", 302, t(1, 6, 20), 30, 100, True),  # ... but the next one watched later
        session("a1", 201, t(1, 7, 20), 10, 30, False),  # another series, left there
    ]
    assert [r.content_key for r in abandoned(spark, facts).collect()] == [201]
