"""Continue Watching: the row a profile sees first, answered from ``resume_state``.

For one profile: the 10 (``continue_watching.limit``) most recent unfinished titles or
episodes touched within 90 days (``continue_watching.window_days``), newest first, with
names, position and progress. A series appears once, at its most recently touched
episode; when that episode is finished, the row offers the next episode (the next
number in the season, else episode 1 of the next season) when the ``episode`` table
knows it, at position 0. Finished films and finished episodes with no known successor
are left out.

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

from jobs.core.config import ConfigError, add_env_argument, load_config
from jobs.core.continue_watching_rule import (
    OUTPUT_COLUMNS,
    OUTPUT_DDL,
    Catalog,
    arrow_group_fn,
)


def continue_watching(
    resume: DataFrame,
    titles: DataFrame,
    episodes: DataFrame,
    profile_id: int,
    as_of: dt.datetime,
    window_days: int = 90,
    limit: int = 10,
) -> DataFrame:
    """The Continue Watching list of one profile.

    Args:
        resume: ``resume_state`` rows.
        titles: ``title`` rows (title_id, title_name, runtime_sec).
        episodes: ``episode`` rows (episode_id, title_id, season_number, episode_number,
            episode_title, runtime_sec).
        profile_id: the profile.
        as_of: the moment the list is for (UTC); rows touched after it are ignored and
            rows older than ``window_days`` before it are left out.
        window_days: how far back a touched item still counts (days).
        limit: rows returned.

    Returns:
        :data:`OUTPUT_COLUMNS`, newest first: ``position_sec`` in seconds,
        ``progress_pct`` 0–100 when the runtime is known (else NULL), ``last_update``
        UTC, ``is_next_episode`` true when the row offers the episode after a finished one.
    """
    since = as_of - dt.timedelta(days=window_days)
    touched = resume.where(
        (F.col("profile_id") == F.lit(profile_id))
        & (F.col("last_update") > F.lit(since))
        & (F.col("last_update") <= F.lit(as_of))
    )
    # the rule itself lives in jobs.core.continue_watching_rule, shared with the HTTP API
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


def resolve_profile(
    profiles: DataFrame, accounts: DataFrame, profile: str, account: str | None
) -> int:
    """A profile id from an id or a profile name (with an account label when ambiguous).

    Raises:
        LookupError: no such profile, or the name is ambiguous across accounts.
    """
    if profile.isdigit():
        return int(profile)
    matches = profiles.join(accounts, "account_id").where(F.col("profile_name") == profile)
    if account:
        matches = matches.where(F.col("account_label") == account)
    found = matches.select("profile_id", "account_label").collect()
    if not found:
        raise LookupError(
            f"no profile named {profile!r}{f' in account {account!r}' if account else ''}; "
            "import an export first, or pass the numeric profile_id"
        )
    if len(found) > 1:
        labels = sorted(r.account_label for r in found)
        raise LookupError(f"profile {profile!r} exists in several accounts {labels}; add --account")
    return int(found[0].profile_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.continue_watching",
        description="Print a profile's Continue Watching row from resume_state.",
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
    add_env_argument(parser)
    args = parser.parse_args(argv)
    from jobs.core.logs import setup_logging

    setup_logging("WARNING")
    try:
        cfg = load_config(args.env, args.lake_root)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from jobs.core.delta import TableNotFoundError, get_engine
    from jobs.core.spark import build_spark

    spark = build_spark("continue_watching", cfg)
    engine = get_engine(spark, cfg)
    try:
        resume = engine.read("resume_state")
        profile_id = resolve_profile(
            engine.read("profile"), engine.read("account"), args.profile, args.account
        )
        if args.as_of in (None, "now"):
            as_of = dt.datetime.now(dt.UTC)
        elif args.as_of == "latest":
            as_of = (
                resume.where(F.col("profile_id") == profile_id).agg(F.max("last_update")).first()[0]
            )
            if as_of is None:
                print(f"profile {profile_id} has no resume points yet", file=sys.stderr)
                return 1
        else:
            as_of = dt.datetime.fromisoformat(args.as_of)
        if as_of.tzinfo is None:
            as_of = as_of.replace(tzinfo=dt.UTC)
        rows = [
            r.asDict()
            for r in continue_watching(
                resume,
                engine.read("title"),
                engine.read("episode"),
                profile_id,
                as_of,
                cfg.continue_watching.window_days,
                args.limit or cfg.continue_watching.limit,
            ).collect()
        ]
    except (TableNotFoundError, LookupError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        for r in rows:
            print(json.dumps(r, default=str, ensure_ascii=False))
    else:
        print(f"Continue Watching for profile {profile_id} (as of {as_of:%Y-%m-%d %H:%M} UTC)")
        print(format_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
