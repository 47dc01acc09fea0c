"""Abandoned-session cleanup: closes idle open sessions, leaves the rest, safe to rerun."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import types as T

from jobs.close_abandoned_sessions import main
from jobs.core.changelog.abandoned import abandoned_sessions, close_abandoned_sessions
from jobs.core.changelog.session import CHANGE, current_sessions, incomplete_session_sql
from jobs.core.rules.playback_state import SESSION_MERGE, session_updates
from jobs.core.runtime.config import load_config
from jobs.core.storage.delta import get_engine
from jobs.core.tables.registry import PLAYBACK_EVENT, PLAYBACK_SESSION

NOW = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def session(sid, started, last, ended=None, reason=None):
    values = dict(
        session_id=sid,
        profile_id=1,
        device_id="d1",
        title_id=10,
        country_code="GT",
        is_supplemental=False,
        is_autoplay=False,
        started_at=started,
        ended_at=ended,
        end_reason=reason,
        last_event_at=last,
        last_position_sec=100,
        event_count=3,
    )
    return tuple(values.get(c) for c in PLAYBACK_SESSION.columns)


@pytest.fixture
def sessions(spark, engine):
    engine.create(PLAYBACK_SESSION)
    rows = [
        session("idle", NOW - 9 * H, NOW - 5 * H),  # open, idle 5 h -> closed
        session("recent", NOW - 6 * H, NOW - 1 * H),  # open, idle 1 h -> kept open
        session("ended", NOW - 8 * H, NOW - 7 * H, NOW - 7 * H, "END"),  # closed already
    ]
    engine.append("playback_session", spark.createDataFrame(rows, PLAYBACK_SESSION.schema))
    return engine


def state(engine):
    return current_sessions(engine).select("session_id", "ended_at", "end_reason")


def expected(spark, rows):
    schema = T.StructType(
        [
            T.StructField("session_id", T.StringType()),
            T.StructField("ended_at", T.TimestampType()),
            T.StructField("end_reason", T.StringType()),
        ]
    )
    return spark.createDataFrame(rows, schema)


def test_selects_only_open_sessions_idle_longer_than_n_hours(spark, sessions):
    found = abandoned_sessions(sessions.read("playback_session"), 4, NOW)
    assert [r.session_id for r in found.collect()] == ["idle"]
    with pytest.raises(ValueError, match="idle_hours"):
        abandoned_sessions(sessions.read("playback_session"), 0, NOW)


def test_one_open_session_rule_for_the_cleanup_and_the_completeness_check(spark, sessions):
    """Idle time since the last event, not time since start; statement sessions excluded."""
    more = [
        session("film", NOW - 75 * H / 60, NOW - H / 60),  # a 75-minute film still playing
        session("pause", NOW - 3 * H, NOW - 2 * H),  # paused for 2 hours
        session("api-r1", NOW - 30 * H, NOW - 30 * H),  # a WATCHED statement's session
    ]
    sessions.append("playback_session", spark.createDataFrame(more, PLAYBACK_SESSION.schema))
    rows = sessions.read("playback_session")
    assert [r.session_id for r in abandoned_sessions(rows, 4, NOW).collect()] == ["idle"]
    # the DQ check runs the same predicate (at current_timestamp(), plus its grace)
    rows.createOrReplaceTempView("sessions_rule_check")
    now_sql = f"timestamp_micros({int(NOW.timestamp() * 1_000_000)})"
    where = incomplete_session_sql(4, now_sql)
    found = spark.sql(f"SELECT session_id FROM sessions_rule_check WHERE {where}").collect()
    assert [r.session_id for r in found] == ["idle"]


@pytest.mark.parametrize("write_path", ["change_log", "merge"])
def test_closes_at_last_event_with_abandoned_and_is_safe_to_rerun(spark, tmp_path, write_path):
    cfg = load_config(
        "test", lake_root=str(tmp_path / "lake"), overrides={"resume": {"write_path": write_path}}
    )
    sessions = get_engine(spark, cfg)
    sessions.create_all([PLAYBACK_SESSION.name, CHANGE])
    rows = [
        session("idle", NOW - 9 * H, NOW - 5 * H),
        session("recent", NOW - 6 * H, NOW - 1 * H),
        session("ended", NOW - 8 * H, NOW - 7 * H, NOW - 7 * H, "END"),
    ]
    sessions.append("playback_session", spark.createDataFrame(rows, PLAYBACK_SESSION.schema))
    n, result = close_abandoned_sessions(sessions, 4, NOW)
    if write_path == "merge":
        assert n == 1 and result.metrics["rows_updated"] == 1
    else:  # one closing row in the log; the stored row waits for compaction
        assert n == 1 and result.metrics["rows_written"] == 1
        assert sessions.read(CHANGE).first().event_count == 0
        assert sessions.read("playback_session").where("ended_at IS NULL").count() == 2
    want = expected(
        spark,
        [
            ("idle", NOW - 5 * H, "ABANDONED"),
            ("recent", None, None),
            ("ended", NOW - 7 * H, "END"),
        ],
    )
    assert_df_equality(
        state(sessions), want, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True
    )
    versions = (sessions.version("playback_session"), sessions.version(CHANGE))
    assert close_abandoned_sessions(sessions, 4, NOW) == (0, None)
    assert (sessions.version("playback_session"), sessions.version(CHANGE)) == versions
    assert_df_equality(
        state(sessions), want, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True
    )


def test_dry_run_changes_nothing(sessions):
    version = sessions.version("playback_session")
    assert close_abandoned_sessions(sessions, 4, NOW, dry_run=True) == (1, None)
    assert sessions.version("playback_session") == version


def test_a_late_end_still_wins_over_abandoned(spark, sessions):
    close_abandoned_sessions(sessions, 4, NOW)
    t = NOW - 0.5 * H
    values = dict(
        session_id="idle",
        event_time=t,
        event_type="END",
        position_sec=900,
        profile_id=1,
        device_id="d1",
        title_id=10,
        is_supplemental=False,
        is_autoplay=False,
        ingest_batch_id=9,
        country_code="GT",
        dt=t.date(),
    )
    late = spark.createDataFrame(
        [tuple(values.get(c) for c in PLAYBACK_EVENT.columns)], PLAYBACK_EVENT.schema
    )
    sessions.merge("playback_session", session_updates(late), SESSION_MERGE)
    row = current_sessions(sessions).where("session_id = 'idle'").first()
    assert (row.end_reason, row.ended_at.replace(tzinfo=dt.UTC)) == ("END", t)


def test_cli_closes_and_rejects_bad_arguments(cfg, sessions, capsys, monkeypatch):
    monkeypatch.setattr(
        "pyspark.sql.SparkSession.stop", lambda self: None
    )  # keep the shared session
    argv = ["--env", "test", "--lake-root", cfg.paths.lake_root, "--now", "2024-05-01T12:00:00Z"]
    assert main([*argv, "--idle-hours", "0"]) == 2
    assert main(argv) == 0
    assert "closed 1 abandoned sessions" in capsys.readouterr().out
