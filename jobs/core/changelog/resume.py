"""The current resume points: ``resume_state`` plus its change log, one rule for every reader.

Why a change log. delta-rs merges copy-on-write: a MERGE rewrites every data file holding
a matched row, and the stream's keys are random, so a per-micro-batch merge into
``resume_state`` rewrites the whole table (bench/README.md, merge_scaling: 0.95 s at 1 M
rows, 5.8 s at 10 M for a 20 K-row batch). Instead the ingest (``resume.write_path:
change_log``) *appends* each micro-batch's newest row per key — the rows it would have
merged, :func:`jobs.core.rules.playback_state.resume_updates` — to the append-only table
``resume_state_change``, with the batch's own transaction marker; an append costs the
batch whatever the table's size. :func:`compact` folds the log into ``resume_state``
from time to time (an LSM tree's compaction): one copy-on-write merge for many batches.

The read rule (:func:`current_resume`, :func:`current_resume_arrow`): per
``(profile_id, content_key)``, the newest row across ``resume_state`` ∪
``resume_state_change``, newest by ``(last_update, last_position_sec, session_id)``
descending, then the ``resume_state`` row before a log row. That is exactly what
``RESUME_MERGE`` leaves in the table: its update condition replaces the stored row only
by a strictly newer one (an exact tie keeps the stored row), and it copies the whole
newer row, ``is_finished`` included (the finish flag belongs to the position it was
computed from). Merging the same rows in any batching gives the same table, so reading
the union with this rule gives what merging every batch would have given
(tests/jobs/core/changelog/test_resume.py proves it on both engines). Rows with a NULL
``last_update`` never win here; the ingest never writes one (``event_time`` is required).

Consistency of a read against a concurrent compaction: the log is read *before* the base
table. Compaction commits the merge into ``resume_state`` before it deletes the log rows,
so a row is in the log snapshot read, or in the base snapshot read after it, or in both
(the rule takes it once) — never in neither.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.core.rules.playback_state import RESUME_MERGE, newer_than
from jobs.core.storage.delta import DeltaEngine, MergeSpec
from jobs.core.tables.registry import RESUME_STATE, RESUME_STATE_CHANGE

log = logging.getLogger(__name__)

BASE = RESUME_STATE.name
CHANGE = RESUME_STATE_CHANGE.name
KEY = ("profile_id", "content_key")
# newest first; the base row (source 0) before a log row (source 1) on an exact tie
ORDER = (("last_update", "descending"), ("last_position_sec", "descending"),
         ("session_id", "descending"))  # fmt: skip
_SOURCE = "_resume_source"

# Compaction's second step: a log row the compacted row equals or supersedes is deleted
# (``t`` = log row, ``s`` = the compacted newest row of its key); newer rows, appended by
# the stream while compaction ran, stay.
PRUNE_MERGE = MergeSpec(
    on=RESUME_MERGE.on,
    update={},
    insert={},
    delete_condition=f"NOT ({newer_than('t', 's')})",
)


def newest_per_key(base: DataFrame, change: DataFrame | None = None) -> DataFrame:
    """The newest row per ``(profile_id, content_key)`` of ``base`` ∪ ``change``.

    Args:
        base: ``resume_state`` rows (the spec's columns).
        change: ``resume_state_change`` rows, or None.

    Returns:
        ``resume_state`` rows, one per key: newest by ``(last_update, last_position_sec,
        session_id)``; on an exact tie the ``base`` row, then the smallest other values
        (deterministic).
    """
    cols = RESUME_STATE.columns
    rows = base.select(*cols, F.lit(0).alias(_SOURCE))
    if change is not None:
        rows = rows.unionByName(change.select(*cols, F.lit(1).alias(_SOURCE)))
    rest = [c for c in cols if c not in KEY and c not in dict(ORDER)]
    window = Window.partitionBy(*KEY).orderBy(
        *(F.col(c).desc_nulls_last() for c, _ in ORDER),
        F.col(_SOURCE).asc(),
        *(F.col(c).asc_nulls_first() for c in rest),
    )
    return (
        rows.withColumn("_rank", F.row_number().over(window))
        .where(F.col("_rank") == 1)
        .select(*cols)
    )


def current_resume(engine: DeltaEngine, version: int | None = None) -> DataFrame:
    """The current resume points: what every reader of ``resume_state`` must read.

    Args:
        engine: the Delta engine.
        version: a ``resume_state`` version (time travel): that version, with the change
            log as it stood when that version was committed; None = now.

    Returns:
        ``resume_state`` columns, one row per (profile_id, content_key) (see the module
        docstring for the rule). A missing change log counts as empty.

    Raises:
        TableNotFoundError: ``resume_state`` was never created.
    """
    if version is None:
        change = _read_change(engine)  # the log first: see "Consistency" above
        return newest_per_key(engine.read(BASE), change)
    when = _commit_millis(engine, BASE, version)
    return newest_per_key(engine.read(BASE, version=version), _read_change(engine, when))


def _read_change(engine: DeltaEngine, at_millis: float | None = None) -> DataFrame | None:
    """The change log pinned to its current version (or the one current at a time)."""
    if not engine.exists(CHANGE):
        return None
    if at_millis is None:
        return engine.read(CHANGE, version=engine.version(CHANGE))
    versions = [
        int(h["version"])
        for h in engine.history(CHANGE)
        if _millis(h.get("timestamp")) <= at_millis
    ]
    return engine.read(CHANGE, version=max(versions)) if versions else None


def _millis(value: Any) -> float:
    """A history entry's commit time as epoch milliseconds (delta-rs: int, Spark: datetime)."""
    if isinstance(value, dt.datetime):
        value = value if value.tzinfo else value.astimezone(dt.UTC)
        return value.timestamp() * 1000
    return float(value or 0)


def _commit_millis(engine: DeltaEngine, table: str, version: int) -> float:
    for h in engine.history(table):
        if int(h["version"]) == version:
            return _millis(h.get("timestamp"))
    raise ValueError(f"{table} has no version {version} in its history")


def current_resume_arrow(base: pa.Table, change: pa.Table | None = None) -> pa.Table:
    """:func:`newest_per_key` on Arrow tables (the API's JVM-free read).

    Args:
        base: ``resume_state`` rows with at least profile_id, content_key, last_update,
            last_position_sec and session_id.
        change: ``resume_state_change`` rows with the same columns, or None.

    Returns:
        ``base``'s columns, one row per key, sorted by (profile_id, content_key).
    """
    tables = [base.append_column(_SOURCE, pa.array(np.zeros(base.num_rows, np.int8)))]
    if change is not None and change.num_rows:
        change = change.select(base.column_names).cast(base.schema)
        tables.append(change.append_column(_SOURCE, pa.array(np.ones(change.num_rows, np.int8))))
    rows = pa.concat_tables(tables)
    if rows.num_rows == 0:
        return base
    rest = [(c, "ascending") for c in base.column_names if c not in KEY and c not in dict(ORDER)]
    keys = [(c, "ascending") for c in KEY] + list(ORDER) + [(_SOURCE, "ascending")] + rest
    rows = rows.take(pc.sort_indices(rows, sort_keys=keys))  # nulls last
    differs = np.zeros(rows.num_rows - 1, dtype=bool)
    for c in KEY:
        values = rows.column(c).to_numpy(zero_copy_only=False)
        differs |= values[1:] != values[:-1]
    first = np.concatenate([[True], differs])
    return rows.filter(pa.array(first)).drop_columns([_SOURCE])


@dataclass(frozen=True)
class CompactResult:
    """What one :func:`compact` did.

    Attributes:
        keys: distinct keys in the change log snapshot compacted (0: nothing to do).
        log_version: the change log version compacted.
        rows_merged: base rows inserted + updated.
        rows_pruned: log rows deleted (the base now holds them or newer).
        seconds: wall time.
    """

    keys: int
    log_version: int | None
    rows_merged: int = 0
    rows_pruned: int = 0
    seconds: float = 0.0


def compact(engine: DeltaEngine) -> CompactResult:
    """Fold ``resume_state_change`` into ``resume_state``, then drop the folded log rows.

    Steps: (1) the log at its current version, newest row per key; (2) MERGE it into
    ``resume_state`` with ``RESUME_MERGE`` (newest wins); (3) MERGE … WHEN MATCHED AND the
    log row is not newer than the compacted row THEN DELETE on the log. No transaction
    marker is needed: newest-wins is idempotent, so a rerun after a crash between (2) and
    (3) merges nothing new and deletes what is left. Rows the stream appends meanwhile
    that are newer survive (3); older ones are deleted, the base holding a newer row.
    Nothing is committed when the log is empty.

    Raises:
        Whatever the engine raises after its commit-conflict retries (rerun: idempotent).
    """
    import time

    start = time.monotonic()
    if not engine.exists(CHANGE):
        return CompactResult(0, None)
    engine.create_all([BASE])
    log_version = engine.version(CHANGE)
    rows = engine.read(CHANGE, version=log_version)
    if rows.isEmpty():
        return CompactResult(0, log_version)
    newest = newest_per_key(rows).cache()
    keys = newest.count()
    merged = engine.merge(BASE, newest, RESUME_MERGE)
    pruned = engine.merge(CHANGE, newest, PRUNE_MERGE)
    result = CompactResult(
        keys,
        log_version,
        int(merged.metrics.get("rows_inserted", 0) or 0)
        + int(merged.metrics.get("rows_updated", 0) or 0),
        int(pruned.metrics.get("rows_deleted", 0) or 0),
        time.monotonic() - start,
    )
    newest.unpersist()
    log.info(
        "compact %s (v%d, %d keys) into %s: %d rows merged, %d log rows pruned, %.1fs",
        CHANGE, log_version, keys, BASE, result.rows_merged, result.rows_pruned, result.seconds,
    )  # fmt: skip
    return result


def compact_if_due(engine: DeltaEngine, every_batches: int, batch_id: int) -> CompactResult | None:
    """Compact after every ``every_batches``-th micro-batch (``resume.compact_every_batches``; 0 = never)."""
    if every_batches <= 0 or (batch_id + 1) % every_batches:
        return None
    return compact(engine)
