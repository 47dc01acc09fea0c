"""Offline evaluation of every recommender beside popularity and random baselines.

    python -m jobs.evaluate_recommenders --corpus ../shared/data/viewing-activity-corpus
    python -m jobs.evaluate_recommenders --lake-root lakehouse/demo     # the lake's interactions

    python -m jobs.evaluate_recommenders --corpus DIR --score-households hh-031,hh-032

One global temporal cut (training = every row before it; test = each profile's new
titles in the window after it; hyper-parameters chosen on the window before it),
precision@10 / recall@20 / NDCG@10 / coverage / hits, the same on recommendable test
titles, ratio to popularity with a household bootstrap interval (see
jobs.core.recommend.evaluation; the inputs and the model_performance rows:
jobs.core.recommend.performance). ``--score-households`` trains on every export given and
scores only the named households' profiles (households added later, a new market).
Prints the table; with a lake (``--lake-root`` or the configured one) also writes it to
``model_performance`` (merge on model, version, date, metric: a rerun replaces the day's
figures). ``--corpus`` reads the Netflix exports directly (seconds instead of an import).
Exit codes: 0 done, 1 run failure, 2 usage or configuration error.
"""

from __future__ import annotations

import json
import os
import sys

from jobs.core.recommend import catalog as cat
from jobs.core.recommend.offline import evaluate, markdown_table
from jobs.core.recommend.performance import (
    corpus_views,
    lake_views,
    settings_version,
    write_performance,
)
from jobs.core.runtime.cli import Job, UsageError, job_parser, run_job
from jobs.core.storage.delta import get_engine


def _parser():
    p = job_parser("python -m jobs.evaluate_recommenders", __doc__.splitlines()[0])
    p.add_argument("--corpus", help="folder of ViewingActivity exports (one file = one household)")
    p.add_argument(
        "--households",
        type=int,
        metavar="N",
        help="with --corpus: only the first N exports by file name (quick profiling runs)",
    )
    p.add_argument(
        "--score-households",
        metavar="NAME[,NAME...]",
        help="score only these households' profiles (export file stems or account labels); "
        "every household still trains",
    )
    p.add_argument("--catalog", help="netflix_titles.csv (default: paths.catalog_csv)")
    p.add_argument(
        "--no-write", action="store_true", help="print only; do not write model_performance"
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    return p


def _scored(value: str | None) -> set[str] | None:
    """The households of ``--score-households NAME[,NAME...]`` (None: score everyone)."""
    if value is None:
        return None
    scored = {h.strip() for h in value.split(",") if h.strip()}
    if not scored:
        raise UsageError("--score-households needs at least one household name")
    return scored


def _run(job: Job) -> int:
    args, cfg = job.args, job.cfg
    s = cfg.recommend
    if args.households is not None and (args.households < 1 or not args.corpus):
        raise UsageError("--households N needs --corpus and N >= 1")
    for option, path in (("--corpus", args.corpus), ("--catalog", args.catalog)):
        if path and not os.path.exists(path):
            raise UsageError(f"{option} {path}: no such file or folder")
    scored = _scored(args.score_households)
    spark, engine = job.spark, job.engine
    catalog = cat.read_catalog_csv(spark, args.catalog or cfg.paths.catalog_csv).cache()
    if args.corpus:
        views, texts, facts = corpus_views(spark, args.corpus, catalog, args.households)
    else:
        views, texts, facts = lake_views(engine, catalog)
    if scored is not None:
        known = {r.household for r in views.select("household").distinct().collect()}
        if scored - known:
            raise UsageError(f"--score-households: no views of {sorted(scored - known)}")
    result = evaluate(views, texts, s, scored)
    version = settings_version(s)
    facts.update(result.facts)
    dataset = args.corpus or "lake"
    if args.households:
        dataset += f" (first {args.households} households)"
    if scored is not None:
        dataset += f" (scored: {','.join(sorted(scored))})"
    if args.json:
        summary = result.summary.to_dict("records")
        print(json.dumps({"facts": facts, "version": version, "summary": summary}, default=str))
    else:
        print(json.dumps(facts))
        print(markdown_table(result.summary, s, result.facts["households"]))
    if not args.no_write:
        write_performance(engine, result.summary, version, dataset)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.evaluate_recommenders`` (see the module docstring)."""
    return run_job(
        "evaluate_recommenders",
        _parser(),
        _run,
        argv,
        engine=get_engine,
        usage_errors=(FileNotFoundError,),
    )


if __name__ == "__main__":
    sys.exit(main())
