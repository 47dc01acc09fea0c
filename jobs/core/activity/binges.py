"""Binges: ``binge_session``, consecutive episodes of one series by one profile.

Sessions of episodes of one series by one profile, each starting at most
``binge_gap_minutes`` (30) after the previous one ended, with at least
``binge_min_episodes`` (2) distinct episodes.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.core.activity.records import session_end
from jobs.core.rules.keys import surrogate_key
from jobs.core.runtime.config import ActivitySettings


def binge_sessions(sessions: DataFrame, s: ActivitySettings) -> DataFrame:
    """``binge_session`` rows: runs of episodes of one series, gaps <= ``binge_gap_minutes``.

    The gap is from the previous session's end (END, else its last event) to the next
    start; overlapping sessions continue the binge.
    """
    eps = sessions.where(F.col("content_type") == "EPISODE").withColumn("_end", session_end())
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
