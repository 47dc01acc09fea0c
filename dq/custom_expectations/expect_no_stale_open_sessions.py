"""ExpectNoStaleOpenSessions: the design's session completeness check."""

from __future__ import annotations

from typing import Any

from dq.custom_expectations.base import SqlRowsExpectation, ident


class ExpectNoStaleOpenSessions(SqlRowsExpectation):
    """No session with ``end_column IS NULL`` whose ``start_column`` is older than N hours.

    Args:
        start_column: session start (default ``started_at``).
        end_column: session end, NULL while open (default ``ended_at``).
        max_open_hours: how long a session may stay open (conf ``open_session_max_hours``).

    Offending rows: ``session_id``, start, ``last_event_at`` and ``event_count`` of each
    open session started before ``current_timestamp() - max_open_hours``. Such sessions
    are closed by ``python -m jobs.close_abandoned_sessions`` once they are idle.
    """

    start_column: str = "started_at"
    end_column: str = "ended_at"
    max_open_hours: float = 1.0

    @classmethod
    def build_query(cls, values: dict[str, Any]) -> str:
        start = ident(cls._param(values, "start_column"))
        end = ident(cls._param(values, "end_column"))
        seconds = int(float(cls._param(values, "max_open_hours")) * 3600)
        return (
            f"SELECT * FROM {{batch}} WHERE {end} IS NULL AND {start} < "
            f"current_timestamp() - INTERVAL {seconds} SECONDS"
        )
