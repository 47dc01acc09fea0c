"""Continue Watching in Spark: the shared rule of :mod:`jobs.core.continue_watching_rule`.

The rule itself (which items, which episode, the window, the ranking) is written once,
over plain rows, in :mod:`jobs.core.continue_watching_rule`: the HTTP API calls it on one
profile's rows read through delta-rs, and this module runs the same function per profile
inside Spark (``groupBy("profile_id").applyInArrow``). So ``python -m
jobs.continue_watching``, ``python -m jobs.query continue-watching``, the demo, the
analysts' notebook and ``GET /api/profiles/{id}/continue-watching`` give the same rows.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.core.continue_watching_rule import OUTPUT_COLUMNS, OUTPUT_DDL, Catalog, arrow_group_fn

__all__ = ["OUTPUT_COLUMNS", "continue_watching"]


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
        titles: ``title`` rows (title_id, title_name).
        episodes: ``episode`` rows (episode_id, title_id, season_number, episode_number,
            episode_title, runtime_sec).
        profile_id: the profile.
        as_of: the moment the list is for (UTC); rows touched after it are ignored and
            rows older than ``window_days`` before it are left out.
        window_days: how far back a touched item still counts (days;
            ``continue_watching.window_days``).
        limit: rows returned (``continue_watching.limit``).

    Returns:
        :data:`OUTPUT_COLUMNS`, newest first: ``position_sec`` in seconds,
        ``progress_pct`` 0-100 when the runtime is known (else NULL), ``last_update``
        UTC, ``is_next_episode`` true when the row offers the episode after a finished one.
    """
    since = as_of - dt.timedelta(days=window_days)
    touched = resume.where(
        (F.col("profile_id") == F.lit(profile_id))
        & (F.col("last_update") > F.lit(since))
        & (F.col("last_update") <= F.lit(as_of))
    )
    catalog = Catalog.from_arrow(
        titles.select("title_id", "title_name").toArrow(),
        episodes.select(
            "episode_id",
            "title_id",
            "season_number",
            "episode_number",
            "episode_title",
            "runtime_sec",
        ).toArrow(),
    )
    rows = touched.groupBy("profile_id").applyInArrow(
        arrow_group_fn(catalog, as_of, window_days, limit), OUTPUT_DDL
    )
    return rows.select(OUTPUT_COLUMNS).orderBy("rank")
