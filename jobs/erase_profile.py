"""Right to erasure: delete one profile from every table, landing and rejects file.

The rule (what goes, how the Delta logs are cleaned, what time travel loses) is in
:mod:`jobs.core.erasure`; the API's admin route ``DELETE /api/admin/profiles/{id}`` runs
the same function. Stop the streaming ingest first: erasure rewrites tables it writes.

Usage::

    python -m jobs.erase_profile --profile-id 123456789 --lake-root lakehouse/demo
"""

from __future__ import annotations

import argparse
import json
import sys

from jobs.core.config import ConfigError, add_env_argument, load_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jobs.erase_profile",
        description="Erase one profile from the lake (tables, logs, landing and rejects files).",
    )
    parser.add_argument("--profile-id", type=int, required=True, help="the profile_id to erase")
    add_env_argument(parser)
    args = parser.parse_args(argv)
    from jobs.core.logs import setup_logging

    setup_logging()
    try:
        cfg = load_config(args.env, args.lake_root)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from jobs.core.erasure import erase_profile

    try:
        report = erase_profile(cfg, args.profile_id, requested_by="cli")
    except OSError as exc:
        print(
            f"error: erasure failed ({exc}); run it again: every step is repeatable",
            file=sys.stderr,
        )
        return 1
    print(json.dumps(report.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
