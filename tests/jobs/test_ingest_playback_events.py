"""The streaming ingest: validation, quarantine, dedupe, exactly-once restarts."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pytest
from chispa import assert_column_equality, assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.core.ingest import query as ingest
from jobs.core.ingest.batch_writer import log, log_batch
from jobs.core.ingest.stream import parse_landing_lines, validate
from jobs.core.runtime.config import load_config
from jobs.core.storage.delta import get_engine
from jobs.core.tables.registry import STATEMENT_FIELDS
from tests.conftest import crash_before

UTC = dt.UTC
NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def ev(session="s1", t="2024-06-01T10:00:00Z", etype="HEARTBEAT", pos=30, **extra) -> dict:
    base = {
        "session_id": session,
        "event_time": t,
        "event_type": etype,
        "position_sec": pos,
        "bitrate_kbps": None,
        "account_id": 1,
        "profile_id": 7,
        "device_id": "d1",
        "title_id": 100,
        "episode_id": None,
        "country_code": "GT",
        "is_supplemental": False,
        "is_autoplay": False,
        "runtime_sec": None,
    }
    base.update(extra)
    return base


def land(cfg, name: str, lines: list) -> None:
    """Write a landing file the way the importer does (the name sorts by mtime order)."""
    folder = Path(cfg.paths.landing_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines))
    stamp = 1_700_000_000 + len(list(folder.iterdir()))
    os.utime(path, (stamp, stamp))


def tables(engine):
    return {
        name: engine.read(name)
        for name in (
            "playback_event",
            "playback_session",
            "resume_state",
            "playback_event_quarantine",
        )
    }


# --- validation ---------------------------------------------------------------------
def test_validate_gives_every_reason(spark):
    rows = [
        ('{"ok": 1}', None, "s", NOW - dt.timedelta(hours=1), "PLAY", 0, 1, 2, "GT", None),
        ("x", None, None, None, None, None, None, None, None, "x"),
        ("y", None, "s", NOW, "REWIND", -5, 1, 2, "gt", None),
        ("z", None, "s", NOW + dt.timedelta(hours=1), "END", 90_000, 1, None, "GT", None),
    ]
    schema = T.StructType(
        [
            T.StructField("raw_record", T.StringType()),
            T.StructField("source_file", T.StringType()),
            T.StructField("session_id", T.StringType()),
            T.StructField("event_time", T.TimestampType()),
            T.StructField("event_type", T.StringType()),
            T.StructField("position_sec", T.IntegerType()),
            T.StructField("profile_id", T.LongType()),
            T.StructField("title_id", T.LongType()),
            T.StructField("country_code", T.StringType()),
            T.StructField("_corrupt_record", T.StringType()),
        ]
    )
    expected = [
        None,
        "malformed JSON or wrong field type; missing session_id; missing event_time; "
        "missing event_type; missing position_sec; missing profile_id; missing title_id; "
        "country_code not ISO 3166 alpha-2",
        "unknown event_type REWIND; negative position_sec; country_code not ISO 3166 alpha-2",
        "missing title_id; position_sec over 86400; event_time in the future",
    ]
    df = spark.createDataFrame(
        [(*r, e) for r, e in zip(rows, expected, strict=True)],
        schema.add("expected", T.StringType()),
    )
    df = df.select("*", *[F.lit(None).cast(f.dataType).alias(f.name) for f in STATEMENT_FIELDS])
    settings = load_config("test").ingest
    out = df.transform(validate(settings, now=F.lit(NOW)))
    assert_column_equality(out, "reject_reason", "expected")


# --- explicit statements (WATCHED / ABANDONED posted through the API) -----------------
def _statement_frame(spark, rows):
    """Valid landing rows with the statement fields given, for :func:`validate`."""
    fields = {f.name: f for f in STATEMENT_FIELDS}
    schema = T.StructType(
        [
            T.StructField("event_type", T.StringType()),
            *[fields[n] for n in ("watched_with", "progress_pct", "quality_rating",
                                   "viewing_duration_sec", "abandon_reason")],
            T.StructField("expected", T.StringType()),
        ]
    )  # fmt: skip
    base = spark.createDataFrame(rows, schema)
    fixed = {"session_id": "api-r", "event_time": NOW, "position_sec": 10, "profile_id": 7,
             "title_id": 1, "country_code": "GT"}  # fmt: skip
    missing = [f for f in STATEMENT_FIELDS if f.name not in schema.fieldNames()]
    return base.select(
        "*",
        F.lit(None).cast("string").alias("_corrupt_record"),
        *[F.lit(v).alias(k) for k, v in fixed.items()],
        *[F.lit(None).cast(f.dataType).alias(f.name) for f in missing],
    )


def test_validate_holds_statement_fields_to_the_contract(spark):
    df = _statement_frame(spark, [
        ("WATCHED", ["Ann"], None, None, 2700, None, None),
        ("ABANDONED", None, 20.0, 2, None, "too slow", None),
        ("ABANDONED", None, None, 6, None, None,
         "ABANDONED without progress_pct; quality_rating outside 1-5"),
        ("ABANDONED", None, 100.5, 1, None, "x" * 2001,
         "progress_pct outside 0-100; statement text over 2000 characters"),
        ("WATCHED", ["a"] * 51, None, None, 90_000, None,
         "viewing_duration_sec outside 0-86400; more than 50 watched_with names"),
        ("PLAY", None, None, None, None, "bored", "statement fields on a non-statement event"),
        ("PLAY", [], None, None, None, None, "statement fields on a non-statement event"),
    ])  # fmt: skip
    out = df.transform(validate(load_config("test").ingest, now=F.lit(NOW)))
    assert_column_equality(out, "reject_reason", "expected")


def test_statements_land_in_viewing_statement_once_and_bad_ones_in_quarantine(spark, tmp_path):
    cfg = load_config(
        "test", lake_root=str(tmp_path), overrides={"ingest": {"max_files_per_trigger": 1}}
    )
    watched = ev(
        session="api-r1",
        t="2024-06-01T20:00:00Z",
        etype="WATCHED",
        pos=6000,
        runtime_sec=6000,
        device_id="api:TV",
        viewing_platform="TV",
        watched_with=["Ann", "Bo"],
        viewing_location="home",
        is_rewatch=True,
    )
    abandoned = ev(
        session="api-r2",
        t="2024-06-01T21:00:00Z",
        etype="ABANDONED",
        pos=1200,
        title_id=200,
        episode_id=201,
        progress_pct=20.0,
        abandon_reason="too slow",
        quality_rating=2,
        would_retry=False,
    )
    bad = ev(
        session="api-r3",
        t="2024-06-01T21:00:00Z",
        etype="ABANDONED",
        pos=0,
        progress_pct=5.0,
        quality_rating=9,
    )
    land(cfg, "a.jsonl", [watched, watched, abandoned, bad, ev(t="2024-06-01T10:00:00Z")])
    land(cfg, "b.jsonl", [watched])  # the same statement landed again later
    ingest.run(cfg, once=True, spark=spark)
    engine = get_engine(spark, cfg)

    got = engine.read("viewing_statement").select(
        "statement_id", "event_type", "profile_id", "title_id", "episode_id", "watched_with",
        "is_rewatch", "progress_pct", "abandon_reason", "quality_rating", "would_retry",
    )  # fmt: skip
    schema = T.StructType([
        T.StructField("statement_id", T.StringType()), T.StructField("event_type", T.StringType()),
        T.StructField("profile_id", T.LongType()), T.StructField("title_id", T.LongType()),
        T.StructField("episode_id", T.LongType()),
        T.StructField("watched_with", T.ArrayType(T.StringType())),
        T.StructField("is_rewatch", T.BooleanType()), T.StructField("progress_pct", T.DoubleType()),
        T.StructField("abandon_reason", T.StringType()),
        T.StructField("quality_rating", T.IntegerType()),
        T.StructField("would_retry", T.BooleanType()),
    ])  # fmt: skip
    expected = spark.createDataFrame([
        ("r1", "WATCHED", 7, 100, None, ["Ann", "Bo"], True, None, None, None, None),
        ("r2", "ABANDONED", 7, 200, 201, None, None, 20.0, "too slow", 2, False),
    ], schema)  # fmt: skip
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True,
                       ignore_metadata=True)  # fmt: skip
    [q] = engine.read("playback_event_quarantine").collect()
    assert q.reason == "quality_rating outside 1-5" and '"api-r3"' in q.raw_record
    # the statement's playback_event row is stored once; the table gets no statement field
    assert engine.read("playback_event").where("session_id = 'api-r1'").count() == 1
    assert "watched_with" not in engine.read("playback_event").columns
    land(cfg, "c.jsonl", [abandoned])  # a replayed file adds nothing
    ingest.run(cfg, once=True, spark=spark)
    assert engine.read("viewing_statement").count() == 2


def test_a_crash_before_the_statement_commit_is_redone_on_restart(spark, tmp_path):
    cfg = load_config("test", lake_root=str(tmp_path))
    land(cfg, "a.jsonl", [ev(session="api-r9", t="2024-06-01T20:00:00Z", etype="WATCHED",
                             pos=10, watched_with=["Ann"])])  # fmt: skip
    with crash_before("append", "viewing_statement"), pytest.raises(Exception, match="simulated"):
        ingest.run(cfg, once=True, spark=spark)
    engine = get_engine(spark, cfg)
    assert engine.read("viewing_statement").count() == 0
    assert engine.read("playback_event").count() == 1  # committed before the crash
    ingest.run(cfg, once=True, spark=spark)
    [row] = engine.read("viewing_statement").collect()
    assert (row.statement_id, row.watched_with) == ("r9", ["Ann"])
    assert engine.read("playback_event").count() == 1


def test_parse_keeps_the_raw_line_of_malformed_json_and_wrong_types(spark):
    lines = spark.createDataFrame(
        [
            ('{"session_id":"s","position_sec":"abc"}', "f"),
            ("{not json", "f"),
            (json.dumps(ev()), "f"),
        ],
        "raw_record string, source_file string",
    )
    out = lines.transform(parse_landing_lines).select("raw_record", "_corrupt_record").collect()
    assert [r._corrupt_record is not None for r in out] == [True, True, False]


# --- end to end on handcrafted landing files -----------------------------------------
def test_ingest_quarantines_dedupes_and_keeps_resume_state_monotonic(spark, tmp_path):
    cfg = load_config(
        "test", lake_root=str(tmp_path), overrides={"ingest": {"max_files_per_trigger": 1}}
    )
    land(
        cfg,
        "a.jsonl",
        [
            ev(t="2024-06-01T10:00:00Z", etype="PLAY", pos=0),
            ev(t="2024-06-01T10:00:30Z", pos=30),
            ev(t="2024-06-01T10:00:30Z", pos=30),  # duplicate in the batch
            "{broken",  # malformed
            "{broken",  # the same bad line again
            json.dumps(ev(t="2024-06-01T10:01:00Z", country_code="Guatemala")),
            ev(
                session="t1",
                t="2024-06-01T09:00:00Z",
                etype="END",
                pos=120,
                is_supplemental=True,
                title_id=555,
            ),
        ],
    )
    land(
        cfg,
        "b.jsonl",
        [
            ev(t="2024-06-01T10:00:30Z", pos=30),  # duplicate of an earlier batch
            ev(t="2024-06-01T10:05:00Z", etype="END", pos=300),
            ev(
                session="s0", t="2024-05-01T08:00:00Z", etype="END", pos=9
            ),  # older session: late event
        ],
    )
    totals = ingest.run(cfg, once=True, spark=spark)
    engine = get_engine(spark, cfg)
    t = tables(engine)

    assert totals["written"] == 5 and totals["quarantined"] == 3
    assert t["playback_event"].count() == 5
    assert (
        t["playback_event"].groupBy("session_id", "event_time").count().where("count > 1").count()
        == 0
    )
    assert sorted(r.raw_record for r in t["playback_event_quarantine"].collect()) == sorted(
        ["{broken", "{broken", json.dumps(ev(t="2024-06-01T10:01:00Z", country_code="Guatemala"))]
    )
    assert {r.reason.split(";")[0] for r in t["playback_event_quarantine"].collect()} == {
        "malformed JSON or wrong field type",
        "country_code not ISO 3166 alpha-2",
    }

    sessions = {r.session_id: r for r in t["playback_session"].collect()}
    s1 = sessions["s1"]
    assert (s1.event_count, s1.last_position_sec, s1.end_reason) == (3, 300, "END")
    assert s1.started_at == dt.datetime(2024, 6, 1, 10, 0) and s1.ended_at == dt.datetime(
        2024, 6, 1, 10, 5
    )

    resume = t["resume_state"].collect()
    assert len(resume) == 1, "the trailer (supplemental) must not enter resume_state"
    assert (resume[0].last_position_sec, resume[0].session_id) == (300, "s1")
    assert resume[0].last_update == dt.datetime(2024, 6, 1, 10, 5)

    # partitions: dt from event_time (UTC), country_code
    parts = {
        (r.dt.isoformat(), r.country_code)
        for r in t["playback_event"].select("dt", "country_code").collect()
    }
    assert parts == {("2024-06-01", "GT"), ("2024-05-01", "GT")}

    # a rerun over the same landing dir and checkpoint changes nothing
    before = {name: engine.version(name) for name in ("playback_event", "resume_state")}
    again = ingest.run(cfg, once=True, spark=spark)
    assert again["rows_in"] == 0
    assert {name: engine.version(name) for name in before} == before


def test_duplicates_beyond_the_watermark_are_dropped_by_the_table_guard(spark, tmp_path):
    cfg = load_config("test", lake_root=str(tmp_path))
    land(cfg, "a.jsonl", [ev(t="2024-06-01T10:00:00Z", etype="PLAY", pos=0)])
    ingest.run(cfg, once=True, spark=spark)
    # a new query (new checkpoint => empty dedupe state) sees the same event again
    cfg2 = load_config(
        "test", lake_root=str(tmp_path), overrides={"ingest": {"query_name": "second_query"}}
    )
    land(
        cfg2,
        "b.jsonl",
        [ev(t="2024-06-01T10:00:00Z", etype="PLAY", pos=0), ev(t="2024-06-01T10:00:30Z")],
    )
    totals = ingest.run(cfg2, once=True, spark=spark)
    engine = get_engine(spark, cfg)
    assert totals["written"] == 1  # the new heartbeat of b.jsonl only
    assert engine.read("playback_event").count() == 2
    assert engine.read("playback_session").first().event_count == 2


def test_optional_stateful_dedupe_within_the_watermark(spark, tmp_path):
    """ingest.dedupe_watermark on, table guard off: Spark's state removes the copies."""
    cfg = load_config(
        "test",
        lake_root=str(tmp_path),
        overrides={
            "ingest": {
                "dedupe_watermark": "5 minutes",
                "dedupe_against_table": False,
                "max_files_per_trigger": 1,
            }
        },
    )
    assert cfg.ingest.dedupe_watermark == "5 minutes"
    land(cfg, "a.jsonl", [ev(t="2024-06-01T10:00:00Z", etype="PLAY", pos=0)] * 2 + ["{bad"] * 2)
    land(
        cfg,
        "b.jsonl",
        [ev(t="2024-06-01T10:00:00Z", etype="PLAY", pos=0), ev(t="2024-06-01T10:00:30Z")],
    )
    totals = ingest.run(cfg, once=True, spark=spark)
    engine = get_engine(spark, cfg)
    assert (totals["written"], totals["quarantined"], totals["duplicates"]) == (2, 2, 2)
    assert engine.read("playback_event").count() == 2
    assert engine.read("playback_event_quarantine").count() == 2  # both bad lines kept


