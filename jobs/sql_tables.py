"""Print the lake's ``CREATE TABLE ... USING DELTA LOCATION`` statements, for spark-sql.

``python -m jobs.sql_tables --env cluster > tables.sql``, then ``spark-sql -i tables.sql``
(with the delta-spark jars) names every table of the lake in the catalog; see
:mod:`jobs.core.serving.sql_views`.
"""

from __future__ import annotations

import argparse
import sys

from jobs.core.runtime.config import ConfigError, add_env_argument, load_config
from jobs.core.serving.sql_views import create_statements


def main(argv: list[str] | None = None) -> int:
    """Print the lake's ``CREATE TABLE`` statements (see :func:`create_statements`)."""
    parser = argparse.ArgumentParser(
        prog="python -m jobs.core.tables.views",
        description="Print CREATE TABLE ... USING DELTA LOCATION statements for every table "
        "of the lake, for spark-sql -i FILE (needs the delta-spark jars).",
    )
    add_env_argument(parser)
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.env, args.lake_root)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    statements = create_statements(cfg)
    if not statements:
        print(
            f"error: no Delta tables under {cfg.paths.tables_dir}; run a job first", file=sys.stderr
        )
        return 1
    print("\n".join(statements))
    return 0


if __name__ == "__main__":
    sys.exit(main())
