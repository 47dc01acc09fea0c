"""ExpectKeyToBeUnique: one row per key, where the key may be SQL expressions."""

from __future__ import annotations

from typing import Any

from dq.custom_expectations.base import SqlRowsExpectation


class ExpectKeyToBeUnique(SqlRowsExpectation):
    """At most one row per value of ``key_expressions`` (NULLs form one group).

    Args:
        key_expressions: Spark SQL expressions forming the key, e.g.
            ``["profile_id", "coalesce(episode_id, title_id)"]``.

    Offending rows: one per duplicated key, with ``key_1``... and ``row_count``; the
    observed value is the number of duplicated keys.
    """

    key_expressions: list[str]

    @classmethod
    def build_query(cls, values: dict[str, Any]) -> str:
        keys = list(cls._param(values, "key_expressions"))
        if not keys:
            raise ValueError("ExpectKeyToBeUnique: key_expressions must not be empty")
        for k in keys:
            if "{" in k or "}" in k:
                raise ValueError(f"ExpectKeyToBeUnique: braces are not allowed in {k!r}")
        select = ", ".join(f"{k} AS key_{i + 1}" for i, k in enumerate(keys))
        group = ", ".join(keys)
        return (
            f"SELECT {select}, count(*) AS row_count FROM {{batch}} "
            f"GROUP BY {group} HAVING count(*) > 1"
        )
