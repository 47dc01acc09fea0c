"""The marts of the star schema, each recomputed from the fact and ``dim_movies``.

Small (one row per profile and item, day or country) and written through
:func:`jobs.core.storage.incremental.sync_table`, so only the rows that changed are committed.
Every mart but ``region_login`` is a function of one profile's fact rows, so an
incremental build recomputes them for the profiles it names only
(:data:`PER_PROFILE`, :func:`window_moved_profiles`). Days are UTC dates of session
start.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def _items(fact: DataFrame, movies: DataFrame) -> DataFrame:
    m = movies.select(
        "movie_key",
        "content_type",
        "title_name",
        "season_number",
        "episode_number",
        "episode_title",
        "genres",
    )
    return fact.join(m, "movie_key", "left")


def last_n_movies(fact: DataFrame, movies: DataFrame, n: int) -> DataFrame:
    """``last_10_movies``: per profile, the ``n`` items with the newest session, newest first."""
    newest = Window.partitionBy("profile_id", "movie_key").orderBy(
        F.col("started_at").desc(), F.col("session_id").desc()
    )
    per_item = _items(fact, movies).withColumn("_r", F.row_number().over(newest)).where("_r = 1")
    rank = Window.partitionBy("profile_id").orderBy(F.col("started_at").desc(), "movie_key")
    return (
        per_item.withColumn("rank", F.row_number().over(rank))
        .where(F.col("rank") <= n)
        .select(
            "profile_id",
            "rank",
            "movie_key",
            "content_type",
            "title_name",
            "season_number",
            "episode_number",
            "episode_title",
            F.col("started_at").alias("last_watched_at"),
            F.col("end_position_sec").alias("last_position_sec"),
        )
    )


def history_window(fact: DataFrame, movies: DataFrame, as_of: dt.date, days: int) -> DataFrame:
    """``history_90_days``: items with a session whose UTC date is in ``(as_of - days, as_of]``."""
    lo = as_of - dt.timedelta(days=days)
    recent = _items(fact, movies).where(
        (F.to_date("started_at") > F.lit(lo)) & (F.to_date("started_at") <= F.lit(as_of))
    )
    newest = F.max_by(F.struct("end_position_sec"), F.struct("started_at", "session_id"))
    return recent.groupBy("profile_id", "movie_key").agg(
        F.first("title_name").alias("title_name"),
        F.first("content_type").alias("content_type"),
        F.first("season_number").alias("season_number"),
        F.first("episode_number").alias("episode_number"),
        F.count(F.lit(1)).alias("sessions"),
        F.sum("watch_seconds").alias("total_seconds"),
        F.max("started_at").alias("last_watched_at"),
        newest["end_position_sec"].alias("last_position_sec"),
    )


def window_moved_profiles(
    fact: DataFrame, old_as_of: dt.date, as_of: dt.date, days: int
) -> DataFrame:
    """Profiles whose :func:`history_window` rows may differ between two as-of dates.

    A session is in the window when its UTC start date is in ``(as_of - days, as_of]``;
    moving the as-of from ``old_as_of`` to ``as_of`` changes the membership of the days in
    ``(lo - days, hi - days]`` and ``(lo, hi]`` (``lo``/``hi`` the earlier/later date).

    Returns:
        Distinct ``profile_id`` (no rows when the dates are equal).
    """
    lo, hi = min(old_as_of, as_of), max(old_as_of, as_of)
    d = F.to_date("started_at")
    back = dt.timedelta(days=days)
    moved = ((d > F.lit(lo - back)) & (d <= F.lit(hi - back))) | (
        (d > F.lit(lo)) & (d <= F.lit(hi))
    )
    return fact.where(moved).select("profile_id").distinct()


def content_preference(fact: DataFrame, movies: DataFrame) -> DataFrame:
    """``content_type_preference``: share of each profile's watch time per content type and genre.

    A title with several genres counts fully in each, so genre shares may sum over 1;
    items without a catalogue match count under genre ``unknown``.
    """
    items = _items(fact, movies)
    total = fact.groupBy("profile_id").agg(F.sum("watch_seconds").alias("total"))
    by_type = items.groupBy(
        "profile_id",
        F.lit("content_type").alias("dimension"),
        F.coalesce("content_type", F.lit("UNKNOWN")).alias("value"),
    ).agg(F.sum("watch_seconds").alias("watch_seconds"))
    genre = F.explode(
        F.when(F.col("genres").isNull(), F.array(F.lit("unknown"))).otherwise(
            F.split(F.col("genres"), r"\s*,\s*")
        )
    )
    by_genre = (
        items.select("profile_id", genre.alias("value"), "watch_seconds")
        .groupBy("profile_id", F.lit("genre").alias("dimension"), "value")
        .agg(F.sum("watch_seconds").alias("watch_seconds"))
    )
    return (
        by_type.unionByName(by_genre)
        .join(total, "profile_id")
        .withColumn(
            "share",
            F.when(
                F.col("total") > 0, F.round(F.col("watch_seconds") / F.col("total"), 4)
            ).otherwise(0.0),
        )
    )


def region_activity(fact: DataFrame) -> DataFrame:
    """``region_login``: per country and UTC day, active profiles, sessions and watch time."""
    return fact.groupBy(
        F.coalesce("country_code", F.lit("ZZ")).alias("country_code"), "date_key"
    ).agg(
        F.countDistinct("profile_id").alias("active_profiles"),
        F.count(F.lit(1)).alias("sessions"),
        F.sum("watch_seconds").alias("watch_seconds"),
    )


def daily_minutes(fact: DataFrame) -> DataFrame:
    """``daily_watch_minutes``: per profile and UTC day of session start, minutes watched."""
    return fact.groupBy("profile_id", "date_key").agg(
        F.count(F.lit(1)).alias("sessions"),
        F.round(F.sum("watch_seconds") / 60.0, 1).alias("watch_minutes"),
    )


# marts whose rows are per profile (``profile_id`` in the key): scoped by profile
PER_PROFILE = (
    "last_10_movies",
    "history_90_days",
    "content_type_preference",
    "daily_watch_minutes",
)
