"""Interactions: what a profile did with a title, as implicit and explicit feedback.

VIEW rows come from playback sessions (one per non-supplemental session; trailers, hooks
and other supplementals are never interactions). Their value is the completion of the
session in 0..1: the last playhead position over the item's runtime when the runtime is
known (catalogue or observed), else watch time over a typical length
(conf ``recommend.interactions.typical_length_sec``), capped at 1. This is the implicit
"confidence" input of ALS (Hu, Koren & Volinsky, "Collaborative Filtering for Implicit
Feedback Datasets", ICDM 2008): watching more of a title is stronger evidence of liking it.
Explicit rows (LIKE, DISLIKE, RATING, SHARE) come from feedback events that carry them.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.core.tables.reco import INTERACTION_TYPES

# Weight of explicit feedback in the implicit confidence (a LIKE counts as a full view).
FEEDBACK_WEIGHT = {"LIKE": 1.0, "SHARE": 1.0, "DISLIKE": -1.0}


def viewing_sessions(
    sessions: DataFrame, titles: DataFrame, episodes: DataFrame, typical_length_sec: int
) -> DataFrame:
    """Non-supplemental sessions with watch time and completion.

    Args:
        sessions: ``playback_session`` rows (session_id, profile_id, title_id, episode_id,
            is_supplemental, started_at, ended_at, last_event_at, last_position_sec).
        titles: ``title`` (title_id, title_type, runtime_sec: films).
        episodes: ``episode`` (episode_id, runtime_sec).
        typical_length_sec: length assumed when the runtime is unknown (seconds).

    Returns:
        ``viewing_session`` columns: session_id, profile_id, title_id, episode_id,
        watch_duration_sec (seconds, >= 0), completion_rate (0..1), started_at, ended_at.
        Sessions of SUPPLEMENTAL titles or flagged ``is_supplemental`` are dropped.
    """
    film = titles.select("title_id", "title_type", F.col("runtime_sec").alias("film_runtime"))
    ep = episodes.select("episode_id", F.col("runtime_sec").alias("episode_runtime"))
    ended = F.coalesce("ended_at", "last_event_at", "started_at")
    watch = F.greatest(F.lit(0), F.unix_timestamp(ended) - F.unix_timestamp("started_at"))
    runtime = F.when(F.col("episode_id").isNotNull(), F.col("episode_runtime")).otherwise(
        F.col("film_runtime")
    )
    by_runtime = F.col("last_position_sec") / runtime
    by_watch = watch / F.lit(float(typical_length_sec))
    completion = F.when(runtime > 0, by_runtime).otherwise(by_watch)
    return (
        sessions.where(~F.coalesce(F.col("is_supplemental"), F.lit(False)))
        .join(film, "title_id", "left")
        .join(ep, "episode_id", "left")
        .where(F.coalesce(F.col("title_type"), F.lit("")) != "SUPPLEMENTAL")
        .select(
            "session_id",
            "profile_id",
            "title_id",
            "episode_id",
            watch.cast("long").alias("watch_duration_sec"),
            F.least(F.lit(1.0), F.greatest(F.lit(0.0), completion)).alias("completion_rate"),
            "started_at",
            ended.alias("ended_at"),
        )
    )


def view_interactions(viewing: DataFrame, ingested_at: dt.datetime) -> DataFrame:
    """One VIEW interaction per (profile, title, session start).

    Args:
        viewing: ``viewing_session`` rows.
        ingested_at: time of this build (UTC), recorded so generation can find the
            profiles touched since its last run.

    Returns:
        ``user_content_interaction`` columns. Two sessions of one title starting in the same
        second (two devices) become one row with the higher completion.
    """
    w = Window.partitionBy("profile_id", "title_id", "started_at").orderBy(
        F.desc("completion_rate"), "session_id"
    )
    return (
        viewing.withColumn("_n", F.row_number().over(w))
        .where("_n = 1")
        .select(
            "profile_id",
            "title_id",
            F.lit("VIEW").alias("interaction_type"),
            F.col("completion_rate").alias("interaction_value"),
            F.col("started_at").alias("event_ts"),
            "session_id",
            F.lit(ingested_at).cast("timestamp").alias("ingested_at"),
        )
    )


def explicit_interactions(
    feedback: DataFrame, ingested_at: dt.datetime
) -> tuple[DataFrame, DataFrame]:
    """Validate explicit feedback events (LIKE, DISLIKE, RATING 1..5, SHARE).

    Args:
        feedback: profile_id, title_id, interaction_type, interaction_value, event_ts.
        ingested_at: build time (UTC).

    Returns:
        ``(interactions, rejected)``: valid rows in ``user_content_interaction`` columns
        (session_id NULL; value 1 for LIKE/DISLIKE/SHARE), and the others with a ``reason``.
    """
    kind = F.upper(F.col("interaction_type"))
    reason = (
        F.when(F.col("profile_id").isNull() | F.col("title_id").isNull(), "missing id")
        .when(F.col("event_ts").isNull(), "missing event_ts")
        .when(~kind.isin(*INTERACTION_TYPES) | (kind == "VIEW"), "unknown interaction_type")
        .when((kind == "RATING") & ~F.col("interaction_value").between(1, 5), "rating not in 1..5")
    )
    tagged = feedback.withColumn("reason", reason)
    good = tagged.where(F.col("reason").isNull()).select(
        "profile_id",
        "title_id",
        kind.alias("interaction_type"),
        F.when(kind == "RATING", F.col("interaction_value"))
        .otherwise(1.0)
        .alias("interaction_value"),
        "event_ts",
        F.lit(None).cast("string").alias("session_id"),
        F.lit(ingested_at).cast("timestamp").alias("ingested_at"),
    )
    return good, tagged.where(F.col("reason").isNotNull())


def current_ratings(interactions: DataFrame) -> DataFrame:
    """``user_content_rating``: the newest RATING per (profile, title).

    Args:
        interactions: ``user_content_interaction`` rows.

    Returns:
        profile_id, title_id, rating (1..5), rated_at (UTC).
    """
    w = Window.partitionBy("profile_id", "title_id").orderBy(F.desc("event_ts"))
    return (
        interactions.where(F.col("interaction_type") == "RATING")
        .withColumn("_n", F.row_number().over(w))
        .where("_n = 1")
        .select(
            "profile_id",
            "title_id",
            F.col("interaction_value").alias("rating"),
            F.col("event_ts").alias("rated_at"),
        )
    )


def training_interactions(
    interactions: DataFrame, as_of: dt.datetime, window_days: int | None
) -> DataFrame:
    """Aggregate interactions over ``[as_of - window_days, as_of)`` per (profile, title).

    Confidence = sum of VIEW completions + 1 per LIKE/SHARE - 1 per DISLIKE + (rating - 3)/2,
    floored at 0; rows whose confidence is 0 are dropped (a DISLIKE cancels a view).

    Args:
        interactions: ``user_content_interaction`` rows.
        as_of: exclusive window end (UTC).
        window_days: window length in days; ``None`` keeps all history.

    Returns:
        ``training_interactions`` columns.
    """
    start = as_of - dt.timedelta(days=window_days) if window_days else dt.datetime(1900, 1, 1)
    kind = F.col("interaction_type")
    value = (
        F.when(kind == "VIEW", F.col("interaction_value"))
        .when(kind == "RATING", (F.col("interaction_value") - 3.0) / 2.0)
        .otherwise(
            F.coalesce(
                F.create_map(
                    *[x for k, v in FEEDBACK_WEIGHT.items() for x in (F.lit(k), F.lit(v))]
                )[kind],
                F.lit(0.0),
            )
        )
    )
    return (
        interactions.where((F.col("event_ts") >= F.lit(start)) & (F.col("event_ts") < F.lit(as_of)))
        .groupBy("profile_id", "title_id")
        .agg(
            F.sum(F.when(kind == "VIEW", 1).otherwise(0)).cast("long").alias("views"),
            F.greatest(F.lit(0.0), F.sum(value)).alias("confidence"),
            F.min("event_ts").alias("first_ts"),
            F.max("event_ts").alias("last_ts"),
        )
        .where(F.col("confidence") > 0)
        .withColumn("window_start", F.lit(start).cast("timestamp"))
        .withColumn("window_end", F.lit(as_of).cast("timestamp"))
    )
