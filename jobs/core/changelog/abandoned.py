"""Closing abandoned playback sessions: open sessions whose player never sent END.

A session is abandoned when it is *incomplete* by the one open-session rule
(:func:`jobs.core.changelog.session.incomplete_session_sql`, which the data-quality
completeness check uses too): still open (``ended_at IS NULL``), not a statement's
one-event session, and its newest event older than ``abandoned_sessions.idle_hours``
(conf/base.yaml, 4 h): the player crashed, the network dropped, the app was killed
before it sent END. It is closed with ``ended_at = last_event_at`` (its last event time)
and ``end_reason = 'ABANDONED'``: like the ingest (``resume.write_path``), by appending
one closing row per session to ``playback_session_change`` (``change_log``, the
default: ``event_count`` 0, folded by the session rule) or by a merge into
``playback_session`` on ``session_id`` (``merge``).

Safe to rerun: only sessions still open are closed, so a second run changes nothing.
A late END that arrives afterwards still wins: the session rule keeps the greater
``ended_at`` and the reason of the newest end. The job is ``jobs.close_abandoned_sessions``.
"""

from __future__ import annotations

import datetime as dt
import uuid

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.core.changelog.session import current_sessions, incomplete_sessions
from jobs.core.rules.playback_state import as_change_rows
from jobs.core.storage.delta import DeltaEngine, MergeSpec, WriteResult
from jobs.core.tables.registry import PLAYBACK_SESSION, PLAYBACK_SESSION_CHANGE

END_REASON = "ABANDONED"

CLOSE_MERGE = MergeSpec(
    on="t.session_id = s.session_id",
    update={"ended_at": "t.last_event_at", "end_reason": f"'{END_REASON}'"},
    update_condition="t.ended_at IS NULL",
    insert={},
)
# the closing row the change-log path appends (its other columns: the session's current row)
CLOSING = {
    "ended_at": "last_event_at",
    "end_reason": f"'{END_REASON}'",
    "event_count": "CAST(0 AS BIGINT)",
}


def abandoned_sessions(sessions: DataFrame, idle_hours: float, now: dt.datetime) -> DataFrame:
    """Sessions to close: incomplete at ``now`` (:func:`jobs.core.changelog.session.incomplete_sessions`).

    Args:
        sessions: ``playback_session`` rows (needs session_id, ended_at, last_event_at).
        idle_hours: hours without an event after which a session is abandoned (> 0).
        now: reference time, UTC.

    Returns:
        ``session_id`` and ``last_event_at`` of each session to close.

    Raises:
        ValueError: ``idle_hours`` is not positive.
    """
    return incomplete_sessions(sessions, idle_hours, now).select("session_id", "last_event_at")


def close_abandoned_sessions(
    engine: DeltaEngine, idle_hours: float, now: dt.datetime | None = None, dry_run: bool = False
) -> tuple[int, WriteResult | None]:
    """Close every abandoned session of ``playback_session``.

    Args:
        engine: Delta engine of the lake.
        idle_hours: see :func:`abandoned_sessions`.
        now: reference time (default: now, UTC).
        dry_run: only count, write nothing.

    Returns:
        ``(sessions found, WriteResult or None when nothing was written)``.

    Raises:
        TableNotFoundError: ``playback_session`` does not exist yet (run the ingest).
    """
    now = now or dt.datetime.now(dt.UTC)
    sessions = current_sessions(engine)
    found = abandoned_sessions(sessions, idle_hours, now).persist()
    try:
        n = found.count()
        if n == 0 or dry_run:
            return n, None
        if engine.cfg.resume.write_path == "merge":
            return n, engine.merge("playback_session", found, CLOSE_MERGE)
        closing = sessions.join(found.select("session_id"), "session_id", "left_semi").select(
            *(c for c in PLAYBACK_SESSION.columns if c not in CLOSING),
            *(F.expr(expr).alias(c) for c, expr in CLOSING.items()),
        )
        change_id = f"close_abandoned:{now.isoformat()}:{uuid.uuid4()}"
        engine.create_all([PLAYBACK_SESSION_CHANGE.name])  # a lake from before the change log
        return n, engine.append(PLAYBACK_SESSION_CHANGE.name, as_change_rows(closing, change_id))
    finally:
        found.unpersist()
