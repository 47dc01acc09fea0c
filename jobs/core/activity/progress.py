"""Series progress: completed seasons and shows, ``show_progress`` and the next episode.

Seasons and shows are judged against the episodes known from the data seen (every
profile): a season is complete when the profile finished every known episode of it and
the known numbers run 1..N without a gap; a show when every known season is complete and,
when the catalogue gives the number of seasons, that many are known.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.core.rules.episodes import next_episodes


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
