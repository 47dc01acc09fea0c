"""The batch merge gives the table the stream gives."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality

from jobs.core.changelog.resume_merge import merge_resume_state
from jobs.core.ingest import export_import as imp
from jobs.core.ingest import query as ingest
from jobs.core.runtime.config import load_config
from jobs.core.storage.delta import get_engine
from tests.conftest import SAMPLES


@pytest.fixture(scope="module")
def ingested(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("merge")
    cfg = load_config("test", lake_root=str(root))
    csv_path = SAMPLES / "viewing-activity" / "household-us-excel.csv"
    imp.import_files([str(csv_path)], "us", cfg.paths.landing_dir, cfg.paths.rejects_dir, 600, 2000)
    ingest.run(cfg, once=True, spark=spark)
    return cfg


def test_rebuild_equals_the_stream(spark, ingested):
    engine = get_engine(spark, ingested)
    streamed = engine.read("resume_state").localCheckpoint()
    assert streamed.count() > 250
    merge_resume_state(engine, ingested, rebuild=True)
    assert_df_equality(
        engine.read("resume_state"),
        streamed,
        ignore_row_order=True,
        ignore_nullable=True,
        ignore_metadata=True,
    )


def test_catch_up_by_date_range_converges_to_the_same_table(spark, ingested):
    engine = get_engine(spark, ingested)
    streamed = engine.read("resume_state").localCheckpoint()
    engine.delete("resume_state", "true")
    days = sorted(r.dt for r in engine.read("playback_event").select("dt").distinct().collect())
    middle = days[len(days) // 2]
    # newest half first, then the older half: older events must not win
    merge_resume_state(engine, ingested, from_dt=middle)
    merge_resume_state(engine, ingested, to_dt=middle - dt.timedelta(days=1))
    assert_df_equality(
        engine.read("resume_state"),
        streamed,
        ignore_row_order=True,
        ignore_nullable=True,
        ignore_metadata=True,
    )


def test_rebuild_refuses_a_date_range(spark, ingested):
    with pytest.raises(ValueError, match="--rebuild replaces the whole table"):
        merge_resume_state(
            get_engine(spark, ingested), ingested, from_dt=dt.date(2020, 1, 1), rebuild=True
        )
