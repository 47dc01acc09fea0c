"""The Continue Watching rule over plain rows (jobs.core.rules.continue_watching).

The same function answers the API and, per profile group, the Spark job; these tests pin
it on one profile's dict rows, without Spark.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from jobs.core.rules.continue_watching import (
    OUTPUT_COLUMNS,
    OUTPUT_SCHEMA,
    Catalog,
    arrow_group_fn,
    continue_watching_rows,
    to_arrow,
)

UTC = dt.UTC
AS_OF = dt.datetime(2023, 2, 17, 18, 0, tzinfo=UTC)

UMBRELLA, FILM, REINA, YOU = 100, 200, 300, 400
TITLES = pa.table(
    {
        "title_id": [UMBRELLA, FILM, REINA, YOU],
        "title_name": ["The Umbrella Academy", "90 minutos en el Cielo", "La Reina del Sur", "You"],
    }
)
# Umbrella Academy S1E9, S1E10, S2E1 (and a duplicate S2E1 row, id 1299); La Reina del
# Sur S3E1, S3E3 (S3E2 unknown: a gap); You S4E1 is the last episode the data knows
EPISODES = pa.table(
    {
        "episode_id": [1109, 1110, 1201, 1299, 3301, 3303, 4401],
        "title_id": [UMBRELLA, UMBRELLA, UMBRELLA, UMBRELLA, REINA, REINA, YOU],
        "season_number": [1, 1, 2, 2, 3, 3, 4],
        "episode_number": [9, 10, 1, 1, 1, 3, 1],
        "episode_title": [
            "Changes",
            "The White Violin",
            "Right Back Where We Started",
            "Right Back Where We Started",
            "Morir para vivir",
            "Un pacto",
            "Joe",
        ],
        "runtime_sec": [2553, 2760, 2820, 2820, 2700, 2700, 3000],
    }
)
CATALOG = Catalog.from_arrow(TITLES, EPISODES)


def point(title, episode, pos, minutes_ago, finished=False, runtime=None, device="tv-1"):
    """A resume_state row of profile 1, touched ``minutes_ago`` before AS_OF."""
    return {
        "profile_id": 1,
        "title_id": title,
        "episode_id": episode,
        "content_key": episode if episode is not None else title,
        "last_position_sec": pos,
        "last_update": AS_OF - dt.timedelta(minutes=minutes_ago),
        "device_id": device,
        "is_finished": finished,
        "runtime_sec": runtime,
    }


def brief(rows):
    return [
        (r["rank"], r["title_id"], r["episode_id"], r["position_sec"], r["is_next_episode"])
        for r in rows
    ]


def test_catalog_successor_next_number_else_first_of_next_season_smallest_id():
    assert CATALOG.successor(UMBRELLA, 1, 9) == 1110
    assert CATALOG.successor(UMBRELLA, 1, 10) == 1201  # S2E1, the smaller id of the duplicate
    assert CATALOG.successor(REINA, 3, 1) is None  # S3E2 unknown: nothing follows
    assert CATALOG.successor(YOU, 4, 1) is None  # the last episode known
    assert CATALOG.successor(FILM, None, None) is None  # films have no next episode
    assert CATALOG.by_number[(UMBRELLA, 2, 1)] == 1201


def test_one_row_per_title_at_its_newest_point_newest_first():
    rows = continue_watching_rows(
        [
            point(UMBRELLA, 1109, 600, minutes_ago=300),
            point(UMBRELLA, 1110, 1200, minutes_ago=30),  # newest of the series
            point(FILM, None, 4000, minutes_ago=60, runtime=7200),
        ],
        CATALOG,
        AS_OF,
    )
    assert brief(rows) == [(1, UMBRELLA, 1110, 1200, False), (2, FILM, None, 4000, False)]
    umbrella, film = rows
    assert (umbrella["season_number"], umbrella["episode_number"]) == (1, 10)
    assert umbrella["episode_title"] == "The White Violin"
    assert umbrella["runtime_sec"] == 2760  # the episode's runtime when the point has none
    assert umbrella["progress_pct"] == 43.5  # 1200 / 2760
    assert film["title_name"] == "90 minutos en el Cielo"
    assert film["progress_pct"] == 55.6  # 4000 / 7200 = 55.56
    assert umbrella["last_update"] == AS_OF - dt.timedelta(minutes=30)
    assert list(umbrella) == OUTPUT_COLUMNS


def test_a_tie_in_time_keeps_the_larger_content_key():
    rows = continue_watching_rows(
        [point(UMBRELLA, 1110, 10, minutes_ago=5), point(UMBRELLA, 1109, 20, minutes_ago=5)],
        CATALOG,
        AS_OF,
    )
    assert brief(rows) == [(1, UMBRELLA, 1110, 10, False)]


def test_a_finished_episode_offers_the_next_one_at_position_zero_across_seasons():
    rows = continue_watching_rows(
        [
            point(UMBRELLA, 1110, 2700, minutes_ago=10, finished=True),  # S1E10 -> S2E1
            point(REINA, 3301, 2690, minutes_ago=20, finished=True),  # gap: left out
            point(YOU, 4401, 2990, minutes_ago=30, finished=True),  # last known: left out
            point(FILM, None, 7100, minutes_ago=40, finished=True, runtime=7200),  # film: out
        ],
        CATALOG,
        AS_OF,
    )
    assert brief(rows) == [(1, UMBRELLA, 1201, 0, True)]
    (nxt,) = rows
    assert (nxt["season_number"], nxt["episode_number"]) == (2, 1)
    assert (nxt["runtime_sec"], nxt["progress_pct"]) == (2820, 0.0)
    assert nxt["episode_title"] == "Right Back Where We Started"


def test_an_unknown_is_finished_leaves_the_row_out():
    rows = continue_watching_rows([point(FILM, None, 100, 5, finished=None)], CATALOG, AS_OF)
    assert rows == []


def test_the_window_is_open_before_and_closed_at_as_of():
    window = 90 * 24 * 60
    rows = continue_watching_rows(
        [
            point(UMBRELLA, 1109, 1, minutes_ago=window),  # exactly as_of - 90 days: out
            point(FILM, None, 2, minutes_ago=window - 1, runtime=7200),  # just inside
            point(REINA, 3301, 3, minutes_ago=0),  # at as_of: in
            point(YOU, 4401, 4, minutes_ago=-1),  # after as_of: ignored
        ],
        CATALOG,
        AS_OF,
    )
    assert [r["title_id"] for r in rows] == [REINA, FILM]


def test_a_newer_point_after_as_of_does_not_hide_the_one_before_it():
    rows = continue_watching_rows(
        [point(UMBRELLA, 1109, 100, minutes_ago=60), point(UMBRELLA, 1110, 5, minutes_ago=-60)],
        CATALOG,
        AS_OF,
    )
    assert brief(rows) == [(1, UMBRELLA, 1109, 100, False)]


def test_limit_ranks_and_same_time_ties_by_title_id():
    rows = continue_watching_rows(
        [
            point(YOU, 4401, 1, minutes_ago=5),
            point(REINA, 3301, 1, minutes_ago=5),
            point(UMBRELLA, 1109, 1, minutes_ago=1),
        ],
        CATALOG,
        AS_OF,
        limit=2,
    )
    assert [(r["rank"], r["title_id"]) for r in rows] == [(1, UMBRELLA), (2, REINA)]


def test_progress_rounds_half_up_like_spark_and_a_missing_position_is_100():
    rows = continue_watching_rows(
        [
            point(FILM, None, 1, minutes_ago=1, runtime=16),  # 6.25 -> 6.3 (not banker's 6.2)
            point(REINA, 3301, None, minutes_ago=2, runtime=2700),  # least(100, NULL) = 100
            point(YOU, 4401, 50, minutes_ago=3, runtime=0),  # no runtime: NULL
        ],
        CATALOG,
        AS_OF,
    )
    assert [r["progress_pct"] for r in rows] == [6.3, 100.0, None]


def test_naive_times_are_utc_and_aware_times_are_converted():
    naive = point(UMBRELLA, 1109, 1, minutes_ago=0)
    naive["last_update"] = AS_OF.replace(tzinfo=None)
    in_ny = AS_OF.astimezone(zoneinfo.ZoneInfo("America/New_York"))  # 13:00 there
    (row,) = continue_watching_rows([naive], CATALOG, in_ny)
    assert row["last_update"] == AS_OF and row["last_update"].tzinfo == UTC
    assert continue_watching_rows([naive], CATALOG, AS_OF.replace(tzinfo=None)) != []


def test_to_arrow_and_the_group_function_carry_the_output_schema():
    group = pa.Table.from_pylist(
        [point(UMBRELLA, 1110, 2760, 10, finished=True), point(FILM, None, 60, 20, runtime=7200)]
    )
    got = arrow_group_fn(CATALOG, AS_OF, 90, 10)(group)
    assert got.schema == OUTPUT_SCHEMA
    assert got.column("episode_id").to_pylist() == [1201, None]
    assert got.column("is_next_episode").to_pylist() == [True, False]
    assert to_arrow([]).schema == OUTPUT_SCHEMA and to_arrow([]).num_rows == 0


# ------------------------------------------------------------------ properties
SERIES_OF = {1109: UMBRELLA, 1110: UMBRELLA, 1201: UMBRELLA, 3301: REINA, 3303: REINA}
SERIES_OF |= {4401: YOU, None: FILM}
POINTS = st.lists(  # resume_state rows are unique on (profile_id, content_key)
    st.builds(
        lambda episode, **kw: point(SERIES_OF[episode], episode, **kw),
        episode=st.sampled_from(list(SERIES_OF)),
        pos=st.integers(0, 3000),
        minutes_ago=st.integers(-60, 200_000),
        finished=st.sampled_from([True, False, None]),
        runtime=st.sampled_from([None, 2700]),
    ),
    max_size=12,
    unique_by=lambda r: r["content_key"],
)


@given(POINTS, st.randoms(use_true_random=False), st.integers(1, 5))
def test_the_list_does_not_depend_on_row_order_and_keeps_its_shape(points, rnd, limit):
    got = continue_watching_rows(points, CATALOG, AS_OF, 90, limit)
    shuffled = list(points)
    rnd.shuffle(shuffled)
    assert continue_watching_rows(shuffled, CATALOG, AS_OF, 90, limit) == got
    assert [r["rank"] for r in got] == list(range(1, len(got) + 1))
    assert len(got) <= limit
    assert len({r["title_id"] for r in got}) == len(got)  # a title appears once
    times = [r["last_update"] for r in got]
    assert times == sorted(times, reverse=True)
    assert all(AS_OF - dt.timedelta(days=90) < t <= AS_OF for t in times)
    assert all(r["position_sec"] == 0 for r in got if r["is_next_episode"])
