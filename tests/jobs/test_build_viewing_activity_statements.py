"""Viewing activity with explicit statements, on the hand-built star rows of
``test_build_viewing_activity`` (series A and B, films F1 abandoned at 30%, F2 twice).

The lake's ``abandoned_content`` is first created with the columns it had before the
statements (an existing lake); the build adds the new ones and keeps working.
"""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest
from chispa import assert_df_equality
from deltalake import DeltaTable
from pyspark.sql import functions as F
from pyspark.sql.types import (
    BooleanType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from jobs.core.activity.build import build
from jobs.core.runtime.config import load_config
from jobs.core.storage.delta import arrow_schema, get_engine
from jobs.core.tables.registry import VIEWING_STATEMENT, get_spec
from jobs.core.tables.star import ACTIVITY_TABLES
from tests.jobs.test_build_viewing_activity import AS_OF, F1, F2, FACTS, MOVIES, B, P, session, t

OLD_ABANDONED_COLUMNS = 8  # profile_id .. progress_pct


def statement(sid, kind, title, episode, when, **fields):
    values = {
        "statement_id": sid, "session_id": f"api-{sid}", "event_time": when, "event_type": kind,
        "profile_id": P, "device_id": "api:TV", "title_id": title, "episode_id": episode,
        "position_sec": 0, **fields,
    }  # fmt: skip
    return tuple(values.get(c) for c in VIEWING_STATEMENT.columns)


STATEMENTS = [
    # F2 is finished by sessions: a plain WATCHED confirms it (no record), its companions stay
    statement("w1", "WATCHED", F2, None, t(3, 2, 20), watched_with=["Ann", "Bo", "Ann"]),
    # a stated rewatch of F2 is a viewing of its own
    statement("w2", "WATCHED", F2, None, t(4, 1, 20), is_rewatch=True, viewing_location="home",
              viewing_platform="TV", watched_with=["Cy"], viewing_context="family night"),
    # F1 was left at 30%: the statement completes that viewing
    statement("w3", "WATCHED", F1, None, t(1, 11, 20)),
    # episode 2 of B was never played: a viewing made by the statement
    statement("w4", "WATCHED", B, 302, t(3, 7, 20), viewing_platform="tv",
              binge_session_id="bs-1", viewing_duration_sec=1500),
    # B season 2 episode 1: stated abandoned
    statement("a1", "ABANDONED", B, 311, t(3, 8, 20), progress_pct=20.0,
              abandon_reason="too slow", quality_rating=2, would_retry=False),
    # F2 abandoned, then finished on 2-10: no abandonment
    statement("a2", "ABANDONED", F2, None, t(2, 5, 20), progress_pct=10.0),
]  # fmt: skip


@pytest.fixture(scope="module")
def stated(spark, tmp_path_factory):
    cfg = load_config("test", lake_root=str(tmp_path_factory.mktemp("stated") / "lake"))
    engine = get_engine(spark, cfg)
    for name in ("dim_movies", "dim_device", "fact_watch_history"):
        engine.create(get_spec(name))
    old = arrow_schema(get_spec("abandoned_content").schema)
    DeltaTable.create(
        cfg.table_path("abandoned_content"), pa.schema(list(old)[:OLD_ABANDONED_COLUMNS])
    )
    engine.append("dim_movies", spark.createDataFrame(MOVIES, get_spec("dim_movies").schema))
    engine.append(
        "dim_device",
        spark.createDataFrame([(1, "d1", 10, "TV", "Smart TV")], get_spec("dim_device").schema),
    )
    # the star schema also holds the statements' one-event sessions: they must not count
    api_sessions = [session("api-w3", F1, t(1, 11, 20), 0, 100, True),
                    session("api-a1", 311, t(3, 8, 20), 0, 20, False)]  # fmt: skip
    engine.append(
        "fact_watch_history",
        spark.createDataFrame(FACTS + api_sessions, get_spec("fact_watch_history").schema),
    )
    first = build(engine, as_of=AS_OF)  # no viewing_statement table yet
    engine.create(VIEWING_STATEMENT)
    engine.append("viewing_statement", spark.createDataFrame(STATEMENTS, VIEWING_STATEMENT.schema))
    second = build(engine, as_of=AS_OF)
    versions = {s.name: engine.version(s.name) for s in ACTIVITY_TABLES}
    third = build(engine, as_of=AS_OF + dt.timedelta(days=1))
    again = {s.name: engine.version(s.name) for s in ACTIVITY_TABLES}
    return engine, {"first": first, "second": second, "third": third}, versions, again


def test_watched_statements_complete_or_make_records_and_never_double_count(stated, spark):
    engine, *_ = stated
    got = engine.read("viewing_record").where(F.col("content_key").isin(F1, F2, 302)).select(
        "content_key", "watch_number", "is_rewatch", "is_completed", "first_started_at",
        "completed_at", "sessions", "watch_seconds",
    )  # fmt: skip
    schema = StructType(
        [
            StructField("content_key", LongType()),
            StructField("watch_number", IntegerType()),
            StructField("is_rewatch", BooleanType()),
            StructField("is_completed", BooleanType()),
            StructField("first_started_at", TimestampType()),
            StructField("completed_at", TimestampType()),
            StructField("sessions", LongType()),
            StructField("watch_seconds", LongType()),
        ]
    )
    expected = spark.createDataFrame(
        [
            (F1, 1, False, True, t(1, 10, 20), t(1, 11, 20), 2, 1800),  # session + statement
            (F2, 1, False, True, t(2, 1, 20), t(2, 1, 20, 50), 1, 3000),
            (F2, 2, True, True, t(2, 10, 20), t(2, 10, 20, 50), 1, 3000),
            (F2, 3, True, True, t(4, 1, 20), t(4, 1, 20), 1, None),  # the stated rewatch
            (302, 1, False, True, t(3, 7, 20), t(3, 7, 20), 1, 1500),
        ],
        schema,
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True,
                       ignore_metadata=True)  # fmt: skip


def test_stated_abandonment_carries_reason_rating_and_would_retry(stated, spark):
    engine, *_ = stated
    got = engine.read("abandoned_content").select(
        "content_key", "abandoned_at", "progress_pct", "statement_id", "abandon_reason",
        "quality_rating", "would_retry",
    )  # fmt: skip
    schema = StructType(
        [
            StructField("content_key", LongType()),
            StructField("abandoned_at", TimestampType()),
            StructField("progress_pct", DoubleType()),
            StructField("statement_id", StringType()),
            StructField("abandon_reason", StringType()),
            StructField("quality_rating", IntegerType()),
            StructField("would_retry", BooleanType()),
        ]
    )
    # F1 (inferred after the first build) is gone: its statement completed it
    expected = spark.createDataFrame([(311, t(3, 8, 20), 20.0, "a1", "too slow", 2, False)], schema)
    assert_df_equality(got, expected, ignore_nullable=True, ignore_metadata=True)


def test_companions_and_statement_payloads_in_domain_events(stated):
    engine, *_ = stated
    names = sorted(
        (r.statement_id, r.companion_name) for r in engine.read("viewing_companion").collect()
    )
    assert names == [("w1", "Ann"), ("w1", "Bo"), ("w2", "Cy")]
    events = [(r.event_type, r.content_key, json.loads(r.payload)) for r in engine.read("viewing_domain_event").withColumn("content_key", F.coalesce("episode_id", "title_id")).collect()]  # fmt: skip
    rewatch = [p for k, c, p in events if k == "MovieWatched" and p.get("watched_with")]
    assert rewatch == [{
        "event_type": "MovieWatched", "profile_id": P, "title_id": F2, "title_name": "Film Two",
        "watched_at": "2023-04-01T20:00:00Z", "progress_pct": 100.0, "is_rewatch": True,
        "viewing_location": "home", "viewing_platform": "TV", "watched_with": ["Cy"],
        "viewing_context": "family night",
    }]  # fmt: skip
    [episode] = [p for k, c, p in events if k == "TVEpisodeWatched" and c == 302]
    assert (episode["platform"], episode["binge_session_id"], episode["viewing_duration_sec"]) == (
        "tv", "bs-1", 1500,
    )  # fmt: skip
    [gave_up] = [p for k, c, p in events if k == "ViewingAbandoned" and c == 311]
    assert (gave_up["abandon_reason"], gave_up["quality_rating"], gave_up["would_retry"],
            gave_up["progress_percent"]) == ("too slow", 2, False, 20.0)  # fmt: skip
    assert sum(k == "MovieWatched" and c == F1 for k, c, _ in events) == 1
    assert len({r.event_id for r in engine.read("viewing_domain_event").collect()}) == len(events)


def test_an_existing_lake_gains_the_columns_and_a_rerun_writes_nothing(stated):
    engine, reports, versions, again = stated
    stored = DeltaTable(engine.path("abandoned_content")).schema().to_arrow().names
    assert stored == get_spec("abandoned_content").columns
    assert (
        reports["second"]["status"] == "built"
        and reports["second"]["viewing_companion"]["upserted"] == 3
    )
    assert reports["third"]["viewing_domain_event"] == {"appended": 0}
    assert again == versions