# --- exactly once across crashes between the commits of the three tables ------------
def _landing_for_crash_tests(cfg):
    for i in range(3):
        land(
            cfg,
            f"part-{i}.jsonl",
            [
                ev(session=f"s{i}", t=f"2024-06-01T1{i}:00:00Z", etype="PLAY", pos=0),
                ev(session=f"s{i}", t=f"2024-06-01T1{i}:00:30Z", pos=30),
                ev(session="long", t=f"2024-06-01T1{i}:30:00Z", pos=100 * (i + 1)),
                "{bad line " + str(i),
            ],
        )


@pytest.mark.parametrize(
    "crash_at",
    [
        ("append", "playback_event"),  # after the quarantine commit, before the events
        ("append", "playback_session_change"),  # after the events, before the sessions
        ("append", "resume_state_change"),  # after the sessions, before the resume rows
    ],
)
def test_restart_after_a_crash_between_commits_gives_the_same_tables(
    spark, tmp_path, engine_name, crash_at
):
    clean_cfg = load_config(
        "test",
        lake_root=str(tmp_path / "clean"),
        overrides={"ingest": {"max_files_per_trigger": 1}},
    )
    _landing_for_crash_tests(clean_cfg)
    ingest.run(clean_cfg, once=True, spark=spark)
    clean = tables(get_engine(spark, clean_cfg))

    cfg = load_config(
        "test",
        lake_root=str(tmp_path / "crashy"),
        overrides={"ingest": {"max_files_per_trigger": 1}},
    )
    _landing_for_crash_tests(cfg)
    method, table = crash_at
    # the second micro-batch dies half-way, on whichever engine writes
    with crash_before(method, table, call=2), pytest.raises(Exception, match="simulated crash"):
        ingest.run(cfg, once=True, spark=spark)
    ingest.run(cfg, once=True, spark=spark)  # restart on the same checkpoint

    after = tables(get_engine(spark, cfg))
    # ingest_query_id names each run's own checkpoint: the one column allowed to differ
    after["playback_event"] = after["playback_event"].drop("ingest_query_id")
    clean["playback_event"] = clean["playback_event"].drop("ingest_query_id")
    for name in ("playback_event", "playback_session", "resume_state"):
        assert_df_equality(
            after[name],
            clean[name],
            ignore_row_order=True,
            ignore_nullable=True,
            ignore_metadata=True,
        )
    ignore = ["source_file", "quarantined_at"]
    assert_df_equality(
        after["playback_event_quarantine"].drop(*ignore),
        clean["playback_event_quarantine"].drop(*ignore),
        ignore_row_order=True,
        ignore_nullable=True,
        ignore_metadata=True,
    )
    assert after["playback_session"].where("session_id = 'long'").first().event_count == 3


