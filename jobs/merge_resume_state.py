"""Batch rebuild or catch-up of ``resume_state`` from ``playback_event``.

The same merge the streaming ingest runs per micro-batch
(:func:`jobs.core.rules.playback_state.resume_updates` and ``RESUME_MERGE``), over all stored
events or a ``dt`` range. Because resume points are ordered by ``(event_time,
position_sec, session_id)``, merging in any order and any batching gives the table the
stream gives.

Afterwards the resume-state change log (rows the stream appended, ``resume.write_path:
change_log``) is compacted into the table (:func:`jobs.core.changelog.resume.compact`): its
rows newer than what the rebuild or catch-up wrote stay current, and the log holds only
rows newer than the table. Newest-wins makes the order of the two harmless. The code is
:mod:`jobs.core.changelog.resume_merge`; this job parses the options and reports.

Usage::

    python -m jobs.merge_resume_state                          # catch up from every event
    python -m jobs.merge_resume_state --from-dt 2023-01-01 --to-dt 2023-01-31
    python -m jobs.merge_resume_state --rebuild                # replace the table
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time

from jobs.core.changelog.resume_merge import merge_resume_state
from jobs.core.rules.as_of import parse_day
from jobs.core.runtime.cli import Job, job_parser, run_job
from jobs.core.storage.delta import get_engine

log = logging.getLogger("merge_resume_state")


def _date(text: str) -> dt.date:
    try:
        return parse_day(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _run(job: Job) -> int:
    start = time.monotonic()
    args = job.args
    result = merge_resume_state(job.engine, job.cfg, args.from_dt, args.to_dt, args.rebuild)
    log.info(
        "resume_state %s: %s at version %s in %.1fs",
        "rebuilt" if args.rebuild else "merged",
        result.metrics,
        result.version,
        time.monotonic() - start,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(
        "python -m jobs.merge_resume_state",
        "Rebuild or catch up resume_state from playback_event (same rules as the stream).",
    )
    parser.add_argument(
        "--from-dt", type=_date, default=None, help="first event date (UTC), inclusive"
    )
    parser.add_argument(
        "--to-dt", type=_date, default=None, help="last event date (UTC), inclusive"
    )
    parser.add_argument("--rebuild", action="store_true", help="overwrite resume_state entirely")
    return run_job(
        "merge_resume_state", parser, _run, argv, engine=get_engine, usage_errors=(ValueError,)
    )


if __name__ == "__main__":
    sys.exit(main())
