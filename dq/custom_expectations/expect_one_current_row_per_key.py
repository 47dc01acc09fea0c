"""ExpectOneCurrentRowPerKey: an SCD type 2 dimension has exactly one current row per key."""

from __future__ import annotations

from typing import Any

from dq.custom_expectations.base import SqlRowsExpectation, ident


class ExpectOneCurrentRowPerKey(SqlRowsExpectation):
    """For every ``key_column`` value, exactly one row has ``current_column`` TRUE.

    Args:
        key_column: natural key (e.g. ``profile_id``).
        current_column: BOOLEAN current-row flag (default ``is_current``).

    Offending rows: ``key, current_rows`` for keys with zero or several current rows.
    """

    key_column: str
    current_column: str = "is_current"

    @classmethod
    def build_query(cls, values: dict[str, Any]) -> str:
        key = ident(cls._param(values, "key_column"))
        current = ident(cls._param(values, "current_column"))
        return (
            f"SELECT {key}, sum(CASE WHEN {current} THEN 1 ELSE 0 END) AS current_rows "
            f"FROM {{batch}} GROUP BY {key} HAVING sum(CASE WHEN {current} THEN 1 ELSE 0 END) <> 1"
        )
