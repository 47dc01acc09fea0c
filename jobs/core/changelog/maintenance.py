"""Nightly maintenance: change-log compaction, OPTIMIZE, the ``resume_state`` TTL, VACUUM.

* ``compact``: fold the change logs ``resume_state_change`` into ``resume_state`` and
  ``playback_session_change`` into ``playback_session``
  (:func:`jobs.core.changelog.compaction.compact`; safe to rerun and while the ingest
  appends).
* ``optimize`` and ``vacuum``: :mod:`jobs.core.storage.maintenance`.
* ``expire``: ``resume_state`` and its change log: rows whose ``last_update`` is more
  than ``maintenance.resume_ttl_days`` (90) days older than the *reference time* are
  deleted — the design's TTL on resume pointers. The reference time is ``min(now,
  newest last_update in resume_state and its change log)`` (UTC): on a live lake that
  is now; on a lake holding a historical export (the bundled samples) it is the
  export's newest resume point, so the nightly run never empties Continue Watching of a
  history that stopped, and re-ingesting an export gives back what it had.

:func:`maintain` runs the chosen steps in the order of :data:`STEPS`; every step is
idempotent, and on a write conflict it fails and can be rerun.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from typing import Any

from jobs.core.changelog.compaction import compact
from jobs.core.rules.as_of import newest, to_utc
from jobs.core.runtime.config import Config
from jobs.core.storage.delta import DeltaEngine
from jobs.core.storage.maintenance import optimize, vacuum
from jobs.core.tables.registry import RESUME_STATE, RESUME_STATE_CHANGE

log = logging.getLogger("maintain_tables")

# the steps of a maintenance run, in the order they run
STEPS = ("compact", "optimize", "expire", "vacuum")


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
    latest: dt.datetime | None = None
    for table in (RESUME_STATE_CHANGE.name, RESUME_STATE.name):
        if not engine.exists(table):
            continue
        t = newest(engine.read(table), "last_update")  # exact, whatever the time zones
        if t is not None:
            latest = t if latest is None else max(latest, t)
    now = to_utc(now)
    return now if latest is None else min(now, latest)


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


def maintain(
    engine: DeltaEngine, cfg: Config, tables: list[str], steps: list[str] | tuple[str, ...]
) -> dict[str, Any]:
    """Run the maintenance ``steps`` (in the order of :data:`STEPS`) on the lake.

    Args:
        engine: Delta engine of the lake.
        cfg: configuration (``maintenance:``).
        tables: the tables ``optimize`` and ``vacuum`` consider (missing ones are skipped).
        steps: the steps to run, among :data:`STEPS`.

    Returns:
        The report: ``compact`` (per change log), ``optimize`` (per table),
        ``expired_resume_rows``, ``vacuum_files_removed`` (per table) for the steps run,
        and ``seconds``.
    """
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
    return report
