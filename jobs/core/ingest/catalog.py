"""The public Netflix catalogue (``netflix_titles.csv``): ``catalog_title`` and film runtimes.

The catalogue enriches ``dim_movies`` (genres, release year, rating, film runtime,
number of seasons) by normalized title; see :mod:`jobs.core.star.dimensions`.
:func:`load_catalog` merges its rows on ``show_id`` and writes only rows that differ, so
reloading the same file commits nothing. :func:`load_catalog_runtimes` gives the
importer the runtimes of films (seconds), without Spark.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import re
import time
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from jobs.core.ingest.netflix_export import normalize_name
from jobs.core.storage.delta import DeltaEngine
from jobs.core.storage.incremental import sync_table
from jobs.core.tables.star import CATALOG_TITLE

log = logging.getLogger("load_catalog")

CATALOG_COLUMNS = (
    "show_id",
    "type",
    "title",
    "director",
    "cast",
    "country",
    "date_added",
    "release_year",
    "rating",
    "duration",
    "listed_in",
    "description",
)


def parse_catalog_row(row: dict[str, str]) -> tuple:
    """One ``netflix_titles.csv`` row as a ``catalog_title`` tuple.

    ``duration`` ``'90 min'`` becomes ``runtime_sec`` 5400 (films); ``'3 Seasons'`` /
    ``'1 Season'`` becomes ``number_of_seasons`` (shows). Empty strings become NULL.

    Raises:
        ValueError: ``show_id`` or ``title`` is empty.
    """

    def val(key: str) -> str | None:
        v = (row.get(key) or "").strip()
        return v or None

    if not val("show_id") or not val("title"):
        raise ValueError(f"catalogue row without show_id or title: {row!r}")
    duration = val("duration") or ""
    minutes = re.fullmatch(r"(\d+)\s*min", duration)
    seasons = re.fullmatch(r"(\d+)\s*Seasons?", duration)
    year = val("release_year")
    return (
        val("show_id"),
        val("type"),
        val("title"),
        normalize_name(row["title"]),
        val("director"),
        val("country"),
        val("date_added"),
        int(year) if year and year.isdigit() else None,
        val("rating"),
        int(minutes.group(1)) * 60 if minutes else None,
        int(seasons.group(1)) if seasons else None,
        val("listed_in"),
        val("description"),
    )


def read_catalog(spark: SparkSession, path: str) -> DataFrame:
    """``catalog_title`` rows of one CSV (parsed in Python: quoted multi-line fields).

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the CSV lacks the catalogue's columns.
    """
    if not Path(path).exists():
        raise FileNotFoundError(f"{path}: no such catalogue file (netflix_titles.csv)")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        missing = [
            c
            for c in ("show_id", "type", "title", "duration", "listed_in")
            if c not in (reader.fieldnames or [])
        ]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}; expected {list(CATALOG_COLUMNS)}")
        rows = [parse_catalog_row(r) for r in reader]
    return spark.createDataFrame(rows, CATALOG_TITLE.schema)


def load_catalog(engine: DeltaEngine, path: str) -> dict:
    """Create ``catalog_title`` if needed and sync it with the CSV at ``path``.

    Returns:
        ``{"rows": n, "upserted": n, "deleted": 0, "version": v, "seconds": s}``.
    """
    start = time.monotonic()
    engine.create(CATALOG_TITLE)
    df = read_catalog(engine.spark, path).persist()
    n = df.count()
    result = sync_table(engine, "catalog_title", df, complete=False)
    df.unpersist()
    report = {"rows": n, **result, "seconds": round(time.monotonic() - start, 2)}
    log.info("catalog_title: %s", json.dumps(report))
    return report


def load_catalog_runtimes(path: str | None) -> dict[str, int]:
    """Film runtimes (seconds) by normalized title from ``netflix_titles.csv``, if present.

    Only ``type == Movie`` rows with a ``duration`` of ``N min`` count; a missing file
    gives an empty mapping (runtime unknown, progress not shown).
    """
    if not path or not os.path.exists(path):
        return {}
    runtimes: dict[str, int] = {}
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            m = re.fullmatch(r"(\d+) min", (row.get("duration") or "").strip())
            if row.get("type") == "Movie" and m:
                runtimes[normalize_name(row["title"])] = int(m.group(1)) * 60
    return runtimes
