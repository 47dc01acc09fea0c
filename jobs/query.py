"""The questions analysts and apps ask, one function and one CLI sub-command each.

Every function is a pure transform of table DataFrames into the answer's DataFrame; the
CLI reads the tables, resolves the profile (id or name), and prints a table or JSON lines.

Usage::

    python -m jobs.query continue-watching     --profile "Profile 1" --account household-ke --as-of latest
    python -m jobs.query session-timeline      --profile "Profile 1" --as-of latest
    python -m jobs.query watch-time-per-title  --profile "Profile 1" --limit 20
    python -m jobs.query show-progress         --profile "Profile 1"
    python -m jobs.query history               --profile "Profile 1" --from 2023-01-01 --to 2023-01-31 \\
        --content-type EPISODE --device-type TV --page 1 --page-size 20
    python -m jobs.query statistics            --profile "Profile 1" --period month --json

Every table is also queryable by name in Spark SQL after
:func:`jobs.core.serving.sql_views.register_tables` (see ``docs/star_schema.md``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.core.changelog.resume import current_resume
from jobs.core.changelog.session import current_sessions
from jobs.core.rules.as_of import newest, resolve_as_of
from jobs.core.rules.continue_watching_spark import continue_watching, explain_empty
from jobs.core.rules.keys import UNKNOWN_KEY
from jobs.core.rules.profiles import resolve_profile
from jobs.core.runtime.cli import add_job_arguments, run
from jobs.core.runtime.config import Config

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
        titles: ``title``; episodes: ``episode``.
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
    """``show_progress`` of one profile with the next episode's title, newest first."""
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
        fact, movies, devices: ``fact_watch_history``, ``dim_movies``, ``dim_device``.
        date_from, date_to: inclusive bounds on the UTC date of session start.
        content_type: ``MOVIE`` or ``EPISODE``.
        device_type: a ``dim_device.device_type`` (TV, mobile, ...).
        page: 1-based page; page_size: rows per page.

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


# ======================================================================================
# CLI
# ======================================================================================
def format_rows(rows: list[dict[str, Any]], width: int = 40) -> str:
    """A plain terminal table (cells cut at ``width`` characters)."""
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


