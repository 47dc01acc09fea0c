"""Which profiles an incremental viewing-activity build must recompute.

Every viewing-activity result (records, show progress, binges, abandonments,
statistics, companions, domain events) is a function of one profile's sessions and
statements plus ``dim_movies`` and ``dim_device``. So a run after the last one needs to
recompute only the profiles whose inputs may have changed, read from the change data
feeds (``DeltaEngine.changed_keys``) of the sources since the versions the last run
processed (``build_state``):

* ``fact_watch_history``: the profiles of inserted, updated and deleted fact rows
  (an erasure deletes a profile's rows: it is recomputed to nothing);
* ``viewing_statement``: the profiles of new (or erased) statements;
* ``dim_movies``: every profile with a fact row on a changed title's items — a new
  episode changes the known seasons, the next episode and the title name of the whole
  series, for everyone watching it;
* ``dim_device``: every profile with a fact row on a changed device (statistics by
  device type);
* the as-of time: abandonment compares the last activity with ``as_of -
  abandoned_after_days``; the profiles with a session whose last event falls between
  the old and the new limit (whole UTC days, so any as-of time of either date is
  covered).

Recomputing a profile whose inputs did not change gives the rows it has, so the set
only has to contain every changed profile. ``None`` means recompute every profile: a
first run, a source without a readable change feed (a lake created before the specs
turned the feed on, or vacuumed history), or a source table that was recreated.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.core.storage.delta import ChangeFeedUnavailableError, DeltaEngine
from jobs.core.storage.incremental import Marks

log = logging.getLogger("activity_scope")


@dataclass(frozen=True)
class Scope:
    """The profiles to recompute: ``profiles`` (one column ``profile_id``) or all.

    Attributes:
        profiles: distinct ``profile_id`` values; ``None`` means every profile.
        reason: why every profile is recomputed (``None`` when ``profiles`` is given).
    """

    profiles: DataFrame | None
    reason: str | None = None


class _Everything(Exception):
    """A source cannot say what changed: recompute every profile."""


def _changed(engine: DeltaEngine, table: str, marks: Marks, key: list[str]) -> DataFrame | None:
    """``key`` values of ``table``'s rows changed since the processed version (None: none).

    Raises:
        _Everything: no usable change feed, or the table was recreated.
    """
    if not engine.exists(table):
        return None
    version = engine.version(table)
    mark = marks.get(table)
    if mark is None:  # the table appeared after the last run: all of it is new
        return engine.read(table).select(*key).distinct()
    if mark[0] == version:
        return None
    if mark[0] > version:
        raise _Everything(f"{table} is at v{version}, before the v{mark[0]} processed (recreated)")
    try:
        return engine.changed_keys(table, mark[0], key)
    except ChangeFeedUnavailableError as exc:
        raise _Everything(str(exc)) from exc


def abandonment_window(
    old_date: dt.date, as_of: dt.datetime, days: int
) -> tuple[dt.datetime, dt.datetime]:
    """Last-activity times ``[lo, hi)`` (UTC) whose abandonment may differ between runs.

    The runs: one as of any time of ``old_date``, one as of ``as_of``. A viewing is abandoned when its last activity is before ``as_of - days``; both
    limits are widened to whole UTC days.
    """
    first = min(old_date, as_of.date())
    last = max(old_date, as_of.date()) + dt.timedelta(days=1)
    lo = dt.datetime.combine(first, dt.time(), dt.UTC) - dt.timedelta(days=days)
    hi = dt.datetime.combine(last, dt.time(), dt.UTC) - dt.timedelta(days=days)
    return lo, hi


def changed_profiles(
    engine: DeltaEngine, marks: Marks, as_of: dt.datetime, abandoned_after_days: int
) -> Scope:
    """The profiles whose viewing-activity rows may differ since the last run.

    Args:
        engine: the Delta engine.
        marks: what the last run processed (:func:`jobs.core.storage.incremental.read_marks`):
            versions of ``fact_watch_history``, ``viewing_statement``, ``dim_movies``,
            ``dim_device`` and the as-of date.
        as_of: this run's as-of time (UTC).
        abandoned_after_days: the abandonment window (``activity:`` in conf).

    Returns:
        A :class:`Scope`: the distinct ``profile_id`` values to recompute, or every
        profile with the reason (first run, no change feed, recreated table).
    """
    if "fact_watch_history" not in marks:
        return Scope(None, "first run")
    fact = engine.read("fact_watch_history")
    try:
        parts = [
            _changed(engine, "fact_watch_history", marks, ["profile_id"]),
            _changed(engine, "viewing_statement", marks, ["profile_id"]),
        ]
        items = _changed(engine, "dim_movies", marks, ["movie_key", "title_id"])
        devices = _changed(engine, "dim_device", marks, ["device_key"])
    except _Everything as exc:
        log.info("recomputing every profile: %s", exc)
        return Scope(None, str(exc))
    if items is not None:
        titles = items.select("title_id").where(F.col("title_id").isNotNull()).distinct()
        keys = (
            engine.read("dim_movies")
            .join(titles, "title_id", "left_semi")
            .select("movie_key")
            .unionByName(items.select("movie_key"))
        )
        parts.append(fact.join(keys.distinct(), "movie_key", "left_semi").select("profile_id"))
    if devices is not None:
        parts.append(fact.join(devices, "device_key", "left_semi").select("profile_id"))
    old_dates = {m[1] for m in marks.values() if m[1] is not None}
    if old_dates:
        windows = [abandonment_window(d, as_of, abandoned_after_days) for d in old_dates]
        lo, hi = min(w[0] for w in windows), max(w[1] for w in windows)
        window = (F.col("last_event_at") >= F.lit(lo)) & (F.col("last_event_at") < F.lit(hi))
        parts.append(fact.where(window).select("profile_id"))
    found = [p for p in parts if p is not None]
    profiles = found[0]
    for part in found[1:]:
        profiles = profiles.unionByName(part)
    return Scope(profiles.where(F.col("profile_id").isNotNull()).distinct())
