"""Tables by name in Spark SQL (jobs/core/serving/sql_views.py): the rules under the views.

The change-log fold seen through ``resume_state``/``playback_session`` by name is
tests/jobs/test_sql_views.py; here: which tables are registered under which name, the
``spark-sql`` statements, and how locations compare.
"""

from __future__ import annotations

import os

from jobs.core.serving.sql_views import (
    BASE_SUFFIX,
    FOLDED,
    _normalized,
    create_statements,
    register_tables,
)
from jobs.core.storage.rust import RustDeltaEngine
from jobs.core.tables.registry import TABLES


def test_locations_compare_without_scheme_or_trailing_slash():
    assert _normalized("file:///lake/t/") == "/lake/t"
    assert _normalized("file:/lake/t") == "/lake/t"
    assert _normalized("/lake/t") == "/lake/t"
    assert _normalized("s3://b/t/") == "s3://b/t"


def test_statements_cover_the_created_tables_only_with_quoted_locations(tmp_path, cfg):
    engine = RustDeltaEngine(None, cfg)  # type: ignore[arg-type]  # create needs no Spark
    engine.create(TABLES["dim_date"])
    engine.create(TABLES["resume_state"])
    os.makedirs(cfg.table_path("playback_event"))  # a folder without a Delta log: not a table
    lines = create_statements(cfg)
    path = os.path.abspath(cfg.table_path("dim_date"))
    assert lines[0] == f"CREATE TABLE IF NOT EXISTS `dim_date` USING DELTA LOCATION '{path}';"
    assert lines[1].startswith("-- resume_state_base: the stored resume_state WITHOUT")
    assert lines[2].startswith("CREATE TABLE IF NOT EXISTS `resume_state_base` USING DELTA")
    assert len(lines) == 3
    assert create_statements(cfg, ["dim_date", "playback_event"]) == lines[:1]
    assert FOLDED == ("resume_state", "playback_session") and BASE_SUFFIX == "_base"


def test_register_tables_skips_missing_tables_and_sees_writes_once_registered_again(spark, engine):
    spec = TABLES["daily_watch_minutes"]
    engine.create(spec)
    names = ["daily_watch_minutes", "playback_event"]
    assert register_tables(spark, engine, names) == ["daily_watch_minutes"]
    count = "SELECT count(*) AS n FROM daily_watch_minutes"
    assert spark.sql(count).first().n == 0
    engine.append(
        "daily_watch_minutes", spark.createDataFrame([(1, 20230101, 2, 90.0)], spec.schema)
    )
    if engine.name == "rust":  # a view of the snapshot it was registered at
        assert spark.sql(count).first().n == 0
    register_tables(spark, engine, ["daily_watch_minutes"])
    assert spark.sql(count).first().n == 1
