"""What a file-source checkpoint records, read back (jobs/core/storage/checkpoints.py).

A checkpoint is written by hand the way Spark lays it out: ``sources/0/<batch id>`` (and
``.compact``) with a ``v1`` line and one JSON entry per landing file, ``offsets/<id>``
and ``commits/<id>``. No Spark.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.core.storage import checkpoints
from jobs.core.storage.checkpoints import CheckpointRelocatedError


def entry(name: str, batch: int, ms: int = 1_700_000_000_000) -> dict:
    return {"path": f"file:///lake/landing/{name}", "timestamp": ms, "batchId": batch}


def make_checkpoint(root: Path, logs: dict[str, list[dict]], committed: list[int]) -> str:
    """``logs``: file name under ``sources/0`` to its entries; ``committed``: batch ids."""
    cp = root / "cp"
    (cp / "sources" / "0").mkdir(parents=True)
    for name, entries in logs.items():
        lines = ["v1", *(json.dumps(e) for e in entries)]
        (cp / "sources" / "0" / name).write_text("\n".join(lines) + "\n")
    (cp / "commits").mkdir()
    for batch in committed:
        (cp / "commits" / str(batch)).write_text("v1\n{}\n")
    return str(cp)


@pytest.fixture
def cp(tmp_path) -> str:
    # batches 0-1 compacted into 1.compact, 2 and 3 on their own; 3 planned, not committed
    return make_checkpoint(
        tmp_path,
        {
            "1.compact": [entry("a.jsonl", 0, 10), entry("b.jsonl", 1, 11)],
            "2": [entry("c%20d.jsonl", 2, 12), entry("a.jsonl", 2, 13)],
            "3": [entry("e.jsonl", 3, 14)],
            ".2.crc": [],  # Hadoop's checksum files are not logs
        },
        committed=[0, 1, 2],
    )


def test_files_and_sources_of_one_batch(cp):
    assert checkpoints.batch_files(cp, 2) == ["/lake/landing/c d.jsonl", "/lake/landing/a.jsonl"]
    assert checkpoints.batch_sources(cp, 1) == ["file:///lake/landing/b.jsonl"]  # as recorded
    assert checkpoints.batch_files(cp, 9) == []
    assert checkpoints.recorded_landing_dir(cp) == "/lake/landing"


def test_only_committed_batches_count(cp):
    assert checkpoints.last_committed_batch(cp) == 2
    assert checkpoints.committed_files(cp) == [
        "/lake/landing/a.jsonl", "/lake/landing/b.jsonl", "/lake/landing/c d.jsonl",
    ]  # fmt: skip
    # the newest entry of a path wins; batch 3 has not committed
    assert checkpoints.committed_file_times(cp) == {
        "/lake/landing/a.jsonl": 13, "/lake/landing/b.jsonl": 11, "/lake/landing/c d.jsonl": 12,
    }  # fmt: skip
    assert checkpoints.committed_file_times(cp, 1) == {"/lake/landing/b.jsonl": 11}
    assert checkpoints.committed_file_times(cp, 3) == {}


def test_an_empty_or_missing_checkpoint_has_recorded_nothing(tmp_path):
    missing = str(tmp_path / "none")
    assert checkpoints.recorded_landing_dir(missing) is None
    assert checkpoints.last_committed_batch(missing) is None
    assert checkpoints.committed_files(missing) == []
    assert checkpoints.committed_file_times(missing) == {}
    checkpoints.check_location(missing, "/anywhere")  # nothing recorded: no error


def test_batch_timestamp_reads_the_offset_log(cp):
    offsets = Path(cp) / "offsets"
    offsets.mkdir()
    (offsets / "2").write_text('v1\n{"batchWatermarkMs":0,"batchTimestampMs":1700000000123}\n')
    (offsets / "3").write_text("v1\n")  # truncated
    assert checkpoints.batch_timestamp(cp, 2) == 1700000000123
    assert checkpoints.batch_timestamp(cp, 3) is None
    assert checkpoints.batch_timestamp(cp, 4) is None


def test_a_checkpoint_of_another_landing_dir_names_both_and_the_ways_out(cp):
    checkpoints.check_location(cp, "/lake/landing/")  # the same dir, spelled with a slash
    with pytest.raises(CheckpointRelocatedError) as caught:
        checkpoints.check_location(cp, "/new/landing")
    message = str(caught.value)
    assert "/lake/landing, not /new/landing" in message
    assert "--rebase-checkpoint" in message and "--reset-checkpoint" in message


def test_reset_sets_the_checkpoint_aside_and_keeps_what_is_asked(cp):
    (Path(cp) / "_writer.lock").write_text("{}")
    aside = checkpoints.reset(cp, keep=("_writer.lock", "absent"))
    assert aside is not None and aside.startswith(f"{cp}.reset-")
    assert sorted(p.name for p in Path(cp).iterdir()) == ["_writer.lock"]
    assert (Path(aside) / "sources" / "0" / "2").exists()
    assert checkpoints.reset(str(Path(cp).parent / "none")) is None
