"""ExpectNoOverlappingValidityRanges: SCD type 2 versions of a key never overlap."""

from __future__ import annotations

from typing import Any

from dq.custom_expectations.base import SqlRowsExpectation, ident


class ExpectNoOverlappingValidityRanges(SqlRowsExpectation):
    """Per key, each version ends at or before the next one starts.

    Ranges are ``[from_column, to_column)``; a NULL ``to_column`` means open-ended. Two
    versions with the same start overlap.

    Args:
        key_column: natural key (e.g. ``profile_id``).
        from_column: version start (default ``valid_from``).
        to_column: version end, exclusive (default ``valid_to``).

    Offending rows: the version whose range reaches past the next version's start.
    """

    key_column: str
    from_column: str = "valid_from"
    to_column: str = "valid_to"

    @classmethod
    def build_query(cls, values: dict[str, Any]) -> str:
        key = ident(cls._param(values, "key_column"))
        start = ident(cls._param(values, "from_column"))
        end = ident(cls._param(values, "to_column"))
        return (
            f"SELECT {key}, {start}, {end}, next_from FROM ("
            f"SELECT {key}, {start}, {end}, lead({start}) OVER "
            f"(PARTITION BY {key} ORDER BY {start}, {end}) AS next_from FROM {{batch}}) v "
            f"WHERE next_from IS NOT NULL AND ({end} IS NULL OR {end} > next_from)"
        )
