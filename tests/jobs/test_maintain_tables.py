"""Maintenance: Z-order, compaction, resume_state TTL, vacuum — nothing lost."""

from __future__ import annotations

import datetime as dt

from jobs.core.tables import PLAYBACK_EVENT, RESUME_STATE
from jobs.maintain_tables import expire_resume_state, optimize, vacuum

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
