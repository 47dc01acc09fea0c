"""Right to erasure: delete one profile from every place of the lake that can hold it.

The rule (the registry of places, how each is scrubbed, what time travel loses) is in
:mod:`jobs.core.privacy.erasure`; the API's admin route ``DELETE /api/admin/profiles/{id}`` runs
the same function. Stop the streaming ingest first: erasure rewrites tables it writes.

Usage::

    python -m jobs.erase_profile --profile-id 123456789 --lake-root lakehouse/demo
    # a profile that never reached the profile table (every row rejected): its name
    # and account label let the rejects be matched even without the lake knowing them
    python -m jobs.erase_profile --profile-id 123456789 --profile-name "Ghost" --account hh
"""

from __future__ import annotations

import json
import sys

from jobs.core.privacy.erasure import erase_profile
from jobs.core.runtime.cli import Job, JobError, job_parser, run_job


def _run(job: Job) -> int:
    args, cfg = job.args, job.cfg
    try:
        report = erase_profile(
            cfg,
            args.profile_id,
            requested_by="cli",
            names=args.profile_name or (),
            accounts=args.account or (),
        )
    except OSError as exc:
        raise JobError(f"erasure failed ({exc}); run it again: every step is repeatable") from exc
    print(json.dumps(report.as_dict(), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.erase_profile`` (see the module docstring)."""
    parser = job_parser(
        "python -m jobs.erase_profile",
        "Erase one profile from the lake (tables, logs, landing, rejects, models, DQ output).",
    )
    parser.add_argument("--profile-id", type=int, required=True, help="the profile_id to erase")
    parser.add_argument(
        "--profile-name",
        action="append",
        help="also match rejects and DQ output by this name (repeatable)",
    )
    parser.add_argument(
        "--account",
        action="append",
        help="account label to derive profile ids of rejected rows with (repeatable)",
    )
    return run_job("erase_profile", parser, _run, argv)


if __name__ == "__main__":
    sys.exit(main())
