"""Viewing activity from the star schema: what each profile watched, finished, binged, dropped.

    fact_watch_history + dim_movies + dim_device + viewing_statement
        ──▶ viewing_record       one viewing of an item: its sessions up to the finishing one
        ──▶ show_progress        per profile and series: position, completions, next episode
        ──▶ binge_session        consecutive episodes of a series, gaps <= binge_gap_minutes
        ──▶ abandoned_content    started, unfinished, idle for abandoned_after_days
        ──▶ viewing_statistics   per profile and week / month / year / all
        ──▶ viewing_domain_event MovieWatched, TVEpisodeWatched, TVSeasonCompleted,
                                 TVShowCompleted, ViewingAbandoned (JSON payloads)
        ──▶ viewing_companion    who watched with the profile (WATCHED statements)

Rules (thresholds in ``activity:`` in ``conf/base.yaml``):

* Watched: a session finishes an item when its progress is >= ``watched_pct`` (90%) of
  the runtime or its END lands within the last ``end_tail_pct`` (5%) of it — the fact's
  ``is_finished`` (:func:`jobs.core.rules.watched.finished`), for films and episodes alike. A viewing is the run of sessions of one
  item up to and including the one that finished it; the next session starts a new
  viewing, a rewatch (``is_rewatch``).
* Out of order: the first viewing of an episode is flagged when the profile had already
  started a lower episode of the same season and skipped at least one in between
  (``skipped_episodes``). Analytics records it; nothing is rejected.
* Seasons and shows are judged against the episodes known from the data seen (every
  profile): a season is complete when the profile finished every known episode of it and
  the known numbers run 1..N without a gap; a show when every known season is complete and,
  when the catalogue gives the number of seasons, that many are known.
* Binge: sessions of episodes of one series by one profile, each starting at most
  ``binge_gap_minutes`` (30) after the previous one ended, with at least
  ``binge_min_episodes`` (2) distinct episodes.
* Abandoned: the newest viewing of an item is unfinished and its last activity is more
  than ``abandoned_after_days`` (90) before the as-of time; an episode only when the
  profile has had no later activity on that series.
* Statements (WATCHED / ABANDONED posted through the API, ``viewing_statement``): a
  WATCHED statement is a finished viewing at its time, completing an open viewing or
  making one, never a second record of an item already watched unless it says
  ``isRewatch``; an ABANDONED one makes the item's ``abandoned_content`` row with its
  reason, rating and would-retry. Rules: :mod:`jobs.core.rules.statements`.

Every result depends on one profile's whole history (and on ``dim_movies`` and
``dim_device``), so a run recomputes only the profiles whose inputs changed since the
last run (``build_state``), named by the sources' change data feeds
(:func:`jobs.core.activity.scope.changed_profiles`): profiles with changed fact rows or
statements, the viewers of changed titles and devices, and those whose abandonment the
new as-of date may change. A first run, a source without a readable feed, or
``--full-refresh`` recomputes every profile. Rows are written through
:func:`jobs.core.storage.incremental.sync_table` scoped to the recomputed profiles, which commits
only rows that differ; other profiles' rows are not read again. Domain events have
deterministic ids and are insert-only: a rerun emits no duplicate and commits nothing.

Usage::

    python -m jobs.build_viewing_activity --as-of latest
    python -m jobs.build_viewing_activity --full-refresh   # every profile, e.g. after
                                                           # changing activity: in conf
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.core.activity.scope import Scope, changed_profiles
from jobs.core.rules.as_of import newest, resolve_as_of
from jobs.core.rules.episodes import next_episodes
from jobs.core.rules.keys import UNKNOWN_KEY, surrogate_key
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
from jobs.core.runtime.cli import job_parser, run
from jobs.core.runtime.config import ActivitySettings, Config
from jobs.core.storage.delta import DeltaEngine, TableNotFoundError, get_engine
from jobs.core.storage.incremental import read_marks, run_build, sync_table
from jobs.core.storage.schema_change import add_declared_columns
from jobs.core.tables.registry import VIEWING_STATEMENT
from jobs.core.tables.star import ACTIVITY_TABLES, BUILD_STATE

log = logging.getLogger("build_viewing_activity")

JOB = "build_viewing_activity"
SOURCES = ("fact_watch_history", "dim_movies", "dim_device", "viewing_statement")
ALL_START = dt.date(1970, 1, 1)


def _end(c_ended: str = "ended_at", c_last: str = "last_event_at") -> Column:
    return F.coalesce(F.col(c_ended), F.col(c_last))


def enrich_sessions(fact: DataFrame, movies: DataFrame, devices: DataFrame) -> DataFrame:
    """Fact rows of known films and episodes with their item and device attributes.

    Args:
        fact: ``fact_watch_history``; movies: ``dim_movies``; devices: ``dim_device``.

    Returns:
        The fact's columns plus title_id, episode_id, content_type (MOVIE/EPISODE),
        title_name, season_number, episode_number, genres, runtime_sec, device_type.
        Rows of the unknown item (``movie_key`` -1) are left out.
    """
    m = movies.where(F.col("movie_key") != UNKNOWN_KEY).select(
        "movie_key",
        "title_id",
        "episode_id",
        "content_type",
        "title_name",
        "season_number",
        "episode_number",
        "genres",
        "runtime_sec",
    )
    d = devices.select("device_key", "device_type")
    return fact.join(m, "movie_key").join(d, "device_key", "left")


def viewing_records(sessions: DataFrame) -> DataFrame:
    """``viewing_record`` rows from :func:`enrich_sessions` output.

    A session's ``watch_number`` is 1 + the finished sessions of the same (profile, item)
    before it (ordered by started_at, session_id), so a viewing ends with its finishing
    session and the next session opens a rewatch. With WATCHED pseudo-sessions
    (:func:`jobs.core.rules.statements.with_watched`: columns ``statement_id`` and
    ``stated_rewatch``), a viewing finished by a statement carries its ``statement_id``
    and takes ``is_rewatch`` from it when stated.

    Returns:
        The ``viewing_record`` columns (plus ``statement_id`` when given); times UTC,
        ``watch_seconds`` seconds.
    """
    stated = "statement_id" in sessions.columns
    w = Window.partitionBy("profile_id", "content_key").orderBy("started_at", "session_id")
    before = w.rowsBetween(Window.unboundedPreceding, -1)
    numbered = sessions.withColumn(
        "watch_number",
        (F.coalesce(F.sum(F.col("is_finished").cast("int")).over(before), F.lit(0)) + 1).cast(
            "int"
        ),
    )
    rec = numbered.groupBy("profile_id", "content_key", "watch_number").agg(
        F.first("title_id").alias("title_id"),
        F.first("episode_id").alias("episode_id"),
        F.first("content_type").alias("content_type"),
        F.first("season_number").alias("season_number"),
        F.first("episode_number").alias("episode_number"),
        F.min("started_at").alias("first_started_at"),
        F.max("last_event_at").alias("last_activity_at"),
        F.max("is_finished").alias("is_completed"),
        F.min(F.when(F.col("is_finished"), _end())).alias("completed_at"),
        F.count(F.lit(1)).alias("sessions"),
        F.sum("watch_seconds").alias("watch_seconds"),
        F.max("progress_pct").alias("progress_pct"),
        *(
            [F.max("statement_id").alias("statement_id"),
             F.max("stated_rewatch").alias("stated_rewatch")]
            if stated else []
        ),
    )  # fmt: skip
    # out of order: first viewings of episodes, against lower episodes of the season
    # started before
    firsts = rec.where((F.col("content_type") == "EPISODE") & (F.col("watch_number") == 1))
    season = Window.partitionBy("profile_id", "title_id", "season_number").orderBy(
        "first_started_at", "content_key"
    )
    prior = F.max("episode_number").over(season.rowsBetween(Window.unboundedPreceding, -1))
    skips = firsts.select(
        "profile_id",
        "content_key",
        F.lit(1).alias("watch_number"),
        F.when(
            prior.isNotNull() & (F.col("episode_number") > prior + 1),
            F.col("episode_number") - prior - 1,
        )
        .otherwise(0)
        .cast("int")
        .alias("skipped_episodes"),
    )
    return (
        rec.join(skips, ["profile_id", "content_key", "watch_number"], "left")
        .withColumn("skipped_episodes", F.coalesce("skipped_episodes", F.lit(0)))
        .withColumn("is_out_of_order", F.col("skipped_episodes") > 0)
        .withColumn(
            "is_rewatch",
            F.coalesce(F.col("stated_rewatch"), F.col("watch_number") > 1)
            if stated
            else F.col("watch_number") > 1,
        )
        .drop("stated_rewatch")
        .withColumn(
            "record_id", surrogate_key("record", "profile_id", "content_key", "watch_number")
        )
    )


def known_seasons(movies: DataFrame) -> DataFrame:
    """Per series and season, the episodes known from the data seen.

    Returns:
        ``title_id, season_number, known_episodes, is_contiguous`` (numbers run 1..N).
    """
    eps = movies.where(
        (F.col("content_type") == "EPISODE")
        & F.col("season_number").isNotNull()
        & F.col("episode_number").isNotNull()
    )
    return eps.groupBy("title_id", "season_number").agg(
        F.countDistinct("episode_number").alias("known_episodes"),
        (
            (F.min("episode_number") == 1)
            & (F.max("episode_number") == F.countDistinct("episode_number"))
        ).alias("is_contiguous"),
    )


def season_completions(records: DataFrame, movies: DataFrame) -> DataFrame:
    """Seasons a profile completed.

    Returns:
        ``profile_id, title_id, season_number, episodes_watched, completed_at,
        first_started_at`` (first start of any viewing of the season's episodes).
    """
    eps = records.where(F.col("content_type") == "EPISODE")
    done = (
        eps.where("is_completed")
        .groupBy("profile_id", "title_id", "season_number")
        .agg(
            F.countDistinct("content_key").alias("episodes_watched"),
            F.max("completed_at").alias("completed_at_all"),
        )
    )
    # the season became complete when its last still-missing episode was first finished
    first_done = (
        eps.where("is_completed")
        .groupBy("profile_id", "title_id", "season_number", "content_key")
        .agg(F.min("completed_at").alias("first_completed_at"))
        .groupBy("profile_id", "title_id", "season_number")
        .agg(F.max("first_completed_at").alias("completed_at"))
    )
    started = eps.groupBy("profile_id", "title_id", "season_number").agg(
        F.min("first_started_at").alias("first_started_at")
    )
    return (
        done.join(known_seasons(movies), ["title_id", "season_number"])
        .where(F.col("is_contiguous") & (F.col("episodes_watched") >= F.col("known_episodes")))
        .join(first_done, ["profile_id", "title_id", "season_number"])
        .join(started, ["profile_id", "title_id", "season_number"])
        .select(
            "profile_id",
            "title_id",
            "season_number",
            "episodes_watched",
            "completed_at",
            "first_started_at",
        )
    )


def show_completions(seasons_done: DataFrame, records: DataFrame, movies: DataFrame) -> DataFrame:
    """Shows a profile completed: every known season complete (and the catalogue count).

    Returns:
        ``profile_id, title_id, completed_at, total_episodes, total_viewing_sec``.
    """
    ks = known_seasons(movies).groupBy("title_id").agg(F.count(F.lit(1)).alias("known_seasons"))
    catalog = (
        movies.where(F.col("content_type") == "EPISODE")
        .groupBy("title_id")
        .agg(F.max("number_of_seasons").alias("number_of_seasons"))
    )
    per_show = seasons_done.groupBy("profile_id", "title_id").agg(
        F.count(F.lit(1)).alias("completed_seasons"),
        F.sum("episodes_watched").alias("total_episodes"),
        F.max("completed_at").alias("completed_at"),
    )
    viewing = (
        records.where(F.col("content_type") == "EPISODE")
        .groupBy("profile_id", "title_id")
        .agg(F.sum("watch_seconds").alias("total_viewing_sec"))
    )
    return (
        per_show.join(ks, "title_id")
        .join(catalog, "title_id", "left")
        .where(
            (F.col("completed_seasons") >= F.col("known_seasons"))
            & (
                F.col("number_of_seasons").isNull()
                | (F.col("known_seasons") >= F.col("number_of_seasons"))
            )
        )
        .join(viewing, ["profile_id", "title_id"])
        .select("profile_id", "title_id", "completed_at", "total_episodes", "total_viewing_sec")
    )


def newest_episode_viewings(records: DataFrame) -> DataFrame:
    """Per profile and series, the episode viewing with the newest activity.

    Returns:
        ``profile_id, title_id, season_number, episode_number, last_content_key,
        last_completed, last_watched_at`` (ties broken by content_key, watch_number).
    """
    newest = Window.partitionBy("profile_id", "title_id").orderBy(
        F.col("last_activity_at").desc(), F.col("content_key").desc(), F.col("watch_number").desc()
    )
    return (
        records.where(F.col("content_type") == "EPISODE")
        .withColumn("_r", F.row_number().over(newest))
        .where("_r = 1")
        .select(
            "profile_id",
            "title_id",
            "season_number",
            "episode_number",
            F.col("content_key").alias("last_content_key"),
            F.col("is_completed").alias("last_completed"),
            F.col("last_activity_at").alias("last_watched_at"),
        )
    )


def show_progress(
    records: DataFrame, movies: DataFrame, seasons_done: DataFrame, shows_done: DataFrame
) -> DataFrame:
    """``show_progress`` rows: one per profile and series with an episode viewing.

    The next episode: after a finished newest viewing, its successor among the episodes
    of ``dim_movies`` (:func:`jobs.core.rules.episodes.next_episodes`: the next number in its
    season, else episode 1 of the next season; NULL when the data has not seen it);
    after an unfinished one, that same episode.
    """
    last = newest_episode_viewings(records)
    keys = ["profile_id", "title_id"]
    counts = (
        records.where(F.col("content_type") == "EPISODE")
        .groupBy(*keys)
        .agg(
            F.countDistinct(F.when(F.col("is_completed"), F.col("content_key"))).alias(
                "episodes_watched"
            )
        )
    )
    nseasons = seasons_done.groupBy(*keys).agg(
        F.count(F.lit(1)).cast("int").alias("completed_seasons")
    )
    successors = next_episodes(last, movies.where(F.col("content_type") == "EPISODE"), keys)
    names = movies.groupBy("title_id").agg(F.first("title_name").alias("title_name"))
    j = (
        last.join(counts, keys)
        .join(nseasons, keys, "left")
        .join(shows_done.select(*keys, "completed_at"), keys, "left")
        .join(successors, keys, "left")
        .join(names, "title_id", "left")
    )
    done = F.col("last_completed")
    return j.select(
        "profile_id",
        "title_id",
        "title_name",
        F.col("season_number").alias("last_season_number"),
        F.col("episode_number").alias("last_episode_number"),
        "last_watched_at",
        "episodes_watched",
        F.coalesce("completed_seasons", F.lit(0)).alias("completed_seasons"),
        F.col("completed_at").isNotNull().alias("is_completed"),
        "completed_at",
        F.when(done, F.col("next_season_number"))
        .otherwise(F.col("season_number"))
        .alias("next_season_number"),
        F.when(done, F.col("next_episode_number"))
        .otherwise(F.col("episode_number"))
        .alias("next_episode_number"),
        F.when(done, F.col("next_episode_id"))
        .otherwise(F.col("last_content_key"))
        .alias("next_episode_id"),
    )


def binge_sessions(sessions: DataFrame, s: ActivitySettings) -> DataFrame:
    """``binge_session`` rows: runs of episodes of one series, gaps <= ``binge_gap_minutes``.

    The gap is from the previous session's end (END, else its last event) to the next
    start; overlapping sessions continue the binge.
    """
    eps = sessions.where(F.col("content_type") == "EPISODE").withColumn("_end", _end())
    w = Window.partitionBy("profile_id", "title_id").orderBy("started_at", "session_id")
    prev_end = F.max("_end").over(w.rowsBetween(Window.unboundedPreceding, -1))
    gap = F.unix_seconds(F.col("started_at")) - F.unix_seconds(prev_end)
    new = F.when(prev_end.isNull() | (gap > s.binge_gap_minutes * 60), 1).otherwise(0)
    grouped = eps.withColumn("_new", new).withColumn("_grp", F.sum("_new").over(w))
    return (
        grouped.groupBy("profile_id", "title_id", "_grp")
        .agg(
            F.min("started_at").alias("started_at"),
            F.max("_end").alias("ended_at"),
            F.countDistinct("content_key").alias("episodes_watched"),
            F.count(F.lit(1)).alias("sessions"),
            F.sum("watch_seconds").alias("watch_seconds"),
        )
        .where(F.col("episodes_watched") >= s.binge_min_episodes)
        .withColumn("binge_id", surrogate_key("binge", "profile_id", "title_id", "started_at"))
    )


def abandoned_content(
    records: DataFrame, sessions: DataFrame, as_of: dt.datetime, s: ActivitySettings
) -> DataFrame:
    """``abandoned_content`` rows as of ``as_of`` (UTC); see the module docstring."""
    newest = Window.partitionBy("profile_id", "content_key").orderBy(F.col("watch_number").desc())
    latest = records.withColumn("_r", F.row_number().over(newest)).where("_r = 1")
    series_last = (
        sessions.where(F.col("content_type") == "EPISODE")
        .groupBy("profile_id", "title_id")
        .agg(F.max("last_event_at").alias("series_last"))
    )
    limit = as_of - dt.timedelta(days=s.abandoned_after_days)
    cand = latest.where(~F.col("is_completed") & (F.col("last_activity_at") < F.lit(limit)))
    cand = cand.join(series_last, ["profile_id", "title_id"], "left").where(
        (F.col("content_type") == "MOVIE") | (F.col("series_last") <= F.col("last_activity_at"))
    )
    return cand.select(
        "profile_id",
        "content_key",
        "title_id",
        "episode_id",
        "content_type",
        "last_activity_at",
        (F.col("last_activity_at") + F.expr(f"INTERVAL {s.abandoned_after_days} DAYS")).alias(
            "abandoned_at"
        ),
        "progress_pct",
    )


def viewing_statistics(sessions: DataFrame) -> DataFrame:
    """``viewing_statistics``: per profile, period and breakdown value.

    Periods by the UTC date of session start: ``week`` (starting Monday), ``month``,
    ``year`` and ``all`` (period_start 1970-01-01). Breakdowns: ``total`` ('all'),
    ``content_type``, ``genre`` (each genre of a title; 'unknown' when unmatched) and
    ``device_type``.
    """
    d = F.to_date("started_at")

    def pair(k1: str, v1: Column, k2: str, v2: Column) -> Column:
        return F.named_struct(F.lit(k1), v1, F.lit(k2), v2)

    periods = F.array(
        pair("period", F.lit("week"), "ps", F.date_trunc("week", d).cast("date")),
        pair("period", F.lit("month"), "ps", F.trunc(d, "month")),
        pair("period", F.lit("year"), "ps", F.trunc(d, "year")),
        pair("period", F.lit("all"), "ps", F.lit(ALL_START)),
    )
    genres = F.when(F.col("genres").isNull(), F.array(F.lit("unknown"))).otherwise(
        F.split(F.col("genres"), r"\s*,\s*")
    )
    breakdowns = F.concat(
        F.array(pair("b", F.lit("total"), "v", F.lit("all"))),
        F.array(pair("b", F.lit("content_type"), "v", F.col("content_type"))),
        F.transform(genres, lambda g: pair("b", F.lit("genre"), "v", g)),
        F.array(pair("b", F.lit("device_type"), "v", F.coalesce("device_type", F.lit("other")))),
    )
    rows = sessions.select(
        "profile_id",
        "content_key",
        "is_finished",
        "watch_seconds",
        breakdowns.alias("xs"),
        F.explode(periods).alias("p"),
    ).select("*", F.explode("xs").alias("x"))
    return rows.groupBy(
        "profile_id",
        F.col("p.period").alias("period"),
        F.col("p.ps").alias("period_start"),
        F.col("x.b").alias("breakdown"),
        F.col("x.v").alias("breakdown_value"),
    ).agg(
        F.countDistinct("content_key").alias("items_watched"),
        F.countDistinct(F.when(F.col("is_finished"), F.col("content_key"))).alias(
            "items_completed"
        ),
        F.round(F.sum("watch_seconds") / 3600.0, 2).alias("watch_hours"),
    )


def _event(
    df: DataFrame, kind: str, id_parts: list[str], occurred: str, payload: dict[str, Column]
) -> DataFrame:
    parts = [F.lit(kind), *[F.coalesce(F.col(p).cast("string"), F.lit("")) for p in id_parts]]
    return df.select(
        F.sha2(F.concat_ws("|", *parts), 256).substr(1, 32).alias("event_id"),
        F.lit(kind).alias("event_type"),
        "profile_id",
        "title_id",
        (F.col("episode_id") if "episode_id" in df.columns else F.lit(None))
        .cast("long")
        .alias("episode_id"),
        F.col(occurred).alias("occurred_at"),
        F.to_json(
            F.struct(
                F.lit(kind).alias("event_type"),
                F.col("profile_id").alias("profile_id"),
                *[c.alias(k) for k, c in payload.items()],
            )
        ).alias("payload"),
    )


def _ts(c: str) -> Column:
    """ISO-8601 UTC text of a timestamp column, for JSON payloads."""
    return F.date_format(F.col(c), "yyyy-MM-dd'T'HH:mm:ss'Z'")


def watched_events(completed: DataFrame) -> DataFrame:
    """``MovieWatched`` and ``TVEpisodeWatched``: one per completed viewing.

    A viewing finished by a WATCHED statement also carries the statement's fields
    (MovieWatched: viewing_location, viewing_platform, watched_with, viewing_context;
    TVEpisodeWatched: platform, binge_session_id, viewing_duration_sec); NULL fields are
    left out of the JSON, so a viewing without a statement has the same payload as before.

    Args:
        completed: completed ``viewing_record`` rows with ``title_name`` and the
            statement columns (NULL without a statement).
    """
    ids = ["profile_id", "content_key", "watch_number"]
    movie = _event(
        completed.where(F.col("content_type") == "MOVIE"),
        "MovieWatched",
        ids,
        "completed_at",
        {
            "title_id": F.col("title_id"),
            "title_name": F.col("title_name"),
            "watched_at": _ts("completed_at"),
            "watch_seconds": F.col("watch_seconds"),
            "progress_pct": F.col("progress_pct"),
            "is_rewatch": F.col("is_rewatch"),
            "viewing_location": F.col("viewing_location"),
            "viewing_platform": F.col("viewing_platform"),
            "watched_with": F.col("watched_with"),
            "viewing_context": F.col("viewing_context"),
        },
    )
    episode = _event(
        completed.where(F.col("content_type") == "EPISODE"),
        "TVEpisodeWatched",
        ids,
        "completed_at",
        {
            "series_id": F.col("title_id"),
            "series_title": F.col("title_name"),
            "episode_id": F.col("episode_id"),
            "season_number": F.col("season_number"),
            "episode_number": F.col("episode_number"),
            "watched_at": _ts("completed_at"),
            "is_rewatch": F.col("is_rewatch"),
            "is_out_of_order": F.col("is_out_of_order"),
            "platform": F.col("viewing_platform"),
            "binge_session_id": F.col("binge_session_id"),
            "viewing_duration_sec": F.col("viewing_duration_sec"),
        },
    )
    return movie.unionByName(episode)


def completion_events(seasons_done: DataFrame, shows_done: DataFrame) -> DataFrame:
    """``TVSeasonCompleted`` (per season completed) and ``TVShowCompleted`` (per show)."""
    season = _event(
        seasons_done,
        "TVSeasonCompleted",
        ["profile_id", "title_id", "season_number"],
        "completed_at",
        {
            "series_id": F.col("title_id"),
            "season_number": F.col("season_number"),
            "episodes_watched": F.col("episodes_watched"),
            "binge_duration_sec": F.unix_seconds(F.col("completed_at"))
            - F.unix_seconds(F.col("first_started_at")),
            "completed_at": _ts("completed_at"),
        },
    )
    show = _event(
        shows_done,
        "TVShowCompleted",
        ["profile_id", "title_id"],
        "completed_at",
        {
            "series_id": F.col("title_id"),
            "total_episodes": F.col("total_episodes"),
            "total_viewing_time_sec": F.col("total_viewing_sec"),
            "completed_at": _ts("completed_at"),
        },
    )
    return season.unionByName(show)


def abandoned_events(abandoned: DataFrame) -> DataFrame:
    """``ViewingAbandoned``: one per ``abandoned_content`` row.

    Subject: (profile, item, last_activity_at) for an abandonment inferred from
    inactivity, (profile, item, statement_id) for a stated one (its id does not move
    when later activity moves ``last_activity_at``). A stated one's payload adds
    abandon_reason, quality_rating, would_retry (NULL fields are left out).
    """
    subject = F.coalesce(F.col("statement_id"), F.col("last_activity_at").cast("string"))
    return _event(
        abandoned.withColumn("_subject", subject),
        "ViewingAbandoned",
        ["profile_id", "content_key", "_subject"],
        "abandoned_at",
        {
            "title_id": F.col("title_id"),
            "episode_id": F.col("episode_id"),
            "content_type": F.col("content_type"),
            "progress_percent": F.col("progress_pct"),
            "last_activity_at": _ts("last_activity_at"),
            "abandon_reason": F.col("abandon_reason"),
            "quality_rating": F.col("quality_rating"),
            "would_retry": F.col("would_retry"),
        },
    )


def domain_events(
    records: DataFrame,
    seasons_done: DataFrame,
    shows_done: DataFrame,
    abandoned: DataFrame,
    movies: DataFrame,
    statements: DataFrame,
) -> DataFrame:
    """``viewing_domain_event`` rows of the design's events, with deterministic ids.

    Ids hash the event type and its subject: (profile, item, watch_number) for the
    watched events, (profile, series, season) and (profile, series) for completions,
    (profile, item, last_activity_at or statement) for ViewingAbandoned. Payload
    fields: see ``docs/star_schema.md``.

    Args:
        records: ``viewing_record`` rows with ``statement_id`` (NULL without one).
        statements: ``viewing_statement`` rows (their fields enter the watched payloads).
    """
    names = movies.groupBy("title_id").agg(F.first("title_name").alias("title_name"))
    fields = statements.select(
        "statement_id", "viewing_location", "viewing_platform", "watched_with",
        "viewing_context", "binge_session_id", "viewing_duration_sec",
    )  # fmt: skip
    completed = (
        records.where("is_completed")
        .join(names, "title_id", "left")
        .join(fields, "statement_id", "left")
    )
    return (
        watched_events(completed)
        .unionByName(completion_events(seasons_done, shows_done))
        .unionByName(abandoned_events(abandoned))
    )


def append_new_events(engine: DeltaEngine, events: DataFrame) -> int:
    """Append the events whose ``event_id`` is not stored yet; returns how many."""
    stored = engine.read("viewing_domain_event").select("event_id")
    new = events.join(stored, "event_id", "left_anti").persist()
    n = new.count()
    if n:
        engine.append("viewing_domain_event", new)
    new.unpersist()
    return n


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
    """Recompute the viewing-activity rows of the profiles in ``scope`` (default every
    profile) from the fact and the statements; write only what changed (statement rules:
    :mod:`jobs.core.rules.statements`).

    Args:
        fact: ``fact_watch_history`` (every profile; filtered here to the scope).
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


def _run(args: argparse.Namespace, cfg: Config) -> int:
    from jobs.core.runtime.spark import build_spark

    spark = build_spark(JOB, cfg)
    report = build(get_engine(spark, cfg), args.as_of, cfg.activity, args.full_refresh)
    print(json.dumps(report, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(
        "python -m jobs.build_viewing_activity",
        "Build viewing_record, show_progress, binge_session, abandoned_content, "
        "viewing_statistics and viewing_domain_event from the star schema.",
    )
    parser.add_argument(
        "--as-of",
        default=None,
        help="reference time for abandonment (UTC ISO, 'now' or 'latest'; default now)",
    )
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="recompute every profile even when no source changed (e.g. after changing "
        "the activity: thresholds in conf); default: only the profiles that changed",
    )
    return run(_run, parser, argv, usage_errors=(ValueError,))


if __name__ == "__main__":
    sys.exit(main())
