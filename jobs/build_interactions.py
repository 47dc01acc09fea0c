"""Build viewing_session, user_content_interaction and user_content_rating from the lake.

    python -m jobs.build_interactions --lake-root lakehouse/demo [--feedback FILE.jsonl]

VIEW rows come from non-supplemental playback sessions (value = completion 0..1, see
jobs.core.recommend.interactions; the build: jobs.core.recommend.build.build);
``--feedback`` adds explicit LIKE / DISLIKE / RATING / SHARE rows from JSON lines (profile_id, title_id, interaction_type, interaction_value,
event_ts), rejecting bad ones with a reason. Incremental and safe to rerun: nothing happens
when playback_session has not moved since the last run (build_state); otherwise rows are
merged on their keys and only new or changed rows are written, with ``ingested_at`` = now,
so generation can regenerate just the profiles they touch.
Exit codes: 0 done, 1 run failure, 2 usage or configuration error.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from jobs.core.recommend.build import build
from jobs.core.runtime.cli import Job, UsageError, job_parser, run_job
from jobs.core.storage.delta import get_engine

JOB = "build_interactions"


def _parser():
    p = job_parser("python -m jobs.build_interactions", __doc__.splitlines()[0])
    p.add_argument("--feedback", help="JSON lines of explicit feedback to add")
    p.add_argument("--force", action="store_true", help="rebuild even if the sources did not move")
    return p


def _run(job: Job) -> dict[str, Any]:
    args = job.args
    if args.feedback and not os.path.exists(args.feedback):
        raise UsageError(f"--feedback {args.feedback}: no such file; pass a JSON lines file")
    return build(job.engine, job.cfg.recommend, args.feedback, args.force)


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.build_interactions`` (see the module docstring)."""
    return run_job(JOB, _parser(), _run, argv, engine=get_engine)


if __name__ == "__main__":
    sys.exit(main())
