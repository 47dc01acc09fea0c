"""Close abandoned playback sessions: open sessions whose player never sent END.

An open session with no event for ``abandoned_sessions.idle_hours`` (conf/base.yaml,
4 h) is closed with ``ended_at`` = its last event time and ``end_reason = 'ABANDONED'``;
safe to rerun, and a late END still wins. The rule and the write are
:mod:`jobs.core.changelog.abandoned`; this job parses the options and reports.

Usage::

    python -m jobs.close_abandoned_sessions                 # now, idle_hours from conf
    python -m jobs.close_abandoned_sessions --idle-hours 6 --dry-run
"""

from __future__ import annotations

import logging
import sys

from jobs.core.changelog.abandoned import close_abandoned_sessions
from jobs.core.rules.as_of import utc_argument
from jobs.core.runtime.cli import Job, UsageError, job_parser, run_job
from jobs.core.storage.delta import get_engine

log = logging.getLogger("close_abandoned_sessions")


def _run(job: Job) -> int:
    args = job.args
    idle = args.idle_hours if args.idle_hours is not None else job.cfg.abandoned_sessions.idle_hours
    if idle <= 0:
        raise UsageError("--idle-hours must be a positive number of hours")
    n, result = close_abandoned_sessions(job.engine, idle, args.now, args.dry_run)
    verb = "would close" if args.dry_run else "closed"
    log.info(
        "%s %d abandoned sessions (idle > %s h)%s",
        verb,
        n,
        idle,
        f"; {result.metrics}" if result else "",
    )
    print(f"{verb} {n} abandoned sessions (no event for more than {idle:g} h)")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.close_abandoned_sessions``: the exit code (0 done, 2 usage)."""
    parser = job_parser(
        "python -m jobs.close_abandoned_sessions",
        "Close open playback sessions with no event for N hours: ended_at = last "
        "event time, end_reason = 'ABANDONED'. Safe to rerun.",
    )
    parser.add_argument(
        "--idle-hours",
        type=float,
        default=None,
        help="hours without an event (default: abandoned_sessions.idle_hours in conf/base.yaml)",
    )
    parser.add_argument(
        "--now", type=utc_argument, default=None, help="reference time, ISO-8601 UTC (default: now)"
    )
    parser.add_argument("--dry-run", action="store_true", help="count the sessions, change nothing")
    return run_job("close_abandoned_sessions", parser, _run, argv, engine=get_engine)


if __name__ == "__main__":
    sys.exit(main())
