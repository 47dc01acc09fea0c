"""Continue Watching: the row a profile sees first, answered from ``resume_state``.

For one profile: the ``limit`` (``continue_watching.limit``, 10) most recent unfinished
titles or episodes touched within ``window_days`` (``continue_watching.window_days``, 90)
before the as-of time, newest first, with names, position and progress. A series appears
once, at its most recently touched episode; when that episode is finished
(``resume_state.is_finished``: the "resume point finished" rule of
:mod:`jobs.core.watched`), the row offers the next episode
(:func:`jobs.core.episodes.next_episodes`) when the ``episode`` table knows it, at
position 0. Finished films and finished episodes with no known successor are left out.

Used by ``python -m jobs.continue_watching``, ``python -m jobs.query continue-watching``,
the demo and the analysts' notebook, so they all give the same answer.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from jobs.core.episodes import next_episodes
from jobs.core.watched import progress_pct

OUTPUT_COLUMNS = [
    "rank",
    "profile_id",
    "title_id",
    "episode_id",
    "title_name",
    "season_number",
    "episode_number",
    "episode_title",
    "position_sec",
    "runtime_sec",
    "progress_pct",
    "last_update",
    "device_id",
    "is_next_episode",
]


def newest_per_title(
    resume: DataFrame, profile_id: int, as_of: dt.datetime, window_days: int
) -> DataFrame:
    """The profile's newest resume point per film or series in ``(as_of - window_days, as_of]``.

    Args:
        resume: ``resume_state`` rows.
        profile_id: the profile.
        as_of: end of the window (aware, UTC; see :mod:`jobs.core.as_of`).
        window_days: length of the window, days.

    Returns:
        ``resume_state`` rows, one per ``title_id`` (a series at its newest episode).
    """
    since = as_of - dt.timedelta(days=window_days)
    touched = resume.where(
        (F.col("profile_id") == F.lit(profile_id))
        & (F.col("last_update") > F.lit(since))
        & (F.col("last_update") <= F.lit(as_of))
    )
    newest_first = Window.partitionBy("title_id").orderBy(
        F.col("last_update").desc(), F.col("content_key").desc()
    )
    return touched.withColumn("_n", F.row_number().over(newest_first)).where("_n = 1").drop("_n")


def _offered(rows: DataFrame, titles: DataFrame) -> DataFrame:
    """The row to show per title: the unfinished item itself, or the next episode."""
    offer_next = F.col("is_finished") & F.col("next_episode_id").isNotNull()

    def pick(nxt: str, cur: str) -> Column:
        return F.when(offer_next, F.col(nxt)).otherwise(F.col(cur))

    runtime = F.coalesce(F.col("runtime_sec"), F.col("ep_runtime_sec"))
    return (
        rows.where(~F.col("is_finished") | offer_next)
        .join(titles.select("title_id", "title_name"), "title_id", "left")
        .select(
            "profile_id",
            "title_id",
            pick("next_episode_id", "episode_id").alias("episode_id"),
            "title_name",
            pick("next_season_number", "season_number").alias("season_number"),
            pick("next_episode_number", "episode_number").alias("episode_number"),
            pick("next_episode_title", "episode_title").alias("episode_title"),
            F.when(offer_next, F.lit(0))
            .otherwise(F.col("last_position_sec"))
            .alias("position_sec"),
            F.when(offer_next, F.col("next_runtime_sec")).otherwise(runtime).alias("runtime_sec"),
            "last_update",
            "device_id",
            offer_next.alias("is_next_episode"),
        )
        .withColumn("progress_pct", progress_pct(F.col("position_sec"), F.col("runtime_sec")))
    )


def continue_watching(
    resume: DataFrame,
    titles: DataFrame,
    episodes: DataFrame,
    profile_id: int,
    as_of: dt.datetime,
    window_days: int,
    limit: int,
) -> DataFrame:
    """The Continue Watching list of one profile.

    Args:
        resume: ``resume_state`` rows.
        titles: ``title`` rows (title_id, title_name, runtime_sec).
        episodes: ``episode`` rows (episode_id, title_id, season_number, episode_number,
            episode_title, runtime_sec).
        profile_id: the profile.
        as_of: the moment the list is for (aware, UTC); rows touched after it are
            ignored and rows older than ``window_days`` before it are left out.
        window_days: how far back a touched item still counts (days).
        limit: rows returned.

    Returns:
        :data:`OUTPUT_COLUMNS`, newest first: ``position_sec`` in seconds,
        ``progress_pct`` 0–100 when the runtime is known (else NULL), ``last_update``
        UTC, ``is_next_episode`` true when the row offers the episode after a finished one.
    """
    latest = newest_per_title(resume, profile_id, as_of, window_days)
    ep = episodes.select(
        "episode_id",
        "season_number",
        "episode_number",
        "episode_title",
        F.col("runtime_sec").alias("ep_runtime_sec"),
    )
    with_ep = latest.join(ep, "episode_id", "left")
    successors = next_episodes(with_ep, episodes, ["title_id"], ("episode_title", "runtime_sec"))
    out = _offered(with_ep.join(successors, "title_id", "left"), titles)
    ranked = Window.orderBy(F.col("last_update").desc(), F.col("title_id"))
    return (
        out.withColumn("rank", F.row_number().over(ranked))
        .where(F.col("rank") <= limit)
        .select(OUTPUT_COLUMNS)
        .orderBy("rank")
    )