def _date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.query", description="Answer a viewing question for one profile."
    )
    sub = parser.add_subparsers(dest="name", required=True)

    def add(name: str, help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--profile", required=True, help="profile_id, or a profile name")
        p.add_argument("--account", default=None, help="account label, when --profile is a name")
        p.add_argument("--json", action="store_true", help="print JSON lines, not a table")
        add_job_arguments(p)
        return p

    p = add("continue-watching", "the Continue Watching row (from the current resume points)")
    p.add_argument("--as-of", default=None, help="UTC ISO, 'now' (default) or 'latest'")
    p.add_argument("--limit", type=int, default=None)
    p = add("session-timeline", "the profile's events of the last 7 days, oldest first")
    p.add_argument("--as-of", default=None, help="UTC ISO, 'now' (default) or 'latest'")
    p.add_argument("--days", type=int, default=None, help="default timeline_days (7)")
    p = add("watch-time-per-title", "watch time per film or series")
    p.add_argument("--limit", type=int, default=20)
    add("show-progress", "per series: position, completions and the next episode")
    p = add("history", "viewing history, filtered and paged")
    p.add_argument("--from", dest="date_from", default=None, help="first UTC date (YYYY-MM-DD)")
    p.add_argument("--to", dest="date_to", default=None, help="last UTC date (YYYY-MM-DD)")
    p.add_argument("--content-type", choices=["MOVIE", "EPISODE"], default=None)
    p.add_argument("--device-type", default=None, help="TV, mobile, tablet, web, console, ...")
    p.add_argument("--page", type=int, default=1)
    p.add_argument("--page-size", type=int, default=20)
    p = add("statistics", "items, hours and breakdowns per period")
    p.add_argument("--period", choices=list(PERIODS), default="all")
    from jobs.core.recommend.queries import register_subcommands  # home, more-like-this, ab-report

    register_subcommands(sub, add_job_arguments)
    return parser


def session_timeline_of(engine, profile_id: int, as_of: dt.datetime, days: int) -> DataFrame:
    """:func:`session_timeline` read through ``engine``, pruned to the window's ``dt`` partitions."""
    dts = [(as_of - dt.timedelta(days=i)).date().isoformat() for i in range(days + 1)]
    events = engine.read("playback_event", partition_filters=[("dt", "in", dts)])
    return session_timeline(
        events, engine.read("title"), engine.read("episode"), profile_id, as_of, days
    )


def answer(engine, args: argparse.Namespace, profile_id: int) -> DataFrame:
    """The DataFrame of sub-command ``args.name`` for ``profile_id`` (reads via ``engine``)."""
    if args.name == "continue-watching":
        resume = current_resume(engine)  # resume_state with its pending change-log rows
        mine = resume.where(F.col("profile_id") == profile_id)
        cfg = engine.cfg
        return continue_watching(
            resume,
            engine.read("title"),
            engine.read("episode"),
            profile_id,
            resolve_as_of(args.as_of, lambda: newest(mine, "last_update")),
            cfg.continue_watching.window_days,
            args.limit or cfg.continue_watching.limit,
        )
    if args.name == "session-timeline":
        days = args.days or engine.cfg.activity.timeline_days
        sessions = current_sessions(engine).where(F.col("profile_id") == profile_id)
        as_of = resolve_as_of(args.as_of, lambda: newest(sessions, "last_event_at"))
        return session_timeline_of(engine, profile_id, as_of, days)
    if args.name == "watch-time-per-title":
        return watch_time_per_title(
            engine.read("fact_watch_history"), engine.read("dim_movies"), profile_id
        ).limit(args.limit)
    if args.name == "show-progress":
        return show_progress_of(engine.read("show_progress"), engine.read("dim_movies"), profile_id)
    if args.name == "history":
        return history(
            engine.read("fact_watch_history"),
            engine.read("dim_movies"),
            engine.read("dim_device"),
            profile_id,
            _date(args.date_from),
            _date(args.date_to),
            args.content_type,
            args.device_type,
            args.page,
            args.page_size,
        )
    if args.name == "statistics":
        return statistics(engine.read("viewing_statistics"), profile_id, args.period)
    raise ValueError(f"unknown query {args.name!r}")


def _run(args: argparse.Namespace, cfg: Config) -> int:
    from jobs.core.runtime.spark import build_spark
    from jobs.core.storage.delta import get_engine

    spark = build_spark("query", cfg)
    engine = get_engine(spark, cfg)
    from jobs.core.recommend.queries import QUERIES, run_query

    if args.name in QUERIES:
        return run_query(args, engine)
    profile_id = resolve_profile(
        engine.read("profile"), engine.read("account"), args.profile, args.account
    )
    rows = [r.asDict() for r in answer(engine, args, profile_id).collect()]
    if args.json:
        for r in rows:
            print(json.dumps(r, default=str, ensure_ascii=False))
    else:
        print(f"{args.name} for profile {profile_id}")
        print(format_rows(rows))
    if not rows and args.name == "continue-watching":
        print(empty_continue_watching_hint(engine, args, profile_id), file=sys.stderr)
    return 0


def empty_continue_watching_hint(engine, args: argparse.Namespace, profile_id: int) -> str:
    """Why ``continue-watching`` answered nothing: the explanation ``jobs.continue_watching`` prints.

    Resolves ``--as-of`` the way :func:`answer` did (``latest`` = the profile's newest
    resume point, None when it has none) and calls
    :func:`jobs.core.rules.continue_watching_spark.explain_empty`.
    """
    resume = current_resume(engine)
    mine = resume.where(F.col("profile_id") == profile_id)
    latest = newest(mine, "last_update") if args.as_of == "latest" else None
    as_of = None if args.as_of == "latest" and latest is None else resolve_as_of(args.as_of, latest)
    return explain_empty(resume, profile_id, as_of, engine.cfg.continue_watching.window_days)


def main(argv: list[str] | None = None) -> int:
    return run(
        _run, build_parser(), argv, usage_errors=(LookupError, ValueError), log_level="WARNING"
    )


if __name__ == "__main__":
    sys.exit(main())
