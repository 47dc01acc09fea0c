"""Load the public Netflix catalogue (``netflix_titles.csv``) into ``catalog_title``.

The catalogue enriches ``dim_movies`` (genres, release year, rating, film runtime,
number of seasons) by normalized title; see :mod:`jobs.core.star.dimensions`. Rows are
merged on ``show_id`` and only rows that differ are written, so reloading the same file
commits nothing. The rules are in :mod:`jobs.core.ingest.catalog`.

Usage::

    python -m jobs.load_catalog                                   # paths.catalog_csv
    python -m jobs.load_catalog ../shared/data/catalog/netflix_titles.csv
"""

from __future__ import annotations

import json
import sys

from jobs.core.ingest.catalog import load_catalog
from jobs.core.runtime.cli import Job, job_parser, run_job
from jobs.core.storage.delta import get_engine


def _run(job: Job) -> int:
    report = load_catalog(job.engine, job.args.csv or job.cfg.paths.catalog_csv)
    print(json.dumps(report))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.load_catalog`` (see the module docstring)."""
    parser = job_parser(
        "python -m jobs.load_catalog", "Load netflix_titles.csv into the catalog_title Delta table."
    )
    parser.add_argument("csv", nargs="?", default=None, help="default: paths.catalog_csv")
    return run_job(
        "load_catalog",
        parser,
        _run,
        argv,
        engine=get_engine,
        usage_errors=(FileNotFoundError, ValueError),
    )


if __name__ == "__main__":
    sys.exit(main())
