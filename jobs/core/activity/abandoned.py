"""Abandonment inferred from inactivity: ``abandoned_content``.

The newest viewing of an item is unfinished and its last activity is more than
``abandoned_after_days`` (90) before the as-of time (UTC); an episode only when the
profile has had no later activity on that series. Stated abandonments (ABANDONED
statements) are merged in by :func:`jobs.core.rules.statements.merge_abandonments`.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.core.runtime.config import ActivitySettings


def abandoned_content(
    records: DataFrame, sessions: DataFrame, as_of: dt.datetime, s: ActivitySettings
) -> DataFrame:
    """``abandoned_content`` rows as of ``as_of`` (UTC); see the module docstring.

    Returns:
        ``profile_id, content_key, title_id, episode_id, content_type,
        last_activity_at, abandoned_at`` (last activity + ``abandoned_after_days``),
        ``progress_pct``.
    """
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
