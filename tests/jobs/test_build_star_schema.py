"""Star schema: hand-built scenarios with known answers, and the bundled Kenyan export.

The scenario lake is built once per module (two builds: before and after a country
change) to keep the Spark work small; each test reads what it needs.
"""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
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

from jobs.core.rules.keys import MAX_TS, MIN_TS
from jobs.core.rules.playback_state import apply_events
from jobs.core.runtime.config import load_config
from jobs.core.star.build import build, sync_marts
from jobs.core.star.fact import session_playback
from jobs.core.storage.delta import MergeSpec, get_engine
from jobs.core.tables.registry import PLAYBACK_EVENT, get_spec
from jobs.core.tables.star import MART_TABLES, STAR_TABLES

UTC = dt.UTC
P1, P2, ACC = 1, 2, 10
FILM, SERIES, EP1, UNKNOWN_TITLE = 100, 200, 201, 999


def ts(day: int, hour: int = 20, minute: int = 0, second: int = 0, month: int = 1) -> dt.datetime:
    return dt.datetime(2023, month, day, hour, minute, second, tzinfo=UTC)


def events_of(
    session: str,
    profile: int,
    device: str,
    title: int,
    episode: int | None,
    country: str,
    timeline: list[tuple[dt.datetime, str, int]],
    supplemental: bool = False,
) -> list[tuple]:
    """playback_event rows of one session from (time, type, position) triples.

    Columns are filled by name, so columns added to the spec later stay NULL.
    """
    rows = []
    for t, kind, pos in timeline:
        values = {
            "session_id": session, "event_time": t, "event_type": kind, "position_sec": pos,
            "profile_id": profile, "device_id": device, "title_id": title,
            "episode_id": episode, "is_supplemental": supplemental, "is_autoplay": False,
            "ingest_batch_id": 0, "country_code": country, "dt": t.date(),
        }  # fmt: skip
        rows.append(tuple(values.get(c) for c in PLAYBACK_EVENT.columns))
    return rows


def write_viewing(spark, engine, rows: list[tuple]) -> None:
    """Append events and fold them into playback_session / resume_state like the ingest."""
    df = spark.createDataFrame(rows, PLAYBACK_EVENT.schema)
    engine.append("playback_event", df)
    apply_events(engine, df, 0.95)


def write_rows(spark, engine, table: str, rows: list[tuple]) -> None:
    spec = get_spec(table)
    on = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
    engine.merge(table, spark.createDataFrame(rows, spec.schema), MergeSpec(on=on))


def versions(engine) -> dict[str, int]:
    return {t.name: engine.version(t.name) for t in (*STAR_TABLES, *MART_TABLES)}


@pytest.fixture(scope="module")
def scenario(spark, tmp_path_factory):
    """Two star builds over hand-built data; returns (engine, reports, versions before rerun)."""
    cfg = load_config("test", lake_root=str(tmp_path_factory.mktemp("star") / "lake"))
    engine = get_engine(spark, cfg)
    engine.create_all()
    write_rows(spark, engine, "account", [(ACC, "acc")])
    write_rows(
        spark, engine, "profile", [(P1, ACC, "Ann", None, "KE"), (P2, ACC, "Bob", None, "KE")]
    )
    write_rows(spark, engine, "device", [("d1", ACC, "TV", None, "Samsung Smart TV")])
    write_rows(
        spark,
        engine,
        "title",
        [(FILM, "The Film", "FILM", 3600), (SERIES, "The Show", "SERIES", None)],
    )
    write_rows(spark, engine, "episode", [(EP1, SERIES, "Season 1", 1, 1, "Pilot", 1800)])
    rows = []
    # s1: film, played 10 min, heartbeat, paused 5 min, resumed, END: 2400 s of playback
    rows += events_of("s1", P1, "d1", FILM, None, "KE", [
        (ts(10), "PLAY", 0),
        (ts(10, 20, 10), "HEARTBEAT", 600),
        (ts(10, 20, 20), "PAUSE", 1200),
        (ts(10, 20, 25), "PLAY", 1200),
        (ts(10, 20, 45), "END", 2400),
    ])  # fmt: skip
    # s2: a device and a title no dimension knows: the unknown members
    rows += events_of("s2", P1, "dX", UNKNOWN_TITLE, None, "KE", [
        (ts(11), "PLAY", 0), (ts(11, 20, 5), "END", 300),
    ])  # fmt: skip
    # s3: the pilot, watched to 97%
    rows += events_of("s3", P1, "d1", SERIES, EP1, "KE", [
        (ts(12), "PLAY", 0), (ts(12, 20, 29, 10), "END", 1750),
    ])  # fmt: skip
    # s4: a trailer: a session, never a fact
    rows += events_of("s4", P1, "d1", 555, None, "KE", [
        (ts(12, 21), "PLAY", 0), (ts(12, 21, 1), "END", 60),
    ], supplemental=True)  # fmt: skip
    # s6: a zero-length viewing (only an END), profile 2
    rows += events_of("s6", P2, "d1", FILM, None, "KE", [(ts(13), "END", 100)])
    write_viewing(spark, engine, rows)
    first = build(engine, as_of=ts(31))

    # the profile moves to GT; its next session is there
    write_rows(spark, engine, "profile", [(P1, ACC, "Ann", None, "GT")])
    write_viewing(spark, engine, events_of("s5", P1, "d1", FILM, None, "GT", [
        (ts(5, month=2), "PLAY", 2400), (ts(5, 20, 18, 20, month=2), "END", 3500),
    ]))  # fmt: skip
    second = build(engine, as_of=ts(10, month=2))
    before = versions(engine)
    rerun = build(engine, as_of=ts(10, 23, month=2))
    return engine, {"first": first, "second": second, "rerun": rerun}, before


