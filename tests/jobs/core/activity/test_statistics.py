"""Viewing statistics: periods by the UTC start date, breakdowns by type, genre, device."""

from __future__ import annotations

import datetime as dt

from jobs.core.activity.statistics import ALL_START, viewing_statistics
from tests.jobs.core.activity.test_records import enriched
from tests.jobs.test_build_viewing_activity import F1, F2, session, t


def test_statistics_count_items_and_hours_per_period_and_breakdown(spark):
    facts = [
        session("r1", F2, t(2, 1, 20), 60, 100, True),  # Wednesday 2023-02-01
        session("r2", F2, t(2, 2, 20), 30, 100, True),  # the same film again
        session("f1", F1, t(3, 10, 20), 30, 30, False),
    ]
    rows = {
        (r.period, r.period_start, r.breakdown, r.breakdown_value): r
        for r in viewing_statistics(enriched(spark, facts)).collect()
    }
    total = rows[("all", ALL_START, "total", "all")]
    assert (total.items_watched, total.items_completed, total.watch_hours) == (2, 1, 2.0)
    week = rows[("week", dt.date(2023, 1, 30), "total", "all")]  # the Monday
    assert (week.items_watched, week.watch_hours) == (1, 1.5)
    assert rows[("month", dt.date(2023, 3, 1), "content_type", "MOVIE")].items_completed == 0
    assert rows[("year", dt.date(2023, 1, 1), "genre", "Thrillers")].items_watched == 2
    assert rows[("all", ALL_START, "device_type", "TV")].watch_hours == 2.0
