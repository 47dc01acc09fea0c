"""ExpectUnknownMemberRow: a dimension holds its unknown member (key -1)."""

from __future__ import annotations

from typing import Any

from dq.custom_expectations.base import SqlRowsExpectation, ident


class ExpectUnknownMemberRow(SqlRowsExpectation):
    """Exactly one row has ``key_column = unknown_key``.

    Facts point at the unknown member instead of dropping a row whose dimension row is
    missing (Kimball), so every dimension must hold it once.

    Args:
        key_column: the surrogate key (e.g. ``movie_key``).
        unknown_key: the unknown member's key (default ``-1``).

    Offending row: ``key_column, row_count`` when there are zero or several such rows.
    """

    key_column: str
    unknown_key: int = -1

    @classmethod
    def build_query(cls, values: dict[str, Any]) -> str:
        key = ident(cls._param(values, "key_column"))
        unknown = int(cls._param(values, "unknown_key"))
        return (
            f"SELECT {unknown} AS {key}, count(*) AS row_count FROM {{batch}} "
            f"WHERE {key} = {unknown} HAVING count(*) <> 1"
        )
