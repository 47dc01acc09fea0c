"""ExpectColumnToEqualDateOfTimestamp: a date column is the UTC date of a timestamp."""

from __future__ import annotations

from typing import Any

from dq.custom_expectations.base import SqlRowsExpectation, ident


class ExpectColumnToEqualDateOfTimestamp(SqlRowsExpectation):
    """``column = to_date(timestamp_column)`` on every row (NULL-safe).

    The date is taken in the Spark session time zone, which the project sets to UTC.

    Args:
        column: the DATE column (e.g. the partition column ``dt``).
        timestamp_column: the TIMESTAMP it derives from (e.g. ``event_time``).
    """

    column: str
    timestamp_column: str

    @classmethod
    def build_query(cls, values: dict[str, Any]) -> str:
        column = ident(cls._param(values, "column"))
        ts = ident(cls._param(values, "timestamp_column"))
        return (
            f"SELECT {column}, {ts}, to_date({ts}) AS expected_date FROM {{batch}} "
            f"WHERE NOT ({column} <=> to_date({ts}))"
        )
