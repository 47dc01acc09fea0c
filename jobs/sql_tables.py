"""Print the lake's ``CREATE TABLE ... USING DELTA LOCATION`` statements, for spark-sql.

``python -m jobs.sql_tables --env cluster > tables.sql``, then ``spark-sql -i tables.sql``
(with the delta-spark jars) names every table of the lake in the catalog; see
:mod:`jobs.core.serving.sql_views`.
"""

from __future__ import annotations

import sys

from jobs.core.runtime.cli import Job, JobError, job_parser, run_job
from jobs.core.serving.sql_views import create_statements


def main(argv: list[str] | None = None) -> int:
    """Print the lake's ``CREATE TABLE`` statements (see :func:`create_statements`)."""
    parser = job_parser(
        "python -m jobs.sql_tables",
        "Print CREATE TABLE ... USING DELTA LOCATION statements for every table "
        "of the lake, for spark-sql -i FILE (needs the delta-spark jars).",
    )
    return run_job("sql_tables", parser, _run, argv, log_level="WARNING")


def _run(job: Job) -> int:
    statements = create_statements(job.cfg)
    if not statements:
        raise JobError(f"no Delta tables under {job.cfg.paths.tables_dir}; run a job first")
    print("\n".join(statements))
    return 0


if __name__ == "__main__":
    sys.exit(main())
