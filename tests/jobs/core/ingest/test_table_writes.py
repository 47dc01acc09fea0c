"""The checkpoint's record of the tables each ingest micro-batch wrote (no Spark)."""

from __future__ import annotations

import json

from jobs.core.ingest.table_writes import (
    EMPTY_BATCHES,
    WRITES_KEPT,
    WRITES_RECORD,
    read_writes,
    record_writes,
)


def test_a_missing_or_unreadable_record_reads_as_empty(tmp_path):
    assert read_writes(str(tmp_path)) == {}
    (tmp_path / WRITES_RECORD).write_text("not json")
    assert read_writes(str(tmp_path)) == {}
    (tmp_path / WRITES_RECORD).write_text("[1, 2]")  # not a mapping
    assert read_writes(str(tmp_path)) == {}


def test_each_table_keeps_its_batch_ids_sorted_and_once(tmp_path):
    cp = str(tmp_path)
    record_writes(cp, 3, ["playback_event", "dq_result"])
    record_writes(cp, 1, ["playback_event"])
    record_writes(cp, 3, ["playback_event"])  # a replay of batch 3 adds nothing
    record_writes(cp, 4, [EMPTY_BATCHES])
    assert read_writes(cp) == {"playback_event": [1, 3], "dq_result": [3], EMPTY_BATCHES: [4]}
    # replaced atomically: one JSON file, no temporary left behind
    assert [p.name for p in tmp_path.iterdir()] == [WRITES_RECORD]
    assert json.loads((tmp_path / WRITES_RECORD).read_text())["dq_result"] == [3]


def test_only_the_newest_batch_ids_are_kept(tmp_path):
    cp = str(tmp_path)
    for batch_id in range(WRITES_KEPT + 5):
        record_writes(cp, batch_id, ["playback_event"])
    kept = read_writes(cp)["playback_event"]
    assert kept == list(range(5, WRITES_KEPT + 5))
