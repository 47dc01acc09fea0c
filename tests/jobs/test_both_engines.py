"""The end-to-end path on each Delta engine: the same jobs, the same answers.

import -> streaming ingest -> merge_resume_state -> star schema and viewing activity
builds -> dq.run -> Continue Watching and the queries, on the bundled Kenyan export.
Runs once per engine (``engine_name``: the spark half skips, saying why, without the
delta-spark jars). The crash, kill and concurrency tests carry the same dimension.
"""

from __future__ import annotations

import json

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs import continue_watching as cw
from jobs import query
from jobs.core.activity import build as activity_build
from jobs.core.changelog.resume_merge import merge_resume_state
from jobs.core.ingest import export_import as imp
from jobs.core.ingest import query as ingest
from jobs.core.ingest.catalog import load_catalog
from jobs.core.serving.sql_views import register_tables
from jobs.core.star import build as star_build
from tests.conftest import SAMPLES

ACCOUNT = "household-ke"


def json_lines(text: str) -> list[dict]:
    return [json.loads(x) for x in text.splitlines() if x.startswith("{")]


@pytest.mark.slow
def test_the_pipeline_gives_the_same_answers_on_each_engine(
    spark, engine_name, engine, cfg, capsys
):
    assert engine.name == engine_name
    csv_path = str(SAMPLES / "viewing-activity" / f"{ACCOUNT}.csv")
    _report, viewings, runtimes = imp.import_files(
        [csv_path], ACCOUNT, cfg.paths.landing_dir, cfg.paths.rejects_dir,
        cfg.importer.heartbeat_sec, cfg.importer.events_per_file, cfg.paths.catalog_csv,
    )  # fmt: skip
    imp.upsert_dimensions(spark, cfg, imp.dimension_rows(viewings, ACCOUNT, runtimes))
    ingest.run(cfg, once=True, spark=spark)
    events = engine.read("playback_event")
    stored = events.count()
    assert stored == events.select("session_id", "event_time").distinct().count() > 0
    ingest.run(cfg, once=True, spark=spark)  # a second run: nothing new, nothing twice
    assert engine.read("playback_event").count() == stored

    streamed = engine.read("resume_state").localCheckpoint()
    merge_resume_state(engine, cfg, rebuild=True)
    assert_df_equality(
        engine.read("resume_state"),
        streamed,
        ignore_row_order=True,
        ignore_nullable=True,
        ignore_metadata=True,
    )

    load_catalog(engine, cfg.paths.catalog_csv)
    assert star_build.build(engine, "latest")["status"] == "built"
    assert star_build.build(engine, "latest")["status"] == "up-to-date"
    activity_build.build(engine, "latest")
    watched = sum(v.duration_sec for v in viewings if v.supplemental_type is None)
    got = engine.read("fact_watch_history").agg(F.sum("watch_seconds")).first()[0]
    assert abs(got / watched - 1) < 0.01
    assert engine.read("viewing_statistics").count() > 0

    from dq.run import main as dq_main

    lake = ["--env", "test", "--lake-root", cfg.paths.lake_root]
    assert dq_main([*lake, "--suite", "all"], spark=spark) == 0

    profile = streamed.groupBy("profile_id").count().orderBy(F.desc("count")).first().profile_id
    capsys.readouterr()
    assert cw.main(["--profile", str(profile), "--as-of", "latest", "--json", *lake]) == 0
    rows = json_lines(capsys.readouterr().out)
    assert rows, "Continue Watching is empty for the most active profile"
    assert query.main(["history", "--profile", str(profile), "--json", *lake]) == 0
    assert json_lines(capsys.readouterr().out)

    register_tables(spark, engine)
    by_name = spark.sql(f"SELECT count(*) AS n FROM resume_state WHERE profile_id = {profile}")
    assert by_name.first().n == streamed.where(F.col("profile_id") == profile).count()
