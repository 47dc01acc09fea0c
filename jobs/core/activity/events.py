"""Domain events: ``viewing_domain_event`` rows with deterministic ids, insert-only.

MovieWatched, TVEpisodeWatched, TVSeasonCompleted, TVShowCompleted and ViewingAbandoned,
with JSON payloads (fields: ``docs/star_schema.md``). An event's id hashes its type and
subject, so a rerun emits no duplicate and :func:`append_new_events` commits nothing.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.core.storage.delta import DeltaEngine


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
        seasons_done: :func:`jobs.core.activity.progress.season_completions` rows.
        shows_done: :func:`jobs.core.activity.progress.show_completions` rows.
        abandoned: ``abandoned_content`` rows.
        movies: ``dim_movies`` (the title names).
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
