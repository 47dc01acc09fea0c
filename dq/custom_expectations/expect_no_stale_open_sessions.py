"""ExpectNoStaleOpenSessions: the design's session completeness check."""

from __future__ import annotations

from typing import Any

from dq.custom_expectations.base import SqlRowsExpectation
from jobs.core.changelog.session import incomplete_session_sql


class ExpectNoStaleOpenSessions(SqlRowsExpectation):
    """No *incomplete* session: the open-session rule of ``jobs.close_abandoned_sessions``.

    The rule is :func:`jobs.core.changelog.session.incomplete_session_sql` (open, not a
    statement's one-event session, no event for longer than the idle limit), the one the
    cleanup job closes sessions by; this check allows ``grace_hours`` more, the time
    until the next scheduled cleanup, so it fails only on a session the cleanup should
    already have closed.

    Args:
        max_idle_hours: the cleanup's idle limit (conf ``abandoned_sessions.idle_hours``).
        grace_hours: extra hours before the check fails (conf
            ``dq.params.open_session_grace_hours``: the cleanup's schedule period).

    Offending rows: every column of each open session idle longer than
    ``max_idle_hours + grace_hours`` at ``current_timestamp()``. Fix: run
    ``python -m jobs.close_abandoned_sessions`` (it belongs in the hourly schedule).
    """

    max_idle_hours: float = 4.0
    grace_hours: float = 1.0

    @classmethod
    def build_query(cls, values: dict[str, Any]) -> str:
        hours = float(cls._param(values, "max_idle_hours")) + float(
            cls._param(values, "grace_hours")
        )
        return f"SELECT * FROM {{batch}} WHERE {incomplete_session_sql(hours)}"
