"""Every declared table (jobs/core/tables/registry.py, star.py, dq.py, reco.py) and ``conform``.

The rules every spec keeps, checked over :data:`TABLES` (so a new table is checked the
day it is registered), then the registry's own calls.
"""

from __future__ import annotations

import pytest
from chispa import assert_df_equality
from pyspark.sql import types as T

from jobs.core.tables.registry import TABLES, conform, get_spec, register
from jobs.core.tables.spec import TableSpec, col

SPECS = list(TABLES.values())


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_every_spec_is_complete_and_consistent(spec: TableSpec):
    assert TABLES[spec.name] is spec and spec.description.strip()
    undocumented = [f.name for f in spec.schema.fields if not f.metadata.get("comment", "").strip()]
    assert undocumented == [], f"{spec.name}: columns without a comment"
    assert len(set(spec.columns)) == len(spec.columns), f"{spec.name}: a column declared twice"
    for role, names in (("key", spec.key), ("partition_by", spec.partition_by),
                        ("cluster_by", spec.cluster_by)):  # fmt: skip
        assert set(names) <= set(spec.columns), f"{spec.name}: {role} {names} not in the schema"
    assert spec.key, f"{spec.name}: no key"
    assert not set(spec.partition_by) & set(spec.cluster_by)  # Z-order within a partition
    assert "delta.logRetentionDuration" in spec.properties


def test_every_timestamp_is_utc_and_every_sec_column_whole_seconds():
    for spec in SPECS:
        for f in spec.schema.fields:
            assert not isinstance(f.dataType, T.TimestampNTZType), (spec.name, f.name)
            if f.name.endswith("_sec"):
                assert isinstance(f.dataType, T.LongType | T.IntegerType), (spec.name, f.name)


def test_get_spec_names_the_known_tables_when_asked_for_another():
    assert get_spec("resume_state").name == "resume_state"
    with pytest.raises(KeyError, match=r"unknown table 'nope'; known tables: \[.*'resume_state'"):
        get_spec("nope")


def test_register_refuses_a_second_different_spec_of_a_name():
    spec = get_spec("resume_state")
    register(spec)  # the same spec again: nothing happens
    other = TableSpec(
        name="resume_state", description="x", key=("a",), schema=T.StructType([col("a", T.LongType(), "a")])
    )  # fmt: skip
    with pytest.raises(ValueError, match="'resume_state' is declared twice"):
        register(other)
    assert TABLES["resume_state"] is spec


def test_conform_selects_orders_and_casts_the_declared_columns(spark):
    spec = get_spec("daily_watch_minutes")
    # the columns reversed, one as a string, an extra one the table does not declare
    given = spark.createDataFrame(
        [(95.5, 2, "20230101", 1, "extra")],
        "watch_minutes double, sessions int, date_key string, profile_id long, x string",
    )
    names = [f.name for f in spec.schema.fields]
    assert names == ["profile_id", "date_key", "sessions", "watch_minutes"]
    expected = spark.createDataFrame([(1, 20230101, 2, 95.5)], spec.schema)
    actual = conform(given, "daily_watch_minutes")
    assert_df_equality(actual, expected, ignore_nullable=True, ignore_metadata=True)
    with pytest.raises(ValueError, match=r"lacks columns \['profile_id'\]"):
        conform(given.drop("profile_id"), "daily_watch_minutes")
