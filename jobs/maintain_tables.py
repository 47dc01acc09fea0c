"""Table maintenance: change-log compaction, OPTIMIZE (Z-order, compaction), resume_state TTL, VACUUM.

* ``compact``: fold the change logs into ``resume_state`` and ``playback_session``
  (safe to rerun and while the ingest appends); ``--only compact`` is the step to
  schedule every few minutes.
* ``optimize``: Z-order the tables in ``maintenance.zorder_tables`` by their spec's
  ``cluster_by``, compact those in ``maintenance.compact_tables``.
* ``expire``: delete ``resume_state`` rows (and change-log rows) older than
  ``maintenance.resume_ttl_days`` before ``min(now, newest resume point)`` (UTC).
* ``vacuum``: VACUUM every table with ``maintenance.vacuum_retention_hours``.

The steps are :func:`jobs.core.changelog.maintenance.maintain` (OPTIMIZE and VACUUM:
:mod:`jobs.core.storage.maintenance`), through the Delta engine interface, so it runs on
both engines. Run it while the ingest is stopped or between its commits; on a conflict
the step fails and the job can be rerun (every step is idempotent). The report is
printed as one JSON line.

Usage::

    python -m jobs.maintain_tables                  # everything
    python -m jobs.maintain_tables --only compact   # the resume-log compaction alone
    python -m jobs.maintain_tables --only optimize --table playback_event
"""

from __future__ import annotations

import sys
from typing import Any

from jobs.core.changelog.maintenance import STEPS, maintain
from jobs.core.runtime.cli import Job, UsageError, job_parser, run_job
from jobs.core.storage.delta import get_engine
from jobs.core.tables.registry import TABLES


def _run(job: Job) -> dict[str, Any]:
    args = job.args
    unknown = sorted(set(args.table or []) - set(TABLES))
    if unknown:
        raise UsageError(f"unknown tables {unknown}; known: {sorted(TABLES)}")
    report = maintain(job.engine, job.cfg, args.table or list(TABLES), args.only or list(STEPS))
    job.spark.stop()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(
        "python -m jobs.maintain_tables",
        "Compact the change logs, OPTIMIZE (Z-order playback_event by session_id and the "
        "per-profile tables by profile_id; compaction), expire resume_state rows older than "
        "the TTL before min(now, newest resume point), VACUUM.",
    )
    parser.add_argument(
        "--only", choices=STEPS, action="append", help="run only these steps (repeatable)"
    )
    parser.add_argument(
        "--table", action="append", help="limit optimize/vacuum to these tables (repeatable)"
    )
    return run_job("maintain_tables", parser, _run, argv, engine=get_engine)


if __name__ == "__main__":
    sys.exit(main())
