"""Import Netflix viewing-activity exports into the landing zone as playback events.

Each CSV row is one viewing. It becomes one playback session of synthetic events, in
the landing contract (:data:`jobs.core.tables.registry.LANDING_EVENT_SCHEMA`):

* ``PLAY`` at Start Time, at position ``max(0, Bookmark - Duration)``;
* ``HEARTBEAT`` every ``--heartbeat-sec`` seconds of playback (position advancing with
  it, never past the Bookmark);
* ``END`` at Start Time + Duration, at position Bookmark (a zero-length viewing has
  only its END).

Rows are streamed (constant memory whatever the export's size). Events go to JSON
Lines files in the landing dir, first under hidden names (the streaming ingest skips
them), renamed into place only once every file of the run is read, checked and its
dimensions committed: the ingest never sees half an import. A file's name ends with
a hash of its bytes, so a name is never reused for other content (Spark's file source
never reads a path twice); files are created readable by the group (the umask
decides), so an ingest running as another user can read them.

Import identity comes from the export's content, not from file names or cell text:
each viewing's identity (:func:`jobs.core.ingest.netflix_export.viewing_identity`: profile,
start minute, title, duration, bookmark, device, and an ordinal for genuine
same-minute twins) survives a spreadsheet re-save, and its ``session_id`` derives from
it. The identity ledger (``importer.ledger_dir``, :class:`IdentityLedger`) records every
viewing imported per account label: a monthly re-download (a superset, also named
``ViewingActivity.csv``) imports only the viewings not imported yet, a re-save under the
same label imports nothing (exit 0, ``already_imported`` in the summary), and viewings
already imported under another ``--account`` label make the import fail unless
``--force``. The job also upserts the ``account``, ``profile``, ``device``, ``title`` and
``episode`` tables and records the export's fingerprint (of those identities) and
account label in ``import_ledger``, checked the same way.

The file's encoding (UTF-8 with or without BOM, UTF-16 "Unicode text", Latin-1 /
cp1252) and separator (comma, tab, semicolon) are detected; a spreadsheet re-save's
day-first or month-first dates are decided per file (a file whose every date is
ambiguous is read month-first with a warning; ``--date-order`` overrides). Rows
identical to the second are collapsed and counted (``duplicates``); identical rows
without seconds are kept as same-minute viewings. A header-only export is refused
(exit 2): nothing to import usually means a broken download. A row that cannot become events (unparseable time, empty title,
a Duration over ``importer.max_duration_sec``...) goes to
``{rejects_dir}/{file}.rejects.jsonl`` with its line number and reason; the import goes
on unless more than ``importer.max_reject_ratio`` of a file's rows are rejected, when
it fails (exit 1) with the main reason and an example row, publishing nothing.

``python -m jobs.import_viewing_activity`` runs :func:`import_files`. The rows become
viewings and events in :mod:`jobs.core.ingest.viewings`, the files are staged in
:mod:`jobs.core.ingest.staging`, the ledgers are in :mod:`jobs.core.ingest.ledger` and
the dimension rows in :mod:`jobs.core.ingest.viewing_dimensions`; this module re-exports
their public names, so ``from jobs.core.ingest import export_import as imp`` reaches all.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import itertools
import json
import logging
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from jobs.core.ingest.catalog import load_catalog_runtimes
from jobs.core.ingest.ledger import (
    LEDGER_TABLE,
    IdentityLedger,
    IdentitySets,
    ImportFailedError,
    check_labels,
    check_legacy_imports,
    read_ledger,
    record_imports,
)
from jobs.core.ingest.netflix_export import (
    DATE_ORDERS,
    ExportFingerprint,
    ParseError,
    detect_encoding,
    detect_separator,
    is_iso_start_time,
    normalize_name,
    start_time_order,
)
from jobs.core.ingest.staging import StagedLanding, dumps, file_mode
from jobs.core.ingest.viewing_dimensions import (
    DimensionCollector,
    dimension_rows,
    upsert_dimensions,
)
from jobs.core.ingest.viewings import (
    EXPORT_COLUMNS,
    Viewing,
    account_id_for,
    content_ids,
    device_id_for,
    parse_row,
    profile_id_for,
    session_id_for,
    viewing_to_events,
    viewing_to_lines,
    with_ordinal,
)

__all__ = [
    "EXPORT_COLUMNS",
    "LEDGER_TABLE",
    "DimensionCollector",
    "ExportFormat",
    "IdentityLedger",
    "IdentitySets",
    "ImportFailedError",
    "ImportOptions",
    "ImportReport",
    "ParseError",
    "StagedLanding",
    "Viewing",
    "account_id_for",
    "check_lake_dirs",
    "check_legacy_imports",
    "content_ids",
    "device_id_for",
    "dimension_rows",
    "import_files",
    "load_catalog_runtimes",
    "parse_row",
    "profile_id_for",
    "read_ledger",
    "record_imports",
    "session_id_for",
    "sniff_format",
    "upsert_dimensions",
    "viewing_to_events",
    "viewing_to_lines",
    "with_ordinal",
]

log = logging.getLogger("import_viewing_activity")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", normalize_name(text)).strip("-") or "x"


@dataclass
class ImportReport:
    """Counts of one import run."""

    files: int = 0
    rows: int = 0
    rejected: int = 0
    duplicates: int = 0
    sessions: int = 0
    events: int = 0
    landing_files: int = 0
    seconds: float = 0.0
    reject_reasons: Counter = field(default_factory=Counter)
    titles: dict = field(default_factory=dict)
    device_types: Counter = field(default_factory=Counter)
    formats: dict = field(default_factory=dict)
    fingerprints: dict = field(default_factory=dict)
    dimensions: DimensionCollector = field(default_factory=DimensionCollector)
    already_imported: int = 0
    other_labels: Counter = field(default_factory=Counter)
    identities: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        """The report as the job prints it (one JSON object): counts, shares, formats."""
        other = self.device_types.get("other", 0)
        total_dev = sum(self.device_types.values()) or 1
        return {
            "files": self.files,
            "rows": self.rows,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "already_imported": self.already_imported,
            "sessions": self.sessions,
            "events": self.events,
            "landing_files": self.landing_files,
            "seconds": round(self.seconds, 2),
            "rows_per_sec": round(self.rows / self.seconds) if self.seconds else None,
            "episode_share": round(self.titles.get("episode_share", 0.0), 4),
            "film_share": round(self.titles.get("film_share", 0.0), 4),
            "device_other_share": round(other / total_dev, 4),
            "formats": self.formats,
            "reject_reasons": dict(self.reject_reasons),
        }


@dataclass(frozen=True)
class ExportFormat:
    """How one export file is written: its codec and field separator."""

    encoding: str
    separator: str

    def describe(self) -> str:
        """``'utf-8, comma-separated'``: how the file was read, for messages."""
        sep = {",": "comma", "\t": "tab", ";": "semicolon"}[self.separator]
        return f"{self.encoding}, {sep}-separated"


def sniff_format(csv_path: str) -> ExportFormat:
    """Detect the encoding and separator of an export (see the parser module's rules).

    Raises:
        ParseError: not a text export, or a header without the required columns (the
            message shows what was found and what is needed).
        OSError: the path cannot be read.
    """
    encoding = detect_encoding(csv_path)
    with open(csv_path, encoding=encoding, newline="") as fh:
        header = fh.readline()
    try:
        separator = detect_separator(header, csv_path)
    except ParseError as exc:
        raise ParseError(f"{exc} (read as {encoding})") from None
    return ExportFormat(encoding, separator)


class _Progress:
    """A tqdm bar over the bytes of a file, on stderr; a no-op when disabled."""

    def __init__(self, path: str, raw: io.BufferedReader, enabled: bool):
        self.raw = raw
        self.bar = None
        if enabled:
            from tqdm import tqdm  # type: ignore[import-untyped]

            self.bar = tqdm(
                total=os.path.getsize(path), unit="B", unit_scale=True, file=sys.stderr,
                desc=Path(path).name, dynamic_ncols=True, mininterval=0.5,
            )  # fmt: skip

    def update(self) -> None:
        if self.bar is not None:
            self.bar.update(self.raw.tell() - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.update()
            self.bar.close()


def _iter_rows(csv_path: str, fmt: ExportFormat, progress: bool) -> Iterator[tuple[int, dict]]:
    """``(row number, row)`` of an export, streamed; header = row 1."""
    with open(csv_path, "rb") as raw:
        bar = _Progress(csv_path, raw, progress)
        text = io.TextIOWrapper(raw, encoding=fmt.encoding, newline="")
        reader = csv.DictReader(text, delimiter=fmt.separator)
        if reader.fieldnames:
            reader.fieldnames = [f.lstrip("\ufeff").strip() for f in reader.fieldnames]
        try:
            for line, row in enumerate(reader, start=2):
                yield line, row
                if line % 20_000 == 0:
                    bar.update()
        finally:
            bar.close()


def _day_first(csv_path: str, fmt: ExportFormat, date_order: str = "auto") -> bool:
    """Whether the file's dates are day-first (a pre-pass only for non-ISO files).

    ``date_order`` (``importer.date_order`` / ``--date-order``) other than ``auto``
    decides for every file. With ``auto`` the file's values decide
    (:func:`start_time_order`); when every date is ambiguous (day and month both 12 or
    less) it is read month-first, as Netflix's US-locale re-saves are, with a one-line
    warning naming the file and the override.

    Raises:
        ParseError: ``auto`` and the file mixes day-first and month-first dates.
    """
    if date_order not in DATE_ORDERS:
        raise ValueError(f"date_order {date_order!r}: use one of {', '.join(DATE_ORDERS)}")
    if date_order != "auto":
        return date_order == "day-first"
    rows = _iter_rows(csv_path, fmt, progress=False)
    first = next(rows, None)
    if first is None or is_iso_start_time(first[1].get("Start Time") or ""):
        return False
    times = (row.get("Start Time") or "" for _, row in rows)
    order = start_time_order(itertools.chain([first[1].get("Start Time") or ""], times))
    if order is None:
        log.warning(
            "%s: every Start Time date is ambiguous (day and month both 12 or less): read as "
            "month/day/year; if the file is day/month/year, re-run with --date-order day-first",
            csv_path,
        )
    return order == "day-first"


_SECONDS_RE = re.compile(r"\d:\d{2}:\d{2}")


def _row_key(row: dict) -> bytes:
    """64-bit digest of a row's raw values: exact duplicates share it."""
    text = "\x1f".join(row.get(c) or "" for c in EXPORT_COLUMNS)
    return hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()


@dataclass(frozen=True)
class ImportOptions:
    """Tunables of one import (``importer.*`` in conf/base.yaml)."""

    heartbeat_sec: int = 30
    events_per_file: int = 50_000
    max_duration_sec: int = 86_400
    max_reject_ratio: float = 0.5
    progress: bool = False
    date_order: str = "auto"


def _import_one(
    csv_path: str,
    account: str,
    landing: StagedLanding,
    rejects_dir: str,
    opts: ImportOptions,
    runtimes: dict[str, int],
    report: ImportReport,
    seen: set[bytes],
    keep: list[Viewing] | None,
    known: IdentitySets | None = None,
) -> None:
    """Stream one export into staged landing files; see :func:`import_files`.

    Raises:
        ParseError: the file has its header but no row (exit 2).
        ImportFailedError: too many rows rejected.
    """
    fmt = sniff_format(csv_path)
    report.formats[Path(csv_path).name] = fmt.describe()
    day_first = _day_first(csv_path, fmt, opts.date_order)
    fingerprint = ExportFingerprint()
    ordinals: Counter = Counter()  # rows of this file per content identity (ordinal 0)
    rows = rejected = skipped = 0
    reasons: Counter = Counter()
    landing.start(f"{_slug(account)}-{_slug(Path(csv_path).stem)}-hb{opts.heartbeat_sec}")
    rejects_path = Path(rejects_dir) / f"{Path(csv_path).stem}.rejects.jsonl"
    first_reject: dict | None = None
    with _RejectsFile(rejects_path) as rejects:
        for line, row in _iter_rows(csv_path, fmt, opts.progress):
            rows += 1
            if _SECONDS_RE.search(row.get("Start Time") or ""):
                # identical to the second: a duplicated row. Without seconds, identical
                # rows may be genuine same-minute viewings (they get ordinals below).
                key = _row_key(row)
                if key in seen:
                    report.duplicates += 1
                    continue
                seen.add(key)
            try:
                v = parse_row(row, line, account, day_first, opts.max_duration_sec)
            except (ParseError, ValueError) as exc:
                rejected += 1
                reasons[str(exc).split(":")[0][:60]] += 1
                rec = {"file": csv_path, "line": line, "reason": str(exc), "row": row}
                first_reject = first_reject or rec
                rejects.write(rec)
                continue
            ordinal = ordinals[v.identity]
            ordinals[v.identity] += 1
            v = with_ordinal(v, account, ordinal)
            fingerprint.add(v.identity)
            report.dimensions.add(v)
            if known is not None and not known.admit(v.identity, report):
                skipped += 1
                continue
            runtime = (
                runtimes.get(normalize_name(v.title.title_name)) if v.title.kind == "FILM" else None
            )
            report.events += landing.write(viewing_to_lines(v, opts.heartbeat_sec, runtime))
            report.sessions += 1
            report.identities.append(v.identity)
            if keep is not None:
                keep.append(v)
    if rows == 0:
        raise ParseError(
            f"{csv_path}: the export has its header but no viewing rows, so there is nothing "
            "to import (an interrupted download?); download it again from Netflix, or leave "
            "it out"
        )
    if skipped:
        log.info("%s: %d of %d viewings were already imported, skipped", csv_path, skipped, rows)
    report.rows += rows
    report.rejected += rejected
    report.reject_reasons.update(reasons)
    report.fingerprints[Path(csv_path).name] = fingerprint.hexdigest()
    if rejected:
        log.warning("%s: %d rows rejected -> %s", csv_path, rejected, rejects_path)
    if rows and rejected / rows > opts.max_reject_ratio:
        assert first_reject is not None
        reason = reasons.most_common(1)[0][0]
        raise ImportFailedError(
            f"{csv_path}: {rejected} of {rows} rows rejected (more than importer.max_reject_ratio "
            f"= {opts.max_reject_ratio:.0%}; read as {fmt.describe()}), mostly {reason!r}; "
            f"e.g. line {first_reject['line']}: {first_reject['reason']} -- row "
            f"{json.dumps(first_reject['row'], ensure_ascii=False)[:300]}"
        )


class _RejectsFile:
    """The rejects file of one export, created on the first reject, written atomically."""

    def __init__(self, path: Path):
        self.path = path
        self.fh: io.TextIOWrapper | None = None
        self.tmp: Path | None = None

    def __enter__(self) -> _RejectsFile:
        return self

    def write(self, rec: dict) -> None:
        if self.fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.tmp = self.path.with_name(f".tmp-{self.path.name}")
            self.fh = open(self.tmp, "w", encoding="utf-8")  # noqa: SIM115 - closed in __exit__
            os.chmod(self.tmp, file_mode())
        self.fh.write(dumps(rec) + "\n")

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.fh is None:
            return
        self.fh.close()
        assert self.tmp is not None
        if exc_type is None or exc_type is ImportFailedError:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


def import_files(
    csv_paths: list[str],
    account: str,
    landing_dir: str,
    rejects_dir: str,
    heartbeat_sec: int = 30,
    events_per_file: int = 50_000,
    catalog_csv: str | None = None,
    *,
    options: ImportOptions | None = None,
    keep_viewings: bool = True,
    ledger: Iterable[tuple[str, str]] = (),
    force: bool = False,
    before_publish: Callable[[ImportReport], None] | None = None,
    identity_ledger: str | None = None,
    record_only: bool = False,
) -> tuple[ImportReport, list[Viewing], dict[str, int]]:
    """Write the landing files of the exports; returns the report, viewings and runtimes.

    Every file is streamed into staged landing files; then the account identity is
    checked against ``ledger``, ``before_publish`` runs (the CLI commits the dimensions
    and the ledger there) and only then are the files published. On any failure the
    staged files are deleted: nothing of the run reaches the ingest.

    With ``identity_ledger`` (a folder, ``importer.ledger_dir``), a viewing is imported
    once per account whatever the export it comes in: each row's content identity
    (:func:`viewing_identity`, which a spreadsheet re-save or a later re-download keeps)
    is looked up in the :class:`IdentityLedger`; one already imported under this label
    is skipped (``already_imported`` in the summary), so a monthly re-download adds
    only the new viewings and a re-save adds nothing. Viewings already imported under
    another label make the import fail (unless ``force``). Without it every row is
    written (the ingest's exact dedupe still drops events whose session id and time are
    already stored: the same export in the same form).

    Args:
        csv_paths: the exports.
        account: the account label.
        landing_dir: where event files go.
        rejects_dir: where each file's rejected rows go.
        heartbeat_sec: seconds of playback between HEARTBEATs (ignored with ``options``).
        events_per_file: events per landing file (ignored with ``options``).
        catalog_csv: ``netflix_titles.csv`` for film runtimes.
        options: all tunables at once (else built from the two arguments above).
        keep_viewings: also return every parsed viewing (memory grows with the export;
            the CLI passes False and uses ``report.dimensions``).
        ledger: ``(fingerprint, account_label)`` of earlier imports.
        force: import even when an export was imported under another label.
        before_publish: called with the report once every file is read and checked.
        identity_ledger: folder of the viewing-identity ledger (None: not used).
        record_only: read and check everything and record the viewings in the identity
            ledger as imported, but publish nothing and skip ``before_publish`` (for
            exports the lake already holds from before the ledger existed).

    Returns:
        ``(report, viewings, runtimes)``; ``viewings`` is empty unless ``keep_viewings``.

    Raises:
        FileNotFoundError: a CSV path does not exist.
        IsADirectoryError: a CSV path is a folder.
        ParseError: a file is not a text export, lacks the export's columns, or has
            its header but no row.
        ImportFailedError: most of a file's rows were rejected, or an export (or some
            of its viewings) was already imported under another account label
            (without ``force``).
    """
    opts = options or ImportOptions(heartbeat_sec=heartbeat_sec, events_per_file=events_per_file)
    for csv_path in csv_paths:
        if not os.path.exists(csv_path):
            raise FileNotFoundError(f"{csv_path}: no such export file")
        if os.path.isdir(csv_path):
            raise IsADirectoryError(
                f"{csv_path} is a folder; give the ViewingActivity.csv file(s) inside it"
            )
    start = time.monotonic()
    report = ImportReport()
    runtimes = load_catalog_runtimes(catalog_csv)
    kept: list[Viewing] | None = [] if keep_viewings else None
    Path(landing_dir).mkdir(parents=True, exist_ok=True)
    landing = StagedLanding(landing_dir, opts.events_per_file)
    seen: set[bytes] = set()
    with contextlib.ExitStack() as stack:
        store = stack.enter_context(IdentityLedger(identity_ledger)) if identity_ledger else None
        # without a ledger, still import a viewing once when two exports of this run hold it
        known = store.load(account) if store is not None else IdentitySets(set(), {})
        try:
            for csv_path in csv_paths:
                report.files += 1
                _import_one(
                    csv_path, account, landing, rejects_dir, opts, runtimes, report, seen, kept,
                    known,
                )  # fmt: skip
            check_labels(ledger, report, account, force)
            report.titles = report.dimensions.title_shares()
            report.device_types = report.dimensions.device_types
            if record_only:
                report.events = 0
            else:
                if before_publish is not None:
                    before_publish(report)
                report.landing_files = landing.publish()
        finally:
            landing.discard()
        if store is not None:
            recorded = store.record(account, report.identities)
            if record_only:
                log.warning(
                    "--record-only: %d viewings recorded as imported under %r; no landing "
                    "file written", recorded, account,
                )  # fmt: skip
    if report.already_imported and not report.sessions:
        log.warning(
            "nothing new: all %d viewings were already imported as account %r; no landing "
            "file written",
            report.already_imported, account,
        )  # fmt: skip
    report.seconds = time.monotonic() - start
    return report, kept or [], runtimes


def check_lake_dirs(lake_root: str, *dirs: str) -> None:
    """Fail early, in one line, when the lake cannot take the import's files.

    Raises:
        NotADirectoryError: the lake root (or a folder under it) is a file.
        PermissionError: a folder cannot be created or written.
    """
    if os.path.exists(lake_root) and not os.path.isdir(lake_root):
        raise NotADirectoryError(f"lake root {lake_root} is a file; give --lake-root a folder")
    for folder in dirs:
        try:
            Path(folder).mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise NotADirectoryError(f"{folder} is a file, not a folder; move it away") from None
        except NotADirectoryError:
            raise NotADirectoryError(
                f"cannot create {folder}: a part of that path is a file, not a folder"
            ) from None
        except PermissionError:
            raise PermissionError(
                f"cannot create {folder}: permission denied (read-only lake root?); "
                "choose a writable --lake-root"
            ) from None
        if not os.access(folder, os.W_OK):
            raise PermissionError(
                f"{folder} is not writable (read-only lake root?); choose a writable --lake-root"
            )
