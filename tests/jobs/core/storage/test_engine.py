"""The engine interface's own rules (jobs/core/storage/engine.py), without a Spark job.

Arrow schemas, the missing-file error, the idempotency check, the write hooks and the
commit-race retry, on the rust engine built without a session (none of these touch it);
the engine contract itself (writes, reads, merges on both engines) is test_delta.py.
"""

from __future__ import annotations

import os

import pyarrow as pa
import pytest
from deltalake import write_deltalake
from deltalake.exceptions import CommitFailedError
from pyspark.sql import types as T

from jobs.core.storage import engine as engine_module
from jobs.core.storage.engine import (
    WRITE_OPERATIONS,
    TableFileMissingError,
    add_write_hook,
    already_done,
    arrow_schema,
    local_file,
)
from jobs.core.storage.rust import RustDeltaEngine
from jobs.core.storage.spark import SparkDeltaEngine
from jobs.core.tables.registry import RESUME_STATE


@pytest.fixture
def rust(cfg) -> RustDeltaEngine:
    """The rust engine of this test's lake, without a SparkSession (no method here uses it)."""
    return RustDeltaEngine(None, cfg)  # type: ignore[arg-type]


def test_arrow_schema_maps_every_declared_type_and_refuses_the_rest():
    schema = T.StructType(
        [
            T.StructField("id", T.LongType(), False),
            T.StructField("at", T.TimestampType()),
            T.StructField("day", T.DateType()),
            T.StructField("amount", T.DecimalType(12, 2)),
            T.StructField("embedding", T.ArrayType(T.FloatType())),
        ]
    )
    assert arrow_schema(schema) == pa.schema(
        [
            pa.field("id", pa.int64()),  # every Delta column is nullable
            pa.field("at", pa.timestamp("us", tz="UTC")),
            pa.field("day", pa.date32()),
            pa.field("amount", pa.decimal128(12, 2)),
            pa.field("embedding", pa.list_(pa.float32())),
        ]
    )
    with pytest.raises(TypeError, match="'tags': no Arrow mapping"):
        arrow_schema(T.StructType([T.StructField("tags", T.MapType(T.StringType(), T.LongType()))]))


def test_local_file_of_a_uri_and_none_for_another_file_system():
    assert local_file("file:///lake/t/a%20b.parquet") == "/lake/t/a b.parquet"
    assert local_file("/lake/t/../t/x.parquet") == "/lake/t/x.parquet"
    assert local_file("s3://bucket/t/x.parquet") is None


def test_a_gone_data_file_under_the_tables_dir_becomes_our_error(rust, cfg):
    gone = os.path.join(cfg.paths.tables_dir, "resume_state", "part-0001.parquet")
    error = rust.missing_file_error(
        RuntimeError(f"[FAILED_READ_FILE.FILE_NOT_EXIST] File file:{gone} does not exist")
    )
    assert isinstance(error, TableFileMissingError)
    assert f"table resume_state at {rust.path('resume_state')}: data file {gone}" in str(error)
    assert "FSCK REPAIR TABLE" in str(error)
    # a file that is there, one outside the lake, or another failure: not ours to explain
    os.makedirs(os.path.dirname(gone))
    open(gone, "w").close()
    assert rust.missing_file_error(RuntimeError(f"{gone} not found")) is None
    assert rust.missing_file_error(RuntimeError("/elsewhere/x.parquet not found")) is None
    assert rust.missing_file_error(RuntimeError(f"{gone}: permission denied")) is None


def test_explain_missing_files_wraps_the_error_and_passes_the_rest(rust, cfg):
    gone = os.path.join(cfg.paths.tables_dir, "playback_event", "x.parquet")

    def fail(exc: Exception) -> None:
        raise exc

    with pytest.raises(TableFileMissingError, match="table playback_event") as caught:
        rust.explain_missing_files(fail, FileNotFoundError(f"No such file or directory: {gone}"))
    assert isinstance(caught.value.__cause__, FileNotFoundError)
    with pytest.raises(ValueError, match="other"):
        rust.explain_missing_files(fail, ValueError("other"))
    assert rust.explain_missing_files(lambda a, b=0: a + b, 1, b=2) == 3


def test_missing_files_lists_data_files_the_snapshot_names_that_are_gone(rust):
    assert rust.missing_files("resume_state") == []  # no table yet
    rust.create(RESUME_STATE)
    row = pa.Table.from_pylist([{}], schema=arrow_schema(RESUME_STATE.schema))  # all NULL
    write_deltalake(rust.path("resume_state"), row, mode="append")
    assert rust.missing_files("resume_state") == []
    folder = rust.path("resume_state")
    files = [os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".parquet")]
    os.remove(files[0])
    assert rust.missing_files("resume_state") == [os.path.normpath(files[0])]


class Marked:
    """The one method already_done asks of an engine."""

    def __init__(self, done: int | None):
        self.done = done

    def transaction_version(self, table, app_id, at_version=None):
        return self.done


def test_already_done_when_the_marker_is_at_or_past_the_version():
    assert already_done(Marked(5), "t", "app", 5)
    assert already_done(Marked(6), "t", "app", 5)
    assert not already_done(Marked(4), "t", "app", 5)
    assert not already_done(Marked(None), "t", "app", 0)
    assert not already_done(Marked(9), "t", None, None)  # no marker: always write
    with pytest.raises(ValueError, match="'app' given without version"):
        already_done(Marked(None), "t", "app", None)


def test_every_write_of_both_engines_runs_the_hooks_first(rust):
    for cls in (RustDeltaEngine, SparkDeltaEngine):
        for op in WRITE_OPERATIONS:
            assert getattr(getattr(cls, op), "__write_hooked__", False), (cls.name, op)
    seen: list[tuple[str, str]] = []

    class Crash(Exception):
        pass

    def hook(operation: str, table: str) -> None:
        seen.append((operation, table))
        raise Crash

    remove = add_write_hook(hook)
    try:
        with pytest.raises(Crash):  # before the engine looks at the (missing) table
            rust.delete("resume_state", "profile_id = 1")
        with pytest.raises(Crash):
            rust.append("playback_event", None)
    finally:
        remove()
    remove()  # removing twice is harmless
    assert seen == [("delete", "resume_state"), ("append", "playback_event")]
    assert hook not in engine_module._write_hooks


def test_a_lost_commit_race_is_retried_with_backoff_then_raised(rust, monkeypatch):
    waits: list[float] = []
    monkeypatch.setattr(engine_module.time, "sleep", waits.append)
    calls = []

    def twice_lost() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise CommitFailedError("version 3 already exists")
        return "committed"

    assert rust._retry("t", "merge", twice_lost) == "committed"
    assert waits == [0.2, 0.4]

    def always_lost() -> None:
        raise CommitFailedError("version 3 already exists")

    waits.clear()
    with pytest.raises(CommitFailedError):
        rust._retry("t", "merge", always_lost)
    assert len(waits) == rust.max_attempts - 1

    def other() -> None:
        raise OSError("disk full")

    with pytest.raises(OSError):  # not a race: no retry
        rust._retry("t", "merge", other)
