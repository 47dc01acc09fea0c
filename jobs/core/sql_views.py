"""Make every Delta table queryable by name in Spark SQL.

* spark engine (delta-spark): each table becomes a catalog table over its folder,
  ``CREATE TABLE IF NOT EXISTS name USING DELTA LOCATION 'path'`` — permanent in the
  session catalog (the metastore on a cluster), always reading the latest version.
* rust engine (delta-rs): Spark has no Delta reader, so each table becomes a
  temporary view over :meth:`DeltaEngine.read` — the snapshot at registration time;
  call :func:`register_tables` again after a write to see it.

Either way ``spark.sql("SELECT * FROM fact_watch_history")`` works afterwards.

For ``spark-sql`` (or any session started outside the jobs),
``python -m jobs.core.sql_views --lake-root LAKE`` prints the ``CREATE TABLE`` statements
of every table in the lake, to run with ``spark-sql -i FILE`` (docs/operations.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from pyspark.sql import SparkSession

from jobs.core.config import Config, ConfigError, add_env_argument, load_config
from jobs.core.delta import DeltaEngine
from jobs.core.tables import TABLES

log = logging.getLogger(__name__)


def register_tables(
    spark: SparkSession, engine: DeltaEngine, names: list[str] | None = None
) -> list[str]:
    """Register every existing table (or those in ``names``) under its own name.

    Args:
        spark: the session the queries run in.
        engine: the Delta engine that owns the tables (decides catalog table vs view).
        names: tables to register (default: every table of :data:`TABLES`); tables not
            created yet are skipped.

    Returns:
        The names registered, sorted.
    """
    done = []
    for name in sorted(names or TABLES):
        if not engine.exists(name):
            continue
        if engine.name == "spark":
            _register_catalog_table(spark, name, engine.path(name))
        else:
            engine.read(name).createOrReplaceTempView(name)
        done.append(name)
    log.info("registered %d tables for SQL (%s engine)", len(done), engine.name)
    return done


def _register_catalog_table(spark: SparkSession, name: str, path: str) -> None:
    """``CREATE TABLE IF NOT EXISTS name USING DELTA LOCATION path``, pointing at ``path``.

    A temporary view of the same name (the rust engine's) would shadow the table: it is
    dropped. A catalog table of that name over another folder (another lake) is
    re-pointed: dropping an external table leaves its files alone.
    """
    spark.catalog.dropTempView(name)
    wanted = _normalized(path)
    if spark.catalog.tableExists(name):
        detail = spark.sql(f"DESCRIBE DETAIL `{name}`").first()
        current = detail.location if detail is not None else ""
        if _normalized(current) != wanted:
            log.info("table %s pointed at %s; re-pointing it to %s", name, current, wanted)
            spark.sql(f"DROP TABLE `{name}`")
    location = path.replace("'", "\\'")
    spark.sql(f"CREATE TABLE IF NOT EXISTS `{name}` USING DELTA LOCATION '{location}'")


def _normalized(location: str) -> str:
    """A table location without its ``file:`` scheme and trailing slash, for comparison."""
    for scheme in ("file://", "file:"):
        if location.startswith(scheme):
            location = location[len(scheme) :]
            break
    return location.rstrip("/")


def create_statements(cfg: Config, names: list[str] | None = None) -> list[str]:
    """``CREATE TABLE IF NOT EXISTS name USING DELTA LOCATION 'path';`` per existing table.

    A table exists when its folder holds a ``_delta_log``; no Spark session is needed.
    The statements register the tables in whatever catalog the session uses (the
    in-memory session catalog, or a Hive metastore when ``spark.sql.catalogImplementation``
    is ``hive``); delta-spark must be on that session's classpath.
    """
    out = []
    for name in sorted(names or TABLES):
        path = os.path.abspath(cfg.table_path(name))
        if os.path.isdir(os.path.join(path, "_delta_log")):
            location = path.replace("'", "\\'")
            out.append(f"CREATE TABLE IF NOT EXISTS `{name}` USING DELTA LOCATION '{location}';")
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the lake's ``CREATE TABLE`` statements (see :func:`create_statements`)."""
    parser = argparse.ArgumentParser(
        prog="python -m jobs.core.sql_views",
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
