"""Maintenance: Z-order, compaction, resume_state TTL, vacuum — nothing lost."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pyspark.sql import functions as F

from jobs.core.changelog.maintenance import expire_resume_state, ttl_reference
from jobs.core.storage.maintenance import optimize, vacuum
from jobs.core.tables.registry import PLAYBACK_EVENT, RESUME_STATE, TABLES, get_spec

NOW = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)


def test_ttl_expires_only_old_resume_points(spark, engine, cfg):
    engine.create_all(["resume_state"])
    rows = [
        (1, 10, None, 10, 100, dt.datetime(2024, 5, 30), "d", "s1", False, None),
        (1, 11, None, 11, 100, dt.datetime(2024, 2, 1), "d", "s2", False, None),  # 121 days old
    ]
    engine.append("resume_state", spark.createDataFrame(rows, RESUME_STATE.schema))
    assert expire_resume_state(engine, cfg, now=NOW) == 1
    assert [r.title_id for r in engine.read("resume_state").collect()] == [10]
    assert expire_resume_state(engine, cfg, now=NOW) == 0  # rerun: nothing more


def test_optimize_zorders_events_and_compacts_without_changing_rows(spark, engine, cfg):
    engine.create_all(["playback_event"])
    for i in range(4):  # four small files in one partition
        t = dt.datetime(2024, 6, 1, 10, i)
        row = (
            f"s{i}",
            t,
            "HEARTBEAT",
            i,
            None,
            1,
            "d",
            10,
            None,
            False,
            False,
            None,
            "q",
            i,
            "GT",
            t.date(),
        )
        engine.append("playback_event", spark.createDataFrame([row], PLAYBACK_EVENT.schema))
    before = sorted(engine.read("playback_event").collect())
    result = optimize(engine, cfg, ["playback_event"])
    assert result["playback_event"]["numFilesRemoved"] == 4
    assert result["playback_event"]["numFilesAdded"] == 1
    assert sorted(engine.read("playback_event").collect()) == before
    assert engine.history("playback_event", 1)[0]["operation"] == "OPTIMIZE"
    assert vacuum(engine, cfg, ["playback_event"]) == {"playback_event": 0}  # retention keeps them
    assert sorted(engine.read("playback_event").collect()) == before


# -- the TTL counts back from the newest data (a historical export keeps its last days) --
def test_ttl_counts_back_from_the_newest_resume_point_not_from_now(spark, engine, cfg):
    """An export that stopped in 2024 read in a later year: only its own old points expire."""
    engine.create_all(["resume_state", "resume_state_change"])
    rows = [
        (1, 10, None, 10, 100, dt.datetime(2024, 5, 30), "d", "s1", False, None),
        (1, 11, None, 11, 100, dt.datetime(2024, 3, 15), "d", "s2", False, None),  # 76 d older
        (1, 12, None, 12, 100, dt.datetime(2024, 2, 1), "d", "s3", False, None),  # 119 d older
    ]
    engine.append("resume_state", spark.createDataFrame(rows, RESUME_STATE.schema))
    later = dt.datetime(2026, 12, 7, tzinfo=dt.UTC)
    assert ttl_reference(engine, later) == dt.datetime(2024, 5, 30, tzinfo=dt.UTC)
    assert expire_resume_state(engine, cfg, now=later) == 1
    assert sorted(r.title_id for r in engine.read("resume_state").collect()) == [10, 11]
    # a live lake (newest point after now - e.g. a clock ahead) counts back from now
    assert ttl_reference(engine, dt.datetime(2024, 5, 1, tzinfo=dt.UTC)).month == 5


@pytest.fixture(scope="module")
def sample_lake_copy(spark, tmp_path_factory):
    """The bundled household-ke export (Feb 2023 and earlier), ingested; a private copy."""
    from tests.dq.sample_lake import build_sample_lake, copy_lake

    base = tmp_path_factory.getbasetemp()
    return copy_lake(build_sample_lake(spark, base), tmp_path_factory.mktemp("expire"))


def test_nightly_expiry_on_a_historical_export_keeps_continue_watching(
    spark, sample_lake_copy, capsys, monkeypatch
):
    from jobs.core.changelog.resume import current_resume
    from jobs.core.rules.continue_watching_spark import continue_watching
    from jobs.core.storage.delta import get_engine
    from jobs.maintain_tables import main

    cfg = sample_lake_copy
    engine = get_engine(spark, cfg)
    before = current_resume(engine).count()
    monkeypatch.setattr("pyspark.sql.SparkSession.stop", lambda self: None)  # shared session
    argv = ["--only", "expire", "--env", "test", "--lake-root", cfg.paths.lake_root]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    resume = current_resume(engine)
    assert resume.count() == before - report["expired_resume_rows"] > 0
    newest = resume.agg(F.max("last_update")).first()[0]
    profile = resume.where(F.col("last_update") == newest).first().profile_id
    rows = continue_watching(
        resume, engine.read("title"), engine.read("episode"), profile,
        newest.replace(tzinfo=dt.UTC) if newest.tzinfo is None else newest,
        cfg.continue_watching.window_days, cfg.continue_watching.limit,
    ).collect()  # fmt: skip
    assert rows, "Continue Watching of the newest profile is empty after the nightly expiry"


def test_optimize_zorders_resume_state_and_the_fact_by_profile_id(spark, engine_name, engine, cfg):
    """maintenance.zorder_tables: each listed table is Z-ordered by its spec's cluster_by."""
    engine.create_all(["resume_state"])
    for i in range(3):  # three small files
        row = (i, 10 + i, None, 10 + i, 100, dt.datetime(2024, 5, 30), "d", f"s{i}", False, None)
        engine.append("resume_state", spark.createDataFrame([row], RESUME_STATE.schema))
    before = sorted(engine.read("resume_state").collect())
    result = optimize(engine, cfg, ["resume_state"])
    assert result["resume_state"]["zorder_by"] == ["profile_id"]
    assert sorted(engine.read("resume_state").collect()) == before
    last = engine.history("resume_state", 1)[0]
    assert last["operation"] == "OPTIMIZE"
    if engine_name == "spark":  # delta-rs records targetSize and predicate only
        assert "profile_id" in json.dumps(last.get("operationParameters", {}), default=str)
    else:
        assert result["resume_state"]["numFilesRemoved"] == 3  # rewritten in z-order
    # docs/tables.md says "Z-order by" for every spec with cluster_by: all are listed
    clustered = {name for name in TABLES if get_spec(name).cluster_by}
    assert clustered == set(cfg.maintenance.zorder_tables)
