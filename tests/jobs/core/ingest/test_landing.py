"""The landing dir's lifecycle (jobs.core.ingest.landing), on files in a tmp dir, no Spark."""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path

import pytest

from jobs.core.ingest.landing import (
    CLEANUP_MODES,
    SOURCE_OPTIONS,
    archive_dir,
    clean,
    cleanup_mode,
    purge_archive,
    same_file,
    vanished,
)
from jobs.core.runtime.config import ConfigError

BATCH = '{"session_id": "s-gt-1", "profile_id": 7476195749898681127, "event_type": "PLAY"}\n'


@pytest.fixture
def lake(tmp_path):
    landing = tmp_path / "landing"
    landing.mkdir()
    return tmp_path, landing


def landed(folder: Path, name: str, mtime_ms: int = 1_676_656_587_000) -> str:
    """A landing file with a known modification time (ms since the epoch)."""
    path = folder / name
    path.write_text(BATCH)
    os.utime(path, ns=(mtime_ms * 1_000_000, mtime_ms * 1_000_000))
    return str(path)


def today() -> str:
    return dt.datetime.now(dt.UTC).date().isoformat()


# ------------------------------------------------------------------ settings
def test_archive_dir_fills_in_the_lake_root_and_is_absolute(cfg, tmp_path):
    settings = cfg.ingest.model_copy(update={"landing_archive_dir": "{lake_root}/landing_archive"})
    assert archive_dir(settings, str(tmp_path)) == str((tmp_path / "landing_archive").resolve())
    assert os.path.isabs(archive_dir(settings, "relative/lake"))


def test_cleanup_mode_checks_the_mode_and_where_the_archive_is(cfg, lake):
    root, landing = lake
    ingest = cfg.ingest

    def mode(name, folder="{lake_root}/landing_archive"):
        s = ingest.model_copy(update={"landing_cleanup": name, "landing_archive_dir": folder})
        return cleanup_mode(s, str(root), str(landing))

    assert CLEANUP_MODES == ("archive", "delete", "off")
    assert [mode(m) for m in CLEANUP_MODES] == list(CLEANUP_MODES)
    # a sibling whose name starts with the landing dir's is outside it
    assert mode("archive", "{lake_root}/landing_old") == "archive"
    with pytest.raises(ConfigError, match="use one of archive, delete, off"):
        mode("move")
    for inside in ("{lake_root}/landing", "{lake_root}/landing/done"):
        with pytest.raises(ConfigError, match="must be outside paths.landing_dir"):
            mode("archive", inside)
    assert mode("delete", "{lake_root}/landing/done") == "delete"  # no archive: no conflict


def test_a_vanished_file_is_skipped_by_the_reader():
    assert SOURCE_OPTIONS == {"ignoreMissingFiles": "true"}


# ------------------------------------------------------------------ clean
def test_archive_moves_the_read_files_under_the_utc_date(lake):
    root, landing = lake
    archive = str(root / "archive")
    a, b = landed(landing, "batch-0001.jsonl"), landed(landing, "batch-0002.jsonl", 5)
    assert clean({a: 1_676_656_587_000, b: 5}, str(landing), "archive", archive) == 2
    assert os.listdir(landing) == []
    assert sorted(os.listdir(Path(archive) / today())) == ["batch-0001.jsonl", "batch-0002.jsonl"]
    assert (Path(archive) / today() / "batch-0001.jsonl").read_text() == BATCH


def test_an_archived_name_taken_gets_a_numeric_suffix(lake):
    root, landing = lake
    archive = root / "archive"
    (archive / today()).mkdir(parents=True)
    (archive / today() / "batch.jsonl").write_text("older\n")
    (archive / today() / "batch.jsonl.1").write_text("older still\n")
    assert clean([landed(landing, "batch.jsonl")], str(landing), "archive", str(archive)) == 1
    assert (archive / today() / "batch.jsonl.2").read_text() == BATCH
    assert (archive / today() / "batch.jsonl").read_text() == "older\n"


def test_delete_removes_and_off_keeps(lake):
    root, landing = lake
    path = landed(landing, "batch.jsonl")
    assert clean([path], str(landing), "off", str(root / "archive")) == 0
    assert os.path.exists(path)
    assert clean([path], str(landing), "delete", str(root / "archive")) == 1
    assert not os.path.exists(path) and not (root / "archive").exists()


def test_a_file_rewritten_under_a_read_name_is_left_in_place_with_a_warning(lake, caplog):
    root, landing = lake
    path = landed(landing, "batch.jsonl", mtime_ms=2_000)
    with caplog.at_level(logging.WARNING, logger="jobs.core.ingest.landing"):
        assert clean({path: 1_000}, str(landing), "delete", str(root / "archive")) == 0
    assert os.path.exists(path)
    assert "give it a new name" in caplog.text


def test_files_outside_the_landing_dir_or_already_gone_are_skipped(lake):
    root, landing = lake
    (root / "elsewhere").mkdir()
    outside = landed(root / "elsewhere", "batch.jsonl")
    nested = landing / "sub"
    nested.mkdir()
    deeper = landed(nested, "batch.jsonl")
    gone = str(landing / "gone.jsonl")
    assert clean([outside, deeper, gone], str(landing), "delete", str(root / "a")) == 0
    assert os.path.exists(outside) and os.path.exists(deeper)


def test_same_file_compares_whole_milliseconds(lake):
    _, landing = lake
    path = landed(landing, "batch.jsonl", mtime_ms=1_676_656_587_123)
    assert same_file(path, 1_676_656_587_123)
    assert not same_file(path, 1_676_656_587_124)
    assert not same_file(str(landing / "missing.jsonl"), 1_676_656_587_123)


def test_vanished_lists_missing_local_files_only(lake):
    _, landing = lake
    here = landed(landing, "here.jsonl")
    gone = str(landing / "gone.jsonl")
    remote = "s3a://bucket/landing/gone.jsonl"
    assert vanished([here, gone, remote]) == [gone]


# ------------------------------------------------------------------ purge
def test_purge_deletes_days_before_the_cutoff_and_never_other_entries(tmp_path):
    for day, files in (("2026-10-23", 2), ("2026-10-24", 1), ("2026-11-23", 1), ("notes", 1)):
        (tmp_path / day).mkdir()
        for i in range(files):
            (tmp_path / day / f"batch-{i}.jsonl").write_text(BATCH)
    # 30 days before 23 Nov is 24 Oct: that day is kept, 23 Oct (2 files) goes
    assert purge_archive(str(tmp_path), 30, today=dt.date(2026, 11, 23)) == 2
    assert sorted(os.listdir(tmp_path)) == ["2026-10-24", "2026-11-23", "notes"]
    assert purge_archive(str(tmp_path), 30, today=dt.date(2026, 11, 23)) == 0


def test_purge_of_a_missing_archive_does_nothing(tmp_path):
    assert purge_archive(str(tmp_path / "never-created"), 1) == 0
