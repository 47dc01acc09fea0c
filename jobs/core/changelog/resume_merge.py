"""Rebuild or catch up ``resume_state`` from the stored ``playback_event`` rows.

The same merge the streaming ingest runs per micro-batch
(:func:`jobs.core.rules.playback_state.resume_updates` and ``RESUME_MERGE``), over all stored
events or a ``dt`` range (UTC dates). Because resume points are ordered by ``(event_time,
position_sec, session_id)``, merging in any order and any batching gives the table the
stream gives. Afterwards the resume-state change log is compacted into the table
(:func:`jobs.core.changelog.resume.compact`). ``python -m jobs.merge_resume_state`` runs it.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.core.changelog.resume import compact
from jobs.core.rules.playback_state import RESUME_MERGE, resume_updates
from jobs.core.runtime.config import Config
from jobs.core.storage.delta import DeltaEngine, WriteResult


def events_in_range(
    engine: DeltaEngine, from_dt: dt.date | None, to_dt: dt.date | None
) -> DataFrame:
    """``playback_event`` rows with ``from_dt <= dt <= to_dt`` (either bound optional).

    Args:
        engine: the Delta engine.
        from_dt: first event date (UTC, the ``dt`` partition), inclusive; None: no bound.
        to_dt: last event date (UTC), inclusive; None: no bound.

    Returns:
        The ``playback_event`` rows of the range (every column, lazy).

    Raises:
        ValueError: ``from_dt`` is after ``to_dt``.
    """
    if from_dt and to_dt and from_dt > to_dt:
        raise ValueError(f"--from-dt {from_dt} is after --to-dt {to_dt}")
    events = engine.read("playback_event")
    if from_dt:
        events = events.where(F.col("dt") >= F.lit(from_dt))
    if to_dt:
        events = events.where(F.col("dt") <= F.lit(to_dt))
    return events


def merge_resume_state(
    engine: DeltaEngine,
    cfg: Config,
    from_dt: dt.date | None = None,
    to_dt: dt.date | None = None,
    rebuild: bool = False,
) -> WriteResult:
    """Catch up (merge) or rebuild (overwrite) ``resume_state``, then compact its change log.

    Args:
        engine: the Delta engine.
        cfg: configuration (``resume.finish_ratio``).
        from_dt: first event date (UTC) to use, inclusive (default: no bound).
        to_dt: last event date (UTC) to use, inclusive (default: no bound).
        rebuild: replace the whole table instead of merging; needs the full range.

    Returns:
        The merge's or overwrite's result (the compaction logs its own).

    Raises:
        ValueError: ``rebuild`` with a date range (it would drop resume points outside it).
    """
    if rebuild and (from_dt or to_dt):
        raise ValueError("--rebuild replaces the whole table: do not combine it with a dt range")
    engine.create_all(["resume_state"])
    updates = resume_updates(events_in_range(engine, from_dt, to_dt), cfg.resume.finish_ratio)
    if rebuild:
        result = engine.overwrite("resume_state", updates)
    else:
        result = engine.merge("resume_state", updates, RESUME_MERGE)
    compact(engine)
    return result
