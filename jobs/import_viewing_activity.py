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

Usage::

    python -m jobs.import_viewing_activity data/samples/viewing-activity/household-ke.csv \\
        --account household-ke
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import logging
import os
import re
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from jobs.core.ingest.netflix_export import (
    DATE_ORDERS,
    REQUIRED_COLUMNS,
    ExportFingerprint,
    ParsedTitle,
    ParseError,
    check_duration,
    classify_device,
    detect_encoding,
    detect_separator,
    identity_conflicts,
    is_autoplay,
    is_iso_start_time,
    normalize_name,
    parse_country,
    parse_hms,
    parse_start_time,
    parse_title,
    start_time_order,
    viewing_identity,
)
from jobs.core.rules.ids import session_uuid, stable_hex, stable_id
from jobs.core.runtime.cli import JobError, UsageError, job_parser, run
from jobs.core.runtime.config import Config

log = logging.getLogger("import_viewing_activity")

EXPORT_COLUMNS = (
    "Profile Name",
    "Start Time",
    "Duration",
    "Attributes",
    "Title",
    "Supplemental Video Type",
    "Device Type",
    "Bookmark",
    "Latest Bookmark",
    "Country",
)


@dataclass(frozen=True)
class Viewing:
    """One parsed export row with its stable ids. Times UTC, durations in seconds.

    ``identity`` is its content identity (:func:`viewing_identity`: minute precision,
    normalized, account-free); ``session_id`` is UUID5 of the account and that identity,
    so a spreadsheet re-save or a later re-download of the export gives the viewing the
    same session id.
    """

    line: int
    account_id: int
    profile_id: int
    profile_name: str
    device_id: str
    device_model: str
    device_type: str
    title: ParsedTitle
    title_id: int
    episode_id: int | None
    session_id: str
    start: dt.datetime
    duration_sec: int
    bookmark_sec: int
    country_code: str
    is_autoplay: bool
    supplemental_type: str | None
    identity: str = ""


def account_id_for(account: str) -> int:
    """Stable ``account_id`` of an account label."""
    return stable_id("account", normalize_name(account))


def profile_id_for(account: str, profile_name: str) -> int:
    """Stable ``profile_id`` from (account, profile name)."""
    return stable_id("profile", normalize_name(account), normalize_name(profile_name))


def device_id_for(account: str, device: str) -> str:
    """Stable ``device_id`` (16 hex characters) from (account, device string)."""
    return stable_hex("device", normalize_name(account), normalize_name(device))


def content_ids(parsed: ParsedTitle) -> tuple[int, int | None]:
    """Stable ``(title_id, episode_id)`` of a parsed title (episode_id None for films).

    An episode is keyed by its series, its season (number, else label) and its number
    (else its normalized title), so one episode seen under two spellings of its own
    title keeps one id.
    """
    if parsed.kind == "SUPPLEMENTAL":
        return stable_id("supplemental", normalize_name(parsed.raw)), None
    title_id = stable_id("title", normalize_name(parsed.title_name))
    if parsed.kind != "EPISODE":
        return title_id, None
    season = (
        parsed.season_number
        if parsed.season_number is not None
        else normalize_name(parsed.season_label or "")
    )
    number = (
        parsed.episode_number
        if parsed.episode_number is not None
        else normalize_name(parsed.episode_title or "")
    )
    return title_id, stable_id("episode", title_id, season, number)


