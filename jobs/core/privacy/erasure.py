"""Right to erasure: remove one profile from every table and file of the lake.

Driven by :data:`REGISTRY`, the list of every kind of place that can hold a profile's
data and how each is scrubbed (``python -c "from jobs.core.privacy.erasure import REGISTRY"``
prints it; docs/operations.md "Right to erasure" describes it). For profile ``P``:

* Delta tables: every row whose profile columns (:data:`PROFILE_COLUMNS`: ``profile_id``,
  and both ends of ``user_user_edge``) hold ``P``, among them the tables holding names
  (:data:`PERSONAL_DATA`); in tables without such a column (:data:`TEXT_TABLES`:
  ``playback_event_quarantine`` drops the rows, ``dq_result`` blanks the examples) every
  value that names ``P``'s id (as a whole number), name or session ids;
* the files and log entries that still hold them: each changed table is vacuumed with
  retention 0, checkpointed, and its ``_delta_log`` commits before that checkpoint and
  its ``_change_data`` files are removed. Time travel (and the change data feed) of a
  changed table therefore starts at the checkpoint version: earlier versions are gone
  (the table property ``lakehouse.erasure.onlyDeletesBetween`` tells the event feed
  which versions only deleted rows);
* landing files (also hidden ``.staged-*`` / ``.tmp-*`` left by a killed import or API
  request) and the landing archive: every line of ``P``;
* importer rejects: every line naming ``P``'s id or name, or whose profile name gives
  ``P``'s id with an account label of the lake (a profile whose every row was rejected
  never reached ``profile``: it is found by its id alone);
* models: every Parquet file under ``{lake_root}/models`` with a profile column (the ALS
  ``*-users`` maps) loses ``P``'s rows, and an ALS model's ``userFactors`` the factor row
  of ``P``'s index;
* DQ output under ``paths.dq_dir``: validation JSON loses list items (unexpected rows)
  naming ``P``, Data Docs HTML the table rows naming ``P``; other mentions are redacted;
* the API's Idempotency-Key ledger entries of ``P``'s statements.

One ``erasure_log`` row records it without personal data (a SHA-256 of the id, counts,
the first readable version per table). Runs with delta-rs only (no Spark, no JVM), so
the API can run it in-process; ``python -m jobs.erase_profile`` is the batch entry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import logging
import os
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from deltalake import DeltaTable, write_deltalake

from jobs.core.ingest.landing import archive_dir
from jobs.core.ingest.netflix_export import normalize_name
from jobs.core.rules.ids import stable_id
from jobs.core.runtime.config import Config
from jobs.core.storage.delta import arrow_schema
from jobs.core.tables.dq import ERASURE_LOG
from jobs.core.tables.registry import TABLES

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


# Every Delta table whose rows belong to a profile, and the columns that name it. A row
# goes when any of them holds the erased id. tests/jobs/core/privacy/test_erasure.py checks that
# every table spec with a profile column is listed here, so a new table cannot be missed.
PROFILE_COLUMNS: dict[str, tuple[str, ...]] = {
    "ab_assignment": ("profile_id",),
    "abandoned_content": ("profile_id",),
    "binge_session": ("profile_id",),
    "content_type_preference": ("profile_id",),
    "current_recommendations": ("profile_id",),
    "daily_watch_minutes": ("profile_id",),
    "dim_users": ("profile_id",),
    "fact_watch_history": ("profile_id",),
    "history_90_days": ("profile_id",),
    "last_10_movies": ("profile_id",),
    "playback_event": ("profile_id",),
    "playback_session": ("profile_id",),
    "playback_session_change": ("profile_id",),
    "profile": ("profile_id",),
    "recommendation_cache": ("profile_id",),
    "recommendation_explanation": ("profile_id",),
    "recommendation_list": ("profile_id",),
    "resume_state": ("profile_id",),
    "resume_state_change": ("profile_id",),
    "show_progress": ("profile_id",),
    "training_interactions": ("profile_id",),
    "user_content_interaction": ("profile_id",),
    "user_content_rating": ("profile_id",),
    "user_user_edge": ("src_profile_id", "dst_profile_id"),
    "viewing_companion": ("profile_id",),
    "viewing_domain_event": ("profile_id",),
    "viewing_record": ("profile_id",),
    "viewing_session": ("profile_id",),
    "viewing_statement": ("profile_id",),
    "viewing_statistics": ("profile_id",),
}

# Tables without a profile column whose text can still name a profile: "drop" removes
# the row (a quarantined raw line), "redact" keeps the row and removes the mention (a DQ
# result keeps its counts; its examples lose the profile's rows).
TEXT_TABLES: dict[str, str] = {"playback_event_quarantine": "drop", "dq_result": "redact"}


def is_profile_column(name: str) -> bool:
    """Whether a column holds a profile id: ``profile_id`` or ``*_profile_id``."""
    return name == "profile_id" or name.endswith("_profile_id")


@dataclass(frozen=True)
class Location:
    """One kind of place that can hold a profile's data, and how erasure scrubs it."""

    kind: str
    where: str  # path pattern ({lake_root}, {tables_dir}, ... are the config's paths)
    how: str


