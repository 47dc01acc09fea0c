"""ExpectColumnValuesToExistInTable: referential integrity (every fact key in its dimension)."""

from __future__ import annotations

from typing import Any

from dq.custom_expectations.base import SqlRowsExpectation, ident


class ExpectColumnValuesToExistInTable(SqlRowsExpectation):
    """Every non-NULL value of ``column`` appears in ``other_table.other_column``.

    ``other_table`` must be a table or temporary view Spark SQL can see; ``dq.run``
    registers the tables a suite names in ``other_table`` as temporary views before it
    validates.

    Args:
        column: foreign key column of the batch.
        other_table: table (view) name holding the keys.
        other_column: key column there (default: same as ``column``).

    Offending rows: one per missing key value, with ``row_count``.
    """

    column: str
    other_table: str
    other_column: str | None = None

    @classmethod
    def build_query(cls, values: dict[str, Any]) -> str:
        column = ident(cls._param(values, "column"))
        other = ident(cls._param(values, "other_table"))
        other_column = ident(cls._param(values, "other_column") or cls._param(values, "column"))
        return (
            f"SELECT b.{column} AS missing_key, count(*) AS row_count FROM {{batch}} b "
            f"LEFT ANTI JOIN {other} o ON b.{column} = o.{other_column} "
            f"WHERE b.{column} IS NOT NULL GROUP BY b.{column}"
        )