def parse_row(
    row: dict[str, str],
    line: int,
    account: str,
    day_first: bool = False,
    max_duration_sec: int | None = None,
    ordinal: int = 0,
) -> Viewing:
    """Turn one export row into a :class:`Viewing`.

    Args:
        row: the CSV row by column name.
        line: its row number in the file (header = 1).
        account: the account label.
        day_first: the file's non-ISO dates are day/month (see ``start_time_day_first``).
        max_duration_sec: reject a longer Duration (None: no cap).
        ordinal: how many earlier rows of the file share this row's identity (see
            :func:`viewing_identity`); the importer counts them.

    Raises:
        ParseError: a missing column, an unparseable time, duration or bookmark, a
            duration over the cap, an empty title or an unknown country.
    """
    missing = [c for c in REQUIRED_COLUMNS if not row.get(c)]
    if missing:
        raise ParseError(f"empty {', '.join(missing)}")
    start = parse_start_time(row["Start Time"], day_first=day_first)
    duration = parse_hms(row["Duration"])
    if max_duration_sec is not None:
        check_duration(duration, max_duration_sec)
    bookmark = parse_hms(row.get("Bookmark") or "0:00:00")
    country = parse_country(row.get("Country") or "")
    if country is None:
        raise ParseError(f"Country {row.get('Country')!r}: expected 'CC (Name)'")
    supplemental = (row.get("Supplemental Video Type") or "").strip()
    parsed = parse_title(row["Title"], supplemental)
    title_id, episode_id = content_ids(parsed)
    device = (row.get("Device Type") or "").strip() or "unknown"
    profile = row["Profile Name"].strip()
    identity = viewing_identity(profile, start, row["Title"], duration, device, bookmark, ordinal)
    return Viewing(
        line=line,
        account_id=account_id_for(account),
        profile_id=profile_id_for(account, profile),
        profile_name=profile,
        device_id=device_id_for(account, device),
        device_model=device,
        device_type=classify_device(device),
        title=parsed,
        title_id=title_id,
        episode_id=episode_id,
        session_id=session_id_for(account, identity),
        start=start,
        duration_sec=duration,
        bookmark_sec=bookmark,
        country_code=country,
        is_autoplay=is_autoplay(row.get("Attributes") or ""),
        supplemental_type=supplemental or None,
        identity=identity,
    )


def session_id_for(account: str, identity: str) -> str:
    """Stable ``session_id`` (UUID5) of a viewing: its account and content identity."""
    return session_uuid("viewing", normalize_name(account), identity)


def with_ordinal(v: Viewing, account: str, ordinal: int) -> Viewing:
    """``v`` as the ``ordinal``-th viewing of its file sharing its content (new ids)."""
    if ordinal == 0:
        return v
    identity = viewing_identity(
        v.profile_name, v.start, v.title.raw, v.duration_sec, v.device_model, v.bookmark_sec,
        ordinal,
    )  # fmt: skip
    return replace(v, identity=identity, session_id=session_id_for(account, identity))


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _shared_fields(v: Viewing, runtime_sec: int | None) -> dict:
    """The fields every event of a viewing carries, in the landing contract's order."""
    return {
        "session_id": v.session_id,
        "bitrate_kbps": None,
        "account_id": v.account_id,
        "profile_id": v.profile_id,
        "device_id": v.device_id,
        "title_id": v.title_id,
        "episode_id": v.episode_id,
        "country_code": v.country_code,
        "is_supplemental": v.supplemental_type is not None,
        "is_autoplay": v.is_autoplay,
        "runtime_sec": runtime_sec,
    }


def viewing_to_events(v: Viewing, heartbeat_sec: int, runtime_sec: int | None = None) -> list[dict]:
    """The synthetic playback events of one viewing (see module docstring).

    Args:
        v: the viewing.
        heartbeat_sec: seconds of playback between HEARTBEATs (> 0).
        runtime_sec: the item's runtime when known, carried on every event.

    Returns:
        Event dicts in the landing contract, in time order; keys unique per
        (session_id, event_time).

    Raises:
        ValueError: ``heartbeat_sec`` is not positive.
    """
    if heartbeat_sec <= 0:
        raise ValueError(f"heartbeat_sec must be > 0, got {heartbeat_sec}")
    start_pos = max(0, v.bookmark_sec - v.duration_sec)
    ceiling = max(v.bookmark_sec, start_pos)
    base = _shared_fields(v, runtime_sec)

    def event(offset: int, kind: str, position: int) -> dict:
        t = v.start + dt.timedelta(seconds=offset)
        return {**base, "event_time": _iso(t), "event_type": kind, "position_sec": position}

    if v.duration_sec == 0:
        return [event(0, "END", v.bookmark_sec)]
    events = [event(0, "PLAY", start_pos)]
    events += [
        event(t, "HEARTBEAT", min(start_pos + t, ceiling))
        for t in range(heartbeat_sec, v.duration_sec, heartbeat_sec)
    ]
    events.append(event(v.duration_sec, "END", v.bookmark_sec))
    return events


