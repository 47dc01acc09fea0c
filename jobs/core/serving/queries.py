"""The per-profile answers ``python -m jobs.query`` prints: history, timeline, statistics.

Each answer is a pure transform of table DataFrames into the answer's DataFrame
(:func:`session_timeline`, :func:`watch_time_per_title`, :func:`show_progress_of`,
:func:`history`, :func:`statistics`); the ``*_of`` functions read the tables through a
Delta engine and resolve ``--as-of`` once, in UTC (:mod:`jobs.core.rules.as_of`).

The HTTP API (``api/routes_read.py``) answers history, show progress and statistics over
the same tables with its own Arrow reads (paged JSON, not DataFrames).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.core.changelog.resume import current_resume
from jobs.core.changelog.session import current_sessions
from jobs.core.rules.as_of import newest, resolve_as_of
from jobs.core.rules.continue_watching_spark import continue_watching, explain_empty
from jobs.core.rules.keys import UNKNOWN_KEY
from jobs.core.storage.delta import DeltaEngine

PERIODS = ("week", "month", "year", "all")


def session_timeline(
    events: DataFrame,
    titles: DataFrame,
    episodes: DataFrame,
    profile_id: int,
    as_of: dt.datetime,
    days: int,
) -> DataFrame:
    """A profile's playback events of the ``days`` days up to ``as_of``, oldest first.

    Args:
        events: ``playback_event`` rows (ideally pruned to the dt partitions of the window).
        titles: ``title`` rows.
        episodes: ``episode`` rows.
        profile_id: the profile.
        as_of: end of the window (UTC, inclusive).
        days: window length (``activity.timeline_days`` in conf/base.yaml).

    Returns:
        event_time (UTC), event_type, position_sec, title_name, season_number,
        episode_number, episode_title, is_supplemental, device_id, session_id.
    """
    since = as_of - dt.timedelta(days=days)
    ev = events.where(
        (F.col("profile_id") == F.lit(profile_id))
        & (F.col("event_time") > F.lit(since))
        & (F.col("event_time") <= F.lit(as_of))
    )
    return (
        ev.join(titles.select("title_id", "title_name"), "title_id", "left")
        .join(
            episodes.select("episode_id", "season_number", "episode_number", "episode_title"),
            "episode_id",
            "left",
        )
        .select(
            "event_time",
            "event_type",
            "position_sec",
            "title_name",
            "season_number",
            "episode_number",
            "episode_title",
            "is_supplemental",
            "device_id",
            "session_id",
        )
        .orderBy("event_time", "session_id")
    )


def watch_time_per_title(fact: DataFrame, movies: DataFrame, profile_id: int) -> DataFrame:
    """Watch time per film or series of one profile, most watched first.

    Args:
        fact: ``fact_watch_history`` rows.
        movies: ``dim_movies`` rows (the unknown member is left out).
        profile_id: the profile.

    Returns:
        title_id, title_name, kind (MOVIE or SERIES), items (distinct films/episodes),
        sessions, watch_seconds, watch_hours (0.01), last_watched_at (UTC).
    """
    m = movies.where(F.col("movie_key") != UNKNOWN_KEY).select(
        "movie_key", "title_id", "title_name", "content_type"
    )
    return (
        fact.where(F.col("profile_id") == F.lit(profile_id))
        .join(m, "movie_key")
        .groupBy("title_id")
        .agg(
            F.first("title_name").alias("title_name"),
            F.first(F.when(F.col("content_type") == "EPISODE", "SERIES").otherwise("MOVIE")).alias(
                "kind"
            ),
            F.countDistinct("content_key").alias("items"),
            F.count(F.lit(1)).alias("sessions"),
            F.sum("watch_seconds").alias("watch_seconds"),
            F.max("started_at").alias("last_watched_at"),
        )
        .withColumn("watch_hours", F.round(F.col("watch_seconds") / 3600.0, 2))
        .orderBy(F.col("watch_seconds").desc(), "title_id")
    )


def show_progress_of(progress: DataFrame, movies: DataFrame, profile_id: int) -> DataFrame:
    """``show_progress`` of one profile with the next episode's title, newest first.

    Args:
        progress: ``show_progress`` rows.
        movies: ``dim_movies`` rows (``episode_id``, ``episode_title``).
        profile_id: the profile.

    Returns:
        title_name, last_season_number, last_episode_number, last_watched_at (UTC),
        episodes_watched, completed_seasons, is_completed, completed_at, next_season_number,
        next_episode_number, next_episode_title, title_id; newest ``last_watched_at`` first.
    """
    nxt = movies.select(
        F.col("episode_id").alias("next_episode_id"),
        F.col("episode_title").alias("next_episode_title"),
    ).where(F.col("next_episode_id").isNotNull())
    return (
        progress.where(F.col("profile_id") == F.lit(profile_id))
        .join(nxt, "next_episode_id", "left")
        .select(
            "title_name",
            "last_season_number",
            "last_episode_number",
            "last_watched_at",
            "episodes_watched",
            "completed_seasons",
            "is_completed",
            "completed_at",
            "next_season_number",
            "next_episode_number",
            "next_episode_title",
            "title_id",
        )
        .orderBy(F.col("last_watched_at").desc(), "title_id")
    )


def history(
    fact: DataFrame,
    movies: DataFrame,
    devices: DataFrame,
    profile_id: int,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    content_type: str | None = None,
    device_type: str | None = None,
    page: int = 1,
    page_size: int = 20,
) -> DataFrame:
    """A profile's viewing history, newest first, filtered and paged.

    Args:
        fact: ``fact_watch_history`` rows.
        movies: ``dim_movies`` rows.
        devices: ``dim_device`` rows.
        profile_id: the profile.
        date_from: first UTC date of session start (inclusive).
        date_to: last UTC date of session start (inclusive).
        content_type: ``MOVIE`` or ``EPISODE`` (any case).
        device_type: a ``dim_device.device_type`` (TV, mobile, ...; any case).
        page: 1-based page.
        page_size: rows per page.

    Returns:
        started_at, title_name, content_type, season_number, episode_number,
        episode_title, device_type, watch_seconds, progress_pct, is_finished, session_id.

    Raises:
        ValueError: ``page`` or ``page_size`` below 1, or ``date_from`` after ``date_to``.
    """
    if page < 1 or page_size < 1:
        raise ValueError(f"page ({page}) and page_size ({page_size}) must be >= 1")
    if date_from and date_to and date_from > date_to:
        raise ValueError(f"--from {date_from} is after --to {date_to}")
    rows = (
        fact.where(F.col("profile_id") == F.lit(profile_id))
        .join(
            movies.select(
                "movie_key",
                "title_name",
                "content_type",
                "season_number",
                "episode_number",
                "episode_title",
            ),
            "movie_key",
            "left",
        )
        .join(devices.select("device_key", "device_type"), "device_key", "left")
    )
    day = F.to_date("started_at")
    if date_from:
        rows = rows.where(day >= F.lit(date_from))
    if date_to:
        rows = rows.where(day <= F.lit(date_to))
    if content_type:
        rows = rows.where(F.col("content_type") == content_type.upper())
    if device_type:
        rows = rows.where(F.lower("device_type") == device_type.lower())
    ordered = rows.select(
        "started_at",
        "title_name",
        "content_type",
        "season_number",
        "episode_number",
        "episode_title",
        "device_type",
        "watch_seconds",
        "progress_pct",
        "is_finished",
        "session_id",
    ).orderBy(F.col("started_at").desc(), F.col("session_id"))
    return ordered.offset((page - 1) * page_size).limit(page_size)


def statistics(stats: DataFrame, profile_id: int, period: str = "all") -> DataFrame:
    """``viewing_statistics`` rows of one profile and period, newest period first.

    Args:
        stats: ``viewing_statistics`` rows.
        profile_id: the profile.
        period: ``week``, ``month``, ``year`` or ``all``.

    Returns:
        period_start, breakdown, breakdown_value, items_watched, items_completed,
        watch_hours; per period the ``total`` row first, then breakdowns by hours.

    Raises:
        ValueError: ``period`` not in week, month, year, all.
    """
    if period not in PERIODS:
        raise ValueError(f"period {period!r}: choose one of {list(PERIODS)}")
    return (
        stats.where((F.col("profile_id") == F.lit(profile_id)) & (F.col("period") == period))
        .select(
            "period_start",
            "breakdown",
            "breakdown_value",
            "items_watched",
            "items_completed",
            "watch_hours",
        )
        .orderBy(
            F.col("period_start").desc(),
            F.when(F.col("breakdown") == "total", 0).otherwise(1),
            "breakdown",
            F.col("watch_hours").desc(),
            "breakdown_value",
        )
    )


def session_timeline_of(
    engine: DeltaEngine, profile_id: int, as_of: str | dt.datetime | None, days: int | None
) -> DataFrame:
    """:func:`session_timeline` read through ``engine``, pruned to the window's ``dt`` partitions.

    Args:
        engine: the Delta engine (``playback_event``, ``title``, ``episode`` and the
            current sessions, with their change log).
        profile_id: the profile.
        as_of: ``--as-of``: ``None``/``now``, ``latest`` (the profile's newest session
            event) or ISO-8601 (UTC without an offset).
        days: window length; ``None`` = ``activity.timeline_days``.

    Returns:
        The columns of :func:`session_timeline`.

    Raises:
        ValueError: ``as_of`` is text but not ISO-8601.
    """
    days = days or engine.cfg.activity.timeline_days
    sessions = current_sessions(engine).where(F.col("profile_id") == profile_id)
    end = resolve_as_of(as_of, lambda: newest(sessions, "last_event_at"))
    dts = [(end - dt.timedelta(days=i)).date().isoformat() for i in range(days + 1)]
    events = engine.read("playback_event", partition_filters=[("dt", "in", dts)])
    return session_timeline(
        events, engine.read("title"), engine.read("episode"), profile_id, end, days
    )


def continue_watching_of(
    engine: DeltaEngine, profile_id: int, as_of: str | dt.datetime | None, limit: int | None
) -> DataFrame:
    """The Continue Watching row of one profile, from the current resume points.

    Args:
        engine: the Delta engine (``resume_state`` with its pending change-log rows,
            ``title``, ``episode``).
        profile_id: the profile.
        as_of: ``--as-of``: ``None``/``now``, ``latest`` (the profile's newest resume
            point) or ISO-8601 (UTC without an offset).
        limit: most rows; ``None`` = ``continue_watching.limit``.

    Returns:
        The columns of :func:`jobs.core.rules.continue_watching_spark.continue_watching`.

    Raises:
        ValueError: ``as_of`` is text but not ISO-8601.
    """
    resume = current_resume(engine)
    mine = resume.where(F.col("profile_id") == profile_id)
    cfg = engine.cfg.continue_watching
    return continue_watching(
        resume,
        engine.read("title"),
        engine.read("episode"),
        profile_id,
        resolve_as_of(as_of, lambda: newest(mine, "last_update")),
        cfg.window_days,
        limit or cfg.limit,
    )


def empty_continue_watching_hint(
    engine: DeltaEngine, profile_id: int, as_of: str | dt.datetime | None
) -> str:
    """Why Continue Watching answered nothing: the explanation ``jobs.continue_watching`` prints.

    Resolves ``as_of`` the way :func:`continue_watching_of` did (``latest`` = the
    profile's newest resume point, ``None`` when it has none) and calls
    :func:`jobs.core.rules.continue_watching_spark.explain_empty`.

    Args:
        engine: the Delta engine.
        profile_id: the profile.
        as_of: the ``--as-of`` given to :func:`continue_watching_of`.

    Returns:
        One line for stderr.
    """
    resume = current_resume(engine)
    mine = resume.where(F.col("profile_id") == profile_id)
    latest = newest(mine, "last_update") if as_of == "latest" else None
    end = None if as_of == "latest" and latest is None else resolve_as_of(as_of, latest)
    return explain_empty(resume, profile_id, end, engine.cfg.continue_watching.window_days)


def format_rows(rows: list[dict[str, Any]], width: int = 40) -> str:
    """A plain terminal table of ``rows`` (what ``python -m jobs.query`` prints).

    Args:
        rows: the answer's rows as dicts (all with the keys of the first).
        width: cells are cut at this many characters; datetimes print as
            ``YYYY-MM-DD HH:MM:SS``.

    Returns:
        A header line, a rule and one line per row; ``(no rows)`` when there is none.
    """
    if not rows:
        return "(no rows)"
    cols = list(rows[0])

    def cell(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, dt.datetime):
            return v.strftime("%Y-%m-%d %H:%M:%S")
        return str(v)[:width]

    table = [[cell(r[c]) for c in cols] for r in rows]
    widths = [max(len(c), *(len(t[i]) for t in table)) for i, c in enumerate(cols)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(
        [fmt.format(*cols), fmt.format(*("-" * w for w in widths))]
        + [fmt.format(*t) for t in table]
    )
