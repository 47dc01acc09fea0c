"""Rebuild the Redis hot store from Delta (cold start, lost or flushed Redis).

Reads the current resume points (``resume_state`` ∪ its change log
``resume_state_change``, :func:`jobs.core.changelog.resume.current_resume`), skips those
``maintain_tables``' expiry drops (older than ``maintenance.resume_ttl_days`` before its
reference time) and merges the rest into Redis through the hot store's one monotonic
script (:func:`jobs.core.serving.hot_store.rebuild`): a position that reached Redis while
the job ran is never moved back, and a second run writes nothing. Delta stays the system
of record; Redis holds the copy readers hit.

The Redis URL comes from ``--redis-url``, else the env var named by ``hot_store.url_env``
(``REDIS_URL``); it is never written in a config file.

Usage::

    REDIS_URL=redis://127.0.0.1:6379/0 python -m jobs.rebuild_hot_store --lake-root ./lakehouse
    python -m jobs.rebuild_hot_store --redis-url redis://127.0.0.1:6379/0

Prints one JSON line: ``rows_read``, ``rows_written``, ``ttl_reference`` (UTC),
``seconds``. Exit 1 when Redis is unreachable or no URL is set.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from jobs.core.rules.as_of import utc_iso
from jobs.core.runtime.cli import Job, check_lake_root, job_parser, run_job
from jobs.core.serving.hot_store import rebuild
from jobs.core.storage.delta import get_engine

log = logging.getLogger("rebuild_hot_store")


def _run(job: Job) -> dict[str, Any]:
    check_lake_root(job.cfg, writes=False)
    result = rebuild(job.engine, job.cfg, url=job.args.redis_url)
    log.info(
        "hot store rebuilt: %d of %d rows written in %.1fs (TTL from %s)",
        result.rows_written,
        result.rows_read,
        result.seconds,
        utc_iso(result.reference),
    )
    return {
        "rows_read": result.rows_read,
        "rows_written": result.rows_written,
        "ttl_reference": utc_iso(result.reference),
        "seconds": round(result.seconds, 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(
        "python -m jobs.rebuild_hot_store",
        "Rebuild the Redis hot store from resume_state and its change log (monotonic).",
    )
    parser.add_argument(
        "--redis-url",
        default=None,
        help="Redis URL (default: the env var named by hot_store.url_env, REDIS_URL)",
    )
    return run_job("rebuild_hot_store", parser, _run, argv, engine=get_engine)


if __name__ == "__main__":
    sys.exit(main())