REGISTRY: tuple[Location, ...] = (
    *(
        Location("delta_table", f"{{tables_dir}}/{t}", "DELETE WHERE " + " OR ".join(cols) + " = P")
        for t, cols in sorted(PROFILE_COLUMNS.items())
    ),
    *(
        Location("delta_text_table", f"{{tables_dir}}/{t}", f"{how} the values naming P")
        for t, how in sorted(TEXT_TABLES.items())
    ),
    Location(
        "delta_table",
        "{tables_dir}/<any other table>",
        "DELETE WHERE its profile columns = P (logged as unregistered)",
    ),
    Location(
        "delta_history",
        "{tables_dir}/*/_delta_log, _change_data, older data files",
        "vacuum (retention 0), checkpoint, commits before the checkpoint and CDC files removed",
    ),
    Location("landing", "{landing_dir}/** (also hidden .staged-*, .tmp-*)", "P's lines removed"),
    Location("landing_archive", "{ingest.landing_archive_dir}/**", "P's lines removed"),
    Location(
        "rejects",
        "{rejects_dir}/** (also hidden .tmp-*)",
        "lines naming P's id or name, or a profile name that gives P's id under an "
        "account label of the lake, removed",
    ),
    Location(
        "model",
        "{lake_root}/models/**/*.parquet (ALS *-users maps, userFactors)",
        "rows of P (and P's ALS factor row) removed, Spark .crc files dropped",
    ),
    Location(
        "dq_output",
        "{dq_dir}/validations/**/*.json",
        "list items naming P dropped (unexpected rows), other mentions redacted",
    ),
    Location(
        "dq_output",
        "{dq_dir}/data_docs/**/*.html",
        "table rows naming P dropped, other mentions redacted",
    ),
    Location(
        "api_ledger",
        "{api.idempotency_dir}/*.json, *.landed",
        "entries of P's statements (by session_id) removed",
    ),
    Location(
        "checkpoint",
        "{checkpoint_dir}/**",
        "not rewritten: offsets and sources name landing files, the dedupe state holds "
        "(session UUID5, event time) keys until the watermark drops them; no id or name",
    ),
    Location(
        "import_identities",
        "{importer.ledger_dir}/*.ids",
        "kept: one-way 32-hex hashes of viewings, no id or name; they stop a re-import "
        "of the old export from bringing the erased viewings back",
    ),
)


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


_TOKEN = re.compile(r"[A-Za-z0-9_-]{16,}")  # session ids: UUID5 text or api-<32 hex>


