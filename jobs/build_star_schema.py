"""Star schema and marts from the playback tables: dimensions, fact, marts, incrementally.

    profile + account ──▶ dim_users   (SCD2 on country_code, maturity_setting, subscription_plan)
    title + episode + catalog_title ──▶ dim_movies (film or episode; catalogue by normalized title)
    device ──▶ dim_device          sessions' dates ──▶ dim_date
    playback_session + playback_event ──▶ fact_watch_history (one row per non-supplemental session)
    fact + dims ──▶ last_10_movies, history_90_days, content_type_preference,
                    region_login, daily_watch_minutes

The build is :func:`jobs.core.star.build.build` (transforms in :mod:`jobs.core.star`):
incremental and idempotent (``build_state``), a rerun with nothing new commits nothing.
The report is printed as one JSON line.

Usage::

    python -m jobs.build_star_schema                       # as of now
    python -m jobs.build_star_schema --as-of latest  # old exports: as of the newest session
"""

from __future__ import annotations

import sys
from typing import Any

from jobs.core.runtime.cli import Job, check_lake_root, job_parser, run_job
from jobs.core.star.build import JOB, build
from jobs.core.storage.delta import get_engine


def _run(job: Job) -> dict[str, Any]:
    check_lake_root(job.cfg)
    return build(job.engine, job.args.as_of, job.cfg.activity)


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(
        "python -m jobs.build_star_schema",
        "Build dim_users (SCD2), dim_movies, dim_device, dim_date, "
        "fact_watch_history and the marts, incrementally.",
    )
    parser.add_argument(
        "--as-of",
        default=None,
        help="reference time (UTC ISO, 'now' or 'latest' = newest session; default now)",
    )
    return run_job(JOB, parser, _run, argv, engine=get_engine, usage_errors=(ValueError,))


if __name__ == "__main__":
    sys.exit(main())
