"""Make every Delta table queryable by name in Spark SQL.

* spark engine (delta-spark): each table becomes a catalog table over its folder,
  ``CREATE TABLE IF NOT EXISTS name USING DELTA LOCATION 'path'`` — permanent in the
  session catalog (the metastore on a cluster), always reading the latest version.
* rust engine (delta-rs): Spark has no Delta reader, so each table becomes a
  temporary view over :meth:`DeltaEngine.read` — the snapshot at registration time;
  call :func:`register_tables` again after a write to see it.

Either way ``spark.sql("SELECT * FROM fact_watch_history")`` works afterwards.

Tables with a change log (:data:`FOLDED`): ``resume_state`` and ``playback_session`` are
registered as temporary views over the *current* rows — the stored table with the
pending change-log rows folded in by the rules every other reader uses
(:func:`jobs.core.changelog.resume.current_resume`, :func:`jobs.core.changelog.session.current_sessions`),
the snapshot at registration time on both engines. The stored tables alone are
registered as ``resume_state_base`` and ``playback_session_base`` (catalog tables on the
spark engine), the logs under their own names (``resume_state_change``,
``playback_session_change``).

For ``spark-sql`` (or any session started outside the jobs),
``python -m jobs.sql_tables --lake-root LAKE`` prints the ``CREATE TABLE`` statements
of every table in the lake, to run with ``spark-sql -i FILE`` (docs/operations.md). The
fold needs Python, so there ``resume_state`` and ``playback_session`` are registered
only as ``resume_state_base`` / ``playback_session_base`` (the stored rows, without the
pending log rows; a comment in the output says so): run ``python -m jobs.maintain_tables
--only compact`` first for them to be current.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession

from jobs.core.changelog.resume import current_resume
from jobs.core.changelog.session import current_sessions
from jobs.core.runtime.config import Config
from jobs.core.storage.delta import DeltaEngine
from jobs.core.tables.registry import TABLES

log = logging.getLogger(__name__)

BASE_SUFFIX = "_base"


def _folded_readers() -> dict[str, Callable[[DeltaEngine], DataFrame]]:
    return {"resume_state": current_resume, "playback_session": current_sessions}


# tables readers must see with their change log folded in (the reader of each)
FOLDED = ("resume_state", "playback_session")


def register_tables(
    spark: SparkSession, engine: DeltaEngine, names: list[str] | None = None
) -> list[str]:
    """Register every existing table (or those in ``names``) under its own name.

    ``resume_state`` and ``playback_session`` become views of the current rows (change
    log folded in), their stored tables ``resume_state_base`` / ``playback_session_base``
    (module docstring).

    Args:
        spark: the session the queries run in.
        engine: the Delta engine that owns the tables (decides catalog table vs view).
        names: tables to register (default: every table of :data:`TABLES`); tables not
            created yet are skipped.

    Returns:
        The names registered, sorted (with the ``_base`` names).
    """
    done = []
    readers = _folded_readers()
    for name in sorted(names or TABLES):
        if not engine.exists(name):
            continue
        table_name = f"{name}{BASE_SUFFIX}" if name in FOLDED else name
        if engine.name == "spark":
            _register_catalog_table(spark, table_name, engine.path(name))
        else:
            engine.read(name).createOrReplaceTempView(table_name)
        done.append(table_name)
        if name in FOLDED:
            _drop_own_catalog_table(spark, name, engine.path(name))
            readers[name](engine).createOrReplaceTempView(name)
            done.append(name)
    log.info("registered %d tables for SQL (%s engine)", len(done), engine.name)
    return sorted(done)


def _drop_own_catalog_table(spark: SparkSession, name: str, path: str) -> None:
    """Drop a catalog table ``name`` over ``path`` (an older registration of the raw table).

    It would otherwise hide nothing (the temporary view wins) but confuse ``SHOW
    TABLES``; an external table's files stay. A table of that name over another
    location is not ours: it is left alone (the view shadows it in this session).
    """
    database = spark.catalog.currentDatabase()
    # with a database named, tableExists asks the catalog only: a temporary view of that
    # name (this function's own, from an earlier call) is not a table and has no detail
    if not spark.catalog.tableExists(name, database):
        return
    qualified = f"`{database}`.`{name}`"
    detail = spark.sql(f"DESCRIBE DETAIL {qualified}").first()
    if detail is not None and _normalized(detail.location or "") == _normalized(path):
        spark.sql(f"DROP TABLE {qualified}")


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
    ``resume_state`` and ``playback_session`` are named ``resume_state_base`` and
    ``playback_session_base`` (the stored rows only: the change-log fold needs Python),
    each after a comment line saying so.
    The statements register the tables in whatever catalog the session uses (the
    in-memory session catalog, or a Hive metastore when ``spark.sql.catalogImplementation``
    is ``hive``); delta-spark must be on that session's classpath.
    """
    out = []
    for name in sorted(names or TABLES):
        path = os.path.abspath(cfg.table_path(name))
        if os.path.isdir(os.path.join(path, "_delta_log")):
            location = path.replace("'", "\\'")
            table_name = f"{name}{BASE_SUFFIX}" if name in FOLDED else name
            if name in FOLDED:
                out.append(
                    f"-- {table_name}: the stored {name} WITHOUT its pending change-log rows; "
                    "current rows: python -m jobs.maintain_tables --only compact first"
                )
            out.append(
                f"CREATE TABLE IF NOT EXISTS `{table_name}` USING DELTA LOCATION '{location}';"
            )
    return out
