"""Base of the project's custom expectations: SQL that selects the offending rows.

Each custom expectation (one per file in this folder, named after what it asserts) is an
:class:`~great_expectations.expectations.UnexpectedRowsExpectation` whose query is built
from typed parameters, so suites stay data (``{expectation, kwargs}``) and Data Docs
show the SQL that ran. The check passes when the query returns no row; the result
carries the number of offending rows (or groups) as ``observed_value`` and up to five of
them under ``details.unexpected_rows``, whatever the result format, so the summary can
name, for example, the duplicated event.

The query runs through ``spark.sql`` with the batch registered as a temporary view, so
it may also join tables the runner registered as views under their own names (see
``ExpectColumnValuesToExistInTable``).
"""

from __future__ import annotations

import datetime as dt
import decimal
from typing import Any, ClassVar

from great_expectations.compatibility import pydantic
from great_expectations.expectations import UnexpectedRowsExpectation

MAX_EXAMPLES = 5


def json_safe(value: Any) -> Any:
    """Rows from Spark as JSON-friendly values (times as ISO strings)."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    return value


def ident(name: str) -> str:
    """A column or table name as a back-quoted Spark SQL identifier.

    Raises:
        ValueError: ``name`` is empty or contains a back-quote.
    """
    if not name or "`" in name:
        raise ValueError(f"invalid identifier {name!r}")
    return f"`{name}`"


class SqlRowsExpectation(UnexpectedRowsExpectation):
    """An UnexpectedRowsExpectation whose query comes from :meth:`build_query`.

    Subclasses declare their parameters as fields and implement ``build_query(values)``
    returning SQL that selects offending rows from ``{batch}``. Literal braces in the
    SQL must be doubled.
    """

    unexpected_rows_query: str = ""
    library_metadata: ClassVar[dict] = {"tags": ["viewing-lakehouse"], "contributors": []}

    @classmethod
    def build_query(cls, values: dict[str, Any]) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def _param(cls, values: dict[str, Any], name: str) -> Any:
        if values.get(name) is not None:
            return values[name]
        field = cls.__fields__[name]
        if field.required:
            raise ValueError(f"{cls.__name__}: missing required parameter {name!r}")
        return field.default

    @pydantic.root_validator(pre=True)
    def _build_query(cls, values: dict[str, Any]) -> dict[str, Any]:
        values = dict(values)
        values["unexpected_rows_query"] = cls.build_query(values)
        return values

    def _validate(self, metrics: dict, runtime_configuration=None, execution_engine=None):
        rows = metrics["unexpected_rows_query.table"] or []
        count = metrics["unexpected_rows_query.row_count"]
        return {
            "success": count == 0,
            "result": {
                "observed_value": count,
                "unexpected_count": count,
                "details": {"unexpected_rows": json_safe(rows[:MAX_EXAMPLES])},
            },
        }