def test_session_playback_counts_playing_time_only(spark):
    rows = events_of("s", 1, "d", 1, None, "KE", [
        (ts(1), "PLAY", 0), (ts(1, 20, 1), "HEARTBEAT", 60), (ts(1, 20, 2), "PAUSE", 120),
        (ts(1, 20, 30), "PLAY", 120), (ts(1, 20, 31), "END", 180),
    ]) + events_of("z", 1, "d", 1, None, "KE", [(ts(1), "END", 50)])  # fmt: skip
    got = session_playback(spark.createDataFrame(rows, PLAYBACK_EVENT.schema))
    schema = StructType(
        [
            StructField("session_id", StringType()),
            StructField("watch_seconds", LongType()),
            StructField("start_position_sec", IntegerType()),
        ]
    )
    expected = spark.createDataFrame([("s", 180, 0), ("z", 0, 50)], schema)
    assert_df_equality(
        got, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True
    )


def test_fact_has_one_row_per_non_supplemental_session_with_unknown_members(scenario, spark):
    engine, _, _ = scenario
    fact = engine.read("fact_watch_history")
    got = fact.select(
        "session_id",
        F.col("movie_key") == -1,
        F.col("device_key") == -1,
        "date_key",
        "watch_seconds",
        "start_position_sec",
        "end_position_sec",
        "progress_pct",
        "is_finished",
    ).toDF("session_id", "unknown_movie", "unknown_device", "date_key", "watch_seconds",
           "start_position_sec", "end_position_sec", "progress_pct", "is_finished")  # fmt: skip
    schema = StructType(
        [
            StructField("session_id", StringType()),
            StructField("unknown_movie", BooleanType()),
            StructField("unknown_device", BooleanType()),
            StructField("date_key", IntegerType()),
            StructField("watch_seconds", LongType()),
            StructField("start_position_sec", IntegerType()),
            StructField("end_position_sec", IntegerType()),
            StructField("progress_pct", DoubleType()),
            StructField("is_finished", BooleanType()),
        ]
    )
    expected = spark.createDataFrame(
        [
            ("s1", False, False, 20230110, 2400, 0, 2400, 66.7, False),
            ("s2", True, True, 20230111, 300, 0, 300, None, False),
            ("s3", False, False, 20230112, 1750, 0, 1750, 97.2, True),
            ("s5", False, False, 20230205, 1100, 2400, 3500, 97.2, True),
            ("s6", False, False, 20230113, 0, 100, 100, 2.8, False),
        ],
        schema,
    )
    assert_df_equality(
        got, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True
    )
    for table in ("dim_users", "dim_movies", "dim_device", "dim_date"):
        key = get_spec(table).key[0]
        assert engine.read(table).where(F.col(key) == -1).count() == 1, table


def test_scd2_country_change_versions_the_profile_and_facts_follow_started_at(scenario, spark):
    engine, _, _ = scenario
    users = engine.read("dim_users").where(F.col("profile_id") == P1)
    got = users.select("country_code", "region", "valid_from", "valid_to", "is_current")
    schema = StructType(
        [
            StructField("country_code", StringType()),
            StructField("region", StringType()),
            StructField("valid_from", TimestampType()),
            StructField("valid_to", TimestampType()),
            StructField("is_current", BooleanType()),
        ]
    )
    moved = ts(5, month=2)  # the first session in the new country dates the change
    expected = spark.createDataFrame(
        [("KE", "Africa", MIN_TS, moved, False), ("GT", "Americas", moved, MAX_TS, True)], schema
    )
    assert_df_equality(
        got, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True
    )
    # one current row per profile, always
    current = engine.read("dim_users").where("is_current AND profile_id IS NOT NULL")
    assert current.groupBy("profile_id").count().where("count > 1").count() == 0
    assert current.count() == 2
    keys = {r.country_code: r.user_key for r in users.collect()}
    fact = {r.session_id: r.user_key for r in engine.read("fact_watch_history").collect()}
    assert fact["s1"] == keys["KE"] and fact["s5"] == keys["GT"]


