"""ExpectColumnMaxToBeRecent: freshness, the newest value is at most N minutes old."""

from __future__ import annotations

from typing import Any

from dq.custom_expectations.base import SqlRowsExpectation, ident


class ExpectColumnMaxToBeRecent(SqlRowsExpectation):
    """``max(column) >= current_timestamp() - max_age_minutes`` (an empty table fails).

    Args:
        column: a TIMESTAMP column (UTC), e.g. ``event_time``.
        max_age_minutes: allowed age of the newest value (conf ``freshness_max_minutes``).

    Offending row: one row ``newest, checked_at, age_minutes`` when the data is stale.
    """

    column: str
    max_age_minutes: float = 15.0

    @classmethod
    def build_query(cls, values: dict[str, Any]) -> str:
        column = ident(cls._param(values, "column"))
        seconds = int(float(cls._param(values, "max_age_minutes")) * 60)
        return (
            f"SELECT max({column}) AS newest, current_timestamp() AS checked_at, "
            f"round((unix_timestamp(current_timestamp()) - unix_timestamp(max({column}))) / 60, 1) "
            f"AS age_minutes FROM {{batch}} HAVING max({column}) IS NULL OR max({column}) < "
            f"current_timestamp() - INTERVAL {seconds} SECONDS"
        )
