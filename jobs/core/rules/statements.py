"""Explicit statements in the viewing activity: "I watched it", "I gave up on it".

A WATCHED or ABANDONED statement (posted through the API, stored by the ingest in
``viewing_statement``) also lands in ``playback_event`` as a one-event session
(``session_id`` = ``api-`` + record id), so the star schema sees it as a session. The
activity build does not take that session as playback; it takes the statement itself,
by these rules:

* **Statement sessions left out.** Sessions whose ``session_id`` is a statement's are
  removed from the sessions the activity is computed from (:func:`playback_only`).
* **WATCHED = a finished pseudo-session** at the statement time (:func:`watched_sessions`),
  numbered with the real sessions by ``viewing_records``: after an unfinished viewing
  it completes that viewing (``completed_at`` = the statement time); otherwise it is a
  viewing of its own.
* **No double count.** A WATCHED statement with ``is_rewatch`` true always counts (a
  new viewing, ``is_rewatch`` true whatever the numbering says). One without it counts
  only when nothing else shows the item watched: no finished session of it, no rewatch
  statement, and no earlier such statement (the earliest counts). Otherwise it confirms
  the viewing already recorded and adds no record (:func:`counted_watched`); its
  companions are kept all the same.
* **ABANDONED** (:func:`stated_abandonments`): the profile's newest ABANDONED statement
  of an item makes the item's ``abandoned_content`` row (reason, rating, would-retry,
  the stated progress, ``abandoned_at`` = the statement time), replacing a row inferred
  from inactivity, unless a viewing of the item completed after it.
* **Companions** (:func:`companions`): one ``viewing_companion`` row per distinct name in
  ``watched_with`` of every WATCHED statement.

All functions are pure ``DataFrame -> DataFrame`` transforms; times are UTC.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.core.rules.keys import UNKNOWN_KEY

# device classes of dim_device (jobs/core/ingest/netflix_export.py); a stated platform outside them is 'other'
DEVICE_CLASSES = ("TV", "mobile", "tablet", "web", "console", "streaming_stick")


def statement_items(statements: DataFrame, movies: DataFrame) -> DataFrame:
    """Statements of known items with their ``dim_movies`` attributes.

    Args:
        statements: ``viewing_statement`` rows.
        movies: ``dim_movies``.

    Returns:
        The statement columns plus content_key, content_type, title_name, season_number,
        episode_number, genres. Statements of items ``dim_movies`` does not know yet are
        left out (the build reruns when ``dim_movies`` changes).
    """
    m = movies.where(F.col("movie_key") != UNKNOWN_KEY).select(
        "content_key", "content_type", "title_name", "season_number", "episode_number", "genres",
    )  # fmt: skip
    key = F.coalesce(F.col("episode_id"), F.col("title_id"))
    return statements.withColumn("content_key", key).join(m, "content_key")


def playback_only(sessions: DataFrame, statements: DataFrame) -> DataFrame:
    """``sessions`` without the one-event sessions the statements themselves made.

    Args:
        sessions: enriched fact rows (``session_id`` ...).
        statements: ``viewing_statement`` rows (every type).
    """
    return sessions.join(statements.select("session_id").distinct(), "session_id", "left_anti")


def counted_watched(watched: DataFrame, sessions: DataFrame) -> DataFrame:
    """The WATCHED statements that count as a viewing (module rules, "No double count").

    Args:
        watched: :func:`statement_items` rows of WATCHED statements.
        sessions: playback sessions (:func:`playback_only`): profile_id, content_key,
            is_finished.

    Returns:
        The counted rows of ``watched``, same columns.
    """
    item = ["profile_id", "content_key"]
    finished = sessions.where("is_finished").select(*item).distinct()
    rewatch = F.coalesce(F.col("is_rewatch"), F.lit(False))
    stated = watched.where(rewatch)
    plain = watched.where(~rewatch)
    first = Window.partitionBy(*item).orderBy("event_time", "statement_id")
    first_plain = (
        plain.withColumn("_n", F.row_number().over(first))
        .where("_n = 1")
        .drop("_n")
        .join(finished, item, "left_anti")
        .join(stated.select(*item).distinct(), item, "left_anti")
    )
    return stated.unionByName(first_plain)


def _device_type(platform: Column) -> Column:
    known = F.lit(None).cast("string")
    for c in DEVICE_CLASSES:
        known = F.when(F.lower(platform) == c.lower(), F.lit(c)).otherwise(known)
    return F.coalesce(known, F.lit("other"))


def watched_sessions(counted: DataFrame) -> DataFrame:
    """Counted WATCHED statements as finished pseudo-sessions, for ``viewing_records``.

    Returns:
        Session columns (session_id, profile_id, content_key, title_id, episode_id,
        content_type, title_name, season_number, episode_number, genres, started_at =
        ended_at = last_event_at = the statement time, is_finished true, watch_seconds =
        ``viewing_duration_sec`` (NULL when not stated), progress_pct 100, device_type
        from the stated platform) plus ``statement_id`` and ``stated_rewatch``.
    """
    t = F.col("event_time")
    return counted.select(
        "session_id", "profile_id", "content_key", "title_id", "episode_id", "content_type",
        "title_name", "season_number", "episode_number", "genres",
        t.alias("started_at"), t.alias("ended_at"), t.alias("last_event_at"),
        F.lit(True).alias("is_finished"),
        F.col("viewing_duration_sec").cast("long").alias("watch_seconds"),
        F.lit(100.0).alias("progress_pct"),
        _device_type(F.col("viewing_platform")).alias("device_type"),
        "statement_id",
        F.col("is_rewatch").alias("stated_rewatch"),
    )  # fmt: skip


def with_watched(sessions: DataFrame, pseudo: DataFrame) -> DataFrame:
    """Playback sessions and WATCHED pseudo-sessions in one frame.

    Returns:
        The columns of ``pseudo``, in its order; ``statement_id`` and ``stated_rewatch``
        NULL on playback sessions.
    """
    missing = [c for c in pseudo.columns if c not in sessions.columns]
    real = sessions.select(
        *[F.col(c) for c in sessions.columns],
        *[F.lit(None).cast(pseudo.schema[c].dataType).alias(c) for c in missing],
    )
    return real.select(pseudo.columns).unionByName(pseudo)


def stated_abandonments(abandoned: DataFrame, records: DataFrame) -> DataFrame:
    """``abandoned_content`` rows from ABANDONED statements.

    Args:
        abandoned: :func:`statement_items` rows of ABANDONED statements.
        records: ``viewing_record`` rows (profile_id, content_key, completed_at,
            last_activity_at).

    Returns:
        The ``abandoned_content`` columns: per (profile, item) the newest statement,
        unless a viewing completed after it; ``last_activity_at`` = the newer of the
        statement time and the item's newest viewing activity.
    """
    item = ["profile_id", "content_key"]
    newest = Window.partitionBy(*item).orderBy(F.col("event_time").desc(), F.col("statement_id"))
    latest = abandoned.withColumn("_n", F.row_number().over(newest)).where("_n = 1")
    seen = records.groupBy(*item).agg(
        F.max("completed_at").alias("_done"), F.max("last_activity_at").alias("_last")
    )
    kept = latest.join(seen, item, "left").where(
        F.col("_done").isNull() | (F.col("_done") <= F.col("event_time"))
    )
    return kept.select(
        *item, "title_id", "episode_id", "content_type",
        F.greatest("event_time", "_last").alias("last_activity_at"),
        F.col("event_time").alias("abandoned_at"),
        "progress_pct", "statement_id", "abandon_reason", "quality_rating", "would_retry",
    )  # fmt: skip


def merge_abandonments(inferred: DataFrame, stated: DataFrame) -> DataFrame:
    """Inferred and stated abandonments, one row per (profile, item): the stated one wins."""
    keys = ["profile_id", "content_key"]
    stated_cols = ["statement_id", "abandon_reason", "quality_rating", "would_retry"]
    plain = inferred.select(
        "*", *[F.lit(None).cast(stated.schema[c].dataType).alias(c) for c in stated_cols]
    )
    return (
        plain.join(stated.select(*keys), keys, "left_anti")
        .select(stated.columns)
        .unionByName(stated)
    )


def companions(statements: DataFrame) -> DataFrame:
    """``viewing_companion`` rows: each distinct non-empty name of a WATCHED statement.

    Args:
        statements: ``viewing_statement`` rows.
    """
    return (
        statements.where((F.col("event_type") == "WATCHED") & (F.size("watched_with") > 0))
        .select(
            "statement_id", "profile_id", "title_id", "episode_id",
            F.explode(F.array_distinct("watched_with")).alias("companion_name"),
            F.col("event_time").alias("watched_at"),
        )
        .where(F.col("companion_name").isNotNull() & (F.trim("companion_name") != ""))
    )  # fmt: skip
