"""Additive schema change on both engines: a table from an older release gains its columns."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
from chispa import assert_df_equality

from jobs.core.storage.delta import TableNotFoundError, arrow_schema
from jobs.core.storage.schema_change import add_declared_columns, missing_columns
from jobs.core.tables.registry import get_spec

# abandoned_content as it was before the statement columns (issue 13)
STATEMENT_COLUMNS = ["statement_id", "abandon_reason", "quality_rating", "would_retry"]


def older_abandoned_content(path: str) -> None:
    """An ``abandoned_content`` table without the statement columns, one inferred row."""
    from deltalake import write_deltalake

    schema = arrow_schema(get_spec("abandoned_content").schema)
    old = pa.schema([f for f in schema if f.name not in STATEMENT_COLUMNS])
    at = dt.datetime(2023, 1, 25, 21, 0, tzinfo=dt.UTC)
    row = pa.table(
        {
            "profile_id": [7],
            "content_key": [80100172],
            "title_id": [80100172],
            "episode_id": [None],
            "content_type": ["MOVIE"],
            "last_activity_at": [at],
            "abandoned_at": [at + dt.timedelta(days=30)],
            "progress_pct": [12.5],
        },
        schema=old,
    )
    write_deltalake(path, row)


def test_an_older_table_gains_the_declared_columns_as_nulls_once(spark, engine_name, engine):
    path = engine.path("abandoned_content")
    older_abandoned_content(path)
    before = engine.version("abandoned_content")
    assert missing_columns(engine, "abandoned_content") == STATEMENT_COLUMNS

    assert add_declared_columns(engine, "abandoned_content") == STATEMENT_COLUMNS

    assert engine.columns("abandoned_content") == get_spec("abandoned_content").columns
    assert engine.version("abandoned_content") == before + 1  # one metadata commit
    stored = engine.read("abandoned_content").select("profile_id", *STATEMENT_COLUMNS)
    expected = spark.createDataFrame(
        [(7, None, None, None, None)], stored.schema
    )  # the old row reads the new columns as NULL
    assert_df_equality(stored, expected)
    # a second call commits nothing
    assert add_declared_columns(engine, "abandoned_content") == []
    assert engine.version("abandoned_content") == before + 1
    # and the table takes rows of the declared shape
    at = dt.datetime(2023, 2, 1, 20, 0, tzinfo=dt.UTC)
    stated = (8, 80100173, 80100173, None, "MOVIE", at, at, 40.0, "st-1", "too slow", 2, False)
    engine.append(
        "abandoned_content",
        spark.createDataFrame([stated], get_spec("abandoned_content").schema),
    )
    reasons = engine.read("abandoned_content").orderBy("profile_id").select("abandon_reason")
    assert [r.abandon_reason for r in reasons.collect()] == [None, "too slow"]


def test_columns_of_a_missing_table_name_the_job(engine_name, engine):
    with pytest.raises(TableNotFoundError, match="abandoned_content"):
        engine.columns("abandoned_content")