@dataclass
class Subject:
    """What names the erased profile: its id, its names and its session ids."""

    profile_id: int
    names: set[str] = field(default_factory=set)
    sessions: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        """Compile the id pattern (the id as a whole number)."""
        self.pattern = re.compile(rf"(?<![0-9]){self.profile_id}(?![0-9])")
        self._names: re.Pattern[str] | None = None

    def add_names(self, names: Iterable[str]) -> None:
        """Also match these names (whole words: ``Profile 1`` does not match ``Profile 12``)."""
        self.names |= {n for n in names if n and n.strip()}
        alts = "|".join(re.escape(n) for n in sorted(self.names, key=len, reverse=True))
        self._names = re.compile(rf"(?<!\w)(?:{alts})(?!\w)") if alts else None

    def mentions(self, text: str) -> bool:
        """Whether ``text`` names the id (as a whole number), a name or a session id."""
        if self.pattern.search(text) or (self._names is not None and self._names.search(text)):
            return True
        return bool(self.sessions) and any(t in self.sessions for t in _TOKEN.findall(text))

    def redact(self, text: str) -> str:
        """``text`` with every mention replaced by ``[erased]``."""
        text = self.pattern.sub("[erased]", text)
        if self._names is not None:
            text = self._names.sub("[erased]", text)
        if self.sessions:
            text = _TOKEN.sub(
                lambda m: "[erased]" if m.group(0) in self.sessions else m.group(0), text
            )
        return text


def _read(path: Path, columns: list[str], profile_id: int, cols: Iterable[str]) -> pa.Table:
    table = DeltaTable(str(path))
    have = table.schema().to_arrow().names
    expr = None
    for c in cols:
        if c in have:
            e = pc.field(c) == pa.scalar(profile_id, pa.int64())
            expr = e if expr is None else expr | e
    if expr is None or not set(columns) <= set(have):
        return pa.table({c: pa.array([], pa.string()) for c in columns})
    return table.to_pyarrow_dataset().to_table(columns=columns, filter=expr)


def _subject(tables_dir: Path, profile_id: int, names: Iterable[str] = ()) -> Subject:
    """The profile's names (``profile``, ``dim_users``) and session ids (sessions, events)."""
    subject = Subject(profile_id)
    found = set(names)
    for table in ("profile", "dim_users"):
        if (tables_dir / table / "_delta_log").is_dir():
            rows = _read(tables_dir / table, ["profile_name"], profile_id, ["profile_id"])
            found |= {n for n in rows.column("profile_name").to_pylist() if n}
    subject.add_names(found)
    for table in ("playback_session", "playback_session_change", "playback_event"):
        if (tables_dir / table / "_delta_log").is_dir():
            rows = _read(tables_dir / table, ["session_id"], profile_id, ["profile_id"])
            subject.sessions |= {x for x in pc.unique(rows.column("session_id")).to_pylist() if x}
    return subject


def _account_labels(tables_dir: Path) -> set[str]:
    """Every account label the lake knows (``account``, ``import_ledger``, ``dim_users``)."""
    labels: set[str] = set()
    for table in ("account", "import_ledger", "dim_users"):
        path = tables_dir / table
        if (path / "_delta_log").is_dir():
            dt_ = DeltaTable(str(path))
            if "account_label" in dt_.schema().to_arrow().names:
                col = dt_.to_pyarrow_dataset().to_table(columns=["account_label"]).column(0)
                labels |= {x for x in pc.unique(col).to_pylist() if x}
    return labels


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


def _log_mentions(path: Path, subject: Subject) -> bool:
    """Whether a commit file of the table's log holds the id (file statistics, predicates)."""
    return any(
        subject.pattern.search(f.read_text(errors="replace"))
        for f in (path / "_delta_log").glob("*.json")
    )


def _erase_table(path: Path, subject: Subject) -> int:
    """Delete the profile's rows from one table (see :data:`REGISTRY`); the rows changed."""
    table = DeltaTable(str(path))
    columns = table.schema().to_arrow().names
    declared = PROFILE_COLUMNS.get(path.name)
    cols = [c for c in (declared or columns) if c in columns and is_profile_column(c)]
    if cols:
        if declared is None:
            log.warning("%s: table not in erasure.PROFILE_COLUMNS; erasing by %s", path.name, cols)
        pid = pa.scalar(subject.profile_id, pa.int64())
        expr = None
        for c in cols:
            e = pc.field(c) == pid
            expr = e if expr is None else expr | e
        n = table.to_pyarrow_dataset().count_rows(filter=expr)
        if n:
            table.delete(" OR ".join(f"{c} = {int(subject.profile_id)}" for c in cols))
        return n
    data = table.to_pyarrow_table()
    text_cols = [c for c in data.column_names if pa.types.is_string(data.schema.field(c).type)]
    if not text_cols or not data.num_rows:
        return 0
    if TEXT_TABLES.get(path.name) == "redact":
        changed, out = 0, {}
        for c in text_cols:
            values = data.column(c).to_pylist()
            new = [_redact_text(v, subject) if isinstance(v, str) else v for v in values]
            changed = max(changed, sum(a != b for a, b in zip(values, new, strict=True)))
            out[c] = new
        if not changed:
            return 0
        for c, new in out.items():
            i = data.column_names.index(c)
            data = data.set_column(i, data.schema.field(c), pa.array(new, pa.string()))
        write_deltalake(str(path), data, mode="overwrite")
        return changed
    hit = [
        any(isinstance(v, str) and subject.mentions(v) for v in row)
        for row in zip(*(data.column(c).to_pylist() for c in text_cols), strict=True)
    ]
    n = sum(hit)
    if n:
        keep = data.filter(pa.array([not h for h in hit]))
        write_deltalake(str(path), keep, mode="overwrite")
    return n


