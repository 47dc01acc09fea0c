"""Viewings from sessions: ``viewing_record`` (one viewing of an item, up to its finish).

Watched: a session finishes an item when its progress is >= ``watched_pct`` (90%) of the
runtime or its END lands within the last ``end_tail_pct`` (5%) of it — the fact's
``is_finished`` (:func:`jobs.core.rules.watched.finished`), for films and episodes alike.
A viewing is the run of sessions of one item up to and including the one that finished
it; the next session starts a new viewing, a rewatch (``is_rewatch``).

Out of order: the first viewing of an episode is flagged when the profile had already
started a lower episode of the same season and skipped at least one in between
(``skipped_episodes``). Analytics records it; nothing is rejected.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.core.rules.keys import UNKNOWN_KEY, surrogate_key


def session_end(c_ended: str = "ended_at", c_last: str = "last_event_at") -> Column:
    """A session's end time (UTC): its END event's ``c_ended``, else its last event ``c_last``."""
    return F.coalesce(F.col(c_ended), F.col(c_last))


def enrich_sessions(fact: DataFrame, movies: DataFrame, devices: DataFrame) -> DataFrame:
    """Fact rows of known films and episodes with their item and device attributes.

    Args:
        fact: ``fact_watch_history``.
        movies: ``dim_movies``.
        devices: ``dim_device``.

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
        F.min(F.when(F.col("is_finished"), session_end())).alias("completed_at"),
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
