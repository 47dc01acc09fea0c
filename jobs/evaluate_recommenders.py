"""Offline evaluation of every recommender beside popularity and random baselines.

    python -m jobs.evaluate_recommenders --corpus ../shared/data/viewing-activity-corpus
    python -m jobs.evaluate_recommenders --lake-root lakehouse/demo     # the lake's interactions

Per-profile temporal split, precision@10 / recall@20 / NDCG@10 / coverage, ratio to
popularity with a household bootstrap interval (see jobs.core.recommend.evaluation).
Prints the table; with a lake (``--lake-root`` or the configured one) also writes it to
``model_performance`` (merge on model, version, date, metric: a rerun replaces the day's
figures). ``--corpus`` reads the Netflix exports directly (seconds instead of an import).
Exit codes: 0 done, 1 run failure, 2 usage or configuration error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import sys

from pyspark.sql import functions as F
from pyspark.sql.types import LongType

from jobs.core.recommend import catalog as cat
from jobs.core.recommend.offline import evaluate, markdown_table
from jobs.core.rules.ids import stable_id
from jobs.core.runtime.cli import UsageError, job_parser, run

log = logging.getLogger("evaluate_recommenders")
_title_id = F.udf(lambda s: stable_id("title", s), LongType())


def _parser():
    p = job_parser("python -m jobs.evaluate_recommenders", __doc__.splitlines()[0])
    p.add_argument("--corpus", help="folder of ViewingActivity exports (one file = one household)")
    p.add_argument(
        "--households",
        type=int,
        metavar="N",
        help="with --corpus: only the first N exports by file name (quick profiling runs)",
    )
    p.add_argument("--catalog", help="netflix_titles.csv (default: paths.catalog_csv)")
    p.add_argument(
        "--no-write", action="store_true", help="print only; do not write model_performance"
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


def corpus_views(spark, folder, catalog, households=None):
    """Exports -> (views, texts, match facts); title_id = hash of the normalized name."""
    from jobs.core.recommend.corpus import read_corpus

    raw = (
        read_corpus(spark, folder, households)
        .withColumn("title_id", _title_id("normalized_title"))
        .cache()
    )
    titles = raw.select("title_id", "normalized_title").distinct()
    matches = cat.match_titles(titles, catalog)
    texts = matches.join(
        catalog.withColumnRenamed("show_id", "catalog_show_id"), "catalog_show_id"
    ).cache()
    n_titles, n_matched = titles.count(), matches.count()
    rows_matched = raw.join(matches, "title_id").count()
    facts = {
        "rows": raw.count(),
        "titles": n_titles,
        "titles_matched_to_catalogue": n_matched,
        "view_rows_on_matched_titles": rows_matched,
    }
    return raw.select("profile_id", "household", "title_id", "event_ts"), texts, facts


def lake_views(engine, catalog):
    """The lake's VIEW interactions, household = account label."""
    inter = engine.read("user_content_interaction").where("interaction_type = 'VIEW'")
    prof = engine.read("profile").select("profile_id", "account_id")
    acc = engine.read("account").select("account_id", F.col("account_label").alias("household"))
    views = inter.join(prof, "profile_id").join(acc, "account_id")
    titles = engine.read("title").select(
        "title_id", cat.normalize_udf("title_name").alias("normalized_title")
    )
    matches = cat.match_titles(titles, catalog)
    texts = matches.join(catalog.withColumnRenamed("show_id", "catalog_show_id"), "catalog_show_id")
    return views.select("profile_id", "household", "title_id", "event_ts"), texts, {}


def performance_rows(spark, summary, version, dataset, today):
    """Summary -> ``model_performance`` rows: one per model and numeric metric (CI bounds too)."""
    rows = []
    for r in summary.to_dict("records"):
        for k, v in r.items():
            if k != "model" and isinstance(v, float) and v == v:  # NaN: no interval
                rows.append((r["model"], version, today, k, float(v), dataset))
    schema = "model_name string, model_version string, evaluation_date date, metric_name string, metric_value double, dataset string"
    return spark.createDataFrame(rows, schema)


def _main(args, cfg) -> int:
    s = cfg.recommend
    from jobs.core.runtime.spark import build_spark
    from jobs.core.storage.delta import MergeSpec, get_engine

    if args.households is not None and (args.households < 1 or not args.corpus):
        raise UsageError("--households N needs --corpus and N >= 1")
    for option, path in (("--corpus", args.corpus), ("--catalog", args.catalog)):
        if path and not os.path.exists(path):
            raise UsageError(f"{option} {path}: no such file or folder")
    spark = build_spark("evaluate_recommenders", cfg)
    engine = get_engine(spark, cfg)
    catalog = cat.read_catalog_csv(spark, args.catalog or cfg.paths.catalog_csv).cache()
    if args.corpus:
        views, texts, facts = corpus_views(spark, args.corpus, catalog, args.households)
    else:
        views, texts, facts = lake_views(engine, catalog)
    result = evaluate(views, texts, s)
    settings_json = json.dumps(s.model_dump(mode="json"), sort_keys=True)
    version = hashlib.sha1(settings_json.encode()).hexdigest()[:10]
    facts.update(result.facts)
    dataset = args.corpus or "lake"
    if args.households:
        dataset += f" (first {args.households} households)"
    if args.json:
        print(
            json.dumps(
                {"facts": facts, "version": version, "summary": result.summary.to_dict("records")},
                default=str,
            )
        )
    else:
        print(json.dumps(facts))
        print(markdown_table(result.summary, s))
    if not args.no_write:
        engine.create_all(["model_performance"])
        df = performance_rows(
            spark, result.summary, version, dataset, dt.datetime.now(dt.UTC).date()
        )
        on = " AND ".join(
            f"t.{c} = s.{c}"
            for c in ("model_name", "model_version", "evaluation_date", "metric_name")
        )
        engine.merge("model_performance", df, MergeSpec(on=on))
        log.info("model_performance: %d rows (version %s)", df.count(), version)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.evaluate_recommenders`` (see the module docstring)."""
    return run(_main, _parser(), argv, usage_errors=(FileNotFoundError,))


if __name__ == "__main__":
    sys.exit(main())
