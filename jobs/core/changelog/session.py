"""The current sessions: ``playback_session`` plus its change log, one rule for every reader.

Why a change log. A per-micro-batch MERGE into ``playback_session`` rewrites every data
file holding one of the batch's sessions (copy-on-write on delta-rs; delta-spark's
deletion vectors still join every file's keys), and a batch's sessions are spread over
the whole table, so its cost follows the table, not the batch (bench/README.md,
merge_scaling). Instead the ingest (``resume.write_path: change_log``, the same switch
as the resume points) *appends* each micro-batch's partial row per session — the fold of
that batch's events, :func:`jobs.core.rules.playback_state.session_updates` — to the
append-only ``playback_session_change``, with the batch's own transaction marker and a
``change_id`` naming the append. :func:`compact` folds the log into ``playback_session``
from time to time.

The rule (:func:`fold_sessions`; :data:`jobs.core.rules.playback_state.SESSION_MERGE` is the
same rule as a MERGE, so merging batch by batch and folding the log give one table).
Per ``session_id``, over the stored row and every log row:

* ``started_at`` min, ``last_event_at`` max, ``ended_at`` max, ``event_count`` sum;
* ``last_position_sec`` at the greatest ``(last_event_at, last_position_sec)``;
* ``end_reason`` of the newest end (greatest ``ended_at``; END before ABANDONED on a tie);
* the descriptive columns (profile, device, title, episode, country, supplemental,
  autoplay): the stored row's, else the first non-NULL by ``started_at``.

Every part is associative and commutative, so the batching and the order of the log
rows do not matter. Unlike the resume points' newest-wins rule a sum is not idempotent,
so the two steps of a compaction carry markers and readers never count a log row the
base already holds:

* :func:`compact` (one at a time per lake: a lock file under ``{lake_root}/_locks``)
  merges the folded log at log version ``v`` into ``playback_session`` with the marker
  ``(compact:playback_session_change:<log table id>, v)``, then deletes exactly those log
  rows (by ``(session_id, change_id)``) with the same marker on the log. A compaction first finishes a delete a
  crash left pending (base marker newer than the log's), so a rerun never folds a row
  twice.
* :func:`current_sessions` reads the log first (version ``L``), then the base (version
  ``B``). When the base's compaction marker ``c`` at ``B`` is newer than the log's
  delete marker at ``L``, the log rows present at version ``min(c, L)`` are already in the
  base and are left out; otherwise log and base are disjoint.

Open sessions (:func:`incomplete_session_sql`, :func:`incomplete_sessions`): ONE rule for
``jobs.close_abandoned_sessions`` (which closes them) and the data-quality completeness
check (``dq/suites/playback_session.yaml``, which fails while one is left). A session is
*incomplete* when it is open (``ended_at IS NULL``), is not a statement's one-event
session (``session_id`` starting ``api-``: a WATCHED / ABANDONED statement is complete by
construction), and its newest event (``last_event_at``) is more than the idle limit
(``abandoned_sessions.idle_hours``, 4 h) before the reference time. Idle time, not time
since start: a 75-minute film still playing or a 2-hour pause is not incomplete.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.core.changelog.resume import CompactResult  # the same report for both logs
from jobs.core.rules.playback_state import SESSION_MERGE
from jobs.core.storage.delta import DeltaEngine, MergeSpec
from jobs.core.storage.locks import WriterLockedError, acquire, release
from jobs.core.tables.registry import PLAYBACK_SESSION, PLAYBACK_SESSION_CHANGE

log = logging.getLogger(__name__)

BASE = PLAYBACK_SESSION.name
CHANGE = PLAYBACK_SESSION_CHANGE.name
KEY = "session_id"
COMPACT_PREFIX = "compact:playback_session_change"
_SOURCE = "_session_source"
# the columns a session keeps from its first row (the stored row, else the earliest)
DESCRIPTIVE = ("profile_id", "device_id", "title_id", "episode_id", "country_code",
               "is_supplemental", "is_autoplay")  # fmt: skip

# session_id prefix of a statement's one-event session (api/routes_write.py, jobs.core.rules.statements)
STATEMENT_SESSION_PREFIX = "api-"

# compaction's second step: the log rows just folded into the base are deleted
DELETE_FOLDED = MergeSpec(
    on="t.session_id = s.session_id AND t.change_id = s.change_id",
    update={},
    insert={},
    delete_condition="true",
)


def fold_sessions(rows: DataFrame) -> DataFrame:
    """Fold partial ``playback_session`` rows into one row per ``session_id`` (the rule above).

    Args:
        rows: ``playback_session`` columns; an optional integer ``_session_source``
            column orders the descriptive columns' candidates (0: the stored row, first).

    Returns:
        ``playback_session`` rows, one per session_id (times UTC, positions seconds).
    """
    source = F.col(_SOURCE) if _SOURCE in rows.columns else F.lit(1)

    def first(c: str) -> Column:
        return F.min_by(F.col(c), F.struct(F.col(c).isNull(), source, F.col("started_at")))

    ended = F.when(
        F.col("ended_at").isNotNull(), F.struct("ended_at", F.col("end_reason") == "END")
    )
    agg = {
        **{c: first(c) for c in DESCRIPTIVE},
        "started_at": F.min("started_at"),
        "ended_at": F.max("ended_at"),
        "end_reason": F.max_by("end_reason", ended),
        "last_event_at": F.max("last_event_at"),
        "last_position_sec": F.max_by(
            "last_position_sec", F.struct("last_event_at", "last_position_sec")
        ),
        "event_count": F.sum("event_count").cast("long"),
    }
    out = rows.groupBy(KEY).agg(*(expr.alias(c) for c, expr in agg.items()))
    return out.select(*PLAYBACK_SESSION.columns)


def incomplete_session_sql(idle_hours: float, now_sql: str = "current_timestamp()") -> str:
    """The open-session rule as a Spark SQL predicate over ``playback_session`` columns.

    TRUE for a session that is open (``ended_at IS NULL``), not a statement's one-event
    session (``session_id`` not starting with :data:`STATEMENT_SESSION_PREFIX`) and idle:
    its ``last_event_at`` is more than ``idle_hours`` before ``now_sql``.

    Args:
        idle_hours: hours without an event after which an open session is incomplete
            (``abandoned_sessions.idle_hours``; the DQ check adds its grace), > 0.
        now_sql: Spark SQL expression of the reference time (default
            ``current_timestamp()``; :func:`incomplete_sessions` passes a UTC epoch).

    Returns:
        The predicate, e.g. ``ended_at IS NULL AND ... < current_timestamp() - INTERVAL
        14400 SECONDS``.

    Raises:
        ValueError: ``idle_hours`` is not positive.
    """
    if not idle_hours > 0:
        raise ValueError(
            f"idle_hours must be > 0, got {idle_hours}; set abandoned_sessions.idle_hours"
        )
    seconds = round(float(idle_hours) * 3600)
    return (
        f"ended_at IS NULL AND last_event_at IS NOT NULL "
        f"AND NOT startswith(session_id, '{STATEMENT_SESSION_PREFIX}') "
        f"AND last_event_at < {now_sql} - INTERVAL {seconds} SECONDS"
    )


def incomplete_sessions(sessions: DataFrame, idle_hours: float, now: dt.datetime) -> DataFrame:
    """The sessions :func:`incomplete_session_sql` holds for at ``now``.

    Args:
        sessions: ``playback_session`` rows (the current ones: :func:`current_sessions`).
        idle_hours: see :func:`incomplete_session_sql`.
        now: reference time (aware; naive is taken as UTC).

    Returns:
        The matching rows, all columns.

    Raises:
        ValueError: ``idle_hours`` is not positive.
    """
    aware = now if now.tzinfo else now.replace(tzinfo=dt.UTC)
    now_sql = f"timestamp_micros({int(aware.timestamp() * 1_000_000)})"  # no session time zone
    return sessions.where(F.expr(incomplete_session_sql(idle_hours, now_sql)))


def compact_app(engine: DeltaEngine) -> str:
    """The compaction marker's app id, naming the log's Delta table id.

    A log dropped and created again (its versions restart at 0) is then never taken for
    one already compacted.
    """
    return f"{COMPACT_PREFIX}:{engine.table_id(CHANGE)}"


def _pending_log(engine: DeltaEngine, base_version: int, log_version: int) -> DataFrame:
    """The log rows at ``log_version`` that the base at ``base_version`` does not hold.

    ``log_version`` must have been read before ``base_version`` (see "current_sessions"
    in the module docstring).
    """
    app = compact_app(engine)
    rows = engine.read(CHANGE, version=log_version)
    folded = engine.transaction_version(BASE, app, at_version=base_version)
    deleted = engine.transaction_version(CHANGE, app, at_version=log_version)
    if folded is not None and (deleted is None or deleted < folded):
        held = engine.read(CHANGE, version=min(folded, log_version)).select(KEY, "change_id")
        rows = rows.join(held, [KEY, "change_id"], "left_anti")
    return rows


def current_sessions(engine: DeltaEngine) -> DataFrame:
    """The current sessions: what every reader of ``playback_session`` must read.

    Sessions without a pending log row are the stored rows as they are; the others are
    folded with their log rows (:func:`fold_sessions`). A missing log counts as empty.

    Returns:
        ``playback_session`` columns, one row per session_id.

    Raises:
        TableNotFoundError: ``playback_session`` was never created.
    """
    if not engine.exists(CHANGE):
        return engine.read(BASE)
    log_version = engine.version(CHANGE)  # the log first: see the module docstring
    base_version = engine.version(BASE)
    # the base at the version whose marker decides which log rows it already holds
    base = engine.read(BASE, version=base_version)
    pending = _pending_log(engine, base_version, log_version)
    cols = PLAYBACK_SESSION.columns
    keys = F.broadcast(pending.select(KEY).distinct())
    untouched = base.join(keys, KEY, "left_anti")
    touched = base.join(keys, KEY, "left_semi").select(*cols, F.lit(0).alias(_SOURCE))
    folded = fold_sessions(touched.unionByName(pending.select(*cols, F.lit(1).alias(_SOURCE))))
    return untouched.unionByName(folded)


def pending_keys(engine: DeltaEngine) -> DataFrame | None:
    """``session_id`` of every session with a row in the change log now, or None (no log)."""
    if not engine.exists(CHANGE):
        return None
    return engine.read(CHANGE, version=engine.version(CHANGE)).select(KEY).distinct()


def _lock_dir(engine: DeltaEngine) -> str:
    return os.path.join(engine.cfg.paths.lake_root, "_locks", CHANGE)


def compact(engine: DeltaEngine) -> CompactResult:
    """Fold ``playback_session_change`` into ``playback_session``, then drop the folded rows.

    Steps, holding the lake's compaction lock: (0) finish a delete a crash left pending;
    (1) the log at its current version ``v``; (2) MERGE its fold into the base with
    :data:`SESSION_MERGE` and the marker ``(compact_app(engine), v)`` (skipped on a replay);
    (3) delete those log rows by ``(session_id, change_id)`` with the same marker on the
    log. Rows the stream appends meanwhile are not in ``v`` and stay. Nothing is
    committed when the log is empty; when another compaction holds the lock this one
    does nothing (it is periodic) and says so.

    Raises:
        Whatever the engine raises after its commit-conflict retries (rerun: safe).
    """
    start = time.monotonic()
    if not engine.exists(CHANGE):
        return CompactResult(0, None)
    try:
        lock = acquire(_lock_dir(engine), "playback_session compaction")
    except WriterLockedError as exc:
        log.info("compact %s skipped: %s", CHANGE, exc)
        return CompactResult(0, None)
    try:
        return _compact_locked(engine, start)
    finally:
        release(lock)


def _compact_locked(engine: DeltaEngine, start: float) -> CompactResult:
    engine.create_all([BASE])
    app = compact_app(engine)
    folded = engine.transaction_version(BASE, app)
    deleted = engine.transaction_version(CHANGE, app)
    pruned = 0
    if folded is not None and (deleted is None or deleted < folded):  # a crash between (2), (3)
        log.warning("compact %s: finishing the delete of log v%d left by a crash", CHANGE, folded)
        pruned += _delete_folded(engine, app, folded)
    log_version = engine.version(CHANGE)
    rows = engine.read(CHANGE, version=log_version)
    if rows.isEmpty():
        return CompactResult(0, log_version, 0, pruned, time.monotonic() - start)
    updates = fold_sessions(rows.drop("change_id")).cache()
    sessions = updates.count()
    merged = engine.merge(BASE, updates, SESSION_MERGE, app, log_version)
    pruned += _delete_folded(engine, app, log_version)
    updates.unpersist()
    result = CompactResult(
        sessions,
        log_version,
        int(merged.metrics.get("rows_inserted", 0) or 0)
        + int(merged.metrics.get("rows_updated", 0) or 0),
        pruned,
        time.monotonic() - start,
    )
    log.info(
        "compact %s (v%d, %d sessions) into %s: %d rows merged, %d log rows pruned, %.1fs",
        CHANGE, log_version, sessions, BASE, result.rows_merged, result.rows_pruned, result.seconds,
    )  # fmt: skip
    return result


def _delete_folded(engine: DeltaEngine, app: str, log_version: int) -> int:
    """Delete the log rows present at ``log_version`` (marker ``(app, log_version)``)."""
    ids = engine.read(CHANGE, version=log_version).select(KEY, "change_id").distinct()
    done = engine.merge(CHANGE, ids, DELETE_FOLDED, app, log_version)
    return int(done.metrics.get("rows_deleted", 0) or 0)
