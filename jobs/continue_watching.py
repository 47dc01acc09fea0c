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

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.core.cli import job_parser, run
from jobs.core.config import Config
from jobs.core.episodes import is_successor

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
    # one row per series (its newest episode) and per film
    newest_first = Window.partitionBy("title_id").orderBy(
        F.col("last_update").desc(), F.col("content_key").desc()
    )
    latest = touched.withColumn("_n", F.row_number().over(newest_first)).where("_n = 1").drop("_n")

    ep = episodes.select(
        "episode_id",
        F.col("title_id").alias("ep_title_id"),
        "season_number",
        "episode_number",
        "episode_title",
        F.col("runtime_sec").alias("ep_runtime_sec"),
    )
    with_ep = latest.join(ep, "episode_id", "left")

    # the successor of each episode: next number in the season, else first of next season
    nxt = ep.alias("n")
    cur = with_ep.alias("c")
    succ = cur.join(
        nxt,
        is_successor(
            F.col("c.title_id"),
            F.col("c.season_number"),
            F.col("c.episode_number"),
            F.col("n.ep_title_id"),
            F.col("n.season_number"),
            F.col("n.episode_number"),
        ),
        "inner",
    )
    succ_rank = Window.partitionBy("c.profile_id", "c.title_id").orderBy(
        F.col("n.season_number"), F.col("n.episode_number")
    )
    successors = (
        succ.withColumn("_n", F.row_number().over(succ_rank))
        .where("_n = 1")
        .select(
            F.col("c.title_id").alias("title_id"),
            F.col("n.episode_id").alias("next_episode_id"),
            F.col("n.season_number").alias("next_season_number"),
            F.col("n.episode_number").alias("next_episode_number"),
            F.col("n.episode_title").alias("next_episode_title"),
            F.col("n.ep_runtime_sec").alias("next_runtime_sec"),
        )
    )
    rows = with_ep.join(successors, "title_id", "left")
    offer_next = F.col("is_finished") & F.col("next_episode_id").isNotNull()
    pick = lambda nxt_col, cur_col: F.when(offer_next, F.col(nxt_col)).otherwise(F.col(cur_col))  # noqa: E731
    runtime = F.coalesce(F.col("runtime_sec"), F.col("ep_runtime_sec"))
    out = (
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
        .withColumn(
            "progress_pct",
            F.when(
                F.col("runtime_sec") > 0,
                F.round(
                    F.least(F.lit(100.0), 100.0 * F.col("position_sec") / F.col("runtime_sec")), 1
                ),
            ),
        )
    )
    ranked = Window.orderBy(F.col("last_update").desc(), F.col("title_id"))
    return (
        out.withColumn("rank", F.row_number().over(ranked))
        .where(F.col("rank") <= limit)
        .select(OUTPUT_COLUMNS)
        .orderBy("rank")
    )


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


def empty_hint(resume: DataFrame, profile_id: int, as_of: dt.datetime, window_days: int) -> str:
    """Why a profile's Continue Watching is empty at ``as_of``, and how to look instead.

    Reads the profile's newest ``resume_state.last_update`` (UTC, formatted by Spark so
    the process time zone plays no part).
    """
    newest = (
        resume.where(F.col("profile_id") == profile_id)
        .agg(F.date_format(F.max("last_update"), "yyyy-MM-dd HH:mm"))
        .first()[0]
    )
    if newest is None:
        return f"profile {profile_id} has no resume points yet (import or ingest its events first)"
    since = as_of - dt.timedelta(days=window_days)
    if newest < f"{since:%Y-%m-%d %H:%M}":
        return (
            f"nothing touched in the {window_days} days before {as_of:%Y-%m-%d %H:%M} UTC: "
            f"the profile's newest resume point is {newest} UTC (an older export?). "
            "Add --as-of latest to see the list as of then, or --as-of ISO-TIME"
        )
    return (
        f"every title touched in the {window_days} days before {as_of:%Y-%m-%d %H:%M} UTC "
        "is finished, with no next episode known"
    )


def _run(args: argparse.Namespace, cfg: Config) -> int:
    from jobs.core.delta import get_engine
    from jobs.core.spark import build_spark

    spark = build_spark("continue_watching", cfg)
    engine = get_engine(spark, cfg)
    resume = engine.read("resume_state")
    profile_id = resolve_profile(
        engine.read("profile"), engine.read("account"), args.profile, args.account
    )
    if args.as_of in (None, "now"):
        as_of = dt.datetime.now(dt.UTC)
    elif args.as_of == "latest":
        as_of = resume.where(F.col("profile_id") == profile_id).agg(F.max("last_update")).first()[0]
        if as_of is None:
            print(f"profile {profile_id} has no resume points yet", file=sys.stderr)
            return 1
    else:
        as_of = dt.datetime.fromisoformat(args.as_of)
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=dt.UTC)
    window_days = cfg.continue_watching.window_days
    rows = [
        r.asDict()
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
