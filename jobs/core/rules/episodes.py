"""The next episode of a series: one rule for Continue Watching and show progress.

After an episode, the next one is the next number in the same season, else episode 1 of
the next season, among the episodes the data knows (the ``episode`` table, or the
episodes of ``dim_movies``). When the data has a gap (episode 3 missing), no episode
follows episode 2. Several candidates (duplicate rows) are ranked by
``(season, number, episode_id)`` and the first is taken. Unknown season or episode
numbers never match, so films have no next episode.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F


def is_successor(
    title_id: Column,
    season: Column,
    number: Column,
    next_title_id: Column,
    next_season: Column,
    next_number: Column,
) -> Column:
    """True when (next_season, next_number) follows (season, number) in the same series.

    The next episode is the next number in the same season, else episode 1 of the next
    season. Unknown season or episode numbers never match.
    """
    same_season = (next_season == season) & (next_number == number + 1)
    next_season_first = (next_season == season + 1) & (next_number == 1)
    return (next_title_id == title_id) & (same_season | next_season_first)


def next_episodes(
    current: DataFrame,
    episodes: DataFrame,
    keys: Sequence[str],
    carry: Sequence[str] = (),
) -> DataFrame:
    """The episode that follows each row of ``current``.

    Args:
        current: rows unique on ``keys``, with ``title_id``, ``season_number`` and
            ``episode_number`` of the episode just watched (NULLs for films).
        episodes: the known episodes: ``episode_id, title_id, season_number,
            episode_number`` and the ``carry`` columns.
        keys: the columns that identify a row of ``current`` (e.g. ``profile_id,
            title_id``).
        carry: more columns of ``episodes`` to return, as ``next_<name>``.

    Returns:
        ``keys`` plus ``next_episode_id, next_season_number, next_episode_number`` and
        ``next_<carry>``: one row per row of ``current`` that has a successor (rows
        without one are absent; left-join the result).
    """
    nxt = episodes.select(
        F.col("title_id").alias("_n_title_id"),
        F.col("episode_id").alias("next_episode_id"),
        F.col("season_number").alias("next_season_number"),
        F.col("episode_number").alias("next_episode_number"),
        *[F.col(c).alias(f"next_{c}") for c in carry],
    )
    cur = current.select(
        *keys,
        F.col("title_id").alias("_c_title_id"),
        F.col("season_number").alias("_c_season"),
        F.col("episode_number").alias("_c_number"),
    )
    candidates = cur.join(
        nxt,
        is_successor(
            F.col("_c_title_id"),
            F.col("_c_season"),
            F.col("_c_number"),
            F.col("_n_title_id"),
            F.col("next_season_number"),
            F.col("next_episode_number"),
        ),
    )
    first = Window.partitionBy(*keys).orderBy(
        "next_season_number", "next_episode_number", "next_episode_id"
    )
    return (
        candidates.withColumn("_r", F.row_number().over(first))
        .where("_r = 1")
        .select(
            *keys,
            "next_episode_id",
            "next_season_number",
            "next_episode_number",
            *[f"next_{c}" for c in carry],
        )
    )
