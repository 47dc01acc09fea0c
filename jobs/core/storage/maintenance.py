"""Table upkeep through the Delta engine: OPTIMIZE (Z-order, compaction) and VACUUM.

* the tables in ``maintenance.zorder_tables``: OPTIMIZE with Z-order by their spec's
  ``cluster_by`` — ``playback_event`` by ``session_id`` (the design reconstructs
  sessions by ``session_id``, so a session-timeline query skips most files by their
  stats), ``resume_state``, ``fact_watch_history`` and the other per-profile tables by
  ``profile_id`` (the API and Continue Watching read one profile: a point read on
  Z-ordered files). It also compacts the small files micro-batches leave behind.
* the tables in ``maintenance.compact_tables``: compaction only.
* VACUUM every table with ``maintenance.vacuum_retention_hours`` (168 h = 7 days, Delta's
  default), so readers and time travel within a week stay safe.

Both run on either engine and log what they did. The change-log compaction and the
``resume_state`` TTL, and the steps in order: :mod:`jobs.core.changelog.maintenance`.
"""

from __future__ import annotations

import logging
from typing import Any

from jobs.core.runtime.config import Config
from jobs.core.storage.delta import DeltaEngine
from jobs.core.tables.registry import get_spec

log = logging.getLogger("maintain_tables")


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
