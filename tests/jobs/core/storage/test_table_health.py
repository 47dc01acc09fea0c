"""Tables are loaded before a job writes any (jobs/core/storage/table_health.py).

Tables are made with delta-rs directly (the rust engine without a SparkSession); a
damaged log or a lost data file must become one error naming the table and the way out.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from jobs.core.storage.engine import TableFileMissingError, arrow_schema
from jobs.core.storage.rust import RustDeltaEngine
from jobs.core.storage.table_health import (
    TableUnreadableError,
    check_tables_files,
    check_tables_load,
    damaged_last_commit,
)
from jobs.core.tables.registry import RESUME_STATE


@pytest.fixture
def rust(cfg) -> RustDeltaEngine:
    engine = RustDeltaEngine(None, cfg)  # type: ignore[arg-type]  # no method here uses Spark
    engine.create(RESUME_STATE)
    row = pa.Table.from_pylist([{}], schema=arrow_schema(RESUME_STATE.schema))
    write_deltalake(engine.path("resume_state"), row, mode="append")  # version 1
    return engine


def test_healthy_tables_load_with_their_versions(rust):
    assert check_tables_load(rust, ["resume_state"]) == {"resume_state": 1}
    assert damaged_last_commit(rust.path("resume_state")) is None
    check_tables_files(rust, ["resume_state"])
    assert damaged_last_commit(str(Path(rust.path("resume_state")).parent / "none")) is None


def test_a_truncated_last_commit_is_named_with_the_command_that_removes_it(rust):
    last = Path(rust.path("resume_state")) / "_delta_log" / f"{1:020d}.json"
    text = last.read_text()
    last.write_text(text[: len(text) // 2])
    assert damaged_last_commit(rust.path("resume_state")) == str(last)
    with pytest.raises(TableUnreadableError) as caught:
        check_tables_load(rust, ["resume_state"])
    message = str(caught.value)
    assert f"table resume_state at {rust.path('resume_state')} cannot be loaded" in message
    assert f"rm {last}" in message and "nothing was written" in message


def test_a_table_never_created_says_to_restore_its_log(rust):
    with pytest.raises(TableUnreadableError, match="table playback_event .*Restore its _delta_log"):
        check_tables_load(rust, ["resume_state", "playback_event"])


def test_a_lost_data_file_fails_before_anything_is_written(rust):
    folder = rust.path("resume_state")
    data = next(f for f in os.listdir(folder) if f.endswith(".parquet"))
    os.remove(os.path.join(folder, data))
    with pytest.raises(TableFileMissingError, match=f"data file {folder}/{data} named in its"):
        check_tables_files(rust, ["resume_state"])