def _is_record(value: Any) -> bool:
    """A value or a flat row (a dict or list of scalars): dropped whole when it names P."""
    if isinstance(value, dict):
        return all(not isinstance(v, dict | list) for v in value.values())
    if isinstance(value, list):
        return all(not isinstance(v, dict | list) for v in value)
    return True


def _scrub_json(value: Any, subject: Subject) -> Any:
    """``value`` without the list items (rows, values) naming the subject.

    Other mentions are redacted; a nested structure keeps its other parts (a
    validation's counts).
    """
    if isinstance(value, list):
        return [
            _scrub_json(v, subject)
            for v in value
            if not (
                _is_record(v) and subject.mentions(json.dumps(v, default=str, ensure_ascii=False))
            )
        ]
    if isinstance(value, dict):
        return {k: _scrub_json(v, subject) for k, v in value.items()}
    if isinstance(value, str):
        return subject.redact(value) if subject.mentions(value) else value
    if isinstance(value, int) and not isinstance(value, bool) and value == subject.profile_id:
        return None
    return value


def _redact_text(text: str, subject: Subject) -> str:
    """A text value: JSON loses the items naming the subject, other text is redacted."""
    if not subject.mentions(text):
        return text
    if text[:1] in "[{":
        try:
            return json.dumps(_scrub_json(json.loads(text), subject), default=str)
        except ValueError:
            pass
    return subject.redact(text)


_ROW = re.compile(r"<tr\b.*?</tr>", re.DOTALL | re.IGNORECASE)


def _scrub_html(text: str, subject: Subject) -> str:
    """Data Docs HTML without the table rows naming the subject, other mentions redacted."""
    text = _ROW.sub(
        lambda m: "" if subject.mentions(html.unescape(m.group(0))) else m.group(0), text
    )
    return subject.redact(text)


def _write_atomic(file: Path, text: str) -> None:
    stat = file.stat()
    fd, tmp = tempfile.mkstemp(prefix=".tmp-erase-", suffix=".part", dir=file.parent)
    with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write(text)
    os.chmod(tmp, stat.st_mode & 0o777)
    os.replace(tmp, file)
    os.utime(file, (stat.st_atime, stat.st_mtime))  # the stream source keys on path and time


def _rewrite_lines(file: Path, drop: Callable[[str], bool]) -> int:
    """Remove the lines ``drop(line)`` selects, atomically; the lines removed."""
    text = file.read_text(encoding="utf-8", errors="surrogateescape")
    lines = text.splitlines(keepends=True)
    kept = [line for line in lines if not drop(line)]
    if len(kept) == len(lines):
        return 0
    if not kept:
        file.unlink()
        return len(lines)
    _write_atomic(file, "".join(kept))
    return len(lines) - len(kept)


def _landing_drop(subject: Subject) -> Callable[[str], bool]:
    def drop(line: str) -> bool:
        try:
            return int(json.loads(line).get("profile_id")) == subject.profile_id
        except (ValueError, TypeError, AttributeError):
            return subject.mentions(line)  # not JSON: drop when it names the profile

    return drop


