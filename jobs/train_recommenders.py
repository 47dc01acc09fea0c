"""Train the recommenders: training_interactions, item/user graphs, embeddings, genres.

    python -m jobs.train_recommenders --lake-root lakehouse/demo [--as-of latest|ISO]

From ``user_content_interaction`` (window: conf recommend.training.window_days before the
as-of; default as-of = newest interaction) it writes ``training_interactions``, the
``item_item_edge`` graphs of item_cosine, als and content_tfidf, ``user_user_edge``,
``content_embedding``, ``dim_genre``, ``title_genre_bridge`` and ``season``, and saves the
ALS model under ``<lake>/models/als/<version>``. Each model's version is
``<model>-v<interactions version>-<hash of its hyperparameters>``: a rerun on the same data
and settings finds its version already written and does nothing.
The training is jobs.core.recommend.training.train.
Exit codes: 0 done, 1 run failure, 2 usage or configuration error.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from jobs.core.recommend.training import train
from jobs.core.rules.as_of import as_of_argument  # a bad --as-of: exit 2 before Spark
from jobs.core.runtime.cli import Job, UsageError, job_parser, run_job
from jobs.core.storage.delta import get_engine

JOB = "train_recommenders"


def _parser():
    p = job_parser(f"python -m jobs.{JOB}", __doc__.splitlines()[0])
    p.add_argument(
        "--as-of",
        type=as_of_argument,
        default="latest",
        help="'latest' (newest interaction) or UTC ISO time",
    )
    p.add_argument("--catalog", help="netflix_titles.csv when catalog_title is not loaded")
    return p


def _run(job: Job) -> dict[str, Any]:
    args = job.args
    if args.catalog and not os.path.exists(args.catalog):
        raise UsageError(f"--catalog {args.catalog}: no such file; pass netflix_titles.csv")
    return train(job.engine, job.cfg.recommend, args.as_of, args.catalog)


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.train_recommenders`` (see the module docstring)."""
    return run_job(JOB, _parser(), _run, argv, engine=get_engine)


if __name__ == "__main__":
    sys.exit(main())
