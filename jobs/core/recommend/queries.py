"""Read side of recommendations: home page, More Like This, A/B report.

Exposed as ``python -m jobs.query home | more-like-this | ab-report`` (table, or
``--json`` for JSON lines): :func:`register_subcommands` adds them to the query parser and
:func:`run_query` answers them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.core.recommend import ab, similar_titles
from jobs.core.recommend.catalog import normalize_name
from jobs.core.runtime.errors import TableNotFoundError

QUERIES = ("home", "more-like-this", "ab-report")
MODELS = ("item_cosine", "content_tfidf", "als")


def home(
    current: DataFrame,
    explanations: DataFrame,
    titles: DataFrame,
    profile_id: int,
    now: dt.datetime,
) -> DataFrame:
    """The home row of a profile with its explanations.

    Args:
        current: ``current_recommendations``.
        explanations: ``recommendation_explanation``.
        titles: ``title``.
        profile_id: the profile.
        now: current time (UTC); only lists with expires_at after it are shown.

    Returns:
        rank_position, title, score, why, explanation_type, model, model_version, variant,
        generated_at, expires_at; ordered by rank.
    """
    rows = current.where(
        (F.col("profile_id") == profile_id)
        & (F.col("context") == "home")
        & (F.col("expires_at") > F.lit(now))
    )
    why = explanations.select(
        "profile_id",
        "context",
        "generated_at",
        "title_id",
        F.col("text").alias("why"),
        "explanation_type",
    )
    return (
        rows.join(why, ["profile_id", "context", "generated_at", "title_id"], "left")
        .join(titles.select("title_id", F.col("title_name").alias("title")), "title_id", "left")
        .select(
            "rank_position",
            "title",
            F.round("score", 3).alias("score"),
            "why",
            "explanation_type",
            "model",
            "model_version",
            "variant",
            "generated_at",
            "expires_at",
        )
        .orderBy("rank_position")
    )


def find_title(titles: DataFrame, title: str) -> int:
    """title_id of a title given by id or name (normalized match).

    Raises:
        LookupError: no such title, or several titles with that name.
    """
    if title.isdigit():
        return int(title)
    key = normalize_name(title)
    found = [
        r.title_id
        for r in titles.select("title_id", "title_name").collect()
        if normalize_name(r.title_name) == key
    ]
    if len(found) != 1:
        raise LookupError(f"{len(found)} titles named {title!r}; pass the numeric title_id")
    return int(found[0])


def more_like_this(
    edges: DataFrame, titles: DataFrame, title_id: int, model: str, limit: int
) -> DataFrame:
    """Titles most similar to ``title_id`` in ``model``'s item graph.

    The rule (newest model version, order, content fallback for a cold title) is
    :func:`jobs.core.recommend.similar_titles.more_like_this_rows`, shared with the API:
    this collects the title's edges and the model versions and calls it.

    Returns:
        rank_position, title, score, model, model_version (the model that served the
        list: ``content_tfidf`` when a collaborative model has no edge for the title).
    """
    versions = similar_titles.newest_versions(
        r.asDict()
        for r in edges.groupBy("model", "model_version")
        .agg(F.max("computed_at").alias("computed_at"))
        .collect()
    )
    mine = [r.asDict() for r in edges.where(F.col("src_title_id") == title_id).collect()]
    found = similar_titles.more_like_this_rows(mine, title_id, model, limit, versions)
    ids = [i["title_id"] for i in found["items"]]
    names = {
        r.title_id: r.title_name
        for r in titles.where(F.col("title_id").isin(ids))
        .select("title_id", "title_name")
        .collect()
    }
    data = [
        (i["rank_position"], names.get(i["title_id"]), round(i["score"], 4), found["model"],
         found["model_version"])
        for i in found["items"]
    ]  # fmt: skip
    return edges.sparkSession.createDataFrame(
        data, "rank_position int, title string, score double, model string, model_version string"
    )


def ab_report(lists: DataFrame, interactions: DataFrame) -> tuple[list[dict], dict]:
    """CTR per variant, model and version with Wilson intervals and a Fisher test.

    Args:
        lists: ``recommendation_list`` (home context only is counted).
        interactions: ``user_content_interaction``.

    Returns:
        (rows, test) as in :func:`jobs.core.recommend.ab.ab_report`.
    """
    imp = ab.conversions(lists.where(F.col("context") == "home"), interactions)
    table, test = ab.ab_report(ab.ctr_table(imp).toPandas())
    return table.to_dict("records"), test


def register_subcommands(sub, add_job_arguments) -> None:
    """Add home, more-like-this and ab-report to ``python -m jobs.query``."""
    p = sub.add_parser("home", help="the home row with explanations (recommendations)")
    p.add_argument("--profile", required=True, help="profile_id, or a profile name")
    p.add_argument("--account", default=None, help="account label, when --profile is a name")
    p = sub.add_parser("more-like-this", help="titles similar to one title, per model")
    p.add_argument("--title", required=True, help="title_id or title name")
    p.add_argument("--model", choices=MODELS, default="item_cosine")
    p.add_argument("--limit", type=int, default=10)
    p = sub.add_parser("ab-report", help="A/B test: impressions, conversions, CTR per variant")
    for name in QUERIES:
        q = sub.choices[name]
        q.add_argument("--json", action="store_true", help="print JSON lines, not a table")
        add_job_arguments(q)


def _profile(engine, profile: str, account: str | None) -> int:
    if profile.isdigit():
        return int(profile)
    rows = (
        engine.read("profile")
        .join(engine.read("account"), "account_id")
        .where(F.col("profile_name") == profile)
    )
    if account:
        rows = rows.where(F.col("account_label") == account)
    found = rows.select("profile_id").collect()
    if len(found) != 1:
        raise LookupError(
            f"{len(found)} profiles named {profile!r}; add --account or pass the profile_id"
        )
    return int(found[0].profile_id)


def run_query(args: argparse.Namespace, engine) -> int:
    """Answer a recommendation sub-command; prints a table or JSON lines. Returns the exit code."""
    now = dt.datetime.now(dt.UTC)
    extra = None
    try:
        if args.name == "home":
            pid = _profile(engine, args.profile, args.account)
            rows = [
                r.asDict()
                for r in home(
                    engine.read("current_recommendations"),
                    engine.read("recommendation_explanation"),
                    engine.read("title"),
                    pid,
                    now,
                ).collect()
            ]
            header = f"home for profile {pid}"
        elif args.name == "more-like-this":
            titles = engine.read("title")
            tid = find_title(titles, args.title)
            rows = [
                r.asDict()
                for r in more_like_this(
                    engine.read("item_item_edge"), titles, tid, args.model, args.limit
                ).collect()
            ]
            header = f"more like {args.title} ({args.model})"
        else:
            rows, extra = ab_report(
                engine.read("recommendation_list"), engine.read("user_content_interaction")
            )
            header = "A/B report (home lists)"
    except (TableNotFoundError, LookupError) as exc:
        print(
            f"error: {exc} (run make recommend, or the recommendation jobs, first)", file=sys.stderr
        )
        return 2
    if args.json:
        for r in rows:
            print(json.dumps(r, default=str, ensure_ascii=False))
        if extra:
            print(json.dumps({"test": extra}, default=str))
        return 0
    print(header)
    if not rows:
        print("(no rows)")
        return 0
    cols = list(rows[0])
    text = [
        [
            ("" if r[c] is None else f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]))
            for c in cols
        ]
        for r in rows
    ]
    widths = [max(len(c), *(len(t[i]) for t in text)) for i, c in enumerate(cols)]
    print("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)))
    for t in text:
        print("  ".join(v.ljust(w) for v, w in zip(t, widths, strict=True)))
    if extra:
        print(
            f"difference {extra['variants'][0]} vs {extra['variants'][1]}: odds ratio {extra['odds_ratio']:.3f}, p = {extra['p_value']:.4f} ({extra['test']})"
        )
    return 0
