"""Continue Watching in Spark: the shared rule of :mod:`jobs.core.rules.continue_watching`.

The rule itself (which items, which episode, the window, the ranking) is written once,
over plain rows, in :mod:`jobs.core.rules.continue_watching`: the HTTP API calls it on one
profile's rows read through delta-rs, and this module runs the same function per profile
inside Spark (``groupBy("profile_id").applyInArrow``). So ``python -m
jobs.continue_watching``, ``python -m jobs.query continue-watching``, the demo, the
analysts' notebook and ``GET /api/profiles/{id}/continue-watching`` give the same rows.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.core.rules.continue_watching import OUTPUT_COLUMNS, OUTPUT_DDL, Catalog, arrow_group_fn

__all__ = ["OUTPUT_COLUMNS", "continue_watching", "explain_empty"]


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


def explain_empty(
    resume: DataFrame, profile_id: int, as_of: dt.datetime | None, window_days: int
) -> str:
    """Why a profile's Continue Watching is empty at ``as_of``, and how to look instead.

    The one explanation every CLI prints (``jobs.continue_watching``, ``jobs.query
    continue-watching``). Reads the profile's newest ``last_update`` (UTC, formatted by
    Spark so the process time zone plays no part) and tells apart:

    * no resume point at all: none ingested yet, or all expired by the TTL
      (``maintenance.resume_ttl_days``);
    * every resume point older than the window before ``as_of``: try ``--as-of latest``;
    * points in the window, but every title finished with no next episode known.

    Args:
        resume: the current resume points (``resume_state`` with its change log folded in).
        profile_id: the profile.
        as_of: the moment the list was for (UTC); None when it could not be resolved.
        window_days: ``continue_watching.window_days``.

    Returns:
        One line.
    """
    row = (
        resume.where(F.col("profile_id") == profile_id)
        .agg(F.date_format(F.max("last_update"), "yyyy-MM-dd HH:mm"))
        .first()
    )
    newest_text = row[0] if row is not None else None
    if newest_text is None or as_of is None:
        return (
            f"profile {profile_id} has no resume points yet (import or ingest its events "
            "first; points older than maintenance.resume_ttl_days before the lake's newest "
            "one expire)"
        )
    since = as_of - dt.timedelta(days=window_days)
    if newest_text < f"{since:%Y-%m-%d %H:%M}":
        return (
            f"nothing touched in the {window_days} days before {as_of:%Y-%m-%d %H:%M} UTC: "
            f"the profile's newest resume point is {newest_text} UTC (an older export?). "
            "Add --as-of latest to see the list as of then, or --as-of ISO-TIME"
        )
    return (
        f"every title touched in the {window_days} days before {as_of:%Y-%m-%d %H:%M} UTC "
        "is finished, with no next episode known"
    )
