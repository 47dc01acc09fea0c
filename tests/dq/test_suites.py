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
from jobs.core.runtime.config import load_config
from jobs.core.tables.registry import TABLES, get_spec

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
    session("s2", started_h=0.2, ended_h=None),  # open, just started
    session("s3", started_h=30, ended_h=26, end_reason="ABANDONED"),
    # open sessions that are not incomplete by the cleanup's rule (idle time, not age):
    session("film", started_h=1.25, ended_h=None, last_event_at=NOW - 0.01 * H),  # 75 min, playing
    session("pause", started_h=2.5, ended_h=None, last_event_at=NOW - 2 * H),  # paused for 2 h
    session("api-r1", started_h=30, ended_h=None, last_event_at=NOW - 30 * H, event_count=1),
]  # the last: a WATCHED statement's one-event session, complete by construction
IDLE_LIMIT_H = PARAMS["abandoned_idle_hours"] + PARAMS["open_session_grace_hours"]
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
    "dim_movies": [
        dict(movie_key=-1),
        dict(movie_key=100, title_id=10),
        dict(movie_key=101, title_id=20),
    ],
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


def dup(i: int = 0) -> Callable[[list[dict]], list[dict]]:
    """The rows plus a copy of row ``i``."""
    return lambda rows: [*rows, rows[i]]


def without(i: int) -> Callable[[list[dict]], list[dict]]:
    return lambda rows: rows[:i] + rows[i + 1 :]


D = dt.date
GOOD_MOVIES = [
    dict(movie_key=-1, content_type="UNKNOWN", catalog_match="unmatched"),
    dict(movie_key=100, title_id=10, content_type="MOVIE", catalog_show_id="s1",
         catalog_match="matched"),
    dict(movie_key=101, title_id=20, episode_id=21, content_type="EPISODE",
         catalog_match="ambiguous"),
]  # fmt: skip
GOOD_RECORDS = [
    dict(record_id=1, profile_id=1, content_key=10, title_id=10, content_type="MOVIE",
         watch_number=1, is_rewatch=False, is_completed=True, completed_at=NOW - H,
         progress_pct=95.0),
    dict(record_id=2, profile_id=1, content_key=10, title_id=10, content_type="MOVIE",
         watch_number=2, is_rewatch=True, is_completed=False, progress_pct=None),
    dict(record_id=3, profile_id=1, content_key=21, title_id=20, episode_id=21,
         content_type="EPISODE", watch_number=1, is_rewatch=False, is_completed=True,
         completed_at=NOW - H, progress_pct=100.0),
]  # fmt: skip
GOOD_DOMAIN_EVENTS = [
    dict(event_id="e1", event_type="MovieWatched", profile_id=1, title_id=10),
    dict(event_id="e2", event_type="TVEpisodeWatched", profile_id=1, title_id=20, episode_id=21),
    dict(event_id="e3", event_type="ViewingAbandoned", profile_id=2, title_id=10),
]


def reco(profile, context, rank, title, score, gen_h=1.0, ttl_h=23.0, **kw) -> dict:
    """A recommendation_list / current_recommendations row generated ``gen_h`` hours ago."""
    row = dict(
        profile_id=profile,
        context=context,
        rank_position=rank,
        title_id=title,
        score=score,
        model="popularity",
        model_version="popularity",
        variant="item_cosine",
        generated_at=NOW - gen_h * H,
        expires_at=NOW + (ttl_h - gen_h) * H,
    )
    row.update(kw)
    return row


