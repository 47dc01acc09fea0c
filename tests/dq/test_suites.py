"""Every expectation of every suite: a crafted table that meets it, one that breaks it.

The table that meets a suite is built per suite (all its expectations pass on it); for
each expectation a breaker adds or changes rows of that table so that exactly this
expectation fails. A suite entry without a breaker fails the test, so a new expectation
cannot go untested.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import replace

import pytest
from pyspark.sql import DataFrame

from dq.run import Suite, available_suites, load_suite, select_suites
from jobs.core.config import load_config
from jobs.core.tables import TABLES, get_spec

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
H = dt.timedelta(hours=1)
PARAMS = load_config("test").dq_params()
FAR = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
EPOCH = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)


def frame(spark, table: str, rows: list[dict]) -> DataFrame:
    """Rows given as dicts (missing columns NULL) with the table's declared schema."""
    spec = get_spec(table)
    return spark.createDataFrame([tuple(r.get(c) for c in spec.columns) for r in rows], spec.schema)


def event(session="s1", minutes_ago=120, etype="HEARTBEAT", pos=60, country="GT", **kw) -> dict:
    t = NOW - dt.timedelta(minutes=minutes_ago)
    row = dict(
        session_id=session,
        event_time=t,
        event_type=etype,
        position_sec=pos,
        profile_id=1,
        device_id="d1",
        title_id=10,
        episode_id=None,
        is_supplemental=False,
        is_autoplay=False,
        runtime_sec=None,
        ingest_batch_id=0,
        country_code=country,
        dt=t.date(),
    )
    row.update(kw)
    return row


def session(sid="s1", started_h=3.0, ended_h: float | None = 2.5, **kw) -> dict:
    row = dict(
        session_id=sid,
        profile_id=1,
        device_id="d1",
        title_id=10,
        episode_id=None,
        country_code="GT",
        is_supplemental=False,
        is_autoplay=False,
        started_at=NOW - started_h * H,
        ended_at=None if ended_h is None else NOW - ended_h * H,
        end_reason=None if ended_h is None else "END",
        last_event_at=NOW - (ended_h if ended_h is not None else started_h - 0.1) * H,
        last_position_sec=100,
        event_count=5,
    )
    row.update(kw)
    return row


def resume(profile=1, title=10, episode=None, pos=100, runtime=None, hours_ago=1.0, **kw) -> dict:
    row = dict(
        profile_id=profile,
        title_id=title,
        episode_id=episode,
        content_key=episode if episode is not None else title,
        last_position_sec=pos,
        last_update=NOW - hours_ago * H,
        device_id="d1",
        session_id="s1",
        is_finished=False,
        runtime_sec=runtime,
    )
    row.update(kw)
    return row


def user(key, profile, start, end, current, **kw) -> dict:
    return dict(
        user_key=key, profile_id=profile, valid_from=start, valid_to=end, is_current=current, **kw
    )


# -- the tables that meet each suite, and the breakers --------------------------------
GOOD_EVENTS = [
    event("s1", 130, "PLAY", 0),
    event("s1", 129, "HEARTBEAT", 60),
    event("s1", 120, "END", 600),
    event("s2", 10, "PLAY", 0, "KE", episode_id=77, runtime_sec=1500),
    event("s2", 3, "HEARTBEAT", 420, "KE", episode_id=77, runtime_sec=1500),
]
GOOD_SESSIONS = [
    session("s1"),
    session("s2", started_h=0.2, ended_h=None),  # open, but younger than open_session_max_hours
    session("s3", started_h=30, ended_h=26, end_reason="ABANDONED"),
]
GOOD_RESUME = [
    resume(1, 10),
    resume(1, 20, episode=21, pos=1400, runtime=1500),
    resume(2, 10, pos=0),
]
T1 = NOW - 48 * H
GOOD_USERS = [
    user(-1, -1, EPOCH, FAR, True),
    user(11, 1, EPOCH, T1, False),
    user(12, 1, T1, FAR, True),
    user(21, 2, EPOCH, FAR, True),
]
DIMS = {
    "dim_movies": [dict(movie_key=k) for k in (-1, 100, 101)],
    "dim_device": [dict(device_key=k) for k in (-1, 7)],
    "dim_date": [dict(date_key=k) for k in (-1, 20240101)],
}
GOOD_FACTS = [
    dict(session_id="s1", user_key=12, movie_key=100, device_key=7, date_key=20240101),
    dict(session_id="s2", user_key=-1, movie_key=-1, device_key=-1, date_key=-1),
]


def with_rows(*extra: dict) -> Callable[[list[dict]], list[dict]]:
    return lambda rows: rows + list(extra)


def changed(i: int, **values) -> Callable[[list[dict]], list[dict]]:
    return lambda rows: [({**r, **values} if j == i else r) for j, r in enumerate(rows)]


