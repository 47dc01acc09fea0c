"""ExpectColumnValuesToNotBeInFuture: no timestamp later than now plus a tolerance."""

from __future__ import annotations

from typing import Any

from dq.custom_expectations.base import SqlRowsExpectation, ident


class ExpectColumnValuesToNotBeInFuture(SqlRowsExpectation):
    """Every value of ``column`` is at most ``tolerance_sec`` after ``current_timestamp()``.

    Args:
        column: a TIMESTAMP column (UTC).
        tolerance_sec: allowed clock skew in seconds (default 0).

    Offending rows: those with ``column > current_timestamp() + tolerance_sec``.
    """

    column: str
    tolerance_sec: int = 0

    @classmethod
    def build_query(cls, values: dict[str, Any]) -> str:
        column = ident(cls._param(values, "column"))
        tolerance = int(cls._param(values, "tolerance_sec"))
        return (
            f"SELECT * FROM {{batch}} WHERE {column} > "
            f"current_timestamp() + INTERVAL {tolerance} SECONDS"
        )
