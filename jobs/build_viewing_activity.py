"""Viewing activity from the star schema: what each profile watched, finished, binged, dropped.

    fact_watch_history + dim_movies + dim_device + viewing_statement
        ──▶ viewing_record, show_progress, binge_session, abandoned_content,
            viewing_statistics, viewing_domain_event, viewing_companion

The build and its rules live in :mod:`jobs.core.activity` (thresholds in ``activity:`` in
``conf/base.yaml``): :func:`jobs.core.activity.build.build` recomputes only the profiles
whose inputs changed since the last run (``build_state``) and writes only rows that
differ; ``--full-refresh`` recomputes every profile. The report is printed as one JSON
line.

Usage::

    python -m jobs.build_viewing_activity --as-of latest
    python -m jobs.build_viewing_activity --full-refresh   # every profile, e.g. after
                                                           # changing activity: in conf
"""

from __future__ import annotations

import sys
from typing import Any

from jobs.core.activity.build import JOB, build
from jobs.core.runtime.cli import Job, job_parser, run_job
from jobs.core.storage.delta import get_engine


def _run(job: Job) -> dict[str, Any]:
    return build(job.engine, job.args.as_of, job.cfg.activity, job.args.full_refresh)


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(
        "python -m jobs.build_viewing_activity",
        "Build viewing_record, show_progress, binge_session, abandoned_content, "
        "viewing_statistics and viewing_domain_event from the star schema.",
    )
    parser.add_argument(
        "--as-of",
        default=None,
        help="reference time for abandonment (UTC ISO, 'now' or 'latest'; default now)",
    )
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="recompute every profile even when no source changed (e.g. after changing "
        "the activity: thresholds in conf); default: only the profiles that changed",
    )
    return run_job(JOB, parser, _run, argv, engine=get_engine, usage_errors=(ValueError,))


if __name__ == "__main__":
    sys.exit(main())
