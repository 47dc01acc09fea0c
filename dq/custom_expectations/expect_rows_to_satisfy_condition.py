"""ExpectRowsToSatisfyCondition: a row-level rule written as Spark SQL must hold on every row."""

from __future__ import annotations

from typing import Any

from dq.custom_expectations.base import SqlRowsExpectation


class ExpectRowsToSatisfyCondition(SqlRowsExpectation):
    """``condition`` is TRUE on every row; FALSE or NULL is a violation.

    For rules between columns of one row that no built-in expectation states, e.g.
    ``date IS NULL OR date_key = cast(date_format(date, 'yyyyMMdd') AS int)`` or
    ``is_completed = (completed_at IS NOT NULL)``. Write ``x IS NULL OR ...`` to allow NULLs.

    Args:
        condition: Spark SQL boolean expression over the batch's columns (no braces).

    Offending rows: the rows where it is not TRUE.
    """

    condition: str

    @classmethod
    def build_query(cls, values: dict[str, Any]) -> str:
        condition = str(cls._param(values, "condition")).strip()
        if not condition or "{" in condition or "}" in condition:
            raise ValueError(f"ExpectRowsToSatisfyCondition: bad condition {condition!r}")
        return f"SELECT * FROM {{batch}} WHERE NOT coalesce(({condition}), false)"
