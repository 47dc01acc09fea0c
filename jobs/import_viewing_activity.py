"""Import Netflix viewing-activity exports into the landing zone as playback events.

Each CSV row is one viewing. It becomes one playback session of synthetic events, in
the landing contract (:data:`jobs.core.tables.LANDING_EVENT_SCHEMA`):

* ``PLAY`` at Start Time, at position ``max(0, Bookmark - Duration)``;
* ``HEARTBEAT`` every ``--heartbeat-sec`` seconds of playback (position advancing with
  it, never past the Bookmark);
* ``END`` at Start Time + Duration, at position Bookmark (a zero-length viewing has
  only its END).

Events go to JSON Lines files in the landing dir, written atomically (a hidden temp
file, then a rename), so the streaming ingest never reads half a file. File names are
deterministic, so importing the same export twice rewrites the same files. The job also
upserts the ``account``, ``profile``, ``device``, ``title`` and ``episode`` tables.

A row that cannot become events (unparseable time, empty title...) goes to
``{rejects_dir}/{file}.rejects.jsonl`` with its line number and reason; the import
goes on.

Usage::

    python -m jobs.import_viewing_activity data/samples/viewing-activity/household-ke.csv \\
        --account household-ke
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import logging
import os
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from jobs.core.cli import UsageError, job_parser, run
from jobs.core.config import Config
from jobs.core.ids import session_uuid, stable_hex, stable_id
from jobs.core.netflix_export import (
    ParsedTitle,
    ParseError,
    classify_device,
    is_autoplay,
    normalize_name,
    parse_country,
    parse_hms,
    parse_start_time,
    parse_title,
    title_stats,
)

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
    """One parsed export row with its stable ids. Times UTC, durations in seconds."""

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


def parse_row(row: dict[str, str], line: int, account: str) -> Viewing:
    """Turn one export row into a :class:`Viewing`.

    Raises:
        ParseError: a missing column, an unparseable time, duration or bookmark, an
            empty title or an unknown country.
    """
    missing = [c for c in ("Profile Name", "Start Time", "Duration", "Title") if not row.get(c)]
    if missing:
        raise ParseError(f"empty {', '.join(missing)}")
    start = parse_start_time(row["Start Time"])
    duration = parse_hms(row["Duration"])
    bookmark = parse_hms(row.get("Bookmark") or "0:00:00")
    country = parse_country(row.get("Country") or "")
    if country is None:
        raise ParseError(f"Country {row.get('Country')!r}: expected 'CC (Name)'")
    supplemental = (row.get("Supplemental Video Type") or "").strip()
    parsed = parse_title(row["Title"], supplemental)
    title_id, episode_id = content_ids(parsed)
    device = (row.get("Device Type") or "").strip() or "unknown"
    profile = row["Profile Name"].strip()
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
        session_id=session_uuid(account, *(row.get(c, "") for c in EXPORT_COLUMNS)),
        start=start,
        duration_sec=duration,
        bookmark_sec=bookmark,
        country_code=country,
        is_autoplay=is_autoplay(row.get("Attributes") or ""),
        supplemental_type=supplemental or None,
    )


def _iso(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    base = {
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


def write_jsonl_atomic(path: Path, records: Iterable[dict]) -> int:
    """Write ``records`` as JSON Lines to ``path`` via a hidden temp file and a rename.

    Returns:
        The number of lines written.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".jsonl", dir=path.parent)
    n = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for rec in records:
                fh.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")))
                fh.write("\n")
                n += 1
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return n


def _chunks(events: Iterator[dict], size: int) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for e in events:
        chunk.append(e)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


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


@dataclass
class ImportReport:
    """Counts of one import run."""

    files: int = 0
    rows: int = 0
    rejected: int = 0
    sessions: int = 0
    events: int = 0
    landing_files: int = 0
    seconds: float = 0.0
    reject_reasons: Counter = field(default_factory=Counter)
    titles: dict = field(default_factory=dict)
    device_types: Counter = field(default_factory=Counter)

    def summary(self) -> dict:
        other = self.device_types.get("other", 0)
        total_dev = sum(self.device_types.values()) or 1
        return {
            "files": self.files,
            "rows": self.rows,
            "rejected": self.rejected,
            "sessions": self.sessions,
            "events": self.events,
            "landing_files": self.landing_files,
            "seconds": round(self.seconds, 2),
            "rows_per_sec": round(self.rows / self.seconds) if self.seconds else None,
            "episode_share": round(self.titles.get("episode_share", 0.0), 4),
            "film_share": round(self.titles.get("film_share", 0.0), 4),
            "device_other_share": round(other / total_dev, 4),
            "reject_reasons": dict(self.reject_reasons),
        }


