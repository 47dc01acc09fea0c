"""Generate recommendation lists, explanations, current_recommendations and the cache.

    python -m jobs.generate_recommendations --lake-root lakehouse/demo [--all]

Regenerates only the profiles touched since the last generation (new or changed
interactions, by ``ingested_at``), profiles whose lists expired, and every profile when a
model version changed (or with ``--all``). Each profile's home list comes from its A/B
variant's model (conf recommend.ab); profiles with too little history get a popularity list
of their country. ``recommendation_list`` and ``recommendation_explanation`` are
append-only history; ``current_recommendations`` and ``recommendation_cache`` are rewritten
for the regenerated profiles. Rerunning with nothing new does nothing.
The generation is jobs.core.recommend.generation.generate_all.
Exit codes: 0 done, 1 run failure, 2 usage or configuration error.
"""

from __future__ import annotations

import sys
from typing import Any

from jobs.core.recommend.generation import JOB, generate_all
from jobs.core.runtime.cli import Job, job_parser, run_job
from jobs.core.storage.delta import get_engine


def _parser():
    p = job_parser(f"python -m jobs.{JOB}", __doc__.splitlines()[0])
    p.add_argument("--all", action="store_true", help="regenerate every profile")
    return p


def _run(job: Job) -> dict[str, Any]:
    return generate_all(job.engine, job.cfg.recommend, job.args.all)


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.generate_recommendations`` (see the module docstring)."""
    return run_job(JOB, _parser(), _run, argv, engine=get_engine)


if __name__ == "__main__":
    sys.exit(main())
