"""Table maintenance: change-log compaction, OPTIMIZE (Z-order, compaction), resume_state TTL, VACUUM.

* ``compact``: fold the change logs ``resume_state_change`` into ``resume_state`` and
  ``playback_session_change`` into ``playback_session`` (:func:`jobs.core.change_logs.compact`;
  safe to rerun and while the ingest appends). ``--only compact`` is the step to
  schedule every few minutes.
* ``playback_event``: OPTIMIZE with Z-order by its spec's ``cluster_by`` (``session_id``):
  the design reconstructs sessions by ``session_id``, and Z-ordering packs a session's
  events into few files, so a session-timeline query skips most files by their stats.
  It also compacts the small files micro-batches leave behind.
* the tables in ``maintenance.compact_tables``: compaction only.
* ``resume_state`` and its change log: rows with ``last_update`` older than
  ``maintenance.resume_ttl_days`` (90) days are deleted — the design's TTL on resume
  pointers.
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

from jobs.core.change_logs import compact
from jobs.core.cli import UsageError, job_parser, run
from jobs.core.config import Config
from jobs.core.delta import DeltaEngine, get_engine
from jobs.core.tables import RESUME_STATE, RESUME_STATE_CHANGE, TABLES, get_spec

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
    """Z-order the tables whose spec has ``cluster_by`` and event data; compact the rest."""
    out = {}
    for name in tables:
        if not engine.exists(name):
            continue
        spec = get_spec(name)
        if name == "playback_event" and spec.cluster_by:
            result = engine.optimize(name, zorder_by=list(spec.cluster_by))
        elif name in cfg.maintenance.compact_tables or name == "playback_event":
            result = engine.optimize(name)
        else:
            continue
        out[name] = _metrics(result)
        log.info("optimize %s: %s", name, out[name])
    return out


def compact_logs(engine: DeltaEngine) -> dict[str, Any]:
    """Fold both change logs into their tables (:func:`jobs.core.change_logs.compact`).

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


def expire_resume_state(engine: DeltaEngine, cfg: Config, now: dt.datetime | None = None) -> int:
    """Delete resume points not updated for ``maintenance.resume_ttl_days`` days.

    From ``resume_state`` and its change log alike — the log first, so a reader (which
    takes the newest row per key across both) never sees an expired base row's older
    log row come back.

    Returns:
        Rows deleted (both tables).
    """
    now = now or dt.datetime.now(dt.UTC)
    cutoff = (now - dt.timedelta(days=cfg.maintenance.resume_ttl_days)).strftime(
        "%Y-%m-%d %H:%M:%S"
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
    from jobs.core.spark import build_spark

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
        "Compact the resume-state change log into resume_state, OPTIMIZE (Z-order "
        "playback_event by session_id, compaction), expire old resume_state rows, VACUUM.",
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
