"""The viewing-activity build: read the star schema and statements, recompute, write.

    fact_watch_history + dim_movies + dim_device + viewing_statement
        ──▶ viewing_record       one viewing of an item: its sessions up to the finishing one
        ──▶ show_progress        per profile and series: position, completions, next episode
        ──▶ binge_session        consecutive episodes of a series, gaps <= binge_gap_minutes
        ──▶ abandoned_content    started, unfinished, idle for abandoned_after_days
        ──▶ viewing_statistics   per profile and week / month / year / all
        ──▶ viewing_domain_event MovieWatched, TVEpisodeWatched, TVSeasonCompleted,
                                 TVShowCompleted, ViewingAbandoned (JSON payloads)
        ──▶ viewing_companion    who watched with the profile (WATCHED statements)

The rules, by table (thresholds in ``activity:`` in ``conf/base.yaml``):
:mod:`~jobs.core.activity.records` (watched, viewings, rewatches, out of order),
:mod:`~jobs.core.activity.progress` (seasons, shows, next episode),
:mod:`~jobs.core.activity.binges`, :mod:`~jobs.core.activity.abandoned`,
:mod:`~jobs.core.activity.statistics`, :mod:`~jobs.core.activity.events`, and the
statements (WATCHED / ABANDONED posted through the API, ``viewing_statement``):
:mod:`jobs.core.rules.statements`. A WATCHED statement is a finished viewing at its time,
completing an open viewing or making one, never a second record of an item already
watched unless it says ``isRewatch``; an ABANDONED one makes the item's
``abandoned_content`` row with its reason, rating and would-retry.

Every result depends on one profile's whole history (and on ``dim_movies`` and
``dim_device``), so a run recomputes only the profiles whose inputs changed since the
last run (``build_state``), named by the sources' change data feeds
(:func:`jobs.core.activity.scope.changed_profiles`): profiles with changed fact rows or
statements, the viewers of changed titles and devices, and those whose abandonment the
new as-of date may change. A first run, a source without a readable feed, or
``full_refresh`` recomputes every profile. Rows are written through
:func:`jobs.core.storage.incremental.sync_table` scoped to the recomputed profiles, which
commits only rows that differ; other profiles' rows are not read again. Domain events
have deterministic ids and are insert-only: a rerun emits no duplicate and commits
nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.core.activity.abandoned import abandoned_content
from jobs.core.activity.binges import binge_sessions
from jobs.core.activity.events import append_new_events, domain_events
from jobs.core.activity.progress import season_completions, show_completions, show_progress
from jobs.core.activity.records import enrich_sessions, viewing_records
from jobs.core.activity.scope import Scope, changed_profiles
from jobs.core.activity.statistics import viewing_statistics
from jobs.core.rules.as_of import newest, resolve_as_of
from jobs.core.rules.statements import (
    companions,
    counted_watched,
    merge_abandonments,
    playback_only,
    stated_abandonments,
    statement_items,
    watched_sessions,
    with_watched,
)
from jobs.core.runtime.config import ActivitySettings
from jobs.core.storage.delta import DeltaEngine, TableNotFoundError
from jobs.core.storage.incremental import read_marks, run_build, sync_table
from jobs.core.storage.schema_change import add_declared_columns
from jobs.core.tables.registry import VIEWING_STATEMENT
from jobs.core.tables.star import ACTIVITY_TABLES, BUILD_STATE

log = logging.getLogger("build_viewing_activity")

JOB = "build_viewing_activity"
SOURCES = ("fact_watch_history", "dim_movies", "dim_device", "viewing_statement")


def build(
    engine: DeltaEngine,
    as_of: str | dt.datetime | None = None,
    settings: ActivitySettings | None = None,
    full_refresh: bool = False,
) -> dict[str, Any]:
    """Run the viewing-activity build once (see module docstring).

    Args:
        engine: the Delta engine.
        as_of: reference time for abandonment: a datetime, ``None``/``"now"``,
            ``"latest"`` (newest session start) or ISO text (UTC).
        settings: thresholds; default ``cfg.activity`` of the engine's config.
        full_refresh: recompute every profile, even when no source moved (after a
            change of the ``activity:`` thresholds).

    Returns:
        A report with ``status`` (``built`` / ``up-to-date``), ``profiles_recomputed``
        (a count, or ``"all"`` with ``full_recompute`` giving why), per-table write
        counts and row counts, seconds.

    Raises:
        TableNotFoundError: the star schema was not built (run jobs.build_star_schema).
    """
    s = settings or engine.cfg.activity
    if not engine.exists("fact_watch_history"):
        raise TableNotFoundError(
            "fact_watch_history missing: run `python -m jobs.build_star_schema` first"
        )
    for spec in (*ACTIVITY_TABLES, BUILD_STATE):
        engine.create(spec)
    fact = engine.read("fact_watch_history")
    as_of_ts = resolve_as_of(as_of, lambda: newest(fact, "started_at"))
    tables = [t.name for t in ACTIVITY_TABLES]
    report = {"status": "built", "as_of": as_of_ts.isoformat()}

    def steps(out: dict[str, Any]) -> None:
        scope = (
            Scope(None, "--full-refresh")
            if full_refresh
            else changed_profiles(engine, read_marks(engine, JOB), as_of_ts, s.abandoned_after_days)
        )
        sync_activity(engine, fact, as_of_ts, s, out, scope)

    return run_build(
        engine, JOB, SOURCES, as_of_ts.date(), tables, steps, report, force=full_refresh
    )


def sync_activity(
    engine: DeltaEngine,
    fact: DataFrame,
    as_of: dt.datetime,
    s: ActivitySettings,
    report: dict[str, Any],
    scope: Scope | None = None,
) -> None:
    """Recompute the activity rows of the profiles in ``scope``; write only what changed.

    From the fact and the statements (statement rules: :mod:`jobs.core.rules.statements`),
    the profiles in ``scope`` (default every profile).

    Args:
        engine: the Delta engine.
        fact: ``fact_watch_history`` (every profile; filtered here to the scope).
        as_of: reference time for abandonment (UTC).
        s: the ``activity:`` thresholds.
        report: the run's report; gets ``profiles_recomputed`` (a count, or ``"all"``
            with ``full_recompute``) and one write result per activity table.
        scope: the profiles to recompute (:func:`jobs.core.activity.scope.changed_profiles`);
            the other profiles' rows are neither read nor written.
    """
    profiles = None if scope is None else scope.profiles
    statements = read_statements(engine)
    if profiles is None:
        report["profiles_recomputed"] = "all"
        report["full_recompute"] = scope.reason if scope is not None else "every profile"
    else:
        # cut the change-feed reads out of the plan: every table below joins it, and
        # the nested plans printed per query otherwise grow past the driver's heap
        profiles = profiles.localCheckpoint()
        report["profiles_recomputed"] = profiles.count()
        log.info("recomputing %d profiles", report["profiles_recomputed"])
        if not report["profiles_recomputed"]:  # nothing to recompute: nothing written
            for spec in ACTIVITY_TABLES:
                report[spec.name] = (
                    {"appended": 0}
                    if spec.name == "viewing_domain_event"
                    else {"upserted": 0, "deleted": 0, "version": engine.version(spec.name)}
                )
            return
        fact = fact.join(profiles, "profile_id", "left_semi")
        statements = statements.join(profiles, "profile_id", "left_semi")
    # each intermediate below feeds several tables: materialize it once, lineage cut
    # (localCheckpoint, not persist: a cached plan is printed inside every plan that
    # reads it, and these nest six deep -- megabytes per query on the driver)
    movies = engine.read("dim_movies").localCheckpoint()
    statements = statements.localCheckpoint()
    stated = statement_items(statements, movies)
    playback = playback_only(enrich_sessions(fact, movies, engine.read("dim_device")), statements)
    watched = counted_watched(stated.where(F.col("event_type") == "WATCHED"), playback)
    sessions = with_watched(playback, watched_sessions(watched)).localCheckpoint()
    records = viewing_records(sessions).localCheckpoint()
    seasons_done = season_completions(records, movies).localCheckpoint()
    shows_done = show_completions(seasons_done, records, movies).localCheckpoint()
    abandoned = merge_abandonments(
        abandoned_content(records, sessions, as_of, s),
        stated_abandonments(stated.where(F.col("event_type") == "ABANDONED"), records),
    ).localCheckpoint()
    report["viewing_record"] = sync_table(engine, "viewing_record", records, scope=profiles)
    report["show_progress"] = sync_table(
        engine,
        "show_progress",
        show_progress(records, movies, seasons_done, shows_done),
        scope=profiles,
    )
    report["binge_session"] = sync_table(
        engine,
        "binge_session",
        binge_sessions(sessions.where(F.col("statement_id").isNull()), s),
        scope=profiles,
    )
    # a lake built before the statement columns: add them (metadata only) before the write
    add_declared_columns(engine, "abandoned_content")
    report["abandoned_content"] = sync_table(engine, "abandoned_content", abandoned, scope=profiles)
    report["viewing_statistics"] = sync_table(
        engine, "viewing_statistics", viewing_statistics(sessions), scope=profiles
    )
    report["viewing_companion"] = sync_table(
        engine, "viewing_companion", companions(statements), scope=profiles
    )
    events = domain_events(records, seasons_done, shows_done, abandoned, movies, statements)
    report["viewing_domain_event"] = {"appended": append_new_events(engine, events)}


def read_statements(engine: DeltaEngine) -> DataFrame:
    """``viewing_statement``, or no rows when the ingest has not created it yet."""
    if engine.exists(VIEWING_STATEMENT.name):
        return engine.read(VIEWING_STATEMENT.name)
    return engine.spark.createDataFrame([], VIEWING_STATEMENT.schema)
