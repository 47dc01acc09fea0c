"""Deterministic synthetic playback events in the landing contract, at the design's shape.

The same ``--seed`` gives byte-identical files. The shape follows the design's load
model: accounts with profiles and devices, a catalogue of films and series with
runtimes, sessions that average about 2 h of viewing a day per active viewer, a
HEARTBEAT every 30 s, an evening peak by country (local 20:00–23:00), device switching
mid-title, concurrent sessions on one profile, and the faults a real feed has:

* ~0.5% duplicate events (``--duplicate-rate``), re-sent in the same or a later file;
* ~1% late events (``--late-rate``), delivered minutes to hours after their time;
* ~0.1% malformed lines (``--malformed-rate``), which the ingest must quarantine.

``python -m jobs.generate_events`` is its command line (:func:`generate`,
:func:`dimension_rows` and :func:`write_dimensions`).

With ``rate`` the files land on a clock (a steady stream); with ``day_seconds`` the rate
follows the design's evening peak on a compressed UTC day (:func:`utc_load`,
:func:`paced_rate`). The options and their use by ``bench/soak.py`` are documented once,
in the job's docstring (``python -m jobs.generate_events --help``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from jobs.core.rules.ids import session_uuid, stable_hex, stable_id
from jobs.core.storage.delta import arrow_schema
from jobs.core.tables.registry import get_spec

log = logging.getLogger("generate_events")

# Country -> UTC offset in hours (for the local evening peak) and weight.
COUNTRIES = {
    "US": (-5, 40),
    "BR": (-3, 12),
    "GB": (0, 10),
    "DE": (1, 8),
    "IN": (5, 10),
    "KR": (9, 6),
    "GT": (-6, 4),
    "KE": (3, 4),
    "CA": (-5, 6),
}
DEVICE_TYPES = (
    ("TV", 55),
    ("mobile", 20),
    ("web", 10),
    ("tablet", 8),
    ("streaming_stick", 5),
    ("console", 2),
)
# local hour-of-day weights: low overnight, a lunch bump, the evening peak
HOUR_WEIGHTS = [2, 1, 1, 1, 1, 1, 2, 3, 3, 3, 3, 4, 5, 5, 4, 4, 5, 6, 8, 10, 14, 15, 12, 6]


@dataclasses.dataclass(frozen=True)
class Item:
    """One playable item: a film or an episode, with its runtime in seconds."""

    title_id: int
    episode_id: int | None
    runtime_sec: int
    series: int | None  # index of the series, None for a film
    number: int  # episode number within the series (films: 0)


@dataclasses.dataclass
class Profile:
    """A generated viewer: its account, country, devices and next episode per series."""

    profile_id: int
    account_id: int
    country: str
    devices: list[str]
    cursor: dict  # series index -> next episode number
    device_types: dict = dataclasses.field(default_factory=dict)  # device_id -> class


@dataclasses.dataclass
class GenerateReport:
    """Counts of what :func:`generate` wrote (``seconds``: wall time)."""

    events: int = 0
    lines: int = 0
    sessions: int = 0
    duplicates: int = 0
    late: int = 0
    malformed: int = 0
    files: int = 0
    seconds: float = 0.0


def build_catalog(
    rng: random.Random, films: int, series: int, episodes_per_series: int
) -> list[Item]:
    """Films (80–150 min) and series episodes (20–60 min) with stable ids."""
    items = [
        Item(stable_id("gen-title", f"film-{i}"), None, rng.randint(80, 150) * 60, None, 0)
        for i in range(films)
    ]
    for s in range(series):
        title_id = stable_id("gen-title", f"series-{s}")
        length = rng.randint(20, 60) * 60
        items += [
            Item(title_id, stable_id("gen-episode", s, n), length + rng.randint(-120, 120), s, n)
            for n in range(1, episodes_per_series + 1)
        ]
    return items


def world(
    seed: int, accounts: int = 2000, profiles_per_account: int = 4
) -> tuple[random.Random, list[Item], list[Profile]]:
    """The seeded generator state: its random source, catalogue and profiles.

    :func:`generate` draws the events from here and :func:`dimension_rows` the
    dimensions, so both name the same profiles and titles for the same arguments.
    """
    rng = random.Random(seed)
    catalog = build_catalog(rng, films=300, series=120, episodes_per_series=20)
    return rng, catalog, build_profiles(rng, accounts, profiles_per_account)


def build_profiles(rng: random.Random, accounts: int, profiles_per_account: int) -> list[Profile]:
    """Accounts with a country, 1–N profiles and 1–4 devices each."""
    names, weights = zip(*((c, w) for c, (_, w) in COUNTRIES.items()), strict=True)
    dev_names, dev_weights = zip(*DEVICE_TYPES, strict=True)
    profiles = []
    for a in range(accounts):
        account_id = stable_id("gen-account", a)
        country = rng.choices(names, weights)[0]
        kinds = {}
        for d in range(rng.randint(1, 4)):
            kind = rng.choices(dev_names, dev_weights)[0]
            kinds[stable_hex("gen-device", a, d, kind)] = kind
        devices = list(kinds)
        for p in range(rng.randint(1, profiles_per_account)):
            profiles.append(
                Profile(stable_id("gen-profile", a, p), account_id, country, devices, {}, kinds)
            )
    return profiles


def _start_time(rng: random.Random, day: dt.datetime, country: str) -> dt.datetime:
    offset = COUNTRIES[country][0]
    local_hour = rng.choices(range(24), HOUR_WEIGHTS)[0]
    return day + dt.timedelta(hours=local_hour - offset, seconds=rng.randrange(3600))


def utc_load(hour: float) -> float:
    """The design's load at UTC ``hour`` (0–24, fractional): countries' local hour weights.

    Each country adds its weight times ``HOUR_WEIGHTS`` at its local hour, linearly
    interpolated between whole hours. The unit is arbitrary: compare with
    :func:`mean_utc_load`.
    """
    total = 0.0
    for offset, weight in COUNTRIES.values():
        local = (hour + offset) % 24
        low = int(local)
        frac = local - low
        total += weight * (HOUR_WEIGHTS[low] * (1 - frac) + HOUR_WEIGHTS[(low + 1) % 24] * frac)
    return total


def mean_utc_load() -> float:
    """The mean of :func:`utc_load` over the day (whole hours)."""
    return sum(utc_load(h) for h in range(24)) / 24


def paced_rate(rate: float, elapsed_sec: float, day_seconds: float | None) -> tuple[float, float]:
    """The feed's rate (events/s) after ``elapsed_sec`` wall seconds, and the simulated hour.

    Args:
        rate: mean rate, events per second.
        elapsed_sec: wall seconds since the feed began.
        day_seconds: wall seconds per simulated UTC day; None = a flat rate (hour 0).

    Returns:
        ``(events per second, simulated UTC hour 0–24)``.
    """
    if not day_seconds:
        return rate, 0.0
    hour = (elapsed_sec / day_seconds * 24) % 24
    return rate * utc_load(hour) / mean_utc_load(), hour


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def sessions(  # noqa: C901, PLR0912, PLR0915 - one session's story, top to bottom
    rng: random.Random,
    profiles: list[Profile],
    catalog: list[Item],
    start: dt.datetime,
    heartbeat_sec: int,
) -> Iterator[list[dict]]:
    """An endless stream of sessions (each a time-ordered list of event dicts)."""
    by_series: dict[int, list[Item]] = {}
    for item in catalog:
        if item.series is not None:
            by_series.setdefault(item.series, []).append(item)
    films = [i for i in catalog if i.series is None]
    resume: dict[tuple[int, int], int] = {}  # (profile, content) -> position
    follow_ups: list[tuple[Profile, Item, dt.datetime, str | None]] = []
    day = start
    n = 0
    while True:
        forced_device = None
        if follow_ups:
            # device switching mid-title, or a second session of the same profile at once
            profile, item, started, forced_device = follow_ups.pop()
        else:
            profile = profiles[rng.randrange(len(profiles))]
            if rng.random() < 0.7 and by_series:  # series are most of the watch time
                series = rng.randrange(len(by_series))
                number = profile.cursor.get(series, 1)
                eps = by_series[series]
                item = eps[min(number, len(eps)) - 1]
            else:
                item = films[rng.randrange(len(films))]
            started = _start_time(rng, day, profile.country)
        key = (profile.profile_id, item.episode_id or item.title_id)
        position = resume.get(key, 0)
        if position >= item.runtime_sec * 0.95:
            position = 0  # rewatch
        # about 2 h a day per active viewer: sessions of ~40 min on average
        watch = int(min(rng.expovariate(1 / 2400) + 60, item.runtime_sec - position))
        watch = max(watch, heartbeat_sec)
        device = forced_device or rng.choice(profile.devices)
        session_id = session_uuid(
            "gen", profile.profile_id, item.episode_id or item.title_id, _iso(started), n
        )
        base = {
            "session_id": session_id,
            "bitrate_kbps": None,
            "account_id": profile.account_id,
            "profile_id": profile.profile_id,
            "device_id": device,
            "title_id": item.title_id,
            "episode_id": item.episode_id,
            "country_code": profile.country,
            "is_supplemental": False,
            "is_autoplay": item.series is not None and rng.random() < 0.3,
            "runtime_sec": item.runtime_sec,
        }
        events = [
            {**base, "event_time": _iso(started), "event_type": "PLAY", "position_sec": position}
        ]
        for t in range(heartbeat_sec, watch, heartbeat_sec):
            kind = "HEARTBEAT"
            extra = {}
            roll = rng.random()
            if roll < 0.01:
                kind = "BITRATE_CHANGE"
                extra = {"bitrate_kbps": rng.choice([1500, 3000, 5800, 8000, 16000])}
            elif roll < 0.015:
                kind = "PAUSE"
            elif roll < 0.02:
                kind = "SEEK"
            events.append(
                {
                    **base,
                    **extra,
                    "event_time": _iso(started + dt.timedelta(seconds=t)),
                    "event_type": kind,
                    "position_sec": position + t,
                }
            )
        end_pos = position + watch
        abandoned = rng.random() < 0.02  # the app was killed: no END
        if not abandoned:
            events.append(
                {
                    **base,
                    "event_time": _iso(started + dt.timedelta(seconds=watch)),
                    "event_type": "END",
                    "position_sec": end_pos,
                }
            )
        resume[key] = end_pos
        if item.series is not None and end_pos >= item.runtime_sec * 0.95:
            profile.cursor[item.series] = item.number + 1
        others = [d for d in profile.devices if d != device]
        if others and rng.random() < 0.05 and end_pos < item.runtime_sec * 0.9:
            # device switching mid-title: go on from here on another device a few minutes later
            later = started + dt.timedelta(seconds=watch + rng.randint(60, 900))
            follow_ups.append((profile, item, later, rng.choice(others)))
        elif rng.random() < 0.02:
            # concurrent sessions on one profile: another title starts during this one
            during = started + dt.timedelta(seconds=rng.randrange(max(1, watch)))
            follow_ups.append((profile, films[rng.randrange(len(films))], during, None))
        n += 1
        if n % max(1, 3 * len(profiles)) == 0:  # ~3 sessions of ~40 min per viewer a day
            day += dt.timedelta(days=1)
        yield events


def generate(
    landing_dir: str,
    events: int,
    files: int,
    seed: int = 7,
    accounts: int = 2000,
    profiles_per_account: int = 4,
    start: dt.datetime = dt.datetime(2026, 1, 1),
    heartbeat_sec: int = 30,
    duplicate_rate: float = 0.005,
    late_rate: float = 0.01,
    malformed_rate: float = 0.001,
    rate: float | None = None,
    prefix: str = "gen",
    day_seconds: float | None = None,
    manifest: str | None = None,
) -> GenerateReport:
    """Write about ``events`` events into ``files`` landing files.

    Args:
        landing_dir: target folder (created).
        events: events to generate (whole sessions, so slightly more).
        files: number of files; events are spread evenly in time order.
        seed: random seed; the same seed gives the same files.
        accounts: generated accounts.
        profiles_per_account: at most this many profiles per account.
        start: first simulated day of the events (naive, UTC).
        heartbeat_sec: seconds of playback between HEARTBEATs.
        duplicate_rate: share of events re-sent (0–1).
        late_rate: share of events delivered late (0–1).
        malformed_rate: share of events followed by a truncated copy (0–1).
        rate: when set, write files on a clock at this many events per second.
        prefix: start of the file names (``{prefix}-{seed}-{index:06d}.jsonl``).
        day_seconds: with ``rate``, the compressed clock: one simulated UTC day per this
            many wall seconds, the rate following the evening peak (:func:`paced_rate`).
        manifest: a JSON Lines file that gets one line per landed file: ``file``,
            ``lines``, ``wall`` (epoch seconds right after the rename), ``rate``
            (events/s then) and ``sim_hour``. Pacing never changes the files' content.

    Returns:
        Counts of what was written.

    Raises:
        ValueError: non-positive ``events``/``files``/``day_seconds`` or a rate outside 0–1.
    """
    _check_arguments(events, files, duplicate_rate, late_rate, malformed_rate, day_seconds)
    t0 = time.monotonic()
    rng, catalog, profiles = world(seed, accounts, profiles_per_account)
    report = GenerateReport()
    per_file = math.ceil(events / files)
    current: list[str] = []
    carry: list[tuple[int, str]] = []  # (file index due, line): late and re-sent lines
    file_index = 0

    def flush() -> None:
        nonlocal current, file_index
        due = [line for (i, line) in carry if i <= file_index]
        carry[:] = [(i, line) for (i, line) in carry if i > file_index]
        lines = current + due
        path = Path(landing_dir) / f"{prefix}-{seed}-{file_index:06d}.jsonl"
        _write_lines(path, lines)
        now_rate, hour = paced_rate(rate or 0.0, time.monotonic() - t0, day_seconds)
        if manifest:
            entry = {
                "file": path.name,
                "lines": len(lines),
                "wall": time.time(),
                "rate": round(now_rate, 1),
                "sim_hour": round(hour, 2),
            }
            with open(manifest, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry) + "\n")
        report.lines += len(lines)
        report.files += 1
        file_index += 1
        current = []
        if rate:
            time.sleep(max(0.0, len(lines) / now_rate))

    for session in sessions(rng, profiles, catalog, start, heartbeat_sec):
        report.sessions += 1
        for e in session:
            line = json.dumps(e, separators=(",", ":"))
            report.events += 1
            roll = rng.random()
            if roll < late_rate:
                carry.append((file_index + rng.randint(1, 20), line))
                report.late += 1
            else:
                current.append(line)
            if rng.random() < duplicate_rate:
                carry.append((file_index + rng.randint(0, 3), line))
                report.duplicates += 1
            if rng.random() < malformed_rate:
                current.append(line[: rng.randint(1, max(1, len(line) - 1))])
                report.malformed += 1
        if len(current) >= per_file:
            flush()
        if report.events >= events:
            break
    # what is still due later (late and re-sent lines) goes into the last file
    current += [line for _, line in carry]
    carry.clear()
    if current:
        flush()
    report.seconds = time.monotonic() - t0
    return report


def _check_arguments(
    events: int,
    files: int,
    duplicate_rate: float,
    late_rate: float,
    malformed_rate: float,
    day_seconds: float | None,
) -> None:
    if events <= 0 or files <= 0:
        raise ValueError("--events and --files must be positive")
    for name, value in (
        ("duplicate", duplicate_rate),
        ("late", late_rate),
        ("malformed", malformed_rate),
    ):
        if not 0 <= value < 1:
            raise ValueError(f"--{name}-rate must be in [0, 1), got {value}")
    if day_seconds is not None and day_seconds <= 0:
        raise ValueError(f"--day-seconds must be positive, got {day_seconds}")


def dimension_rows(
    seed: int = 7, accounts: int = 2000, profiles_per_account: int = 4
) -> dict[str, list[dict]]:
    """Rows of ``account``, ``profile``, ``device``, ``title`` and ``episode`` for the feed.

    The same arguments as :func:`generate` give the ids its events carry. Films are
    ``FILM`` titles with their runtime (seconds), series ``SERIES`` titles with one
    season of episodes (runtime in seconds).
    """
    _, catalog, profiles = world(seed, accounts, profiles_per_account)
    rows: dict[str, list[dict]] = {
        "account": [],
        "profile": [],
        "device": [],
        "title": [],
        "episode": [],
    }
    seen_accounts: set[int] = set()
    seen_devices: set[str] = set()
    for n, p in enumerate(profiles):
        if p.account_id not in seen_accounts:
            seen_accounts.add(p.account_id)
            rows["account"].append(
                {"account_id": p.account_id, "account_label": f"gen-{p.account_id}"}
            )
        rows["profile"].append(
            {
                "profile_id": p.profile_id,
                "account_id": p.account_id,
                "profile_name": f"Viewer {n}",
                "country_code": p.country,
            }
        )
        for d in p.devices:
            if d not in seen_devices:
                seen_devices.add(d)
                kind = p.device_types.get(d, "other")
                rows["device"].append(
                    {"device_id": d, "account_id": p.account_id, "device_type": kind}
                )
    series_seen: set[int] = set()
    for item in catalog:
        if item.series is None:
            rows["title"].append(
                {
                    "title_id": item.title_id,
                    "title_name": f"Generated Film {item.title_id % 100000}",
                    "title_type": "FILM",
                    "runtime_sec": item.runtime_sec,
                }
            )
            continue
        if item.series not in series_seen:
            series_seen.add(item.series)
            rows["title"].append(
                {
                    "title_id": item.title_id,
                    "title_name": f"Generated Series {item.series}",
                    "title_type": "SERIES",
                }
            )
        rows["episode"].append(
            {
                "episode_id": item.episode_id,
                "title_id": item.title_id,
                "season_label": "Season 1",
                "season_number": 1,
                "episode_number": item.number,
                "episode_title": f"Episode {item.number}",
                "runtime_sec": item.runtime_sec,
            }
        )
    return rows


def write_dimensions(tables_dir: str, rows: dict[str, list[dict]]) -> dict[str, int]:
    """Upsert :func:`dimension_rows` into their Delta tables with delta-rs (merge on the key).

    Returns:
        Rows given per table.
    """
    out = {}
    for name, data in rows.items():
        spec = get_spec(name)
        schema = arrow_schema(spec.schema)
        table = pa.Table.from_pylist([{c: r.get(c) for c in schema.names} for r in data], schema)
        path = str(Path(tables_dir) / name)
        if not (Path(path) / "_delta_log").is_dir():
            write_deltalake(path, table, mode="append", configuration=spec.properties or None)
        else:
            on = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
            (
                DeltaTable(path)
                .merge(table, on, source_alias="s", target_alias="t")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute()
            )
        out[name] = len(data)
    return out


def _write_lines(path: Path, lines: list[str]) -> None:
    """Atomic write of ready-made JSON lines: a hidden temp file, then a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
        if lines:
            fh.write("\n")
    os.replace(tmp, path)
