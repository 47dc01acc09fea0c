"""Surrogate keys, date keys and the unknown member of every dimension.

Kimball conventions of the star schema (``docs/star_schema.md``): every dimension row
has a deterministic surrogate key, a 63-bit ``xxhash64`` of a kind tag and its natural
key, so a rebuild gives the same keys and two builds never disagree; ``-1``
(:data:`UNKNOWN_KEY`) is the "unknown" member of every dimension, so a fact row whose
dimension row is missing still lands (with key ``-1``) instead of being dropped.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.core.storage.delta import DeltaEngine
from jobs.core.tables.registry import get_spec
from jobs.core.tables.star import UNKNOWN_KEY

MIN_TS = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
MAX_TS = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
_MASK = 0x7FFF_FFFF_FFFF_FFFF
DIMENSIONS = ("dim_users", "dim_movies", "dim_device", "dim_date")

# Non-key values of each dimension's unknown member (everything else is NULL).
_UNKNOWN_VALUES: dict[str, dict[str, Any]] = {
    "dim_users": {
        "profile_name": "unknown",
        "valid_from": MIN_TS,
        "valid_to": MAX_TS,
        "is_current": True,
    },
    "dim_movies": {
        "content_type": "UNKNOWN",
        "title_name": "unknown",
        "catalog_match": "unmatched",
    },
    "dim_device": {"device_type": "other", "device_model": "unknown"},
    "dim_date": {"weekday": "unknown", "is_weekend": False},
}

__all__ = [
    "MAX_TS",
    "MIN_TS",
    "UNKNOWN_KEY",
    "date_key",
    "ensure_unknown_members",
    "surrogate_key",
    "unknown_rows",
]


def surrogate_key(kind: str, *cols: Column | str) -> Column:
    """Deterministic non-negative 63-bit surrogate key: ``xxhash64(kind, cols) & 2^63-1``.

    ``kind`` (``"user"``, ``"movie"``...) keeps the keys of different dimensions apart.
    """
    return F.xxhash64(F.lit(kind), *cols).bitwiseAND(F.lit(_MASK))


def date_key(ts: Column | str) -> Column:
    """``yyyymmdd`` INT of a timestamp's UTC date (Spark session time zone is UTC); -1 when NULL."""
    c = F.col(ts) if isinstance(ts, str) else ts
    return F.coalesce(F.date_format(c, "yyyyMMdd").cast("int"), F.lit(UNKNOWN_KEY))


def unknown_rows(spark: SparkSession, table: str) -> DataFrame:
    """The unknown member (key ``-1``) of dimension ``table``, as one row of its schema.

    Raises:
        KeyError: ``table`` is not one of :data:`DIMENSIONS`.
    """
    spec = get_spec(table)
    values: dict[str, Any] = {f.name: None for f in spec.schema.fields}
    values[spec.key[0]] = UNKNOWN_KEY
    values.update(_UNKNOWN_VALUES[table])
    return spark.createDataFrame([tuple(values[c] for c in spec.columns)], spec.schema)


def ensure_unknown_members(engine: DeltaEngine) -> None:
    """Append the ``-1`` member to each dimension just created (still at version 0).

    Later syncs keep it: ``dim_movies`` and ``dim_device`` are synced with it included,
    ``dim_users`` and ``dim_date`` only receive upserts.
    """
    for table in DIMENSIONS:
        if engine.version(table) == 0:
            engine.append(table, unknown_rows(engine.spark, table))
