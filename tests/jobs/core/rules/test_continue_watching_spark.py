"""Continue Watching in Spark (jobs.core.rules.continue_watching_spark).

The rule is the plain-row one (``test_continue_watching.py``); here: Spark gives exactly its
rows for one profile, and the one-line explanation of an empty list.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from jobs.core.rules.continue_watching import Catalog, continue_watching_rows
from jobs.core.rules.continue_watching_spark import OUTPUT_COLUMNS, continue_watching, explain_empty
from jobs.core.tables.registry import EPISODE, RESUME_STATE, TITLE

UTC = dt.UTC
AS_OF = dt.datetime(2023, 2, 17, 18, 0, tzinfo=UTC)
UMBRELLA, FILM = 100, 200


def ago(minutes: int) -> dt.datetime:
    return AS_OF - dt.timedelta(minutes=minutes)


RESUME = [  # profile, title, episode, content_key, position, last_update, device, session,
    # finished, runtime
    (1, UMBRELLA, 1110, 1110, 2700, ago(10), "phone", "s1", True, 2760),  # -> S2E1
    (1, UMBRELLA, 1109, 1109, 600, ago(900), "phone", "s0", False, 2553),
    (1, FILM, None, FILM, 4000, ago(60), "tv-1", "s2", False, 7200),
    (1, 300, None, 300, 10, ago(60 * 24 * 91), "tv-1", "s3", False, 5400),  # out of the window
    (2, FILM, None, FILM, 100, ago(5), "tv-2", "s4", False, 7200),  # another profile
]
TITLES = [
    (UMBRELLA, "The Umbrella Academy", "SERIES", None),
    (FILM, "90 minutos en el Cielo", "FILM", 7200),
    (300, "La Reina del Sur", "FILM", 5400),
]
EPISODES = [
    (1109, UMBRELLA, "Season 1", 1, 9, "Changes", 2553),
    (1110, UMBRELLA, "Season 1", 1, 10, "The White Violin", 2760),
    (1201, UMBRELLA, "Season 2", 2, 1, "Right Back Where We Started", 2820),
]


def test_spark_gives_the_plain_row_rules_list_for_one_profile(spark):
    resume = spark.createDataFrame(RESUME, RESUME_STATE.schema)
    titles = spark.createDataFrame(TITLES, TITLE.schema)
    episodes = spark.createDataFrame(EPISODES, EPISODE.schema)
    got = [
        r.asDict() for r in continue_watching(resume, titles, episodes, 1, AS_OF, 90, 10).collect()
    ]
    catalog = Catalog.from_arrow(titles.toArrow(), episodes.toArrow())
    rows = [dict(zip(RESUME_STATE.columns, r, strict=True)) for r in RESUME if r[0] == 1]
    want = continue_watching_rows(rows, catalog, AS_OF, 90, 10)
    for r in got:  # collected TIMESTAMPs are naive local time; the session time zone is UTC
        r["last_update"] = r["last_update"].astimezone(UTC)
    assert [tuple(r[c] for c in OUTPUT_COLUMNS) for r in got] == [
        tuple(r[c] for c in OUTPUT_COLUMNS) for r in want
    ]
    assert [(r["rank"], r["episode_id"], r["is_next_episode"]) for r in got] == [
        (1, 1201, True),
        (2, None, False),
    ]
    assert pa.Table.from_pylist(want).num_rows == 2


def test_an_empty_list_says_why(spark):
    resume = spark.createDataFrame(RESUME, RESUME_STATE.schema)
    assert "profile 9 has no resume points yet" in explain_empty(resume, 9, AS_OF, 90)
    assert "has no resume points yet" in explain_empty(resume, 1, None, 90)
    later = AS_OF + dt.timedelta(days=200)
    old = explain_empty(resume, 2, later, 90)
    assert "nothing touched in the 90 days before 2023-09-05 18:00 UTC" in old
    assert "newest resume point is 2023-02-17 17:55 UTC" in old and "--as-of latest" in old
    done = explain_empty(resume, 2, AS_OF, 90)
    assert done.startswith("every title touched in the 90 days before 2023-02-17 18:00 UTC")