def viewing_to_lines(v: Viewing, heartbeat_sec: int, runtime_sec: int | None = None) -> list[str]:
    """The events of :func:`viewing_to_events` as JSON Lines text, byte for byte.

    The fields shared by a viewing's events are serialized once and only the time, type
    and position change per line: the importer's hot loop (tens of millions of events
    for a large export).

    Raises:
        ValueError: ``heartbeat_sec`` is not positive.
    """
    if heartbeat_sec <= 0:
        raise ValueError(f"heartbeat_sec must be > 0, got {heartbeat_sec}")
    prefix = _dumps(_shared_fields(v, runtime_sec))[:-1] + ',"event_time":"'
    epoch = int(v.start.timestamp())
    midnight = epoch - epoch % 86_400
    day = time.strftime("%Y-%m-%dT", time.gmtime(midnight))

    def stamp(offset: int) -> str:
        sod = epoch + offset - midnight  # second of the start's day
        if sod >= 86_400:
            return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch + offset))
        return f"{day}{sod // 3600:02d}:{sod // 60 % 60:02d}:{sod % 60:02d}Z"

    end = f'{prefix}{stamp(v.duration_sec)}","event_type":"END","position_sec":{v.bookmark_sec}}}'
    if v.duration_sec == 0:
        return [end]
    start_pos = max(0, v.bookmark_sec - v.duration_sec)
    ceiling = max(v.bookmark_sec, start_pos)
    out = [f'{prefix}{stamp(0)}","event_type":"PLAY","position_sec":{start_pos}}}']
    out += [
        f'{prefix}{stamp(t)}","event_type":"HEARTBEAT","position_sec":{min(start_pos + t, ceiling)}}}'
        for t in range(heartbeat_sec, v.duration_sec, heartbeat_sec)
    ]
    out.append(end)
    return out


def _dumps(record: dict) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _file_mode() -> int:
    """0666 less the process umask: what ``open()`` would give (0644 under umask 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_jsonl_atomic(path: Path, records: Iterable[dict]) -> int:
    """Write ``records`` as JSON Lines to ``path`` via a hidden temp file and a rename.

    The file gets the mode ``open()`` would give under the process umask (0644 under
    the usual 022), not ``mkstemp``'s 0600, so a reader running as another user of the
    group can read it.

    Returns:
        The number of lines written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".jsonl", dir=path.parent)
    n = 0
    try:
        os.fchmod(fd, _file_mode())
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(_dumps(rec))
                fh.write("\n")
                n += 1
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return n


