"""Surrogate keys, date keys and the unknown member (jobs.core.rules.keys)."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from jobs.core.rules.keys import (
    DIMENSIONS,
    MAX_TS,
    MIN_TS,
    UNKNOWN_KEY,
    date_key,
    ensure_unknown_members,
    surrogate_key,
    unknown_rows,
)
from jobs.core.tables.registry import get_spec

UTC = dt.UTC


def test_surrogate_keys_are_deterministic_non_negative_and_apart_per_kind(spark):
    rows = spark.createDataFrame(
        [(7476195749898681127, "tv-1"), (7476195749898681128, "tv-1")], "profile_id long, d string"
    )
    keys = rows.select(
        surrogate_key("user", "profile_id").alias("user"),
        surrogate_key("movie", F.col("profile_id")).alias("movie"),
        surrogate_key("device", "d", "profile_id").alias("device"),
    ).collect()
    again = rows.select(surrogate_key("user", "profile_id").alias("user")).collect()
    assert [r.user for r in keys] == [r.user for r in again]  # a rebuild gives the same keys
    assert keys[0].user != keys[1].user
    assert all(r.user != r.movie for r in keys)  # the kind keeps dimensions apart
    assert all(0 <= v < 2**63 for r in keys for v in r)
    # pinned: xxhash64(kind, key) & (2^63 - 1), as stored in every lake
    expected = rows.select(
        F.xxhash64(F.lit("user"), "profile_id").bitwiseAND(F.lit(2**63 - 1)).alias("k")
    ).collect()
    assert [r.user for r in keys] == [r.k for r in expected]


def test_date_key_is_the_utc_date_and_minus_one_when_null(spark):
    rows = spark.createDataFrame(
        [
            (dt.datetime(2023, 2, 17, 23, 59, 59, tzinfo=UTC),),
            # 21:08 in Guatemala (UTC-6) is already the next UTC day
            (dt.datetime(2023, 1, 25, 21, 8, tzinfo=dt.timezone(dt.timedelta(hours=-6))),),
            (None,),
        ],
        "t timestamp",
    )
    got = rows.select(date_key("t").alias("a"), date_key(F.col("t")).alias("b")).collect()
    assert [(r.a, r.b) for r in got] == [(20230217, 20230217), (20230126, 20230126), (-1, -1)]


@pytest.mark.parametrize("table", DIMENSIONS)
def test_each_dimension_has_a_minus_one_unknown_member_of_its_schema(spark, table):
    spec = get_spec(table)
    (row,) = unknown_rows(spark, table).collect()
    assert UNKNOWN_KEY == -1
    assert row[spec.key[0]] == UNKNOWN_KEY
    assert unknown_rows(spark, table).schema == spec.schema
    named = {
        "dim_users": ("profile_name", "unknown"),
        "dim_movies": ("catalog_match", "unmatched"),
        "dim_device": ("device_type", "other"),
        "dim_date": ("is_weekend", False),
    }[table]
    assert row[named[0]] == named[1]


def test_the_unknown_user_is_valid_forever():
    assert (MIN_TS, MAX_TS) == (
        dt.datetime(1900, 1, 1, tzinfo=UTC),
        dt.datetime(9999, 12, 31, tzinfo=UTC),
    )


def test_a_table_that_is_not_a_dimension_has_no_unknown_member(spark):
    with pytest.raises(KeyError):
        unknown_rows(spark, "fact_watch_history")


def test_ensure_unknown_members_appends_once_to_new_dimensions(spark, engine):
    engine.create_all(list(DIMENSIONS))
    ensure_unknown_members(engine)
    ensure_unknown_members(engine)  # the tables are past version 0: nothing appended again
    for table in DIMENSIONS:
        key = get_spec(table).key[0]
        assert [r[key] for r in engine.read(table).collect()] == [UNKNOWN_KEY]
