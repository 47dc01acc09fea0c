"""Which profiles an incremental viewing-activity build recomputes (jobs.core.activity.scope)."""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from jobs.core.activity.scope import Scope, abandonment_window, changed_profiles
from jobs.core.tables.registry import get_spec

UTC = dt.UTC
AS_OF = dt.datetime(2023, 5, 20, 18, 30, tzinfo=UTC)


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), UTC)


def test_abandonment_window_covers_both_runs_in_whole_utc_days():
    lo, hi = abandonment_window(dt.date(2023, 5, 18), AS_OF, 90)
    # a run as of any time of 18 May abandons before [17 Feb, 18 Feb); this one before 19 Feb
    # 18:30: the rows whose abandonment may differ have their last activity in between
    assert (lo, hi) == (midnight(dt.date(2023, 2, 17)), midnight(dt.date(2023, 2, 20)))
    # the same date: one whole day
    lo, hi = abandonment_window(AS_OF.date(), AS_OF, 90)
    assert hi - lo == dt.timedelta(days=1) and lo == midnight(dt.date(2023, 2, 19))


@given(
    st.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1)),
    st.datetimes(dt.datetime(2020, 1, 1), dt.datetime(2030, 1, 1), timezones=st.just(UTC)),
    st.integers(1, 400),
)
def test_abandonment_window_is_symmetric_and_contains_each_runs_limit(old, as_of, days):
    lo, hi = abandonment_window(old, as_of, days)
    back = dt.timedelta(days=days)
    assert lo < hi and lo.tzinfo == UTC and lo.time() == hi.time() == dt.time()
    assert lo <= as_of - back < hi  # this run's limit
    assert lo <= midnight(old) - back and midnight(old) + dt.timedelta(days=1) - back <= hi
    swapped = abandonment_window(as_of.date(), midnight(old), days)
    assert swapped == (lo, hi)


def test_a_first_run_recomputes_every_profile(engine):
    assert changed_profiles(engine, {}, AS_OF, 90) == Scope(None, "first run")


def fact(spark, rows):
    """fact_watch_history rows: (session, profile, movie_key, last_event_at)."""
    spec = get_spec("fact_watch_history")
    full = [
        (s, -1, m, -1, 20230101, p, m, t, None, 60, 0, 60, None, False, False, "KE", 2, t)
        for s, p, m, t in rows
    ]
    return spark.createDataFrame(full, spec.schema)


def test_only_the_changed_profiles_and_those_the_as_of_move(spark, engine):
    engine.create_all(["fact_watch_history"])
    engine.append(
        "fact_watch_history",
        fact(
            spark,
            [
                ("s1", 1, 7001, dt.datetime(2023, 1, 5, tzinfo=UTC)),
                # last activity 18 Feb: abandoned as of 20 May, not as of 18 May (90 days)
                ("s2", 2, 7001, dt.datetime(2023, 2, 18, 12, tzinfo=UTC)),
            ],
        ),
    )
    seen = engine.version("fact_watch_history")
    marks = {"fact_watch_history": (seen, dt.date(2023, 5, 18))}
    engine.append("fact_watch_history", fact(spark, [("s3", 3, 7002, AS_OF)]))
    scope = changed_profiles(engine, marks, AS_OF, 90)
    assert scope.reason is None and scope.profiles is not None
    assert sorted(r.profile_id for r in scope.profiles.collect()) == [2, 3]
    # nothing new and the same as-of date: nobody
    same = {"fact_watch_history": (engine.version("fact_watch_history"), AS_OF.date())}
    assert changed_profiles(engine, same, AS_OF, 90).profiles.isEmpty()


def test_a_recreated_source_recomputes_every_profile(spark, engine):
    engine.create_all(["fact_watch_history"])
    marks = {"fact_watch_history": (engine.version("fact_watch_history") + 5, None)}
    scope = changed_profiles(engine, marks, AS_OF, 90)
    assert scope.profiles is None
    assert "before the v5 processed (recreated)" in scope.reason