# --- in-stream expectations (stream_expectations.rules in conf/base.yaml) ----------------
def test_drop_rules_quarantine_and_every_rule_is_counted_in_dq_result(spark, tmp_path):
    cfg = load_config("test", lake_root=str(tmp_path))
    land(cfg, "a.jsonl", [
        ev(t="2024-06-01T10:00:00Z", etype="PLAY", pos=0),
        ev(t="2024-06-01T10:00:30Z", etype="BITRATE_CHANGE", pos=30),  # no bitrate: dropped
        ev(t="2024-06-01T10:01:00Z", etype="BITRATE_CHANGE", pos=60, bitrate_kbps=5800),
    ])  # fmt: skip
    totals = ingest.run(cfg, once=True, spark=spark)
    engine = get_engine(spark, cfg)
    assert (totals["written"], totals["quarantined"]) == (2, 1)
    quarantined = engine.read("playback_event_quarantine").first()
    assert quarantined.reason.startswith("expectation bitrate_change_has_bitrate failed")
    # the raw line survives for rows refused after parsing too (stored rows drop it early)
    assert json.loads(quarantined.raw_record) == ev(
        t="2024-06-01T10:00:30Z", etype="BITRATE_CHANGE", pos=30
    )
    assert quarantined.source_file.endswith("a.jsonl")
    results = {
        r.expectation: r for r in engine.read("dq_result").where("source = 'stream'").collect()
    }
    assert results["bitrate_change_has_bitrate"].unexpected_count == 1
    assert results["device_known"].unexpected_count == 0 and results["device_known"].success


