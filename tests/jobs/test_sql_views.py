"""Analysts' SQL by name sees the current resume points and sessions, change log folded in."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality

from jobs.core.changelog.resume import current_resume
from jobs.core.changelog.session import current_sessions
from jobs.core.rules.playback_state import as_change_rows
from jobs.core.serving.sql_views import create_statements, register_tables
from jobs.core.tables.registry import PLAYBACK_SESSION, RESUME_STATE

T = dt.datetime(2024, 5, 30, 20, 0, tzinfo=dt.UTC)
H = dt.timedelta(hours=1)


def resume_row(title, pos, when):
    return (1, title, None, title, pos, when, "tv", f"s{title}", False, None)


def session_row(sid, last, ended=None, count=3):
    values = dict(
        session_id=sid, profile_id=1, device_id="tv", title_id=10, country_code="KE",
        is_supplemental=False, is_autoplay=False, started_at=T - 2 * H, ended_at=ended,
        end_reason="END" if ended else None, last_event_at=last, last_position_sec=600,
        event_count=count,
    )  # fmt: skip
    return tuple(values.get(c) for c in PLAYBACK_SESSION.columns)


def test_resume_state_and_playback_session_by_name_include_pending_log_rows(
    spark, engine_name, engine, cfg
):
    engine.create_all(["resume_state", "resume_state_change", "playback_session",
                       "playback_session_change"])  # fmt: skip
    base = spark.createDataFrame([resume_row(10, 100, T - H)], RESUME_STATE.schema)
    engine.append("resume_state", base)
    # pending (not compacted): title 10 moved on, title 20 started
    log_rows = [resume_row(10, 900, T), resume_row(20, 50, T)]
    engine.append("resume_state_change", spark.createDataFrame(log_rows, RESUME_STATE.schema))
    sessions = spark.createDataFrame([session_row("a", T - H)], PLAYBACK_SESSION.schema)
    engine.append("playback_session", sessions)
    ended = spark.createDataFrame([session_row("a", T, ended=T, count=2)], PLAYBACK_SESSION.schema)
    engine.append("playback_session_change", as_change_rows(ended, "test:1"))

    names = register_tables(spark, engine)
    assert {"resume_state", "resume_state_base", "playback_session", "playback_session_base",
            "resume_state_change"} <= set(names)  # fmt: skip

    by_name = spark.sql("SELECT * FROM resume_state")
    assert_df_equality(by_name, current_resume(engine), ignore_row_order=True)
    got = spark.sql("SELECT title_id, last_position_sec FROM resume_state ORDER BY title_id")
    assert [tuple(r) for r in got.collect()] == [(10, 900), (20, 50)]
    assert spark.sql("SELECT count(*) AS n FROM resume_state_base").first().n == 1

    session = spark.sql("SELECT end_reason, event_count FROM playback_session").collect()
    assert [tuple(r) for r in session] == [("END", 5)]
    assert_df_equality(
        spark.sql("SELECT * FROM playback_session"), current_sessions(engine), ignore_row_order=True
    )
    base_session = spark.sql("SELECT end_reason FROM playback_session_base").first()
    assert base_session.end_reason is None


def test_spark_sql_statements_name_the_stored_tables_base_and_say_so(spark, engine, cfg):
    engine.create_all(["resume_state", "fact_watch_history"])
    text = "\n".join(create_statements(cfg))
    assert "CREATE TABLE IF NOT EXISTS `resume_state_base`" in text
    assert "CREATE TABLE IF NOT EXISTS `resume_state` " not in text
    assert "WITHOUT its pending change-log rows" in text
    assert "CREATE TABLE IF NOT EXISTS `fact_watch_history`" in text
