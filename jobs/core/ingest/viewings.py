"""One row of a Netflix viewing-activity export as a viewing, and its playback events.

Each CSV row is one viewing (:class:`Viewing`: times UTC, durations in seconds, stable
ids). It becomes one playback session of synthetic events, in the landing contract
(:data:`jobs.core.tables.registry.LANDING_EVENT_SCHEMA`):

* ``PLAY`` at Start Time, at position ``max(0, Bookmark - Duration)``;
* ``HEARTBEAT`` every ``heartbeat_sec`` seconds of playback (position advancing with
  it, never past the Bookmark);
* ``END`` at Start Time + Duration, at position Bookmark (a zero-length viewing has
  only its END).

A viewing's identity comes from its content
(:func:`jobs.core.ingest.netflix_export.viewing_identity`), and its ``session_id``
derives from it and the account label, so a spreadsheet re-save or a later re-download
of the export gives the viewing the same session id.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, replace

from jobs.core.ingest.netflix_export import (
    REQUIRED_COLUMNS,
    ParsedTitle,
    ParseError,
    check_duration,
    classify_device,
    is_autoplay,
    normalize_name,
    parse_country,
    parse_hms,
    parse_start_time,
    parse_title,
    viewing_identity,
)
from jobs.core.ingest.staging import dumps
from jobs.core.rules.ids import session_uuid, stable_hex, stable_id

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
    prefix = dumps(_shared_fields(v, runtime_sec))[:-1] + ',"event_time":"'
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