def read_viewings(
    csv_path: str, account: str, rejects_dir: str, report: ImportReport
) -> list[Viewing]:
    """Parse every row of one export; bad rows go to the rejects file with their reason."""
    viewings: list[Viewing] = []
    rejects: list[dict] = []
    with open(csv_path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        absent = [
            c
            for c in ("Profile Name", "Start Time", "Duration", "Title")
            if c not in (reader.fieldnames or [])
        ]
        if absent:
            raise ParseError(
                f"{csv_path}: missing columns {absent}; expected a Netflix ViewingActivity.csv "
                f"with {list(EXPORT_COLUMNS)}"
            )
        for line, row in enumerate(reader, start=2):
            report.rows += 1
            try:
                viewings.append(parse_row(row, line, account))
            except (ParseError, ValueError) as exc:
                reason = str(exc)
                report.rejected += 1
                report.reject_reasons[reason.split(":")[0][:60]] += 1
                rejects.append({"file": csv_path, "line": line, "reason": reason, "row": row})
    if rejects:
        target = Path(rejects_dir) / f"{Path(csv_path).stem}.rejects.jsonl"
        write_jsonl_atomic(target, rejects)
        log.warning("%s: %d rows rejected -> %s", csv_path, len(rejects), target)
    return viewings


def import_files(
    csv_paths: list[str],
    account: str,
    landing_dir: str,
    rejects_dir: str,
    heartbeat_sec: int,
    events_per_file: int,
    catalog_csv: str | None = None,
) -> tuple[ImportReport, list[Viewing], dict[str, int]]:
    """Write the landing files of the exports; returns the report, viewings and runtimes.

    Raises:
        FileNotFoundError: a CSV path does not exist.
        ParseError: a CSV lacks the export's columns.
    """
    start = time.monotonic()
    report = ImportReport()
    runtimes = load_catalog_runtimes(catalog_csv)
    all_viewings: list[Viewing] = []
    for csv_path in csv_paths:
        if not os.path.exists(csv_path):
            raise FileNotFoundError(f"{csv_path}: no such export file")
        report.files += 1
        viewings = read_viewings(csv_path, account, rejects_dir, report)
        all_viewings.extend(viewings)

        def events_of(vs: list[Viewing]) -> Iterator[dict]:
            for v in vs:
                runtime = (
                    runtimes.get(normalize_name(v.title.title_name))
                    if v.title.kind == "FILM"
                    else None
                )
                yield from viewing_to_events(v, heartbeat_sec, runtime)

        prefix = f"{_slug(account)}-{_slug(Path(csv_path).stem)}-hb{heartbeat_sec}"
        for part, chunk in enumerate(_chunks(events_of(viewings), events_per_file)):
            report.events += write_jsonl_atomic(
                Path(landing_dir) / f"{prefix}-{part:05d}.jsonl", chunk
            )
            report.landing_files += 1
        report.sessions += len(viewings)
    report.titles = title_stats(v.title for v in all_viewings)
    report.device_types = Counter(v.device_type for v in all_viewings)
    report.seconds = time.monotonic() - start
    return report, all_viewings, runtimes


def dimension_rows(
    viewings: list[Viewing], account: str, runtimes: dict[str, int]
) -> dict[str, list[tuple]]:
    """Rows of account, profile, device, title and episode seen in ``viewings``.

    The latest viewing decides a profile's country_code; the first one names a title.
    """
    acc_id = account_id_for(account)
    profiles: dict[int, tuple] = {}
    devices: dict[str, tuple] = {}
    titles: dict[int, tuple] = {}
    episodes: dict[int, tuple] = {}
    for v in sorted(viewings, key=lambda v: v.start):
        profiles[v.profile_id] = (v.profile_id, acc_id, v.profile_name, None, v.country_code)
        devices.setdefault(v.device_id, (v.device_id, acc_id, v.device_type, None, v.device_model))
        kind = {"EPISODE": "SERIES", "FILM": "FILM"}.get(v.title.kind, "SUPPLEMENTAL")
        name = v.title.title_name if kind != "SUPPLEMENTAL" else v.title.raw
        runtime = runtimes.get(normalize_name(name)) if kind == "FILM" else None
        titles.setdefault(v.title_id, (v.title_id, name, kind, runtime))
        if v.episode_id is not None:
            t = v.title
            episodes.setdefault(
                v.episode_id,
                (
                    v.episode_id,
                    v.title_id,
                    t.season_label,
                    t.season_number,
                    t.episode_number,
                    t.episode_title,
                    None,
                ),
            )
    return {
        "account": [(acc_id, account)],
        "profile": list(profiles.values()),
        "device": list(devices.values()),
        "title": list(titles.values()),
        "episode": list(episodes.values()),
    }


def upsert_dimensions(spark, cfg: Config, rows: dict[str, list[tuple]]) -> dict[str, dict]:
    """Upsert the dimension rows into their Delta tables (merge on the key)."""
    from jobs.core.delta import MergeSpec, get_engine
    from jobs.core.tables import get_spec

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


def _run(args: argparse.Namespace, cfg: Config) -> int:
    account = args.account or cfg.importer.account
    heartbeat = args.heartbeat_sec if args.heartbeat_sec is not None else cfg.importer.heartbeat_sec
    if heartbeat <= 0:
        raise UsageError("--heartbeat-sec must be a positive number of seconds")
    report, viewings, runtimes = import_files(
        args.csv,
        account,
        args.landing_dir or cfg.paths.landing_dir,
        args.rejects_dir or cfg.paths.rejects_dir,
        heartbeat,
        cfg.importer.events_per_file,
        args.catalog or cfg.paths.catalog_csv,
    )
    log.info("import: %s", json.dumps(report.summary(), ensure_ascii=False))
    if not args.no_dimensions:
        from jobs.core.spark import build_spark

        spark = build_spark("import_viewing_activity", cfg)
        upsert_dimensions(spark, cfg, dimension_rows(viewings, account, runtimes))
    print(json.dumps(report.summary(), ensure_ascii=False))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(
        "python -m jobs.import_viewing_activity",
        "Turn Netflix ViewingActivity.csv exports into playback events (JSON Lines) "
        "in the landing dir, and upsert account/profile/device/title/episode.",
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
        "--no-dimensions",
        action="store_true",
        help="only write landing files; skip the Spark upsert of the dimension tables",
    )
    return run(_run, parser, argv, usage_errors=(FileNotFoundError, ParseError))


if __name__ == "__main__":
    sys.exit(main())
