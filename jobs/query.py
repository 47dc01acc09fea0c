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

from pyspark.sql import DataFrame

from jobs.core.recommend.queries import QUERIES, register_subcommands, run_query
from jobs.core.rules.as_of import as_of_argument, parse_day
from jobs.core.rules.profiles import resolve_profile
from jobs.core.runtime.cli import Job, add_job_arguments, run_job
from jobs.core.serving.queries import (
    PERIODS,
    continue_watching_of,
    empty_continue_watching_hint,
    format_rows,
    history,
    session_timeline_of,
    show_progress_of,
    statistics,
    watch_time_per_title,
)
from jobs.core.storage.delta import DeltaEngine, get_engine


def _date(text: str | None) -> dt.date | None:
    return parse_day(text) if text else None


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
    p.add_argument(
        "--as-of", type=as_of_argument, default=None, help="UTC ISO, 'now' (default) or 'latest'"
    )
    p.add_argument("--limit", type=int, default=None)
    p = add("session-timeline", "the profile's events of the last 7 days, oldest first")
    p.add_argument(
        "--as-of", type=as_of_argument, default=None, help="UTC ISO, 'now' (default) or 'latest'"
    )
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
    register_subcommands(sub, add_job_arguments)
    return parser


def answer(engine: DeltaEngine, args: argparse.Namespace, profile_id: int) -> DataFrame:
    """The DataFrame of sub-command ``args.name`` for ``profile_id`` (reads via ``engine``)."""
    if args.name == "continue-watching":
        return continue_watching_of(engine, profile_id, args.as_of, args.limit)
    if args.name == "session-timeline":
        return session_timeline_of(engine, profile_id, args.as_of, args.days)
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


def _run(job: Job) -> int:
    args, engine = job.args, job.engine
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
        print(empty_continue_watching_hint(engine, profile_id, args.as_of), file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_job(
        "query",
        build_parser(),
        _run,
        argv,
        engine=get_engine,
        usage_errors=(LookupError, ValueError),
        log_level="WARNING",
    )


if __name__ == "__main__":
    sys.exit(main())
