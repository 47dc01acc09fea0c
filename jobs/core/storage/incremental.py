"""Incremental, idempotent batch builds: processed source versions and minimal writes.

A batch build (star schema, viewing activity, recommendations...) records in
``build_state`` the Delta version of every source table it has processed, with the
as-of date of the run. The next run compares them with the current versions
(:func:`is_up_to_date`) and does nothing when no source moved and the date is the same.

Every write of such a build goes through :func:`sync_table`, which writes only the rows
that differ from the table, so a rerun with nothing new commits nothing (no new Delta
version) and a restart after a crash converges to the same table.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.core.storage.delta import DeltaEngine, MergeSpec
from jobs.core.tables.registry import conform, get_spec
from jobs.core.tables.star import BUILD_STATE

log = logging.getLogger("incremental")

Marks = dict[str, tuple[int, dt.date | None]]


def sync_table(
    engine: DeltaEngine,
    table: str,
    rows: DataFrame,
    complete: bool = True,
    collect_changed: str | None = None,
    scope: DataFrame | None = None,
) -> dict[str, Any]:
    """Make ``table`` hold ``rows``, writing only what differs (nothing when equal).

    Rows new or changed (by value) are merged on the table's key; when ``complete`` the
    table's rows whose key is absent from ``rows`` are removed (the table is then
    overwritten in one commit, which stays cheap for marts and dimensions).

    With ``scope`` (e.g. the ``profile_id`` values an incremental build recomputed),
    ``rows`` is the whole of the table *within the scope*: only the table's rows whose
    scope columns match a row of ``scope`` are compared, rows of the scope absent from
    ``rows`` are deleted and every other row is left as it is. Upserts and deletes go
    in one merge commit, so the cost follows the scope, not the table.

    Args:
        engine: the Delta engine.
        table: a registered table; its key columns must be non-NULL in ``rows``.
        rows: the desired rows (all of them when ``complete``, else a subset to upsert).
        complete: whether ``rows`` is the whole table (or the whole scope).
        collect_changed: a column whose values among the upserted rows are returned
            under ``"changed"`` (for small tables: the keys that changed).
        scope: distinct values of some of the table's columns; rows outside it are
            dropped from ``rows`` and never touched in the table.

    Returns:
        ``{"upserted": n, "deleted": n, "version": v}`` (plus ``"changed"``); no commit
        when both counts are 0.

    Raises:
        ValueError: ``rows`` lacks a column of the table.
    """
    start = time.monotonic()
    spec = get_spec(table)
    new = conform(rows, table)
    old = engine.read(table)
    if scope is not None:
        inside = scope.distinct()
        new = new.join(inside, scope.columns, "left_semi")
        old = old.join(inside, scope.columns, "left_semi")
    new = new.persist()
    changed = new.exceptAll(old).persist()
    # one Spark job counts both the changed rows and the keys that disappeared
    marks = changed.select(
        F.lit(1).alias("u"), F.lit(0).alias("d"), F.col(collect_changed or spec.key[0]).alias("k")
    )
    if complete:
        gone = old.select(*spec.key).exceptAll(new.select(*spec.key))
        marks = marks.unionByName(
            gone.select(F.lit(0).alias("u"), F.lit(1).alias("d"), F.col(spec.key[0]).alias("k"))
        )
    if collect_changed:
        found = marks.collect()
        changed_values = [r.k for r in found if r.u]
        upserted, deleted = len(changed_values), sum(r.d for r in found)
    else:
        changed_values = None
        counts = marks.agg(F.sum("u").alias("u"), F.sum("d").alias("d")).first()
        upserted = int(counts.u or 0) if counts is not None else 0
        deleted = int(counts.d or 0) if counts is not None else 0
    if deleted and scope is not None:
        engine.merge(table, _upserts_and_deletes(changed, gone, spec.columns), _scoped_merge(spec))
    elif deleted:
        engine.overwrite(table, new)
    elif upserted:
        on = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
        engine.merge(table, changed, MergeSpec(on=on))
    changed.unpersist()
    new.unpersist()
    out: dict[str, Any] = {
        "upserted": upserted,
        "deleted": deleted,
        "version": engine.version(table),
    }
    log.info("%s: %s (%.1fs)", table, out, time.monotonic() - start)
    if changed_values is not None:
        out["changed"] = changed_values
    return out


def _upserts_and_deletes(changed: DataFrame, gone: DataFrame, columns: list[str]) -> DataFrame:
    """One merge source: the changed rows, and the keys to delete flagged ``_gone``."""
    keep = changed.select(*columns, F.lit(False).alias("_gone"))
    # the deleted keys carry the key columns only: the others come in as NULL
    drop = gone.select(*[c for c in columns if c in gone.columns], F.lit(True).alias("_gone"))
    return keep.unionByName(drop, allowMissingColumns=True)


def _scoped_merge(spec: Any) -> MergeSpec:
    """Merge on the key: delete rows flagged ``_gone``, update or insert the others."""
    every = {c: f"s.{c}" for c in spec.columns}
    return MergeSpec(
        on=" AND ".join(f"t.{k} = s.{k}" for k in spec.key),
        delete_condition="s._gone",
        update=every,
        insert=every,
    )


def row_counts(engine: DeltaEngine, tables: list[str]) -> dict[str, int]:
    """Row count of each table, in one Spark job."""
    parts = [engine.read(t).select(F.lit(t).alias("t")) for t in tables]
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    found = {r.t: r.n for r in union.groupBy("t").agg(F.count(F.lit(1)).alias("n")).collect()}
    return {t: int(found.get(t, 0)) for t in tables}


def read_marks(engine: DeltaEngine, job: str) -> Marks:
    """``{source_table: (version, as_of_date)}`` processed by ``job`` (empty on a first run)."""
    engine.create(BUILD_STATE)
    rows = engine.read("build_state").where(F.col("job") == job).collect()
    return {r.source_table: (int(r.source_version), r.as_of_date) for r in rows}


def write_marks(
    engine: DeltaEngine,
    job: str,
    versions: dict[str, int],
    as_of: dt.date,
    old: Marks | None = None,
) -> None:
    """Record the processed source versions of ``job`` (one merge; none when unchanged).

    ``old`` is what :func:`read_marks` returned at the start of the run (read again when
    not given).
    """
    old = read_marks(engine, job) if old is None else old
    now = dt.datetime.now(dt.UTC)
    rows = [(job, t, v, as_of, now) for t, v in versions.items() if old.get(t) != (v, as_of)]
    if rows:
        df = engine.spark.createDataFrame(rows, BUILD_STATE.schema)
        engine.merge(
            "build_state", df, MergeSpec(on="t.job = s.job AND t.source_table = s.source_table")
        )


def source_versions(engine: DeltaEngine, tables: tuple[str, ...]) -> dict[str, int]:
    """Current version of each existing table in ``tables`` (missing tables left out)."""
    return {t: engine.version(t) for t in tables if engine.exists(t)}


def is_up_to_date(marks: Marks, versions: dict[str, int], as_of_date: dt.date) -> bool:
    """Whether a run with ``marks`` already processed ``versions`` for ``as_of_date``.

    False on a first run (no marks), when any source table moved, or when the as-of
    date changed (windowed results depend on it).
    """
    return (
        bool(marks)
        and all(marks.get(t, (None,))[0] == v for t, v in versions.items())
        and all(m[1] == as_of_date for m in marks.values())
    )


def run_build(
    engine: DeltaEngine,
    job: str,
    sources: tuple[str, ...],
    as_of_date: dt.date,
    tables: list[str],
    steps: Callable[[dict[str, Any]], None],
    report: dict[str, Any] | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """The frame of an incremental build: skip when up to date, else run and record.

    The source versions recorded are those read *before* ``steps`` runs: a source that
    commits while the build runs is therefore seen again by the next run (recomputing a
    change twice is harmless; recording one the steps never read would lose it).

    Args:
        engine: the Delta engine.
        job: the build's name in ``build_state``.
        sources: the tables whose versions decide whether anything is new.
        as_of_date: the run's as-of date (UTC); a new date reruns windowed results.
        tables: the tables whose row counts end the report.
        steps: reads, transforms and writes; adds its counts to the report it is given.
        report: the report's first entries (default ``status`` and ``as_of``).
        force: run ``steps`` even when up to date (a full refresh).

    Returns:
        ``{"status": "up-to-date", "seconds": s}`` when nothing moved, else the report
        with ``status`` ``built``, what ``steps`` added, ``rows`` and ``seconds``.
    """
    start = time.monotonic()
    marks = read_marks(engine, job)
    versions = source_versions(engine, sources)
    if not force and is_up_to_date(marks, versions, as_of_date):
        log.info("%s up to date with %s (as of %s): nothing to do", job, versions, as_of_date)
        return {"status": "up-to-date", "seconds": round(time.monotonic() - start, 2)}
    out: dict[str, Any] = report or {"status": "built", "as_of": as_of_date.isoformat()}
    steps(out)
    write_marks(engine, job, versions, as_of_date, marks)
    out["rows"] = row_counts(engine, tables)
    out["seconds"] = round(time.monotonic() - start, 2)
    log.info("%s: %s", job, json.dumps(out, default=str))
    return out
