"""WATCHED / ABANDONED statements for items of unknown runtime, through the real ingest.

A statement posted over the API lands as an event; the streaming ingest turns it into a
resume point on either engine. For an item whose runtime the catalogue does not know
(imported episodes, many films), WATCHED must finish the item without moving its resume
point back to 0:00, and ABANDONED must neither overwrite the real resume point nor make
the item the newest of Continue Watching.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from jobs.core.runtime.config import load_config
from tests.api.conftest import P, at, build_mini_lake, resume, write


@pytest.mark.slow
def test_statements_for_unknown_runtime_keep_the_resume_point(spark, tmp_path, engine_name, auth):
    from jobs.core.changelog.resume import current_resume
    from jobs.core.ingest import query as ingest
    from jobs.core.storage.delta import get_engine

    root = build_mini_lake(tmp_path / "lake")
    # a film of unknown runtime with a real resume point; episode 102 (runtime unknown) is
    # at 1200 s in the shared rows, film 20 (runtime 8100) at 4050 s
    write(
        root / "tables", "title", [{"title_id": 50, "title_name": "Unsized", "title_type": "FILM"}]
    )
    write(root / "tables", "resume_state", [resume(P, 50, None, 2500, at(4))])
    client = TestClient(create_app(env="test", lake_root=str(root)))
    when = at(0.5).isoformat().replace("+00:00", "Z")
    posts = [
        ("/api/viewing/episodes/102/watched", {"watchDate": when}),
        ("/api/viewing/movies/50/watched", {"watchDate": when}),
        ("/api/viewing/20/abandon", {"abandonDate": when, "progressPercent": 10.0}),
        ("/api/viewing/50/abandon", {"abandonDate": at(0.4).isoformat(), "progressPercent": 5}),
    ]
    for path, body in posts:
        answer = client.post(path, json=body, headers=auth())
        assert answer.status_code == 201, answer.text

    cfg = load_config("test", str(root))
    ingest.run(cfg, once=True, spark=spark)
    engine = get_engine(spark, cfg)
    points = {
        r.content_key: (r.last_position_sec, r.is_finished, r.last_update)
        for r in current_resume(engine).where(f"profile_id = {P}").collect()
    }
    naive = {k: at(d).replace(tzinfo=None) for k, d in ((102, 0.5), (50, 0.5), (20, 2))}
    # WATCHED, runtime unknown: finished, the position kept (not 0)
    assert points[102] == (1200, True, naive[102])
    assert points[50] == (2500, True, naive[50])
    # ABANDONED: the real resume point untouched (position and time)
    assert points[20] == (4050, False, naive[20])

    client = TestClient(create_app(env="test", lake_root=str(root)))  # a fresh snapshot
    rows = client.get(
        f"/api/profiles/{P}/continue-watching",
        params={"as_of": "latest"},
        headers=auth(),
    )
    assert rows.status_code == 200, rows.text
    shown = [(i["title_id"], i["episode_id"], i["position_sec"]) for i in rows.json()["items"]]
    assert (10, 102, 0) not in shown and (50, None, 0) not in shown
    assert shown[0][:2] != (20, None), "an abandoned film must not jump to the top"


@pytest.mark.slow  # a Spark pipeline of its own: make test, not test-fast
def test_resume_rule_of_statements_within_one_batch(spark):
    import datetime as dt

    from chispa import assert_df_equality
    from pyspark.sql import types as T

    from jobs.core.rules.playback_state import resume_updates

    t = dt.datetime
    schema = T.StructType(
        [
            T.StructField("session_id", T.StringType()),
            T.StructField("event_time", T.TimestampType()),
            T.StructField("event_type", T.StringType()),
            T.StructField("position_sec", T.IntegerType()),
            T.StructField("profile_id", T.LongType()),
            T.StructField("device_id", T.StringType()),
            T.StructField("title_id", T.LongType()),
            T.StructField("episode_id", T.LongType()),
            T.StructField("is_supplemental", T.BooleanType()),
            T.StructField("runtime_sec", T.IntegerType()),
        ]
    )
    events = spark.createDataFrame(
        [
            # an episode of unknown runtime: played to 1500 s, then stated WATCHED (0 s)
            ("s1", t(2024, 6, 1, 10), "HEARTBEAT", 1500, 7, "tv", 10, 101, False, None),
            ("api-w", t(2024, 6, 1, 11), "WATCHED", 0, 7, "api:app", 10, 101, False, None),
            # a film played to 900 s, then stated ABANDONED at 0 s (runtime unknown)
            ("s2", t(2024, 6, 1, 10), "HEARTBEAT", 900, 7, "tv", 20, None, False, None),
            ("api-a", t(2024, 6, 1, 12), "ABANDONED", 0, 7, "api:app", 20, None, False, None),
            # only an ABANDONED statement: no resume point at all
            ("api-b", t(2024, 6, 1, 12), "ABANDONED", 0, 7, "api:app", 30, None, False, None),
        ],
        schema,
    )
    got = resume_updates(events, 0.95).select(
        "content_key", "last_position_sec", "last_update", "session_id", "is_finished"
    )
    expected = spark.createDataFrame(
        [
            (101, 1500, t(2024, 6, 1, 11), "api-w", True),
            (20, 900, t(2024, 6, 1, 10), "s2", False),
        ],
        "content_key long, last_position_sec int, last_update timestamp, session_id string, "
        "is_finished boolean",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