def _rejects_drop(subject: Subject, accounts: set[str]) -> Callable[[str], bool]:
    """Rejects carry the raw row (a profile name, no id): match names and derived ids."""
    keys = {normalize_name(a) for a in accounts}

    def drop(line: str) -> bool:
        if subject.mentions(line):
            return True
        try:
            rec = json.loads(line)
            row = rec.get("row") or {}
        except (ValueError, AttributeError):
            return False
        values = row.values() if isinstance(row, dict) else row
        labels = keys | ({normalize_name(rec["account"])} if rec.get("account") else set())
        for v in values:
            if isinstance(v, str) and v.strip():
                name = normalize_name(v)
                if any(stable_id("profile", a, name) == subject.profile_id for a in labels):
                    subject.add_names([v.strip()])
                    return True
        return False

    return drop


def _scrub_files(
    folder: str | Path, drop: Callable[[str], bool], report: ErasureReport, hidden: bool = True
) -> None:
    """Rewrite every file under ``folder`` without the lines ``drop`` selects.

    Hidden files count (``.staged-*`` of a killed import, ``.tmp-*`` of a crashed
    write); the erasure's own temp files and lock files do not.
    """
    root = Path(folder)
    if not root.is_dir():
        return
    for file in sorted(root.rglob("*")):
        if not file.is_file() or file.name.startswith((".tmp-erase-", "_")):
            continue
        if file.name.startswith(".") and (not hidden or file.name in (".lock",)):
            continue
        if file.suffix in (".crc",) or file.name.endswith(".lock"):
            continue
        removed = _rewrite_lines(file, drop)
        if removed:
            report.files_rewritten += 1
            report.lines_removed += removed


def _rewrite_parquet(file: Path, keep: pa.Array) -> None:
    """Replace a Spark-written Parquet file with its kept rows; drop its ``.crc`` twin."""
    table = pq.read_table(file).filter(keep)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-erase-", suffix=".parquet", dir=file.parent)
    os.close(fd)
    pq.write_table(table, tmp)
    os.replace(tmp, file)
    (file.parent / f".{file.name}.crc").unlink(missing_ok=True)  # Hadoop would refuse it


def _scrub_models(models_dir: Path, subject: Subject, report: ErasureReport) -> None:
    """Models keyed by profile: rows of the profile, and its ALS factor rows, removed."""
    if not models_dir.is_dir():
        return
    pid = pa.scalar(subject.profile_id, pa.int64())
    for file in sorted(models_dir.rglob("*.parquet")):
        cols = [c for c in pq.read_schema(file).names if is_profile_column(c)]
        if not cols:
            continue
        table = pq.read_table(file)
        hit = None
        for c in cols:
            e = pc.fill_null(pc.equal(table.column(c), pid), False)
            hit = e if hit is None else pc.or_(hit, e)
        n = pc.sum(hit).as_py() or 0
        if not n:
            continue
        # an ALS model <dir>-users maps profile_id -> uidx; <dir>/userFactors has id = uidx
        factors = file.parent.parent / file.parent.name.removesuffix("-users") / "userFactors"
        if "uidx" in table.column_names and factors.is_dir():
            gone = pa.array(table.filter(hit).column("uidx").to_pylist(), pa.int32())
            for part in sorted(factors.glob("*.parquet")):
                ids = pq.read_table(part, columns=["id"]).column("id").cast(pa.int32())
                drop = pc.is_in(ids, value_set=gone)
                if pc.sum(drop).as_py():
                    _rewrite_parquet(part, pc.invert(drop))
                    report.files_rewritten += 1
        _rewrite_parquet(file, pc.invert(hit))
        report.files_rewritten += 1
        report.lines_removed += n


def _scrub_dq(dq_dir: Path, subject: Subject, report: ErasureReport) -> None:
    """GX validation JSON and Data Docs HTML under ``paths.dq_dir``."""
    if not dq_dir.is_dir():
        return
    for file in sorted(dq_dir.rglob("*")):
        if not file.is_file() or file.suffix not in (".json", ".html"):
            continue
        text = file.read_text(encoding="utf-8", errors="surrogateescape")
        if not subject.mentions(html.unescape(text) if file.suffix == ".html" else text):
            continue
        if file.suffix == ".json":
            try:
                new = json.dumps(_scrub_json(json.loads(text), subject), indent=2, default=str)
            except ValueError:
                new = subject.redact(text)
        else:
            new = _scrub_html(text, subject)
        _write_atomic(file, new)
        report.files_rewritten += 1