class StagedLanding:
    """Landing files of one import, staged under hidden names until :meth:`publish`.

    Lines are written as they come (no list of events is held); a new file starts
    every ``events_per_file`` lines. Staged names start with ``.staged-``, which the
    streaming ingest (Spark's file source skips names starting with ``.`` or ``_``)
    never reads; :meth:`publish` renames each into place, :meth:`discard` deletes them.

    A published name ends with a hash of the file's bytes
    (``{prefix}-{part:05d}-{blake2b-64 hex}.jsonl``), so a name is never reused for other
    content: Spark's file source never reads a path twice, and the ingest's landing
    sweep archives a file by its recorded path, so a reused name would be skipped
    unread. The same content gets the same name (re-publishing it is harmless).
    """

    def __init__(self, landing_dir: str, events_per_file: int):
        self.dir = Path(landing_dir)
        self.events_per_file = events_per_file
        self.mode = _file_mode()
        self.staged: list[tuple[Path, Path]] = []
        self._fh: io.TextIOWrapper | None = None
        self._current: Path | None = None
        self._hash = hashlib.blake2b(digest_size=8)
        self._in_file = 0
        self._prefix = ""
        self._part = 0
        self._next_part: dict[str, int] = {}

    def start(self, prefix: str) -> None:
        """Begin the files of one export: ``{prefix}-00000-{hash}.jsonl``, ``-00001-``...

        Two exports of one run with the same prefix (two ``ViewingActivity.csv`` from
        different folders) continue its part numbers.
        """
        self._close()
        if prefix not in self._next_part:
            for old in self.dir.glob(f".staged-{prefix}-*.jsonl"):  # left by a crashed run
                old.unlink()
        self._prefix, self._part = prefix, self._next_part.get(prefix, 0)

    def write(self, lines: list[str]) -> int:
        """Append event lines; returns how many were written."""
        done = 0
        while done < len(lines):
            if self._fh is None or self._in_file >= self.events_per_file:
                self._open_next()
            assert self._fh is not None
            part = lines[done : done + self.events_per_file - self._in_file]
            text = "\n".join(part) + "\n"
            self._fh.write(text)
            self._hash.update(text.encode("utf-8"))
            self._in_file += len(part)
            done += len(part)
        return done

    def _open_next(self) -> None:
        self._close()
        staged = self.dir / f".staged-{self._prefix}-{self._part:05d}.jsonl"
        self._fh = open(staged, "w", encoding="utf-8")  # noqa: SIM115 - closed in _close
        os.chmod(staged, self.mode)
        self._current = staged
        self._hash = hashlib.blake2b(digest_size=8)
        self._part += 1
        self._next_part[self._prefix] = self._part
        self._in_file = 0

    def _close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            assert self._current is not None
            final = f"{self._current.name[len('.staged-') : -len('.jsonl')]}"
            self.staged.append(
                (self._current, self.dir / f"{final}-{self._hash.hexdigest()}.jsonl")
            )
            self._current = None

    def publish(self) -> int:
        """Rename every staged file into place; returns the number of files."""
        self._close()
        for staged, final in self.staged:
            if final.exists():  # same name, same bytes: keep the file (and its mtime)
                staged.unlink()
            else:
                os.replace(staged, final)
        n = len(self.staged)
        self.staged = []
        return n

    def discard(self) -> None:
        """Delete every staged file (the import failed)."""
        self._close()
        for staged, _ in self.staged:
            staged.unlink(missing_ok=True)
        self.staged = []


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", normalize_name(text)).strip("-") or "x"


