"""ExpectRowCountToMatchTable: as many rows (meeting a condition) as in a source table."""

from __future__ import annotations

from typing import Any

from dq.custom_expectations.base import SqlRowsExpectation, ident


class ExpectRowCountToMatchTable(SqlRowsExpectation):
    """``count(batch WHERE condition) = count(other_table WHERE other_condition)``.

    For derived rows that must correspond one to one with their source, e.g. one
    ``MovieWatched`` domain event per completed film viewing in ``viewing_record``.
    ``dq.run`` registers ``other_table`` as a temporary view.

    Args:
        other_table: the source table (view) name.
        condition: Spark SQL filter on the batch (default ``true``), no braces.
        other_condition: Spark SQL filter on ``other_table`` (default ``true``), no braces.

    Offending row: ``batch_rows, other_rows`` when the counts differ.
    """

    other_table: str
    condition: str = "true"
    other_condition: str = "true"

    @classmethod
    def build_query(cls, values: dict[str, Any]) -> str:
        other = ident(cls._param(values, "other_table"))
        where = str(cls._param(values, "condition"))
        other_where = str(cls._param(values, "other_condition"))
        for text in (where, other_where):
            if "{" in text or "}" in text:
                raise ValueError(f"ExpectRowCountToMatchTable: braces are not allowed in {text!r}")
        return (
            f"SELECT b.n AS batch_rows, o.n AS other_rows FROM "
            f"(SELECT count(*) AS n FROM {{batch}} WHERE {where}) b CROSS JOIN "
            f"(SELECT count(*) AS n FROM {other} WHERE {other_where}) o WHERE b.n <> o.n"
        )
