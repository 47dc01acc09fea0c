"""Right to erasure: delete one profile from every table, landing and rejects file.

The rule (what goes, how the Delta logs are cleaned, what time travel loses) is in
:mod:`jobs.core.erasure`; the API's admin route ``DELETE /api/admin/profiles/{id}`` runs
the same function. Stop the streaming ingest first: erasure rewrites tables it writes.

Usage::

    python -m jobs.erase_profile --profile-id 123456789 --lake-root lakehouse/demo
"""

from __future__ import annotations

import json
import sys

from jobs.core.cli import JobError, job_parser, run


def _main(args, cfg) -> int:
    from jobs.core.erasure import erase_profile

    try:
        report = erase_profile(cfg, args.profile_id, requested_by="cli")
    except OSError as exc:
        raise JobError(f"erasure failed ({exc}); run it again: every step is repeatable") from exc
    print(json.dumps(report.as_dict(), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.erase_profile`` (see the module docstring)."""
    parser = job_parser(
        "python -m jobs.erase_profile",
        "Erase one profile from the lake (tables, logs, landing and rejects files).",
    )
    parser.add_argument("--profile-id", type=int, required=True, help="the profile_id to erase")
    return run(_main, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