def _scrub_api_ledger(folder: Path, subject: Subject, report: ErasureReport) -> None:
    """Idempotency-Key entries (``{rid}.json`` + ``{rid}.landed``) of the profile's statements."""
    if not folder.is_dir():
        return
    for entry in sorted(folder.glob("*.json")):
        text = entry.read_text(encoding="utf-8", errors="replace")
        if subject.mentions(text):
            entry.unlink()
            entry.with_suffix(".landed").unlink(missing_ok=True)
            report.files_rewritten += 1


# read by _subject(): erased last, so a rerun after a crash still finds names and sessions
_SUBJECT_SOURCES = (
    "playback_event",
    "playback_session",
    "playback_session_change",
    "dim_users",
    "profile",
)


def erase_profile(
    cfg: Config,
    profile_id: int,
    requested_by: str = "api",
    names: Iterable[str] = (),
    accounts: Iterable[str] = (),
) -> ErasureReport:
    """Erase ``profile_id`` from the lake of ``cfg``: every place of :data:`REGISTRY`.

    Files first (they are matched by the names and session ids the tables give), then
    the tables, the ones naming the profile last: a rerun after a crash finishes the job.

    Args:
        cfg: configuration (``paths``: tables, landing, rejects, DQ output, the lake
            root's ``models``; the ingest's landing archive; the API's idempotency dir).
        profile_id: the profile to erase.
        requested_by: ``cli`` or ``api``, recorded in ``erasure_log``.
        names: profile names to match too (a profile that never reached ``profile``).
        accounts: account labels to derive profile ids from rejected rows with, besides
            those of the lake's ``account``, ``import_ledger`` and ``dim_users``.

    Returns:
        The report: rows deleted per table, files rewritten and lines (rows) removed,
        and the first version each changed table can still show.

    Raises:
        RuntimeError: a table holding names lacks ``profile_id`` (nothing is erased).
        OSError: a file could not be rewritten; every step is repeatable, run it again.
    """
    started = dt.datetime.now(dt.UTC)
    tables_dir = Path(cfg.paths.tables_dir)
    report = ErasureReport(uuid.uuid4().hex, profile_id)
    check_personal_data(tables_dir)
    subject = _subject(tables_dir, profile_id, names)
    lake_root = Path(cfg.paths.lake_root)
    # rejects first: a profile that never reached `profile` gets its names there
    labels = _account_labels(tables_dir) | set(accounts)
    _scrub_files(cfg.paths.rejects_dir, _rejects_drop(subject, labels), report)
    _scrub_files(cfg.paths.landing_dir, _landing_drop(subject), report)
    # processed landing files the ingest archived (ingest.landing_cleanup: archive)
    _scrub_files(archive_dir(cfg.ingest, cfg.paths.lake_root), _landing_drop(subject), report)
    _scrub_models(lake_root / "models", subject, report)
    _scrub_dq(Path(cfg.paths.dq_dir), subject, report)
    ledger = getattr(cfg.api, "idempotency_dir", None)
    if ledger:
        _scrub_api_ledger(Path(ledger.format(lake_root=cfg.paths.lake_root)), subject, report)
    folders = sorted(
        (p.parent for p in tables_dir.glob("*/_delta_log")),
        key=lambda p: (p.name in _SUBJECT_SOURCES, _SUBJECT_SOURCES.index(p.name) if p.name in _SUBJECT_SOURCES else 0, p.name),
    )  # fmt: skip
    known = set(TABLES)
    for path in folders:
        if path.name == ERASURE_LOG.name:
            continue
        before = DeltaTable(str(path)).version()
        n = _erase_table(path, subject)
        if n or _log_mentions(path, subject):  # the log too: a rerun after a crash finishes
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
    _record(tables_dir, report, requested_by, started)
    return report


def _record(
    tables_dir: Path, report: ErasureReport, requested_by: str, started: dt.datetime
) -> None:
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