def test_a_fail_rule_stops_the_query_before_anything_is_written(spark, tmp_path, monkeypatch):
    from jobs.core.ingest.stream_expectations import Action, Rule

    rules = [Rule("no_seek", "event_type <> 'SEEK'", Action.FAIL, "test rule")]
    monkeypatch.setattr("jobs.core.ingest.batch_writer.load_rules", lambda env: rules)
    cfg = load_config("test", lake_root=str(tmp_path))
    land(
        cfg,
        "a.jsonl",
        [
            ev(t="2024-06-01T10:00:00Z", etype="PLAY", pos=0),
            ev(t="2024-06-01T10:00:30Z", etype="SEEK"),
        ],
    )
    with pytest.raises(Exception, match="no_seek"):
        ingest.run(cfg, once=True, spark=spark)
    engine = get_engine(spark, cfg)
    assert engine.read("playback_event").count() == 0
    assert engine.read("resume_state").count() == 0


def test_the_batch_log_shows_merge_counts_or_rows_appended(caplog):
    from jobs.core.storage.delta import WriteResult

    merged = WriteResult(False, 4, {"rows_inserted": 3, "rows_updated": 5}, 0.4)
    appended = WriteResult(False, 9, {"rows_written": 120}, 0.1)
    counts = {"rows_in": 130, "quarantined": 2, "duplicates": 8, "written": 120}
    with caplog.at_level("INFO", logger=log.name):
        log_batch(
            7,
            counts,
            WriteResult(False, 2, {}, 1.0),
            {"playback_session": merged, "resume_state": appended},
            (2.0, 0.3, 0.2),
        )
    line = caplog.messages[-1]
    assert "session(ins=3 upd=5)" in line
    assert "resume(appended=120)" in line  # the change-log path appends
