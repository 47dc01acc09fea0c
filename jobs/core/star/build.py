"""The star build: read the playback tables, transform (:mod:`jobs.core.star`), write.

    profile + account ──▶ dim_users   (SCD2 on country_code, maturity_setting, subscription_plan)
    title + episode + catalog_title ──▶ dim_movies (film or episode; catalogue by normalized title)
    device ──▶ dim_device          sessions' dates ──▶ dim_date
    playback_session + playback_event ──▶ fact_watch_history (one row per non-supplemental session)
    fact + dims ──▶ last_10_movies, history_90_days, content_type_preference,
                    region_login, daily_watch_minutes

The transforms by part are in :mod:`jobs.core.star` (dimensions, fact, marts), keys and
unknown members in :mod:`jobs.core.rules.keys`, "finished" in :mod:`jobs.core.rules.watched`,
the as-of time in :mod:`jobs.core.rules.as_of`, and the incremental bookkeeping in
:mod:`jobs.core.storage.incremental`.

Incremental and idempotent: ``build_state`` records the version of every source table a
run has processed. A run reads the sessions ``playback_session``'s change data feed shows
changed since that version and those with rows in its change log (new, or with new
events: :func:`changed_sessions`), plus the sessions of profiles that got
a new ``dim_users`` version and of items whose ``dim_movies`` row changed, are
recomputed and merged on ``session_id``. Every write goes through
:func:`~jobs.core.storage.incremental.sync_table`, which writes only rows that differ from the
table, so a rerun with nothing new commits nothing (no new Delta version). The
per-profile marts are recomputed for the profiles of those sessions (and those whose
90-day window a new as-of date moves: :func:`mart_profiles`) and written scoped to them;
``region_login`` is recomputed from the fact; all are written only where they changed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.core.changelog.session import current_sessions, pending_keys
from jobs.core.rules.as_of import newest, resolve_as_of
from jobs.core.rules.keys import UNKNOWN_KEY, ensure_unknown_members, unknown_rows
from jobs.core.runtime.config import ActivitySettings
from jobs.core.star import dimensions, fact, marts
from jobs.core.storage.delta import ChangeFeedUnavailableError, DeltaEngine, TableNotFoundError
from jobs.core.storage.incremental import read_marks, run_build, sync_table
from jobs.core.storage.table_health import check_tables_files, check_tables_load
from jobs.core.tables.star import BUILD_STATE, CATALOG_TITLE, MART_TABLES, STAR_TABLES

log = logging.getLogger("build_star_schema")

JOB = "build_star_schema"
SOURCES = (
    "playback_session",
    "playback_session_change",
    "profile",
    "account",
    "device",
    "title",
    "episode",
    "catalog_title",
)


def build_dim_users(engine: DeltaEngine, effective: DataFrame, as_of: dt.datetime) -> list[int]:
    """Apply profile changes to ``dim_users`` (SCD2); returns the changed profile ids."""
    source = dimensions.user_attributes(engine.read("profile"), engine.read("account"))
    current = engine.read("dim_users").where(
        F.col("is_current") & (F.col("user_key") != UNKNOWN_KEY)
    )
    changes = dimensions.scd2_changes(current, source, effective, as_of).persist()
    merge_rows = [r.profile_id for r in changes.select("profile_id").collect()]
    profiles = sorted(set(merge_rows))
    if profiles:
        engine.merge("dim_users", changes, dimensions.USERS_MERGE)
    log.info("dim_users: %d profiles changed (%d merge rows)", len(profiles), len(merge_rows))
    changes.unpersist()
    return profiles


def changed_sessions(engine: DeltaEngine, since_version: int | None) -> DataFrame | None:
    """``playback_session`` rows changed after ``since_version`` (None = all rows).

    The changed ``session_id`` values come from the table's change data feed, so an
    incremental run reads the sessions the stream touched, not two whole snapshots, plus
    every session with a row in the change log ``playback_session_change`` (not yet
    compacted; recomputing one again is harmless); the current rows of those sessions
    (:func:`jobs.core.changelog.session.current_sessions`) are returned. Without a usable feed
    (a lake created before the spec turned it on, or vacuumed versions) the two snapshots
    are diffed; when the old version is gone too, every row is returned.

    Returns:
        ``playback_session`` rows, or None when nothing changed.
    """
    current = current_sessions(engine)
    if since_version is None:
        return current
    pending = pending_keys(engine)
    if since_version == engine.version("playback_session"):
        if pending is None or pending.isEmpty():
            return None
        return current.join(pending, "session_id", "left_semi")
    try:
        keys = engine.changed_keys("playback_session", since_version, ["session_id"])
        if pending is not None:
            keys = keys.unionByName(pending).distinct()
        return current.join(keys, "session_id", "left_semi")
    except ChangeFeedUnavailableError as exc:
        log.info("%s: diffing snapshots instead", exc)
    try:
        old = engine.read("playback_session", version=since_version)
        return current.exceptAll(old)
    except Exception as exc:  # noqa: BLE001 - vacuumed history: recompute everything
        log.warning(
            "playback_session v%s unreadable (%s); recomputing all sessions", since_version, exc
        )
        return current


def events_of(engine: DeltaEngine, sessions: DataFrame, everything: bool) -> DataFrame:
    """Events of ``sessions``, reading only the ``dt`` partitions they span."""
    if everything:
        return engine.read("playback_event")
    spans = sessions.select(
        F.explode(
            F.sequence(
                F.to_date("started_at"), F.to_date(F.greatest("last_event_at", "started_at"))
            )
        ).alias("d")
    ).distinct()
    days = [r.d.isoformat() for r in spans.collect()]
    if not days:
        return engine.read("playback_event").limit(0)
    events = engine.read("playback_event", partition_filters=[("dt", "in", days)])
    return events.join(F.broadcast(sessions.select("session_id")), "session_id", "left_semi")


def check_all_tables(engine: DeltaEngine) -> None:
    """Check every table the build reads or writes before it writes any (no half-built star).

    Each existing source (:data:`SOURCES`, ``playback_event``) and target (the star, the
    marts, ``build_state``) must load and every data file its snapshot references must
    exist: a corrupt log or a deleted Parquet file stops the run here, with the table and
    the file named, instead of after the dimensions are committed.

    Raises:
        TableUnreadableError: a table's Delta log does not load.
        TableFileMissingError: a data file a table's log references is gone.
    """
    targets = [t.name for t in (*STAR_TABLES, *MART_TABLES, BUILD_STATE)]
    names = [t for t in dict.fromkeys([*SOURCES, "playback_event", *targets]) if engine.exists(t)]
    check_tables_load(engine, names)
    check_tables_files(engine, names)


# ======================================================================================
# the build: a few steps, each reading, transforming (jobs.core.star) and writing
# ======================================================================================
def build(
    engine: DeltaEngine,
    as_of: str | dt.datetime | None = None,
    settings: ActivitySettings | None = None,
) -> dict[str, Any]:
    """Run the star build once (incremental; see module docstring).

    Args:
        engine: the Delta engine.
        as_of: reference time (UTC) for the windowed mart and SCD2 fallback dating:
            a datetime, ``None``/``"now"``, ``"latest"`` (newest session start) or ISO text.
        settings: thresholds; default ``cfg.activity`` of the engine's config.

    Returns:
        A report: ``status`` (``built`` or ``up-to-date``), per-table counts, match rate,
        sessions recomputed, seconds.

    Raises:
        TableNotFoundError: ``playback_session`` does not exist (run the ingest first).
        TableUnreadableError, TableFileMissingError: a source or target table is damaged
            (:func:`check_all_tables`); nothing is written.
        ValueError: ``as_of`` is text but not ISO-8601.
    """
    s = settings or engine.cfg.activity
    for spec in (*STAR_TABLES, *MART_TABLES, BUILD_STATE, CATALOG_TITLE):
        engine.create(spec)
    if not engine.exists("playback_session"):
        raise TableNotFoundError("playback_session missing: run jobs.ingest_playback_events first")
    check_all_tables(engine)
    sessions_all = current_sessions(engine)
    as_of_ts = resolve_as_of(as_of, lambda: newest(sessions_all, "started_at"))

    def steps(report: dict[str, Any]) -> None:
        ensure_unknown_members(engine)
        since, old_as_of = read_marks(engine, JOB).get("playback_session", (None, None))
        changed = changed_sessions(engine, since)
        changed = (changed if changed is not None else sessions_all.limit(0)).persist()
        report["sessions_changed"] = changed.count()
        changed_profiles = build_dim_users(engine, dimensions.change_times(changed), as_of_ts)
        movie_changes = sync_items_and_devices(engine, sessions_all, s, report)
        affected = affected_sessions(
            sessions_all, changed, changed_profiles, movie_changes, first_run=since is None
        )
        sync_facts(engine, sessions_all, affected, since is None, s, report)
        changed.unpersist()
        profiles = None  # a first run recomputes every mart row
        if since is not None:
            profiles = mart_profiles(engine, sessions_all, affected, old_as_of, as_of_ts.date(), s)
        sync_marts(engine, as_of_ts.date(), s, report, profiles)

    tables = [t.name for t in (*STAR_TABLES, *MART_TABLES)]
    return run_build(engine, JOB, SOURCES, as_of_ts.date(), tables, steps)


def sync_items_and_devices(
    engine: DeltaEngine, sessions: DataFrame, s: ActivitySettings, report: dict[str, Any]
) -> list[int]:
    """Sync ``dim_movies`` (catalogue match, runtimes) and ``dim_device``.

    Adds ``catalog``, ``dim_movies`` and ``dim_device`` to ``report``; returns the
    ``content_key`` of every ``dim_movies`` row that changed.
    """
    spark = engine.spark
    titles = engine.read("title")
    episodes = engine.read("episode")
    normalized = dimensions.normalized_titles(spark, titles)
    matches = dimensions.catalog_matches(titles, normalized, engine.read("catalog_title"))
    matches = matches.persist()
    report["catalog"] = dimensions.match_report(matches)
    log.info("catalogue match: %s", json.dumps(report["catalog"]))
    observed = dimensions.observed_runtimes(sessions, episodes, s.observed_runtime_min_episodes)
    movies_new = dimensions.movie_rows(titles, episodes, matches, observed).persist()
    report["dim_movies"] = sync_table(
        engine,
        "dim_movies",
        movies_new.unionByName(unknown_rows(spark, "dim_movies")),
        collect_changed="content_key",
    )
    devices = dimensions.device_rows(engine.read("device"))
    report["dim_device"] = sync_table(
        engine, "dim_device", devices.unionByName(unknown_rows(spark, "dim_device"))
    )
    matches.unpersist()
    movies_new.unpersist()
    return [k for k in report["dim_movies"].pop("changed") if k is not None]


def affected_sessions(
    sessions: DataFrame,
    changed: DataFrame,
    changed_profiles: list[int],
    movie_changes: list[int],
    first_run: bool,
) -> DataFrame:
    """``session_id`` of the sessions whose fact row must be recomputed.

    The changed sessions, plus (after the first run) every session of a profile with a
    new ``dim_users`` version and of an item whose ``dim_movies`` row changed.
    """
    affected = changed.select("session_id")
    if first_run or not (changed_profiles or movie_changes):
        return affected
    extra = sessions.where(
        F.col("profile_id").isin(changed_profiles)
        | F.coalesce("episode_id", "title_id").isin(movie_changes)
    ).select("session_id")
    return affected.unionByName(extra).distinct()


def sync_facts(
    engine: DeltaEngine,
    sessions: DataFrame,
    affected: DataFrame,
    first_run: bool,
    s: ActivitySettings,
    report: dict[str, Any],
) -> None:
    """Recompute the ``dim_date`` and ``fact_watch_history`` rows of ``affected`` sessions."""
    todo = sessions.join(affected, "session_id", "left_semi").persist()
    n_todo = todo.count()
    report["sessions_recomputed"] = n_todo
    if n_todo:
        report["dim_date"] = sync_table(engine, "dim_date", dimensions.date_rows(todo), False)
        playback = fact.session_playback(events_of(engine, todo, first_run))
        facts = fact.fact_rows(
            todo,
            playback,
            engine.read("dim_users"),
            engine.read("dim_movies"),
            engine.read("dim_device"),
            s,
        )
        report["fact_watch_history"] = sync_table(
            engine, "fact_watch_history", facts, complete=False
        )
    todo.unpersist()


def mart_profiles(
    engine: DeltaEngine,
    sessions: DataFrame,
    affected: DataFrame,
    old_as_of: dt.date | None,
    as_of_date: dt.date,
    s: ActivitySettings,
) -> DataFrame:
    """Profiles whose per-profile mart rows may have changed in this run.

    The profiles of the sessions whose fact rows were recomputed (``affected``: changed
    sessions, new ``dim_users`` versions, changed ``dim_movies`` rows), plus those whose
    ``history_90_days`` window the new as-of date moves
    (:func:`jobs.core.star.marts.window_moved_profiles`). A rerun after a crash between
    the fact and the marts recomputes the same sessions, hence the same profiles.

    Returns:
        Distinct ``profile_id``.
    """
    profiles = sessions.join(affected, "session_id", "left_semi").select("profile_id")
    if old_as_of is not None and old_as_of != as_of_date:
        moved = marts.window_moved_profiles(
            engine.read("fact_watch_history"), old_as_of, as_of_date, s.history_window_days
        )
        profiles = profiles.unionByName(moved)
    return profiles.distinct()


def sync_marts(
    engine: DeltaEngine,
    as_of_date: dt.date,
    s: ActivitySettings,
    report: dict[str, Any],
    profiles: DataFrame | None = None,
) -> None:
    """Recompute the marts from the fact and ``dim_movies``; write only what changed.

    Args:
        engine: the Delta engine.
        as_of_date: the run's as-of date (UTC): the end of the ``history_90_days`` window.
        s: the ``activity:`` thresholds (``last_n_items``, ``history_window_days``).
        report: the run's report; gets one write result per mart (and
            ``mart_profiles_recomputed``).
        profiles: the profiles whose per-profile marts are recomputed (:func:`mart_profiles`);
            ``None`` (a first run) recomputes every profile. ``region_login`` (per country
            and day) is always recomputed from the whole fact.
    """
    facts = engine.read("fact_watch_history").persist()
    movies = engine.read("dim_movies").persist()
    mine = facts
    if profiles is not None:
        profiles = profiles.localCheckpoint()  # a short plan for the joins below
        report["mart_profiles_recomputed"] = profiles.count()
        mine = facts.join(profiles, "profile_id", "left_semi")
    rows = {
        "last_10_movies": marts.last_n_movies(mine, movies, s.last_n_items),
        "history_90_days": marts.history_window(mine, movies, as_of_date, s.history_window_days),
        "content_type_preference": marts.content_preference(mine, movies),
        "region_login": marts.region_activity(facts),
        "daily_watch_minutes": marts.daily_minutes(mine),
    }
    for name, mart in rows.items():
        scope = profiles if name in marts.PER_PROFILE else None
        report[name] = sync_table(engine, name, mart, scope=scope)
    facts.unpersist()
    movies.unpersist()
