"""Incremental builds' frame (jobs/core/storage/incremental.py) on small frames.

``sync_table``'s complete and scoped writes are pinned in tests/jobs/core/rules/test_rules.py;
here: upsert-only writes, the changed keys it reports, and the build marks
(``build_state``) that make a rerun with nothing new a no-op.
"""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality

from jobs.core.storage.incremental import (
    read_marks,
    row_counts,
    run_build,
    source_versions,
    sync_table,
    write_marks,
)
from jobs.core.tables.registry import get_spec

TABLE = "daily_watch_minutes"
DAY = dt.date(2023, 2, 17)


@pytest.fixture
def minutes(spark, engine):
    """``daily_watch_minutes`` holding two rows; returns a frame maker of its schema."""
    spec = get_spec(TABLE)
    engine.create(spec)

    def frame(rows):
        return spark.createDataFrame(rows, spec.schema)

    engine.append(TABLE, frame([(1, 20230101, 2, 90.0), (1, 20230102, 1, 45.0)]))
    return frame


def test_an_upsert_only_sync_keeps_rows_it_is_not_given(engine, minutes):
    before = engine.version(TABLE)
    rows = minutes([(1, 20230102, 1, 45.0), (2, 20230103, 4, 200.0)])  # one same, one new
    out = sync_table(engine, TABLE, rows, complete=False, collect_changed="profile_id")
    assert (out["upserted"], out["deleted"], out["changed"]) == (1, 0, [2])
    assert out["version"] == before + 1  # one merge commit
    expected = minutes([(1, 20230101, 2, 90.0), (1, 20230102, 1, 45.0), (2, 20230103, 4, 200.0)])
    assert_df_equality(engine.read(TABLE), expected, ignore_row_order=True, ignore_nullable=True)
    again = sync_table(engine, TABLE, rows, complete=False, collect_changed="profile_id")
    assert (again["upserted"], again["changed"], again["version"]) == (0, [], out["version"])


def test_a_changed_value_is_an_update_on_the_key(engine, minutes):
    out = sync_table(engine, TABLE, minutes([(1, 20230101, 3, 120.0)]), complete=False)
    assert (out["upserted"], out["deleted"]) == (1, 0)
    expected = minutes([(1, 20230101, 3, 120.0), (1, 20230102, 1, 45.0)])
    assert_df_equality(engine.read(TABLE), expected, ignore_row_order=True, ignore_nullable=True)


def test_marks_are_written_once_and_only_when_they_change(engine, minutes):
    assert read_marks(engine, "star") == {}  # first run (build_state created)
    versions = source_versions(engine, (TABLE, "playback_event"))  # a missing table is left out
    assert versions == {TABLE: engine.version(TABLE)}
    write_marks(engine, "star", versions, DAY)
    state = engine.version("build_state")
    assert read_marks(engine, "star") == {TABLE: (versions[TABLE], DAY)}
    write_marks(engine, "star", versions, DAY)  # the same: no commit
    assert engine.version("build_state") == state
    assert read_marks(engine, "other job") == {}


def test_run_build_skips_when_nothing_moved_and_reruns_when_something_did(engine, minutes):
    runs: list[dict] = []

    def steps(report: dict) -> None:
        runs.append(dict(report))
        report["written"] = 1

    def build(as_of: dt.date = DAY, force: bool = False) -> dict:
        return run_build(engine, "job", (TABLE,), as_of, [TABLE], steps, force=force)

    first = build()
    assert (first["status"], first["as_of"], first["written"]) == ("built", "2023-02-17", 1)
    assert first["rows"] == {TABLE: 2}
    assert build()["status"] == "up-to-date" and len(runs) == 1
    assert build(force=True)["status"] == "built"  # a full refresh
    assert build(DAY + dt.timedelta(days=1))["status"] == "built"  # a new as-of date
    sync_table(engine, TABLE, minutes([(3, 20230104, 1, 5.0)]), complete=False)  # source moved
    assert build(DAY + dt.timedelta(days=1))["rows"] == {TABLE: 3}
    assert len(runs) == 4


def test_row_counts_of_several_tables_in_one_job(engine, minutes):
    engine.create(get_spec("build_state"))
    assert row_counts(engine, [TABLE, "build_state"]) == {TABLE: 2, "build_state": 0}