CASES: dict[str, tuple[str, list[dict], dict[int, Callable[[list[dict]], list[dict]]]]] = {
    # suite: (table, rows that meet it, {expectation index: breaker})
    "playback_event": (
        "playback_event",
        GOOD_EVENTS,
        {
            0: with_rows(GOOD_EVENTS[1]),  # the duplicate (session_id, event_time)
            1: with_rows(event(None, 50)),
            2: with_rows({**event("s9", 50), "event_time": None}),
            3: with_rows(event("s9", 50, "REWIND")),
            4: with_rows(event("s9", 50, pos=PARAMS["max_position_sec"] + 1)),
            5: with_rows(event("s9", 50, country="gt")),
            6: changed(0, dt=GOOD_EVENTS[0]["dt"] + dt.timedelta(days=1)),
            7: with_rows(event("s9", -60 * 24)),  # a day in the future
        },
    ),
    "playback_session": (
        "playback_session",
        GOOD_SESSIONS,
        {
            0: with_rows(
                session("s9", started_h=PARAMS["open_session_max_hours"] + 1, ended_h=None)
            ),
            1: with_rows(GOOD_SESSIONS[0]),
            2: changed(0, event_count=None),
            3: changed(0, event_count=0),
            4: changed(0, ended_at=NOW - 4 * H),
            5: changed(0, end_reason="CRASHED"),
        },
    ),
    "resume_state": (
        "resume_state",
        GOOD_RESUME,
        {
            # another title whose episode id equals a title id: same coalesce(episode_id, title_id)
            0: with_rows(resume(1, 99, episode=10)),
            1: changed(0, last_position_sec=-5),
            2: changed(1, last_position_sec=1600),
            3: changed(0, last_update=NOW + 2 * H),
        },
    ),
    "freshness": (
        "playback_event",
        GOOD_EVENTS,
        {0: lambda rows: [{**r, "event_time": r["event_time"] - 5 * H} for r in rows]},
    ),
    "dim_users": (
        "dim_users",
        GOOD_USERS,
        {
            0: changed(1, is_current=True),
            1: changed(1, valid_to=T1 + H),
            2: with_rows(user(21, 3, EPOCH, FAR, True)),
        },
    ),
    "fact_watch_history": (
        "fact_watch_history",
        GOOD_FACTS,
        {
            0: with_rows({**GOOD_FACTS[1], "user_key": 21}),
            1: changed(0, user_key=999),
            2: changed(0, movie_key=999),
            3: changed(0, device_key=999),
            4: changed(0, date_key=19990101),
            5: changed(1, user_key=None),
            6: changed(1, movie_key=None),
        },
    ),
}


def suite(name: str) -> Suite:
    from dq.run import SUITES_DIR

    return load_suite(SUITES_DIR / f"{name}.yaml", PARAMS)


@pytest.fixture(scope="module")
def gx_session(tmp_path_factory):
    from dq.run import gx_session as make_session
    from dq.run import import_gx

    return make_session(import_gx(), tmp_path_factory.mktemp("docs"))


@pytest.fixture
def star_views(spark):
    """The star dimensions the fact suite joins, as temporary views."""
    if "fact_watch_history" not in TABLES:
        pytest.skip("star schema tables are not declared yet (jobs.core.tables_star)")
    frame(spark, "dim_users", GOOD_USERS).createOrReplaceTempView("dim_users")
    for name, rows in DIMS.items():
        frame(spark, name, rows).createOrReplaceTempView(name)


def validate(gx_session, s: Suite, df: DataFrame, tag: str):
    from dq.run import validate_suite

    _, checks = validate_suite(gx_session, replace(s, name=f"{s.name}_{tag}"), df, tag, NOW)
    return checks


def test_every_suite_file_has_cases():
    assert sorted(CASES) == available_suites()
    for name, (table, _rows, breakers) in CASES.items():
        s = suite(name)
        assert s.table == table
        assert sorted(breakers) == [e.index for e in s.expectations], (
            f"{name}: one breaker per expectation"
        )


@pytest.mark.parametrize("name", sorted(CASES))
def test_suite_passes_on_a_table_that_meets_it(spark, gx_session, name, request):
    table, rows, _ = CASES[name]
    if table not in TABLES:
        pytest.skip(f"{table} is not declared yet")
    if name == "fact_watch_history":
        request.getfixturevalue("star_views")
    checks = validate(gx_session, suite(name), frame(spark, table, rows), "good")
    assert [(c.expectation_id, c.status) for c in checks] == [
        (c.expectation_id, "PASS") for c in checks
    ]


@pytest.mark.parametrize(
    "name,index",
    [(name, i) for name, (_t, _r, breakers) in sorted(CASES.items()) for i in sorted(breakers)],
)
def test_expectation_fails_on_a_table_that_breaks_it(spark, gx_session, name, index, request):
    table, rows, breakers = CASES[name]
    if table not in TABLES:
        pytest.skip(f"{table} is not declared yet")
    if name == "fact_watch_history":
        request.getfixturevalue("star_views")
    s = suite(name)
    only = replace(s, expectations=tuple(e for e in s.expectations if e.index == index))
    (check,) = validate(gx_session, only, frame(spark, table, breakers[index](rows)), f"bad{index}")
    spec = only.expectations[0]
    assert check.success is False, check
    assert check.status == ("FAIL" if spec.severity == "fail" else "WARN")
    assert check.unexpected_count and check.unexpected_count >= 1


def test_duplicate_event_is_named(spark, gx_session):
    s = suite("playback_event")
    only = replace(s, expectations=s.expectations[:1])
    duplicated = CASES["playback_event"][2][0](GOOD_EVENTS)
    (check,) = validate(gx_session, only, frame(spark, "playback_event", duplicated), "dup")
    text = json.dumps(check.examples, default=str)
    assert check.unexpected_count == 2  # both copies
    assert '"s1"' in text and GOOD_EVENTS[1]["event_time"].strftime("%Y-%m-%d %H:%M:%S") in text


def test_freshness_is_only_in_all_for_streaming_envs():
    test = load_config("test")
    assert "freshness" not in [s.name for s in select_suites("all", test)]
    assert "freshness" in [s.name for s in select_suites("all", load_config("cluster"))]
    assert [s.name for s in select_suites("freshness", test)] == ["freshness"]
