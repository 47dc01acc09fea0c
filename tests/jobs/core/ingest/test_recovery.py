"""Finding the micro-batches a table lost and their landing files (no Spark)."""

from __future__ import annotations

from jobs.core.ingest.recovery import locate_landing_file, missing_batches
from jobs.core.ingest.table_writes import record_writes


class _Engine:
    """The two engine calls :func:`missing_batches` makes: existence and txn marker."""

    def __init__(self, markers: dict[str, int | None], tables: set[str] | None = None):
        self.markers = markers
        self.tables = set(markers) if tables is None else tables

    def exists(self, table):
        return table in self.tables

    def transaction_version(self, table, app_id):
        assert app_id == f"q:id:{table}"
        return self.markers.get(table)


class _Writer:
    def __init__(self, checkpoint):
        self.checkpoint = str(checkpoint)

    def app_id(self, table):
        return f"q:id:{table}"


def _checkpoint(tmp_path, committed: int | None, metadata: bool = True):
    cp = tmp_path / "cp"
    (cp / "commits").mkdir(parents=True)
    if metadata:
        (cp / "metadata").write_text('{"id":"id"}\n')
    for b in range(-1 if committed is None else committed + 1):
        (cp / "commits" / str(b)).write_text("v1\n{}\n")
    return cp


def test_nothing_is_missing_before_the_first_committed_batch(tmp_path):
    cp = _checkpoint(tmp_path, committed=None)
    assert missing_batches(_Engine({"playback_event": None}), _Writer(cp)) == {}


def test_nothing_is_missing_without_the_query_metadata(tmp_path):
    cp = _checkpoint(tmp_path, committed=2, metadata=False)
    assert missing_batches(_Engine({"playback_event": None}), _Writer(cp)) == {}


def test_a_table_without_a_marker_misses_every_committed_batch(tmp_path):
    cp = _checkpoint(tmp_path, committed=2)
    assert missing_batches(_Engine({"playback_event": None}), _Writer(cp)) == {
        0: ["playback_event"],
        1: ["playback_event"],
        2: ["playback_event"],
    }


def test_tables_the_ingest_does_not_write_or_that_are_gone_are_ignored(tmp_path):
    cp = _checkpoint(tmp_path, committed=1)
    record_writes(str(cp), 1, ["playback_event", "not_an_ingest_table", "resume_state"])
    engine = _Engine({"playback_event": 1, "resume_state": None}, tables={"playback_event"})
    assert missing_batches(engine, _Writer(cp)) == {}


def test_the_exact_archived_name_wins_over_a_renamed_copy(tmp_path):
    archive = tmp_path / "archive"
    (archive / "2026-12-07").mkdir(parents=True)
    (archive / "2026-12-07" / "a.jsonl.1").write_text("renamed")
    (archive / "2026-12-07" / "a.jsonl").write_text("exact")
    found = locate_landing_file(str(tmp_path / "landing" / "a.jsonl"), str(archive))
    assert found == str(archive / "2026-12-07" / "a.jsonl")


def test_a_renamed_copy_is_found_on_the_newest_day(tmp_path):
    archive = tmp_path / "archive"
    for day in ("2026-12-05", "2026-12-06"):
        (archive / day).mkdir(parents=True)
        (archive / day / "a.jsonl.2").write_text(day)
    found = locate_landing_file(str(tmp_path / "landing" / "a.jsonl"), str(archive))
    assert found == str(archive / "2026-12-06" / "a.jsonl.2")


def test_no_archive_at_all_finds_nothing(tmp_path):
    assert locate_landing_file(str(tmp_path / "a.jsonl"), str(tmp_path / "none")) is None
