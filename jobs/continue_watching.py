"""Continue Watching on the command line: a profile's list from the current resume points.

The list is :func:`jobs.core.serving.continue_watching.profile_list` (resume points with
their pending change-log rows; the rule is
:func:`jobs.core.rules.continue_watching_spark.continue_watching`; ``--as-of latest`` is
the profile's newest resume point, in UTC); this job prints it as a table or JSON lines.

Usage::

    python -m jobs.continue_watching --profile "Profile 1" --account household-ke --as-of latest
    python -m jobs.continue_watching --profile 123456789 --json
"""

from __future__ import annotations

import json
import sys

from jobs.core.runtime.cli import Job, job_parser, run_job
from jobs.core.serving.continue_watching import format_table, profile_list
from jobs.core.storage.delta import get_engine


def _run(job: Job) -> int:
    args = job.args
    found = profile_list(job.engine, args.profile, args.account, args.as_of, args.limit)
    if found.as_of is None:  # --as-of latest, and the profile has no resume point
        print(found.hint, file=sys.stderr)
        return 1
    if args.json:
        for r in found.rows:
            print(json.dumps(r, default=str, ensure_ascii=False))
    else:
        print(
            f"Continue Watching for profile {found.profile_id} "
            f"(as of {found.as_of:%Y-%m-%d %H:%M} UTC)"
        )
        print(format_table(found.rows))
    if found.hint:
        print(found.hint, file=sys.stderr)
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
    return run_job(
        "continue_watching",
        parser,
        _run,
        argv,
        engine=get_engine,
        usage_errors=(LookupError, ValueError),
        log_level="WARNING",
    )


if __name__ == "__main__":
    sys.exit(main())