GOOD_CURRENT = [
    reco(1, "home", 1, 10, 1.0, model="item_cosine", model_version="item_cosine-v1"),
    reco(1, "home", 2, 20, 0.9, model="item_cosine", model_version="item_cosine-v1"),
    reco(1, "home", 3, 30, 0.0),  # popularity fill-in at the tail
    reco(2, "because_you_watched", 1, 20, 1.0, model="content_tfidf"),
    reco(1, "genre_international_tv_shows", 1, 10, 0.75),  # same title, another list
]
GOOD_LISTS = [
    *GOOD_CURRENT,
    # an earlier, expired generation of the same list stays in the append-only history
    reco(1, "home", 1, 20, 1.0, gen_h=30),
    reco(1, "home", 2, 10, 0.5, gen_h=30),
]
GOOD_EDGES = [
    dict(src_title_id=10, dst_title_id=20, score=0.8, model="item_cosine"),
    dict(src_title_id=20, dst_title_id=10, score=0.8, model="item_cosine"),
    dict(src_title_id=10, dst_title_id=20, score=0.3, model="content_tfidf"),
    dict(src_title_id=10, dst_title_id=30, score=-0.2, model="als"),
    dict(src_title_id=30, dst_title_id=20, score=1.0, model="als"),
]
GOOD_PERFORMANCE = [
    dict(model_name=m, model_version="3f2a9c1d0e", evaluation_date=d, metric_name=k,
         metric_value=v, dataset="lake")
    for m, d, k, v in [
        ("item_cosine", D(2026, 11, 23), "precision@10", 0.12),
        ("item_cosine", D(2026, 11, 23), "recall@20", 0.31),
        ("item_cosine", D(2026, 11, 22), "precision@10", 0.11),  # the day before
        ("random", D(2026, 11, 23), "precision@10", 0.0),
    ]
]  # fmt: skip
GOOD_CACHE = [
    dict(profile_id=1, context="home", payload='[{"rank": 1, "title_id": 10}]',
         generated_at=NOW - H, last_accessed=NOW - 0.5 * H, ttl_minutes=1440),
    dict(profile_id=1, context="because_you_watched", payload="[]", generated_at=NOW - H,
         ttl_minutes=1),  # never read yet
    dict(profile_id=2, context="home", payload="[]", generated_at=NOW - H, ttl_minutes=60),
]  # fmt: skip
GOOD_INTERACTIONS = [
    dict(profile_id=1, title_id=10, interaction_type=t, interaction_value=v,
         event_ts=NOW - h * H, session_id=s)
    for t, v, h, s in [
        ("VIEW", 0.0, 5, "s1"),
        ("VIEW", 1.0, 4, "s2"),
        ("VIEW", 0.45, 3, "s3"),
        ("LIKE", 1.0, 2.9, None),
        ("DISLIKE", 1.0, 2.8, None),
        ("RATING", 1.0, 2.7, None),
        ("RATING", 5.0, 2.6, None),
        ("SHARE", 1.0, 2.5, None),
    ]
]  # fmt: skip
# tables the suites join (other_table), registered as temporary views
VIEWS = {**DIMS, "dim_users": GOOD_USERS, "viewing_record": GOOD_RECORDS}


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
            0: with_rows(  # idle beyond what close_abandoned_sessions should have closed
                session(
                    "s9",
                    started_h=IDLE_LIMIT_H + 1,
                    ended_h=None,
                    last_event_at=NOW - (IDLE_LIMIT_H + 0.5) * H,
                )
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
    "catalog_title": (
        "catalog_title",
        [
            dict(show_id="s1", catalog_type="Movie", title="A", runtime_sec=5400),
            dict(show_id="s2", catalog_type="TV Show", title="B", number_of_seasons=2),
        ],
        {
            0: dup(),
            1: with_rows(dict(show_id=None)),
            2: changed(0, catalog_type="Film"),
            3: changed(0, runtime_sec=0),
        },
    ),
    "dim_movies": (
        "dim_movies",
        GOOD_MOVIES,
        {
            0: dup(1),
            1: without(0),
            2: changed(1, content_type="FILM"),
            3: changed(2, catalog_show_id="s7"),
        },
    ),
    "dim_device": (
        "dim_device",
        [dict(device_key=-1, device_type="other"), dict(device_key=7, device_type="TV")],
        {0: dup(1), 1: dup(0), 2: changed(1, device_type="Smart TV")},
    ),
    "dim_date": (
        "dim_date",
        [
            dict(date_key=-1, weekday="unknown", is_weekend=False),
            dict(date_key=20240106, date=D(2024, 1, 6), is_weekend=True),  # a Saturday
            dict(date_key=20240108, date=D(2024, 1, 8), is_weekend=False),
        ],
        {0: dup(1), 1: without(0), 2: changed(2, is_weekend=True)},
    ),
    "last_10_movies": (
        "last_10_movies",
        [dict(profile_id=1, rank=1, movie_key=100), dict(profile_id=1, rank=2, movie_key=-1)],
        {0: dup(), 1: changed(1, rank=11), 2: changed(0, movie_key=999)},
    ),
    "history_90_days": (
        "history_90_days",
        [dict(profile_id=1, movie_key=100, sessions=2, total_seconds=3600)],
        {0: dup(), 1: changed(0, sessions=0), 2: changed(0, total_seconds=-1)},
    ),
    "content_type_preference": (
        "content_type_preference",
        [
            dict(profile_id=1, dimension="content_type", value="MOVIE", share=1.0),
            dict(profile_id=1, dimension="genre", value="Dramas", share=0.5),
        ],
        {0: dup(), 1: changed(0, dimension="mood"), 2: changed(1, share=1.5)},
    ),
    "region_login": (
        "region_login",
        [dict(country_code="KE", date_key=20240101, active_profiles=2, sessions=3)],
        {0: dup(), 1: changed(0, active_profiles=4)},
    ),
    "daily_watch_minutes": (
        "daily_watch_minutes",
        [dict(profile_id=1, date_key=20240101, sessions=1, watch_minutes=90.5)],
        {0: dup(), 1: changed(0, watch_minutes=1500.0)},
    ),
    "viewing_record": (
        "viewing_record",
        GOOD_RECORDS,
        {
            0: with_rows({**GOOD_RECORDS[0], "content_key": 11}),  # same record_id only
            1: with_rows({**GOOD_RECORDS[0], "record_id": 9}),  # same viewing, new id
            2: changed(1, is_rewatch=False),  # a second viewing not flagged a rewatch
            3: changed(1, completed_at=NOW),
            4: changed(0, progress_pct=120.0),
        },
    ),
    "show_progress": (
        "show_progress",
        [
            dict(profile_id=1, title_id=20, is_completed=False, episodes_watched=3),
            dict(
                profile_id=2,
                title_id=20,
                is_completed=True,
                completed_at=NOW - H,
                episodes_watched=10,
            ),
        ],  # fmt: skip
        {0: dup(), 1: changed(0, is_completed=True), 2: changed(0, episodes_watched=-1)},
    ),
    "binge_session": (
        "binge_session",
        [
            dict(
                binge_id=1,
                profile_id=1,
                title_id=20,
                started_at=NOW - 3 * H,
                ended_at=NOW - H,
                episodes_watched=3,
                sessions=4,
            )
        ],  # fmt: skip
        {0: dup(), 1: changed(0, ended_at=NOW - 4 * H), 2: changed(0, sessions=2)},
    ),
    "abandoned_content": (
        "abandoned_content",
        [
            dict(
                profile_id=1, content_key=10, last_activity_at=NOW - 100 * H, abandoned_at=NOW - H
            ),
            # stated: dated by the statement, with its reason, rating and would-retry
            dict(
                profile_id=1,
                content_key=11,
                last_activity_at=NOW - H,
                abandoned_at=NOW - H,
                progress_pct=20.0,
                statement_id="r1",
                abandon_reason="too slow",
                quality_rating=2,
                would_retry=False,
            ),
        ],
        {
            0: dup(),
            1: changed(0, abandoned_at=NOW - 200 * H),
            2: changed(1, quality_rating=6),
            3: changed(1, progress_pct=120.0),
            4: changed(0, would_retry=True),  # statement details without a statement
        },
    ),
    "viewing_statement": (
        "viewing_statement",
        [
            dict(
                statement_id="r1",
                session_id="api-r1",
                event_time=NOW - H,
                event_type="WATCHED",
                profile_id=1,
                title_id=10,
                watched_with=["Ann"],
                is_rewatch=True,
            ),
            dict(
                statement_id="r2",
                session_id="api-r2",
                event_time=NOW - H,
                event_type="ABANDONED",
                profile_id=1,
                title_id=10,
                progress_pct=20.0,
                abandon_reason="too slow",
                quality_rating=2,
                would_retry=False,
            ),
        ],
        {
            0: dup(),
            1: changed(0, event_type="PLAY"),
            2: changed(0, profile_id=None),
            3: changed(1, quality_rating=0),
            4: changed(1, progress_pct=101.0),
            5: changed(0, abandon_reason="dull"),
            6: changed(1, progress_pct=None),
        },
    ),
    "viewing_companion": (
        "viewing_companion",
        [
            dict(
                statement_id="r1",
                profile_id=1,
                title_id=10,
                companion_name="Ann",
                watched_at=NOW - H,
            ),
            dict(
                statement_id="r1",
                profile_id=1,
                title_id=10,
                companion_name="Bo",
                watched_at=NOW - H,
            ),
        ],
        {0: dup(), 1: changed(1, profile_id=None), 2: changed(0, watched_at=None)},
    ),
    "viewing_statistics": (
        "viewing_statistics",
        [
            dict(
                profile_id=1,
                period="week",
                period_start=D(2024, 1, 1),
                breakdown="total",
                breakdown_value="all",
                items_watched=3,
                items_completed=2,
                watch_hours=4.5,
            )
        ],
        {
            0: dup(),
            1: changed(0, period="day"),
            2: changed(0, breakdown="mood"),
            3: changed(0, watch_hours=-1.0),
            4: changed(0, items_completed=4),
        },
    ),  # fmt: skip
    "viewing_domain_event": (
        "viewing_domain_event",
        GOOD_DOMAIN_EVENTS,
        {
            0: dup(),
            1: changed(2, event_type="Abandoned"),
            2: changed(2, profile_id=99),  # no such profile in dim_users
            3: changed(2, title_id=999),  # no such title in dim_movies
            4: with_rows({**GOOD_DOMAIN_EVENTS[0], "event_id": "e4"}),  # one MovieWatched too many
            5: without(1),  # a completed episode without its TVEpisodeWatched
        },
    ),
    "current_recommendations": (
        "current_recommendations",
        GOOD_CURRENT,
        {
            0: changed(1, rank_position=3),  # ranks 1, 3, 3: a repeat, yet max = count
            1: changed(2, rank_position=4),  # ranks 1, 2, 4: a gap
            2: changed(3, generated_at=NOW - 30 * H, expires_at=NOW - 6 * H),
            3: changed(0, score=1.5),
        },
    ),
    "recommendation_list": (
        "recommendation_list",
        GOOD_LISTS,
        {
            0: with_rows({**GOOD_LISTS[0], "title_id": 99}),  # a second title at rank 1
            1: changed(2, rank_position=4),  # ranks 1, 2, 4: a gap
            2: changed(1, title_id=10),  # title 10 at ranks 1 and 2 of one list
            3: changed(2, score=-0.1),
            4: changed(4, context="genre_International TV Shows"),
            5: changed(0, model="random"),
            6: changed(0, expires_at=GOOD_LISTS[0]["generated_at"]),
        },
    ),
    "item_item_edge": (
        "item_item_edge",
        GOOD_EDGES,
        {
            0: with_rows({**GOOD_EDGES[0], "score": 0.5}),
            1: changed(4, score=1.2),
            2: changed(0, dst_title_id=10),
            3: changed(0, model="popularity"),
        },
    ),
    "model_performance": (
        "model_performance",
        GOOD_PERFORMANCE,
        {
            0: with_rows({**GOOD_PERFORMANCE[0], "metric_value": 0.2, "dataset": "corpus"}),
            1: changed(3, metric_value=-0.01),
        },
    ),
    "recommendation_cache": (
        "recommendation_cache",
        GOOD_CACHE,
        {0: with_rows({**GOOD_CACHE[0], "generated_at": NOW}), 1: changed(1, ttl_minutes=0)},
    ),
    "user_content_interaction": (
        "user_content_interaction",
        GOOD_INTERACTIONS,
        {
            # feedback at the very instant of a view: same (profile_id, title_id, event_ts)
            0: with_rows(
                {
                    **GOOD_INTERACTIONS[0],
                    "interaction_type": "LIKE",
                    "interaction_value": 1.0,
                    "session_id": None,
                }
            ),  # fmt: skip
            1: changed(3, interaction_type="CLICK"),
            2: changed(2, interaction_value=1.2),  # a VIEW completion above 1
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


def register_views(spark, name: str) -> None:
    """The tables suite ``name`` joins (``other_table``), as temporary views of VIEWS."""
    for table in suite(name).requires:
        if table not in TABLES:
            pytest.skip(f"{table} is not declared yet")
        frame(spark, table, VIEWS[table]).createOrReplaceTempView(table)


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
    register_views(spark, name)
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
    register_views(spark, name)
    s = suite(name)
    only = replace(s, expectations=tuple(e for e in s.expectations if e.index == index))
    (check,) = validate(gx_session, only, frame(spark, table, breakers[index](rows)), f"bad{index}")
    spec = only.expectations[0]
    assert check.success is False, check
    assert check.status == ("FAIL" if spec.severity == "fail" else "WARN")
    count = check.unexpected_count
    if count is None and spec.expectation == "UnexpectedRowsExpectation":
        count = int(check.observed_value)  # GX's own class reports its row count only there
    assert count and count >= 1


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
