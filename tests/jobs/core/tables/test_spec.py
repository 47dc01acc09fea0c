"""A table declaration (jobs/core/tables/spec.py): columns carry their reason, retention by default."""

from __future__ import annotations

from pyspark.sql.types import LongType, StringType, StructType

from jobs.core.tables.spec import DELTA_RETENTION, WITH_CHANGE_FEED, TableSpec, col


def test_col_puts_the_reason_in_the_column_comment():
    field = col("position_sec", LongType(), "whole seconds", nullable=False)
    assert (field.name, field.dataType, field.nullable) == ("position_sec", LongType(), False)
    assert field.metadata == {"comment": "whole seconds"}


def test_a_spec_lists_its_columns_in_order_and_keeps_the_retention_by_default():
    spec = TableSpec(
        name="t",
        description="a table",
        key=("id",),
        schema=StructType([col("id", LongType(), "key"), col("name", StringType(), "label")]),
    )
    assert spec.columns == ["id", "name"]
    assert spec.properties == DELTA_RETENTION
    assert spec.properties is not DELTA_RETENTION  # each spec owns its copy
    assert WITH_CHANGE_FEED == {**DELTA_RETENTION, "delta.enableChangeDataFeed": "true"}
