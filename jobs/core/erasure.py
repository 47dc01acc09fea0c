"""Right to erasure: remove one profile from every table and file of the lake.

What goes, for profile ``P`` (the rule):

* every row with ``profile_id = P`` in every Delta table that has the column (events,
  sessions, resume state, star schema, marts, activity, recommendations...), among them
  the tables holding names (:data:`PERSONAL_DATA`: the profile's own name, and the
  companions its WATCHED statements named);
* in tables without it (``playback_event_quarantine``, ``dq_result``), every row whose
  text mentions ``P`` as a whole number (the raw JSON line, offending examples);
* every landing line of ``P`` (also in the landing archive) and every importer rejects line of ``P``'s profile name
  (rejects carry names, not ids: a same-named profile's rejects go too);
* the files and log entries that still hold them: each changed table is vacuumed with
  retention 0, checkpointed, and its ``_delta_log`` commits before that checkpoint and
  its ``_change_data`` files are removed. Time travel (and the change data feed) of a
  changed table therefore starts at the checkpoint version: earlier versions are gone.

One ``erasure_log`` row records it without personal data (a SHA-256 of the id, counts,
the first readable version per table). Runs with delta-rs only (no Spark, no JVM), so
the API can run it in-process; ``python -m jobs.erase_profile`` is the batch entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import tempfile
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable, write_deltalake

from jobs.core.config import Config
from jobs.core.landing import archive_dir
from jobs.core.tables import TABLES
from jobs.core.tables_dq import ERASURE_LOG

log = logging.getLogger(__name__)

# Table property an erasure sets: "B,F" = versions B+1..F only deleted the profile's rows.
ERASED_BETWEEN = "lakehouse.erasure.onlyDeletesBetween"

# Tables that hold names (personal data) and the column that holds them. Each must carry
# profile_id, the erasure key: erase_profile refuses to run on a lake where one lacks it
# (the names would survive the erasure).
PERSONAL_DATA = {
    "profile": "profile_name",
    "dim_users": "profile_name",
    "viewing_statement": "watched_with",
    "viewing_companion": "companion_name",
    "viewing_domain_event": "payload",  # watched events of a statement list its companions
}


def check_personal_data(tables_dir: Path) -> None:
    """Raise when a table of :data:`PERSONAL_DATA` exists without a ``profile_id`` column.

    Raises:
        RuntimeError: naming the table; erase nothing until its schema is fixed.
    """
    for name in PERSONAL_DATA:
        path = tables_dir / name
        if (path / "_delta_log").is_dir():
            if "profile_id" not in DeltaTable(str(path)).schema().to_arrow().names:
                raise RuntimeError(
                    f"{name} holds personal data but has no profile_id column: "
                    "erasure could not find its rows; fix the table before erasing"
                )


@dataclass
class ErasureReport:
    """What one erasure did (the API's answer; ``erasure_log`` keeps it without the id)."""

    erasure_id: str
    profile_id: int
    tables: dict[str, int] = field(default_factory=dict)
    files_rewritten: int = 0
    lines_removed: int = 0
    first_readable_version: dict[str, int] = field(default_factory=dict)

    @property
    def time_travel(self) -> str:
        """What time travel can no longer show, per table, in one sentence."""
        if not self.first_readable_version:
            return "no table held the profile: time travel is unchanged"
        parts = ", ".join(f"{t} from v{v}" for t, v in sorted(self.first_readable_version.items()))
        return (
            "versions before the erasure are gone (log and files removed) for: " + parts +
            "; time travel and the change data feed of these tables start there"
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        """The report as JSON-ready values."""
        return {**asdict(self), "time_travel": self.time_travel}


def _mentions(profile_id: int) -> re.Pattern[str]:
    return re.compile(rf"(?<![0-9]){profile_id}(?![0-9])")


def _profile_names(tables_dir: Path, profile_id: int) -> set[str]:
    names: set[str] = set()
    for table in ("profile", "dim_users"):
        path = tables_dir / table
        if (path / "_delta_log").is_dir():
            t = (
                DeltaTable(str(path))
                .to_pyarrow_dataset()
                .to_table(columns=["profile_name"], filter=pc.field("profile_id") == profile_id)
            )
            names |= {n for n in t.column("profile_name").to_pylist() if n}
    return names


def _scrub_log(path: Path, table: DeltaTable, before: int) -> int:
    """Vacuum (retention 0), checkpoint, drop older commits and CDC files; the new first version.

    ``before`` is the table's version before this erasure's first commit: the table
    property ``lakehouse.erasure.onlyDeletesBetween`` = ``"before,first"`` tells readers
    of the change data feed (``GET /api/events``) that versions ``before+1..first`` only
    deleted rows, so a reader that had everything up to ``before`` misses nothing.
    """
    table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    table.update_incremental()
    props = table.metadata().configuration
    # one more commit, so the checkpoint is past every commit that saw the profile's rows
    key = "delta.logRetentionDuration"
    first = table.version() + 1
    table.alter.set_table_properties(
        {
            key: props.get(key, "interval 30 days"),
            ERASED_BETWEEN: f"{before},{first}",
        },
        raise_if_not_exists=False,  # delta-rs refuses keys it does not know otherwise
    )
    table.create_checkpoint()
    first = table.version()
    log_dir = path / "_delta_log"
    for f in log_dir.iterdir():
        m = re.match(r"^(\d{20})\.", f.name)
        if m and int(m.group(1)) < first:
            f.unlink()
    cdc = path / "_change_data"
    if cdc.is_dir():
        for f in cdc.rglob("*"):
            if f.is_file():
                f.unlink()
    return first


def _log_mentions(path: Path, pattern: re.Pattern[str]) -> bool:
    """Whether a commit file of the table's log holds the id (file statistics, predicates)."""
    return any(
        pattern.search(f.read_text(errors="replace")) for f in (path / "_delta_log").glob("*.json")
    )


def _erase_table(path: Path, profile_id: int, pattern: re.Pattern[str]) -> int:
    """Delete the profile's rows from one table; the rows deleted."""
    table = DeltaTable(str(path))
    columns = table.schema().to_arrow().names
    if "profile_id" in columns:
        n = table.to_pyarrow_dataset().count_rows(filter=pc.field("profile_id") == profile_id)
        if n:
            table.delete(f"profile_id = {int(profile_id)}")
        return n
    data = table.to_pyarrow_table()
    text_cols = [c for c in data.column_names if pa.types.is_string(data.schema.field(c).type)]
    hit = [
        any(isinstance(v, str) and pattern.search(v) for v in row)
        for row in zip(*(data.column(c).to_pylist() for c in text_cols), strict=True)
    ]
    n = sum(hit)
    if n:
        keep = data.filter(pa.array([not h for h in hit]))
        write_deltalake(str(path), keep, mode="overwrite")
    return n


def _rewrite_lines(file: Path, drop) -> int:
    """Remove the lines ``drop(line)`` selects, atomically; the lines removed."""
    lines = file.read_text(encoding="utf-8").splitlines(keepends=True)
    kept = [line for line in lines if not drop(line)]
    if len(kept) == len(lines):
        return 0
    stat = file.stat()
    if not kept:
        file.unlink()
        return len(lines)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-erase-", suffix=".part", dir=file.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.writelines(kept)
    os.replace(tmp, file)
    os.utime(file, (stat.st_atime, stat.st_mtime))  # the stream source keys on path and time
    return len(lines) - len(kept)


def _landing_drop(profile_id: int, pattern: re.Pattern[str]):
    def drop(line: str) -> bool:
        try:
            return int(json.loads(line).get("profile_id")) == profile_id
        except (ValueError, TypeError, AttributeError):
            return bool(pattern.search(line))  # not JSON: drop when it names the id

    return drop


def _rejects_drop(names: set[str], pattern: re.Pattern[str]):
    def drop(line: str) -> bool:
        if pattern.search(line):
            return True
        try:
            row = json.loads(line).get("row") or {}
        except (ValueError, AttributeError):
            return any(n in line for n in names)
        values = row.values() if isinstance(row, dict) else row
        return any(str(v).strip() in names for v in values if v is not None)

    return drop


def _scrub_files(folder: str, drop, report: ErasureReport) -> None:
    root = Path(folder)
    if not root.is_dir():
        return
    for file in sorted(root.rglob("*")):
        if file.is_file() and not file.name.startswith((".", "_")):
            removed = _rewrite_lines(file, drop)
            if removed:
                report.files_rewritten += 1
                report.lines_removed += removed


def erase_profile(cfg: Config, profile_id: int, requested_by: str = "api") -> ErasureReport:
    """Erase ``profile_id`` from the lake of ``cfg`` (see the module docstring).

    Args:
        cfg: configuration (``paths.tables_dir``, ``landing_dir``, ``rejects_dir``, the
            ingest's landing archive).
        profile_id: the profile to erase.
        requested_by: ``cli`` or ``api``, recorded in ``erasure_log``.

    Returns:
        The report: rows deleted per table, files and lines removed, and the first
        version each changed table can still show.
    """
    started = dt.datetime.now(dt.UTC)
    tables_dir = Path(cfg.paths.tables_dir)
    report = ErasureReport(uuid.uuid4().hex, profile_id)
    check_personal_data(tables_dir)
    pattern = _mentions(profile_id)
    names = _profile_names(tables_dir, profile_id)
    folders = sorted(p.parent for p in tables_dir.glob("*/_delta_log"))
    known = set(TABLES)
    for path in folders:
        if path.name == ERASURE_LOG.name:
            continue
        before = DeltaTable(str(path)).version()
        n = _erase_table(path, profile_id, pattern)
        if n or _log_mentions(path, pattern):  # the log too: a rerun after a crash finishes
            report.tables[path.name] = n
            report.first_readable_version[path.name] = _scrub_log(
                path, DeltaTable(str(path)), before
            )
            log.info(
                "%s: %d rows deleted%s",
                path.name,
                n,
                "" if path.name in known else " (unregistered table)",
            )
    _scrub_files(cfg.paths.landing_dir, _landing_drop(profile_id, pattern), report)
    # processed landing files the ingest archived (ingest.landing_cleanup: archive)
    archived = archive_dir(cfg.ingest, cfg.paths.lake_root)
    _scrub_files(archived, _landing_drop(profile_id, pattern), report)
    _scrub_files(cfg.paths.rejects_dir, _rejects_drop(names, pattern), report)
    _record(tables_dir, report, requested_by, started)
    return report


def _record(
    tables_dir: Path, report: ErasureReport, requested_by: str, started: dt.datetime
) -> None:
    from jobs.core.delta import arrow_schema

    schema = arrow_schema(ERASURE_LOG.schema)
    path = str(tables_dir / ERASURE_LOG.name)
    if not (tables_dir / ERASURE_LOG.name / "_delta_log").is_dir():
        DeltaTable.create(path, schema, configuration=ERASURE_LOG.properties, name=ERASURE_LOG.name)
    digest = hashlib.sha256(f"profile:{report.profile_id}".encode()).hexdigest()
    row = {
        "erasure_id": report.erasure_id,
        "subject_sha256": digest,
        "requested_by": requested_by,
        "started_at": started,
        "finished_at": dt.datetime.now(dt.UTC),
        "tables_changed": len(report.tables),
        "rows_deleted": sum(report.tables.values()),
        "files_rewritten": report.files_rewritten,
        "lines_removed": report.lines_removed,
        "time_travel": json.dumps(report.first_readable_version, sort_keys=True),
    }
    write_deltalake(path, pa.Table.from_pylist([row], schema), mode="append")
