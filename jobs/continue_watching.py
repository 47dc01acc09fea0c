"""Continue Watching on the command line: a profile's list from the current resume points.

The resume points are ``resume_state`` with its pending change-log rows
(:func:`jobs.core.changelog.resume.current_resume`).

The list itself (which items, which episode, the 90-day window) is
:func:`jobs.core.rules.continue_watching_spark.continue_watching`; this job resolves the profile and
the as-of time (:mod:`jobs.core.rules.as_of`: ``latest`` is the profile's newest resume point,
read in UTC whatever the process's time zone) and prints a table or JSON lines.

Usage::

    python -m jobs.continue_watching --profile "Profile 1" --account household-ke --as-of latest
    python -m jobs.continue_watching --profile 123456789 --json
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.core.changelog.resume import current_resume
from jobs.core.rules.as_of import collected_utc, newest, resolve_as_of
from jobs.core.rules.continue_watching_spark import OUTPUT_COLUMNS, continue_watching, explain_empty
from jobs.core.rules.profiles import resolve_profile
from jobs.core.runtime.cli import job_parser, run
from jobs.core.runtime.config import Config

__all__ = ["OUTPUT_COLUMNS", "continue_watching", "format_table", "main", "resolve_profile"]


def _fmt_position(sec: int | None) -> str:
    if sec is None:
        return ""
    h, rem = divmod(int(sec), 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"


def format_table(rows: list[dict]) -> str:
    """A plain terminal table of Continue Watching rows."""
    header = ["#", "title", "episode", "position", "progress", "last watched (UTC)"]
    lines = []
    for r in rows:
        episode = ""
        if r["episode_id"] is not None:
            se = f"S{r['season_number'] or '?'}E{r['episode_number'] or '?'}"
            episode = (
                f"{'next: ' if r['is_next_episode'] else ''}{se} {r['episode_title'] or ''}".strip()
            )
        progress = "" if r["progress_pct"] is None else f"{r['progress_pct']:.0f}%"
        lines.append(
            [
                str(r["rank"]),
                (r["title_name"] or str(r["title_id"]))[:40],
                episode[:45],
                _fmt_position(r["position_sec"]),
                progress,
                r["last_update"].strftime("%Y-%m-%d %H:%M") if r["last_update"] else "",
            ]
        )
    widths = [
        max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
        for i, h in enumerate(header)
    ]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*line) for line in lines]
    return "\n".join(out)


def empty_hint(resume: DataFrame, profile_id: int, as_of: dt.datetime, window_days: int) -> str:
    """Why a profile's Continue Watching is empty: :func:`jobs.core.rules.continue_watching_spark.explain_empty`."""
    return explain_empty(resume, profile_id, as_of, window_days)


def _run(args: argparse.Namespace, cfg: Config) -> int:
    from jobs.core.runtime.spark import build_spark
    from jobs.core.storage.delta import get_engine

    spark = build_spark("continue_watching", cfg)
    engine = get_engine(spark, cfg)
    resume = current_resume(engine)  # resume_state with its pending change-log rows
    profile_id = resolve_profile(
        engine.read("profile"), engine.read("account"), args.profile, args.account
    )
    latest = None
    if args.as_of == "latest":
        latest = newest(resume.where(F.col("profile_id") == profile_id), "last_update")
        if latest is None:
            print(explain_empty(resume, profile_id, None, 0), file=sys.stderr)
            return 1
    as_of = resolve_as_of(args.as_of, latest)
    window_days = cfg.continue_watching.window_days
    rows = [
        {**r.asDict(), "last_update": collected_utc(r.last_update)}
        for r in continue_watching(
            resume,
            engine.read("title"),
            engine.read("episode"),
            profile_id,
            as_of,
            window_days,
            args.limit or cfg.continue_watching.limit,
        ).collect()
    ]
    if args.json:
        for r in rows:
            print(json.dumps(r, default=str, ensure_ascii=False))
    else:
        print(f"Continue Watching for profile {profile_id} (as of {as_of:%Y-%m-%d %H:%M} UTC)")
        print(format_table(rows))
    if not rows:
        print(empty_hint(resume, profile_id, as_of, window_days), file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(
        "python -m jobs.continue_watching",
        "Print a profile's Continue Watching row from resume_state.",
    )
    parser.add_argument("--profile", required=True, help="profile_id, or a profile name")
    parser.add_argument("--account", default=None, help="account label, when --profile is a name")
    parser.add_argument(
        "--as-of",
        default=None,
        help="ISO time the list is for (UTC; default now), or 'latest' for the profile's "
        "newest resume point (useful on historical exports)",
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="rows (default continue_watching.limit)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    return run(_run, parser, argv, usage_errors=(LookupError, ValueError), log_level="WARNING")


if __name__ == "__main__":
    sys.exit(main())
