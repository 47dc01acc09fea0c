"""The next episode (jobs.core.rules.episodes), beyond ``test_rules.py``: the carried
columns, the last episode, and agreement with the plain-row successor of Continue Watching."""

from __future__ import annotations

import random

import pyarrow as pa
from chispa import assert_df_equality

from jobs.core.rules.continue_watching import Catalog
from jobs.core.rules.episodes import next_episodes

EPISODES = (
    "episode_id long, title_id long, season_number int, episode_number int, episode_title string"
)
CURRENT = "profile_id long, title_id long, season_number int, episode_number int"


def test_the_last_episode_has_no_next_and_carry_columns_come_along(spark):
    # La Reina del Sur: S2E13 is the last of season 2, S3E1 follows; S3E2 is the last known
    episodes = spark.createDataFrame(
        [(2213, 300, 2, 13, "Cara a cara"), (3301, 300, 3, 1, "Morir para vivir"),
         (3302, 300, 3, 2, "Un pacto")],
        EPISODES,
    )  # fmt: skip
    current = spark.createDataFrame([(1, 300, 2, 13), (2, 300, 3, 2)], CURRENT)
    got = next_episodes(current, episodes, ["profile_id"], carry=["episode_title"])
    expected = spark.createDataFrame(
        [(1, 3301, 3, 1, "Morir para vivir")],
        "profile_id long, next_episode_id long, next_season_number int, "
        "next_episode_number int, next_episode_title string",
    )
    assert_df_equality(got, expected, ignore_nullable=True)


def test_spark_and_the_plain_row_successor_agree(spark):
    rnd = random.Random(21)
    known = sorted(
        {(t, s, n) for t in (1, 2) for s in (1, 2, 3) for n in range(1, 6) if rnd.random() < 0.6}
    )
    rows = [(t * 1000 + s * 100 + n, t, s, n, f"E{n}") for t, s, n in known]
    rows.append((99_999, 1, 2, 1, "a duplicate S2E1"))  # the smaller id wins in both
    episodes = spark.createDataFrame(rows, EPISODES)
    current = spark.createDataFrame(
        [(i, t, s, n) for i, (_, t, s, n, _) in enumerate(rows)] + [(-1, 3, None, None)], CURRENT
    )
    got = {
        r.profile_id: r.next_episode_id
        for r in next_episodes(current, episodes, ["profile_id"]).collect()
    }
    catalog = Catalog.from_arrow(
        pa.table({"title_id": [1, 2], "title_name": ["A", "B"]}),
        pa.table(
            {
                "episode_id": [r[0] for r in rows],
                "title_id": [r[1] for r in rows],
                "season_number": [r[2] for r in rows],
                "episode_number": [r[3] for r in rows],
                "episode_title": [r[4] for r in rows],
                "runtime_sec": [None] * len(rows),
            }
        ),
    )
    want = {
        i: nxt
        for i, (_, t, s, n, _) in enumerate(rows)
        if (nxt := catalog.successor(t, s, n)) is not None
    }
    assert got == want and want  # rows without a successor are absent in both
