"""Table maintenance: change-log compaction, OPTIMIZE (Z-order, compaction), resume_state TTL, VACUUM.

* ``compact``: fold the change logs ``resume_state_change`` into ``resume_state`` and
  ``playback_session_change`` into ``playback_session`` (:func:`jobs.core.changelog.compaction.compact`;
  safe to rerun and while the ingest appends). ``--only compact`` is the step to
  schedule every few minutes.
* the tables in ``maintenance.zorder_tables``: OPTIMIZE with Z-order by their spec's
  ``cluster_by`` — ``playback_event`` by ``session_id`` (the design reconstructs
  sessions by ``session_id``, so a session-timeline query skips most files by their
  stats), ``resume_state``, ``fact_watch_history`` and the other per-profile tables by
  ``profile_id`` (the API and Continue Watching read one profile: a point read on
  Z-ordered files). It also compacts the small files micro-batches leave behind.
* the tables in ``maintenance.compact_tables``: compaction only.
* ``resume_state`` and its change log: rows whose ``last_update`` is more than
  ``maintenance.resume_ttl_days`` (90) days older than the *reference time* are deleted —
  the design's TTL on resume pointers. The reference time is ``min(now, newest
  last_update in resume_state and its change log)`` (UTC): on a live lake that is now;
  on a lake holding a historical export (the bundled samples) it is the export's newest
  resume point, so the nightly run never empties Continue Watching of a history that
  stopped, and re-ingesting an export gives back what it had.
* VACUUM every table with ``maintenance.vacuum_retention_hours`` (168 h = 7 days, Delta's
  default), so readers and time travel within a week stay safe.

All through the Delta engine interface, so it runs on both engines. Each step logs what
it did. Run it while the ingest is stopped or between its commits; on a conflict the
step fails and the job can be rerun (every step is idempotent).

Usage::

    python -m jobs.maintain_tables                  # everything
    python -m jobs.maintain_tables --only compact   # the resume-log compaction alone
    python -m jobs.maintain_tables --only optimize --table playback_event
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from typing import Any

from pyspark.sql import functions as F

from jobs.core.changelog.compaction import compact
from jobs.core.runtime.cli import UsageError, job_parser, run
from jobs.core.runtime.config import Config
from jobs.core.storage.delta import DeltaEngine, get_engine
from jobs.core.tables.registry import RESUME_STATE, RESUME_STATE_CHANGE, TABLES, get_spec

log = logging.getLogger("maintain_tables")
STEPS = ("compact", "optimize", "expire", "vacuum")


def _metrics(result: Any) -> dict:
    if isinstance(result, dict):
        keep = (
            "numFilesAdded",
            "numFilesRemoved",
            "filesAdded",
            "filesRemoved",
            "totalConsideredFiles",
            "totalFilesSkipped",
        )
        return {k: result[k] for k in keep if k in result} or result
    return {"result": str(result)[:200]}


def optimize(engine: DeltaEngine, cfg: Config, tables: list[str]) -> dict[str, dict]:
    """OPTIMIZE the existing tables among ``tables``.

    Tables in ``maintenance.zorder_tables`` are Z-ordered by their spec's ``cluster_by``
    (``playback_event`` by ``session_id``; ``resume_state``, ``fact_watch_history`` and the
    other per-profile tables by ``profile_id``); those in ``maintenance.compact_tables``
    are compacted; the others are left alone.

    Returns:
        Per table optimized: the engine's file metrics plus ``zorder_by`` (the columns, or
        an empty list for a compaction).
    """
    out = {}
    for name in tables:
        if not engine.exists(name):
            continue
        zorder = list(get_spec(name).cluster_by) if name in cfg.maintenance.zorder_tables else []
        if zorder:
            result = engine.optimize(name, zorder_by=zorder)
        elif name in cfg.maintenance.compact_tables:
            result = engine.optimize(name)
        else:
            continue
        out[name] = {**_metrics(result), "zorder_by": zorder}
        log.info("optimize %s (z-order by %s): %s", name, zorder or "-", out[name])
    return out


def compact_logs(engine: DeltaEngine) -> dict[str, Any]:
    """Fold both change logs into their tables (:func:`jobs.core.changelog.compaction.compact`).

    Returns:
        ``{"resume_state": {...}, "playback_session": {...}}``: keys (or sessions) folded,
        rows merged, log rows pruned, seconds.
    """
    out: dict[str, Any] = {}
    for table, result in compact(engine).items():
        out[table] = {
            "keys": result.keys,
            "rows_merged": result.rows_merged, "log_rows_pruned": result.rows_pruned,
            "seconds": round(result.seconds, 1),
        }  # fmt: skip
        log.info("compact %s change log: %s", table, out[table])
    return out


def ttl_reference(engine: DeltaEngine, now: dt.datetime) -> dt.datetime:
    """The time the resume_state TTL counts back from: ``min(now, newest last_update)``.

    The newest ``last_update`` is taken over ``resume_state`` and its change log (UTC).
    On a live lake it is about now; on a lake holding a historical export it is that
    export's newest resume point, so expiry keeps the export's last
    ``maintenance.resume_ttl_days`` days instead of deleting all of it.

    Args:
        engine: Delta engine of the lake.
        now: the current time (UTC).

    Returns:
        The reference time, timezone-aware UTC; ``now`` when neither table holds a row.
    """
    newest: dt.datetime | None = None
    for table in (RESUME_STATE_CHANGE.name, RESUME_STATE.name):
        if not engine.exists(table):
            continue
        text = (
            engine.read(table)
            .agg(F.date_format(F.max("last_update"), "yyyy-MM-dd HH:mm:ss"))
            .first()[0]
        )
        if text is not None:
            t = dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)
            newest = t if newest is None else max(newest, t)
    now = now.astimezone(dt.UTC)
    return now if newest is None else min(now, newest)


def expire_resume_state(engine: DeltaEngine, cfg: Config, now: dt.datetime | None = None) -> int:
    """Delete resume points older than ``maintenance.resume_ttl_days`` before the reference time.

    The reference time is :func:`ttl_reference` (``min(now, newest last_update)``, UTC).
    From ``resume_state`` and its change log alike — the log first, so a reader (which
    takes the newest row per key across both) never sees an expired base row's older
    log row come back.

    Args:
        engine: Delta engine of the lake.
        cfg: configuration (``maintenance.resume_ttl_days``).
        now: the current time (default: now, UTC).

    Returns:
        Rows deleted (both tables).
    """
    reference = ttl_reference(engine, now or dt.datetime.now(dt.UTC))
    cutoff = (reference - dt.timedelta(days=cfg.maintenance.resume_ttl_days)).strftime(
        "%Y-%m-%d %H:%M:%S"
    )
    log.info(
        "expire: TTL %d days before %s UTC (min of now and the newest resume point)",
        cfg.maintenance.resume_ttl_days,
        f"{reference:%Y-%m-%d %H:%M:%S}",
    )
    deleted = 0
    for table in (RESUME_STATE_CHANGE.name, RESUME_STATE.name):
        if not engine.exists(table):
            continue
        before = engine.read(table).where(f"last_update < '{cutoff}'").count()
        if before == 0:
            log.info("expire %s: nothing older than %s", table, cutoff)
            continue
        engine.delete(table, f"last_update < '{cutoff}'")
        log.info("expire %s: %d rows older than %s deleted", table, before, cutoff)
        deleted += before
    return deleted


def vacuum(engine: DeltaEngine, cfg: Config, tables: list[str]) -> dict[str, int]:
    """VACUUM each table with the configured retention; returns files removed per table."""
    out = {}
    for name in tables:
        if engine.exists(name):
            removed = engine.vacuum(name, cfg.maintenance.vacuum_retention_hours)
            out[name] = len(removed)
            log.info(
                "vacuum %s (retain %d h): %d files removed",
                name,
                cfg.maintenance.vacuum_retention_hours,
                len(removed),
            )
    return out


def _run(args: argparse.Namespace, cfg: Config) -> int:
    unknown = sorted(set(args.table or []) - set(TABLES))
    if unknown:
        raise UsageError(f"unknown tables {unknown}; known: {sorted(TABLES)}")
    from jobs.core.runtime.spark import build_spark

    spark = build_spark("maintain_tables", cfg)
    engine = get_engine(spark, cfg)
    tables = args.table or list(TABLES)
    steps = args.only or list(STEPS)
    report: dict[str, Any] = {}
    start = time.monotonic()
    if "compact" in steps:
        report["compact"] = compact_logs(engine)
    if "optimize" in steps:
        report["optimize"] = optimize(engine, cfg, tables)
    if "expire" in steps:
        report["expired_resume_rows"] = expire_resume_state(engine, cfg)
    if "vacuum" in steps:
        report["vacuum_files_removed"] = vacuum(engine, cfg, tables)
    report["seconds"] = round(time.monotonic() - start, 1)
    print(json.dumps(report, default=str))
    spark.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(
        "python -m jobs.maintain_tables",
        "Compact the change logs, OPTIMIZE (Z-order playback_event by session_id and the "
        "per-profile tables by profile_id; compaction), expire resume_state rows older than "
        "the TTL before min(now, newest resume point), VACUUM.",
    )
    parser.add_argument(
        "--only", choices=STEPS, action="append", help="run only these steps (repeatable)"
    )
    parser.add_argument(
        "--table", action="append", help="limit optimize/vacuum to these tables (repeatable)"
    )
    return run(_run, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