def load_catalog_runtimes(path: str | None) -> dict[str, int]:
    """Film runtimes (seconds) by normalized title from ``netflix_titles.csv``, if present.

    Only ``type == Movie`` rows with a ``duration`` of ``N min`` count; a missing file
    gives an empty mapping (runtime unknown, progress not shown).
    """
    if not path or not os.path.exists(path):
        return {}
    runtimes: dict[str, int] = {}
    with open(path, encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            m = re.fullmatch(r"(\d+) min", (row.get("duration") or "").strip())
            if row.get("type") == "Movie" and m:
                runtimes[normalize_name(row["title"])] = int(m.group(1)) * 60
    return runtimes


class DimensionCollector:
    """The account/profile/device/title/episode rows of a stream of viewings.

    Holds one entry per distinct profile, device, title and episode (not per viewing).
    The latest viewing decides a profile's country_code; the earliest names a title
    and a device (ties: the first in file order), as if the viewings were sorted by
    start time.
    """

    def __init__(self) -> None:
        self.profiles: dict[int, tuple[dt.datetime, tuple]] = {}
        self.devices: dict[str, tuple[dt.datetime, tuple]] = {}
        self.titles: dict[int, tuple[dt.datetime, Viewing]] = {}
        self.episodes: dict[int, tuple[dt.datetime, tuple]] = {}
        self.kinds: Counter = Counter()
        self.device_types: Counter = Counter()

    @staticmethod
    def _earliest(store: dict, key, start: dt.datetime, value) -> None:
        if key not in store or start < store[key][0]:
            store[key] = (start, value)

    def add(self, v: Viewing) -> None:
        """Account for one viewing."""
        self.kinds[v.title.kind] += 1
        self.device_types[v.device_type] += 1
        old = self.profiles.get(v.profile_id)
        if old is None or v.start >= old[0]:
            self.profiles[v.profile_id] = (
                v.start,
                (v.profile_id, v.account_id, v.profile_name, None, v.country_code),
            )
        self._earliest(
            self.devices,
            v.device_id,
            v.start,
            (v.device_id, v.account_id, v.device_type, None, v.device_model),
        )
        self._earliest(self.titles, v.title_id, v.start, v)
        if v.episode_id is not None:
            t = v.title
            row = (
                v.episode_id,
                v.title_id,
                t.season_label,
                t.season_number,
                t.episode_number,
                t.episode_title,
                None,
            )
            self._earliest(self.episodes, v.episode_id, v.start, row)  # fmt: skip

    def title_shares(self) -> dict[str, float]:
        """Shares of episodes and films among the non-supplemental viewings."""
        main = self.kinds["EPISODE"] + self.kinds["FILM"]
        return {
            "episode_share": self.kinds["EPISODE"] / main if main else 0.0,
            "film_share": self.kinds["FILM"] / main if main else 0.0,
        }

    def rows(self, account: str, runtimes: dict[str, int]) -> dict[str, list[tuple]]:
        """Rows per table, in the tables' column order."""
        titles = {}
        for title_id, (_, v) in self.titles.items():
            kind = {"EPISODE": "SERIES", "FILM": "FILM"}.get(v.title.kind, "SUPPLEMENTAL")
            name = v.title.title_name if kind != "SUPPLEMENTAL" else v.title.raw
            runtime = runtimes.get(normalize_name(name)) if kind == "FILM" else None
            titles[title_id] = (title_id, name, kind, runtime)
        return {
            "account": [(account_id_for(account), account)],
            "profile": [row for _, row in self.profiles.values()],
            "device": [row for _, row in self.devices.values()],
            "title": list(titles.values()),
            "episode": [row for _, row in self.episodes.values()],
        }


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


class ImportFailedError(JobError):
    """The import read its input but must not publish it (exit 1); nothing was published."""


@dataclass(frozen=True)
class ExportFormat:
    """How one export file is written: its codec and field separator."""

    encoding: str
    separator: str

    def describe(self) -> str:
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
            os.chmod(self.tmp, _file_mode())
        self.fh.write(_dumps(rec) + "\n")

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.fh is None:
            return
        self.fh.close()
        assert self.tmp is not None
        if exc_type is None or exc_type is ImportFailedError:
            os.replace(self.tmp, self.path)
        else:
            self.tmp.unlink(missing_ok=True)


class IdentitySets:
    """Which viewing identities the lake already holds, and under which account label.

    Built from the :class:`IdentityLedger` at the start of an import; :meth:`admit`
    decides per viewing of the import (see :func:`import_files`).
    """

    def __init__(self, own: set[str], others: dict[str, str]):
        self.own = own
        self.others = others
        self.this_run: set[str] = set()

    def admit(self, identity: str, report: ImportReport) -> bool:
        """Whether a viewing is new; counts the skipped ones in ``report``.

        A viewing already imported under this account, or met earlier in this run (two
        overlapping exports in one import), is skipped (``report.already_imported``).
        One imported under another label is admitted but counted in
        ``report.other_labels`` (the import then refuses unless ``force``).
        """
        if identity in self.own or identity in self.this_run:
            report.already_imported += 1
            return False
        self.this_run.add(identity)
        label = self.others.get(identity)
        if label is not None:
            report.other_labels[label] += 1
        return True


class IdentityLedger:
    """The content identities of every viewing imported, one file per account label.

    ``{folder}/{account_id}.ids``: first line ``# account: <label>``, then one
    :func:`viewing_identity` (32 hex characters) per line. An import reads it before
    its first row (viewings already there are skipped, so a re-download or re-save adds
    only what is new) and appends the viewings it published right after publishing
    them; each file is rewritten whole (temp file + rename). A lock file
    (``{folder}/.lock``, ``flock``) makes concurrent imports of one lake take turns.
    Memory: ~100 bytes per viewing of the lake while an import runs.
    """

    def __init__(self, folder: str):
        self.folder = Path(folder)
        self._lock_fh: io.TextIOWrapper | None = None

    def __enter__(self) -> IdentityLedger:
        import fcntl

        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock_fh = open(self.folder / ".lock", "a")  # noqa: SIM115 - closed in __exit__
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("%s: another import is running; waiting for it to finish", self.folder)
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        if self._lock_fh is not None:
            self._lock_fh.close()  # releases the lock
            self._lock_fh = None

    def _path(self, account: str) -> Path:
        return self.folder / f"{account_id_for(account)}.ids"

    def has(self, account: str) -> bool:
        """Whether any viewing was ever recorded under ``account`` (no lock needed)."""
        return self._path(account).exists()

    def load(self, account: str) -> IdentitySets:
        """The identities imported under ``account`` and, apart, under every other label."""
        own: set[str] = set()
        others: dict[str, str] = {}
        mine = self._path(account)
        for path in sorted(self.folder.glob("*.ids")):
            with path.open(encoding="utf-8") as fh:
                header = fh.readline()
                label = header.removeprefix("# account:").strip()
                if path == mine:
                    own.update(line.rstrip("\n") for line in fh)
                else:
                    for line in fh:
                        others.setdefault(line.rstrip("\n"), label)
        own.discard("")
        return IdentitySets(own, others)

    def record(self, account: str, identities: Iterable[str]) -> int:
        """Append ``identities`` to ``account``'s file; returns how many were new."""
        path = self._path(account)
        old: list[str] = []
        if path.exists():
            old = path.read_text(encoding="utf-8").splitlines()[1:]
        have = set(old)
        new = [i for i in identities if i not in have]
        if not new:
            return 0
        tmp = path.with_name(f".tmp-{path.name}")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(f"# account: {account}\n")
            for line in itertools.chain(old, new):
                fh.write(line + "\n")
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
        return len(new)


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
            _check_labels(ledger, report, account, force)
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


def _check_labels(
    ledger: Iterable[tuple[str, str]], report: ImportReport, account: str, force: bool
) -> None:
    """Refuse an export (or viewings) already imported under another account label.

    Raises:
        ImportFailedError: without ``force``, when a file's fingerprint is in ``ledger``
            under another label, or viewings of this import are in the identity ledger
            under another label.
    """
    if force:
        return
    conflicts = identity_conflicts(ledger, report.fingerprints, account)
    if conflicts:
        raise ImportFailedError(
            f"{'; '.join(conflicts)}, not {account!r}: importing it again under another "
            "label would count every viewing twice. Use that label, or --force if these "
            "really are two accounts"
        )
    if report.other_labels:
        shared = sum(report.other_labels.values())
        labels = ", ".join(map(repr, sorted(report.other_labels)))
        raise ImportFailedError(
            f"{shared} of the {report.sessions} viewings to import were already imported as account "
            f"{labels}, not {account!r}: importing them under another label would count them "
            "twice. Use that label, or --force if these really are two accounts"
        )


def dimension_rows(
    viewings: Iterable[Viewing] | DimensionCollector, account: str, runtimes: dict[str, int]
) -> dict[str, list[tuple]]:
    """Rows of account, profile, device, title and episode seen in ``viewings``.

    The latest viewing decides a profile's country_code; the first one names a title.
    ``viewings`` may be the viewings or an import's ``report.dimensions``.
    """
    if isinstance(viewings, DimensionCollector):
        return viewings.rows(account, runtimes)
    collector = DimensionCollector()
    for v in viewings:
        collector.add(v)
    return collector.rows(account, runtimes)


def upsert_dimensions(spark, cfg: Config, rows: dict[str, list[tuple]]) -> dict[str, dict]:
    """Upsert the dimension rows into their Delta tables (merge on the key)."""
    from jobs.core.storage.delta import MergeSpec, get_engine
    from jobs.core.tables.registry import get_spec

    engine = get_engine(spark, cfg)
    engine.create_all(list(rows))
    out = {}
    for table, data in rows.items():
        spec = get_spec(table)
        df = spark.createDataFrame(data, spec.schema)
        on = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
        result = engine.merge(table, df, MergeSpec(on=on))
        out[table] = result.metrics
        log.info("%s: %d rows upserted %s", table, len(data), result.metrics)
    return out


LEDGER_TABLE = "import_ledger"


def read_ledger(engine) -> list[tuple[str, str]]:
    """``(fingerprint, account_label)`` of every earlier import (empty for a new lake)."""
    if not engine.exists(LEDGER_TABLE):
        return []
    return [(r.fingerprint, r.account_label) for r in engine.read(LEDGER_TABLE).collect()]


def record_imports(engine, report: ImportReport, account: str, sources: list[str]) -> None:
    """Upsert this import's ``(fingerprint, account)`` rows into ``import_ledger``."""
    from jobs.core.storage.delta import MergeSpec
    from jobs.core.tables.registry import get_spec

    spec = get_spec(LEDGER_TABLE)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rows = [
        (fp, account, account_id_for(account), name, int(fp.split("-")[0]), now)
        for name, fp in report.fingerprints.items()
        if fp
    ]
    if not rows:
        return
    engine.create(spec)
    df = engine.spark.createDataFrame(rows, spec.schema)
    on = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
    engine.merge(LEDGER_TABLE, df, MergeSpec(on=on))
    log.info("%s: recorded %s as %r", LEDGER_TABLE, sorted(report.fingerprints), account)


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


def check_legacy_imports(
    ledger: Iterable[tuple[str, str]], account: str, ledger_dir: str, record_only: bool
) -> None:
    """Refuse to import for an account imported before the identity ledger existed.

    Such a lake holds the account's viewings under session ids built from the raw
    cells, and the identity ledger does not know them: importing any export of that
    account again would count its viewings twice. ``--record-only`` on the exports
    already imported records their viewings first.

    Raises:
        ImportFailedError: ``import_ledger`` names ``account`` but ``ledger_dir`` has no
            viewing of it, and ``record_only`` is not set.
    """
    earlier = [fp for fp, label in ledger if normalize_name(label) == normalize_name(account)]
    if earlier and not record_only and not IdentityLedger(ledger_dir).has(account):
        raise ImportFailedError(
            f"account {account!r} was imported before the identity ledger existed "
            f"({len(earlier)} export(s) in import_ledger, none in {ledger_dir}): importing "
            "again would count its viewings twice. Re-run once with --record-only on the "
            "export(s) already imported, then import new ones as usual"
        )


def _parser() -> argparse.ArgumentParser:
    parser = job_parser(
        "python -m jobs.import_viewing_activity",
        "Turn Netflix ViewingActivity.csv exports into playback events (JSON Lines) "
        "in the landing dir, and upsert account/profile/device/title/episode. Encoding "
        "(UTF-8, UTF-16, Latin-1) and separator (comma, tab, semicolon) are detected.",
    )
    parser.add_argument("csv", nargs="+", help="one or more ViewingActivity.csv exports")
    parser.add_argument("--account", default=None, help="account label (default: importer.account)")
    parser.add_argument("--landing-dir", default=None, help="default: paths.landing_dir")
    parser.add_argument("--rejects-dir", default=None, help="default: paths.rejects_dir")
    parser.add_argument(
        "--heartbeat-sec", type=int, default=None, help="seconds between HEARTBEATs (default 30)"
    )
    parser.add_argument("--catalog", default=None, help="netflix_titles.csv for film runtimes")
    parser.add_argument(
        "--force",
        action="store_true",
        help="import even if an export was already imported under another --account label",
    )
    parser.add_argument(
        "--no-dimensions",
        action="store_true",
        help="only write landing files; skip the Spark step (dimension upsert and the "
        "import_ledger check of the account label)",
    )
    parser.add_argument(
        "--date-order",
        choices=DATE_ORDERS,
        default=None,
        help="day/month order of non-ISO Start Time dates (default importer.date_order: auto, "
        "decided per file; an all-ambiguous file is read month-first with a warning)",
    )
    parser.add_argument(
        "--record-only",
        action="store_true",
        help="record the exports' viewings in the identity ledger as already imported, "
        "without writing events (once, for exports imported before the ledger existed)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    # a stopped import (kill, scheduler timeout) unwinds: its staged files are deleted
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        return run(
            _run,
            _parser(),
            argv,
            usage_errors=(FileNotFoundError, IsADirectoryError, ParseError),
        )
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _run(args: argparse.Namespace, cfg: Config) -> int:
    account = args.account or cfg.importer.account
    heartbeat = args.heartbeat_sec if args.heartbeat_sec is not None else cfg.importer.heartbeat_sec
    if heartbeat <= 0:
        raise UsageError("--heartbeat-sec must be a positive number of seconds")
    landing_dir = args.landing_dir or cfg.paths.landing_dir
    rejects_dir = args.rejects_dir or cfg.paths.rejects_dir
    for path in args.csv:  # usage mistakes before anything starts
        if os.path.isdir(path):
            raise IsADirectoryError(f"{path} is a folder; give the ViewingActivity.csv file(s)")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such export file")
    ledger_dir = cfg.importer.ledger_dir.format(lake_root=cfg.paths.lake_root)
    check_lake_dirs(cfg.paths.lake_root, landing_dir, rejects_dir, ledger_dir)
    options = ImportOptions(
        heartbeat_sec=heartbeat,
        events_per_file=cfg.importer.events_per_file,
        max_duration_sec=cfg.importer.max_duration_sec,
        max_reject_ratio=cfg.importer.max_reject_ratio,
        progress=not args.quiet and sys.stderr.isatty(),
        date_order=args.date_order or cfg.importer.date_order,
    )
    engine = None
    ledger: list[tuple[str, str]] = []
    if args.no_dimensions:
        log.warning("--no-dimensions: the account label is not checked against import_ledger")
    else:
        from jobs.core.runtime.spark import build_spark
        from jobs.core.storage.delta import get_engine

        engine = get_engine(build_spark("import_viewing_activity", cfg), cfg)
        ledger = read_ledger(engine)
        check_legacy_imports(ledger, account, ledger_dir, args.record_only)
    runtimes = load_catalog_runtimes(args.catalog or cfg.paths.catalog_csv)

    def commit(report: ImportReport) -> None:
        if engine is not None:
            upsert_dimensions(engine.spark, cfg, report.dimensions.rows(account, runtimes))
            record_imports(engine, report, account, args.csv)

    report, _, _ = import_files(
        args.csv, account, landing_dir, rejects_dir,
        catalog_csv=args.catalog or cfg.paths.catalog_csv, options=options,
        keep_viewings=False, ledger=ledger, force=args.force, before_publish=commit,
        identity_ledger=ledger_dir, record_only=args.record_only,
    )  # fmt: skip
    log.info("import: %s", json.dumps(report.summary(), ensure_ascii=False))
    print(json.dumps(report.summary(), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