def test_rerun_with_nothing_new_commits_nothing(scenario):
    engine, reports, before = scenario
    assert reports["second"]["sessions_changed"] == 1
    assert reports["rerun"]["status"] == "up-to-date"
    assert versions(engine) == before


def test_marts_recompute_the_changed_profiles_only_as_a_full_recompute_would(scenario):
    engine, reports, _ = scenario
    # Ann moved country (a new dim_users version: her sessions' facts are recomputed);
    # Bob's one session is outside both window edges the new as-of date moves
    assert reports["second"]["mart_profiles_recomputed"] == 1
    full: dict = {}
    sync_marts(engine, dt.date(2023, 2, 10), engine.cfg.activity, full)  # every profile
    writes = {t.name: full[t.name] for t in MART_TABLES}
    assert all(w["upserted"] == w["deleted"] == 0 for w in writes.values()), writes


def test_marts_answer_their_questions(scenario, spark):
    engine, _, _ = scenario
    last = engine.read("last_10_movies").where(F.col("profile_id") == P1)
    got = last.select("rank", "title_name", "last_position_sec")
    schema = StructType(
        [
            StructField("rank", IntegerType()),
            StructField("title_name", StringType()),
            StructField("last_position_sec", IntegerType()),
        ]
    )
    expected = spark.createDataFrame(
        [(1, "The Film", 3500), (2, "The Show", 1750), (3, "unknown", 300)], schema
    )
    assert_df_equality(
        got, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True
    )

    daily = engine.read("daily_watch_minutes").where(F.col("profile_id") == P1)
    minutes = {r.date_key: r.watch_minutes for r in daily.collect()}
    assert minutes == {20230110: 40.0, 20230111: 5.0, 20230112: 29.2, 20230205: 18.3}

    hist = engine.read("history_90_days").where(F.col("profile_id") == P1)
    film = hist.where(F.col("title_name") == "The Film").first()
    assert (film.sessions, film.total_seconds, film.last_position_sec) == (2, 3500, 3500)

    region = {
        (r.country_code, r.date_key): (r.active_profiles, r.sessions)
        for r in engine.read("region_login").collect()
    }
    assert region[("GT", 20230205)] == (1, 1) and region[("KE", 20230113)] == (1, 1)

    pref = engine.read("content_type_preference").where(
        (F.col("profile_id") == P1) & (F.col("dimension") == "content_type")
    )
    shares = {r.value: r.share for r in pref.collect()}
    total = 2400 + 1100 + 300 + 1750
    assert shares == {"MOVIE": round(3500 / total, 4), "EPISODE": round(1750 / total, 4),
                      "UNKNOWN": round(300 / total, 4)}  # fmt: skip


@pytest.mark.slow
def test_kenyan_export_end_to_end(spark, cfg, capsys):
    """Import, ingest and build the bundled export: watch time matches the export's."""
    from jobs.core.ingest.catalog import load_catalog
    from jobs.core.ingest.export_import import dimension_rows, import_files, upsert_dimensions
    from jobs.core.ingest.query import run as ingest
    from jobs.core.tables.registry import TABLES
    from tests.conftest import SAMPLES

    csv_path = str(SAMPLES / "viewing-activity" / "household-ke.csv")
    report, viewings, runtimes = import_files(
        [csv_path], "household-ke", cfg.paths.landing_dir, cfg.paths.rejects_dir,
        heartbeat_sec=600, catalog_csv=cfg.paths.catalog_csv,
    )  # fmt: skip
    upsert_dimensions(spark, cfg, dimension_rows(viewings, "household-ke", runtimes))
    ingest(cfg, once=True, spark=spark)
    engine = get_engine(spark, cfg)
    load_catalog(engine, cfg.paths.catalog_csv)
    result = build(engine, as_of="latest")
    assert result["status"] == "built"
    expected = sum(v.duration_sec for v in viewings if v.supplemental_type is None)
    got = engine.read("fact_watch_history").agg(F.sum("watch_seconds")).first()[0]
    assert abs(got / expected - 1) < 0.01
    assert result["catalog"]["matched"] > 0 and 0 < result["catalog"]["match_rate"] <= 1
    assert build(engine, as_of="latest")["status"] == "up-to-date"
    with capsys.disabled():
        print("\nrow counts:", {t: engine.read(t).count() for t in result["rows"]})
    assert set(result["rows"]) <= set(TABLES)
