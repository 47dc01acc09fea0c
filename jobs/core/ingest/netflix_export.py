"""Pure-Python parsers for Netflix ``ViewingActivity.csv`` exports.

Netflix's "Download your personal information" export holds one row per viewing with
the columns ``Profile Name, Start Time, Duration, Attributes, Title,
Supplemental Video Type, Device Type, Bookmark, Latest Bookmark, Country``. This module
turns the free-text columns into typed values. It uses the standard library only (no
Spark), so the same rules can run inside a Spark UDF, a batch job or a unit test.

Every rule below was written against the four real exports described in
``/work/shared/data/README.md`` (households in GT, CA/KR/HK, KE and a spreadsheet-resaved
US file) and is checked over every row of them by
``tests/jobs/core/ingest/test_netflix_export.py``.

Public API:
    ParseError, parse_start_time, parse_hms, parse_country, is_autoplay,
    normalize_name, ParsedTitle, parse_title, DEVICE_TYPES, classify_device,
    title_stats.
"""

from __future__ import annotations

import codecs
import csv
import datetime as _dt
import hashlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "DATE_ORDERS",
    "DEVICE_TYPES",
    "REQUIRED_COLUMNS",
    "ExportFingerprint",
    "check_duration",
    "detect_encoding",
    "detect_separator",
    "identity_conflicts",
    "is_iso_start_time",
    "ParseError",
    "ParsedTitle",
    "classify_device",
    "is_autoplay",
    "normalize_name",
    "parse_country",
    "parse_hms",
    "parse_start_time",
    "parse_title",
    "start_time_day_first",
    "start_time_order",
    "title_stats",
    "viewing_identity",
]

# --------------------------------------------------------------------------------------
# Device rules: ONE ordered table, first match wins. Patterns are case-insensitive and
# matched with re.search against the raw ``Device Type`` string.
#
# Order matters:
#   * consoles first (no console string names a TV or phone);
#   * built-in smart TVs before sticks, so 'Roku Longview HDR10 Smart TV' (a Roku TV set)
#     and 'Sony Sony Android TV 2017 Smart TV' are TVs, not a stick / a phone;
#   * sticks and boxes before the generic 'TV' rule, so 'Amazon Fire TV Stick 2020 +
#     Streaming Stick' and 'Apple TV' are streaming_stick;
#   * tablets before phones; phones before web, so a phone browser stays mobile;
#   * web before the generic TV/brand rule; 'Netflix Windows App - Cadmium Windows Mobile'
#     (the Windows desktop app, which runs Netflix's Cadmium HTML5 player) is 'web':
#     DEVICE_TYPES has no 'desktop' class, so 'web' means "a computer: browser or
#     desktop app".
#   * 'streaming_stick' also covers other external boxes plugged into a TV: operator
#     set-top boxes ('Verizon Fios VMS MVPD STB', 'STB', 'Bell Canada ... Set Top Box',
#     'Roku Tyler Set Top Box') and Blu-ray / home-theatre players.
# --------------------------------------------------------------------------------------
DEVICE_TYPES = ("TV", "mobile", "tablet", "web", "console", "streaming_stick", "other")

_DEVICE_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(pattern, re.IGNORECASE))
    for kind, pattern in (
        # Sony PS3/PS4/PS5 ('Sony PS4 Pro'), Xbox ('Microsoft Xbox One'),
        # Nintendo ('WiiU', 'Wii Bowser', 'Nintendo Switch').
        ("console", r"playstation|\bps[2-5]\b|\bps ?vita\b|xbox|\bwii|nintendo|\b3ds\b"),
        # Sets with the Netflix app built in: 'Samsung CE 2019 Muse-L UHD TV Smart TV',
        # 'LG 2016 MStar M2 Low DTV Smart TV', 'Sony Sony Android TV 2017 Smart TV'.
        ("TV", r"smart ?tv|\bdtv\b|\buhd ?tv\b|android ?tv\b(?! ?box)|\btv set\b"),
        # Sticks, streaming players, operator set-top boxes, disc players.
        (
            "streaming_stick",
            r"fire ?tv|firetvstick|streaming (?:stick|player|media)|chromecast|google tv"
            r"|apple ?tv|\broku\b|set[- ]?top|\bstb\b|mvpd|nvidia shield|\btivo\b"
            r"|blu-?ray|home theater|\bbd/hts\b|\bmi ?box\b|media player",
        ),
        # 'iPad Air 2 WiFi', 'Apple iPad Pro 11 inch 1st Gen Wi-Fi iPad', Kindle/Fire HD.
        ("tablet", r"ipad|tablet|kindle|\bfire ?hd\b|galaxy ?tab"),
        # 'Apple iPhone 12', 'iPhone 12 Mini', 'Android DefaultWidevineL3Phone Android
        # Phone', 'DefaultWidevineAndroidPhone (samsung_SM-G950U)'.
        ("mobile", r"phone|ipod|android"),
        # Browsers and computers: 'Chrome PC (Cadmium)', 'Netflix Chrome MAC (Cadmium)
        # HTML 5', 'Edge (Cadmium)', 'Internet Explorer (Cadmium)', 'Netflix Opera Other',
        # 'Chrome OS (Cadmium)', 'Windows 8 x64 devices', 'PC'.
        (
            "web",
            r"cadmium|html ?5|chrome|firefox|safari|opera|\bedge\b|internet explorer"
            r"|windows|\bmac(?:os)?\b|\bpc\b|linux|browser",
        ),
        # Remaining TVs: user-renamed sets ('Worlds Best TV', 'Worlds 4th Best TV') and
        # TV brands without a 'Smart TV' tag.
        (
            "TV",
            r"\btv\b|television|\bsamsung\b|\blg\b|\bsony\b|vizio|hisense|\btcl\b"
            r"|panasonic|philips|sharp|toshiba",
        ),
    )
)

# --------------------------------------------------------------------------------------
# Title vocabulary (English, Spanish, Portuguese, Polish, plus a few more Netflix UI
# languages). Sources: the 'Title' column of the four real exports ('Season 5',
# 'Temporada 3', 'Limited Series', 'Miniserie', 'Volume 3', 'Volumen 1', 'Part 2',
# 'Parte I', 'Book 1', 'Book One', 'Series 1', 'Collection 8', '(Episode 4)',
# '(Capítulo 1)') and Netflix's localized UI ('Episódio', 'Minissérie', 'Sezon',
# 'Odcinek', 'Miniserial', 'Część').
# --------------------------------------------------------------------------------------
_WORD_NUMBERS = {
    # English
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
    # Spanish
    "uno": 1, "una": 1, "dos": 2, "tres": 3, "cuatro": 4, "cinco": 5, "seis": 6,
    "siete": 7, "ocho": 8, "nueve": 9, "diez": 10,
    # Portuguese
    "um": 1, "dois": 2, "duas": 2, "três": 3, "quatro": 4, "sete": 7, "oito": 8,
    "nove": 9, "dez": 10,
    # Polish
    "jeden": 1, "dwa": 2, "trzy": 3, "cztery": 4, "pięć": 5,
}  # fmt: skip

_NUM = r"(?P<num>\d{1,4}|[ivxlc]{1,7}|[^\W\d_]{2,7})"
_EPISODE_WORDS = (
    r"episode|episodio|episódio|epis[oó]dio|cap[ií]tulo|odcinek|épisode|folge"
    r"|aflevering|afsnit|avsnitt|jakso|epizoda|epizód|bölüm|episod"
)
# '(Episode 4)', '(Capítulo 1)', '(Episódio 3)', '(Odcinek 2)' at the very end.
_EPISODE_SUFFIX_RE = re.compile(
    rf"\s*\((?:{_EPISODE_WORDS})\s+(?P<num>\d{{1,5}})\)\s*$", re.IGNORECASE
)
# A last segment that is only an episode number: 'Episode 59' (ONE PIECE),
# 'Episodio 1' (Spanish miniseries), 'Episode One' (DAHMER).
_EPISODE_SEGMENT_RE = re.compile(rf"^(?:{_EPISODE_WORDS})\s+{_NUM}$", re.IGNORECASE)
# ... or starts with one: 'EPISODE.01 121045' (The Promised Neverland), 'Episode #7597'
# (Jeopardy!), 'Episode 13 (OVA)' (Dorohedoro).
_EPISODE_LOOSE_RE = re.compile(
    rf"^(?:{_EPISODE_WORDS})\s*[.#]?\s*(?P<num>\d{{1,5}})\b", re.IGNORECASE
)

# Season-like segments. Each pattern is matched (fullmatch, case-insensitive) against
# one ': '-separated segment. Strong markers are trusted anywhere after the first
# segment; 'Chapter N' is weak (it is usually an episode name: 'Cable Girls: Season 1:
# Chapter 1: Dreams') and only used when no strong marker exists.
_TAIL = r"(?:\s*[-–]\s*.+|\s+part\s+\w+)?"  # 'Temporada 1 - Secrets of ...', 'Season 2 Part A'
_SEASON_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (kind, re.compile(p, re.IGNORECASE))
    for kind, p in (
        (
            "season",
            rf"(?:season|temporada|sezon|series|saison|staffel|stagione|seizoen|säsong"
            rf"|sæson|sesong)\s+{_NUM}{_TAIL}",
        ),
        ("final", r"(?:the\s+)?final\s+season(?:\s+part\s+\w+)?"),
        (
            "limited",
            r"(?:the\s+\w+\s+)?(?:limited\s+series|mini-?series|miniserie|minissérie"
            r"|minisérie|miniserial|serial\s+limitowany|série\s+limitée)",
        ),
        ("volume", rf"(?:volume|volumen|vol\.?)\s+{_NUM}"),
        ("part", rf"(?:part|parte|część|partie|teil)\s+{_NUM}"),
        ("book", rf"(?:book|libro|livro|księga)\s+{_NUM}"),
        ("collection", rf"(?:collection|colección|coleção|kolekcja)(?:\s+{_NUM})?"),
    )
)
_WEAK_MARKERS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("chapter", re.compile(rf"(?:chapter|rozdział)\s+{_NUM}", re.IGNORECASE)),
)

# Extras whose 'Supplemental Video Type' cell is empty in the real data:
# 'Flirting Scholar_hook_01_16x9', 'South Park: Season 16_hook_primary_16x9',
# 'Trailer: From Scratch', 'Trailer 2: The Stranger', 'Plot Clip: The Stranger',
# 'The Blacklist: Season 1 - Upper Bound Clip 6'.
_EXTRA_TITLE_RES = (
    re.compile(r"_hook(?:_\w+)?$|_\d+x\d+$", re.IGNORECASE),
    re.compile(
        r"^[^:]*\b(?:trailer|tráiler|teaser|avance|clip|featurette)(?:\s+\d+)?"
        r"(?:\s*\([^)]*\))?:\s",
        re.IGNORECASE,
    ),
    re.compile(r"\s-\s[^:]*\bclip\s*\d*$", re.IGNORECASE),
    re.compile(r"\((?:trailer|tráiler|teaser|avance|clip|recap)(?:\s+\d+)?\)$", re.IGNORECASE),
)

_SEGMENT_SPLIT_RE = re.compile(r":\s+")
_ROMAN_RE = re.compile(r"^M{0,3}(CM|CD|D?C{0,3})(XC|XL|L?X{0,3})(IX|IV|V?I{0,3})$")
_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
_TRAILING_NUMBER_RE = re.compile(r"^(?P<stem>.+?)\s+(?P<num>\d{1,3}|[IVXLC]{1,7})$")

# Timestamps seen in the exports (all UTC): '2023-01-25 21:08:18' (household-gt, -ke),
# '2018-09-21 0:29' (household-ca-kr-hk: no seconds, 1-digit hour), '1/16/2020 14:19'
# (household-us-excel: m/d/Y from a spreadsheet); ISO 'T' separator and a trailing 'Z'
# are tolerated for other tools. A spreadsheet re-save writes the saving machine's
# locale: month-first or day-first, '/', '.' or '-' between the parts, two- or
# four-digit years, with or without seconds, 24-hour or AM/PM.
_ISO_TS_RE = re.compile(
    r"^(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})[T ](?P<h>\d{1,2}):(?P<mi>\d{2})"
    r"(?::(?P<s>\d{2}))?Z?$"
)
_LOCALE_TS_RE = re.compile(
    r"^(?P<a>\d{1,2})(?P<sep>[/.-])(?P<b>\d{1,2})(?P=sep)(?P<y>\d{4}|\d{2}),?[T ]+"
    r"(?P<h>\d{1,2}):(?P<mi>\d{2})(?::(?P<s>\d{2}))?(?:\s*(?P<ampm>[AaPp]\.?[Mm]\.?))?$"
)
_HMS_RE = re.compile(r"^(?P<h>\d{1,3}):(?P<m>[0-5]\d):(?P<s>[0-5]\d)$")
_COUNTRY_RE = re.compile(r"^(?P<code>[A-Za-z]{2})(?:\s*\(.*\))?$")

_QUOTES = str.maketrans(
    {
        "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
        "\u00b4": "'", "\u0060": "'",
        "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"',
        "\u00ab": '"', "\u00bb": '"',
    }
)  # fmt: skip
_ZERO_WIDTH_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff]")
_WS_RE = re.compile(r"\s+")


class ParseError(ValueError):
    """A field of a ViewingActivity row could not be parsed.

    The message names the field, repeats the offending value and says what was
    expected, e.g. ``Start Time: '25/01/2023' is not one of 'YYYY-MM-DD H:MM[:SS]'
    or 'M/D/YYYY H:MM[:SS]'``.
    """


# ------------------------------------------------------------------------ scalar fields
def _full_year(text: str) -> int:
    """A four-digit year, or a two-digit one pivoted like POSIX strptime (69-99 -> 19xx)."""
    year = int(text)
    if len(text) == 2:
        year += 1900 if year >= 69 else 2000
    return year


def parse_start_time(s: str, day_first: bool = False) -> _dt.datetime:
    """Parse the ``Start Time`` column into a timezone-aware UTC datetime.

    The exports write naive timestamps in UTC (README of the data folder). Accepted
    forms:

    * ``'2023-01-25 21:08:18'`` -- Netflix's own form (household-gt, household-ke);
    * ``'2018-09-21 0:29'`` -- no seconds, 1-digit hour (household-ca-kr-hk);
    * ``'1/16/2020 14:19'`` -- month/day/year re-saved by a spreadsheet
      (household-us-excel); also ``'1/16/20 2:19 PM'``, ``'1-16-2020 14:19:05'``;
    * with ``day_first``: ``'16/1/2020 14:19'``, ``'16.01.20 14:19'`` (a European
      locale's re-save; which order a file uses is decided over the whole file by
      :func:`start_time_day_first`);
    * the ISO ``'T'`` separator (``'2023-01-25T21:08:18'``), optionally with ``'Z'``.

    Missing seconds are 0; two-digit years 00-68 are 20xx, 69-99 19xx.

    Args:
        s: The raw cell. Surrounding whitespace is ignored.
        day_first: read a non-ISO ``A/B/Y`` date as day/month (default month/day).

    Returns:
        A ``datetime`` with ``tzinfo=datetime.timezone.utc``, second resolution.

    Raises:
        ParseError: ``s`` is empty, has another shape, or names an impossible date or
            time (``'2023-02-30 10:00'``, ``'2023-01-01 24:00'``, ``'13:00 PM'``).
    """
    text = (s or "").strip()
    m = _ISO_TS_RE.match(text)
    if m:
        year, month, day, hour = int(m["y"]), int(m["mo"]), int(m["d"]), int(m["h"])
    elif m := _LOCALE_TS_RE.match(text):
        year, hour = _full_year(m["y"]), int(m["h"])
        month, day = (int(m["b"]), int(m["a"])) if day_first else (int(m["a"]), int(m["b"]))
        if m["ampm"]:
            if not 1 <= hour <= 12:
                raise ParseError(f"Start Time: {s!r} has hour {hour} with AM/PM")
            hour = hour % 12 + (12 if m["ampm"][0] in "Pp" else 0)
    else:
        order = "D/M/Y" if day_first else "M/D/Y"
        raise ParseError(
            f"Start Time: {s!r} is not one of 'YYYY-MM-DD H:MM[:SS]' (also with 'T') "
            f"or '{order} H:MM[:SS] [AM|PM]' (year YY or YYYY; '/', '.' or '-')"
        )
    try:
        return _dt.datetime(year, month, day, hour, int(m["mi"]), int(m["s"] or 0), tzinfo=_dt.UTC)
    except ValueError as exc:
        raise ParseError(f"Start Time: {s!r} is not a valid calendar time ({exc})") from exc


DATE_ORDERS = ("auto", "month-first", "day-first")


def start_time_order(values: Iterable[str]) -> str | None:
    """The day/month order a file's non-ISO ``Start Time`` values prove, if any.

    A spreadsheet writes every row of a file in one locale, so the order is decided
    per file: ``'day-first'`` when some value's first part is above 12 (it cannot be a
    month), ``'month-first'`` when some value's second part is above 12, ``None`` when
    every date is ambiguous (both parts <= 12, or no non-ISO value at all).

    Args:
        values: The file's ``Start Time`` cells (ISO and unparseable ones are skipped).

    Returns:
        ``'day-first'``, ``'month-first'`` or ``None`` (undecided).

    Raises:
        ParseError: the file holds both a first part and a second part above 12
            (it mixes day-first and month-first dates, so neither reading is safe).
    """
    first_big = second_big = None
    for raw in values:
        m = _LOCALE_TS_RE.match((raw or "").strip())
        if not m:
            continue
        if int(m["a"]) > 12:
            first_big = first_big or raw
        if int(m["b"]) > 12:
            second_big = second_big or raw
        if first_big and second_big:
            raise ParseError(
                f"Start Time: the file mixes day-first ({first_big!r}) and month-first "
                f"({second_big!r}) dates; re-export it or save it with one date format"
            )
    if first_big is not None:
        return "day-first"
    return "month-first" if second_big is not None else None


def start_time_day_first(values: Iterable[str]) -> bool:
    """Decide whether a file's non-ISO ``Start Time`` values are day-first.

    Day-first only when :func:`start_time_order` proves it; month-first otherwise, the
    form seen in the real re-saved export (household-us-excel), which also covers files
    where every date is ambiguous (all days <= 12; the importer warns about those).

    Args:
        values: The file's ``Start Time`` cells (ISO and unparseable ones are skipped).

    Returns:
        ``True`` for day-first.

    Raises:
        ParseError: the file mixes day-first and month-first dates.
    """
    return start_time_order(values) == "day-first"


def viewing_identity(
    profile_name: str,
    start: _dt.datetime,
    title: str,
    duration_sec: int,
    device: str,
    bookmark_sec: int,
    ordinal: int = 0,
) -> str:
    """The content identity of one viewing, as a spreadsheet re-save keeps it.

    A re-save may drop the seconds of ``Start Time`` (``M/D/YY H:MM``), swap day and
    month, change the encoding, the separator, the row order or the whitespace and
    quotes of a name, and a later re-download of the same account rewrites ``Latest
    Bookmark`` (``'Not latest view'``). The identity therefore uses only what survives
    all of those: the normalized profile name, the start truncated to the minute (UTC),
    the normalized title, the Duration and Bookmark (seconds), the normalized device and
    ``ordinal``, which tells apart genuine viewings sharing all of these (same-minute
    starts are common in household-ca-kr-hk: the n-th such row of a file gets n).
    The account label is not part of it, so the same viewing under two labels is seen.

    Args:
        profile_name: The ``Profile Name`` cell.
        start: The parsed ``Start Time`` (timezone-aware UTC).
        title: The raw ``Title`` cell.
        duration_sec: The Duration in seconds.
        device: The ``Device Type`` cell.
        bookmark_sec: The Bookmark in seconds.
        ordinal: 0 for the first viewing of a file with this content, 1 for the next...

    Returns:
        32 hex characters (BLAKE2b-128 of the normalized fields).
    """
    minute = start.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
    text = "\x1f".join(
        [
            normalize_name(profile_name),
            minute,
            normalize_name(title),
            str(duration_sec),
            normalize_name(device) or "unknown",
            str(bookmark_sec),
            str(ordinal),
        ]
    )
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def is_iso_start_time(s: str) -> bool:
    """Whether ``s`` is in Netflix's own ISO form (no day/month order to decide)."""
    return _ISO_TS_RE.match((s or "").strip()) is not None


def parse_hms(s: str) -> int:
    """Parse an ``H:MM:SS`` / ``HH:MM:SS`` duration into whole seconds.

    Used for ``Duration``, ``Bookmark`` and ``Latest Bookmark`` (the latter also holds
    the literal ``'Not latest view'``, which callers must test for first). The exports
    write ``'00:18:40'`` (household-gt, -ke) or ``'0:04:30'`` (household-ca-kr-hk,
    -us-excel).

    Args:
        s: The raw cell, e.g. ``'1:31:23'``. Surrounding whitespace is ignored.

    Returns:
        The duration in seconds (``'1:31:23'`` -> ``5483``), always >= 0.

    Raises:
        ParseError: ``s`` is empty, not three ':'-separated fields, or minutes/seconds
            are not two digits in 00..59.
    """
    text = (s or "").strip()
    m = _HMS_RE.match(text)
    if not m:
        raise ParseError(f"duration: {s!r} is not 'H:MM:SS' (hours 1-3 digits, MM/SS 00-59)")
    return int(m["h"]) * 3600 + int(m["m"]) * 60 + int(m["s"])


def parse_country(s: str) -> str | None:
    """Extract the ISO 3166-1 alpha-2 code from the ``Country`` column.

    The exports write ``'GT (Guatemala)'``, ``'KR (Korea, Republic of)'``; a bare
    ``'US'`` is accepted too.

    Args:
        s: The raw cell.

    Returns:
        The upper-case two-letter code (``'GT'``), or ``None`` when the cell is empty
        or does not start with exactly two letters (the code is not checked against
        the ISO list). Never raises.
    """
    m = _COUNTRY_RE.match((s or "").strip())
    return m["code"].upper() if m else None


def is_autoplay(attributes: str) -> bool:
    """Tell whether Netflix started this viewing by itself.

    The ``Attributes`` column holds ``'; '``-terminated flags such as
    ``'Autoplayed: user action: None; '``, ``'Autoplayed: user action: Unspecified; '``
    or ``'Has branched playback; '``. Any ``Autoplayed`` flag means autoplay,
    whatever the user action was.

    Args:
        attributes: The raw cell (may be empty or ``None``).

    Returns:
        ``True`` when it contains ``'Autoplayed'`` (case-insensitive), else ``False``.
    """
    return "autoplayed" in (attributes or "").casefold()


def normalize_name(s: str) -> str:
    r"""Normalize a name (profile, title, series) for use in stable ids and joins.

    Steps: Unicode NFKC; curly/angle quotes to straight ``'`` and ``"``; zero-width
    characters removed; every Unicode whitespace (including the non-breaking space in
    ``'Za duży na\\u00a0bajki'``, see NOTES.md) becomes a space; casefold; runs of
    spaces collapsed; ends stripped. Accents are kept (``'Días'`` stays distinct from
    ``'Dias'``).

    Args:
        s: Any string (``None`` is treated as empty).

    Returns:
        The normalized string; ``''`` for empty or whitespace-only input.
    """
    text = unicodedata.normalize("NFKC", s or "")
    text = text.translate(_QUOTES)
    text = _ZERO_WIDTH_RE.sub("", text)
    text = text.casefold()
    return _WS_RE.sub(" ", text).strip()


# ---------------------------------------------------------------------------- titles
@dataclass(frozen=True)
class ParsedTitle:
    """The ``Title`` column split into series / season / episode.

    Attributes:
        raw: The title exactly as in the export.
        kind: ``'EPISODE'``, ``'FILM'`` or ``'SUPPLEMENTAL'`` (trailer, hook, recap...).
        title_name: Series name for episodes, film name for films, the whitespace-
            collapsed raw title for supplementals. Never empty.
        season_label: The season segment as written (``'Season 5'``, ``'Temporada 3'``,
            ``'Limited Series'``, ``'Volume 3'``, ``'Book One'``, ``'Stranger Things 3'``,
            ``'East Blue'``); ``None`` for films, supplementals and episodes without one.
        season_number: 5, 3, 1 (Limited Series / Miniserie), 3 (Volume 3), 2 (Part 2),
            1 (Book One / Chapter One / Parte I), 3 ('Stranger Things 3'); ``None`` when
            the label carries no number ('East Blue', 'The Final Season Part 1').
        episode_title: Text after the season segment, without the episode suffix;
            ``None`` if there is none.
        episode_number: From a ``(Episode 4)``-style suffix or a last segment
            ``'Episode 59'``; ``None`` if absent.
    """

    raw: str
    kind: str
    title_name: str
    season_label: str | None = None
    season_number: int | None = None
    episode_title: str | None = None
    episode_number: int | None = None


def _to_int(token: str | None) -> int | None:
    """Digits, an upper/lower-case roman numeral or a number word -> int, else None."""
    if not token:
        return None
    if token.isdigit():
        return int(token)
    upper = token.upper()
    if _ROMAN_RE.match(upper):
        total = 0
        for ch, nxt in zip(upper, upper[1:] + " ", strict=True):
            value = _ROMAN_VALUES[ch]
            total += -value if nxt != " " and _ROMAN_VALUES[nxt] > value else value
        return total
    return _WORD_NUMBERS.get(token.casefold())


def _match_marker(segment: str, markers) -> tuple[str, int | None] | None:
    """Return (marker kind, season number) when ``segment`` is a season marker."""
    for kind, pattern in markers:
        m = pattern.fullmatch(segment)
        if not m:
            continue
        if kind in ("limited",):
            return kind, 1
        if kind == "final":
            return kind, None
        token = m.groupdict().get("num")
        number = _to_int(token)
        if token and number is None and not token.isdigit():
            # 'Part Time', 'Season Finale': a word that is not a number -> not a marker.
            continue
        return kind, number
    return None


def _repeat_marker(segment: str, previous: str) -> tuple[str, int | None] | None:
    """Detect a season named after its series.

    Real cases: 'DEATH NOTE: Death Note: ...', 'Cells at Work!: Cells At Work!: ...'
    (same name), 'Stranger Things: Stranger Things 3: ...', 'Haikyu!!: Haikyu!! II: ...',
    'Kakegurui: Kakegurui xx: ...' (name + suffix), 'Beyond Stranger Things: Beyond 2:
    ...' (first word(s) + number).
    """
    seg, prev = segment.casefold(), previous.casefold()
    trailing = _TRAILING_NUMBER_RE.match(segment)
    number = _to_int(trailing["num"]) if trailing else None
    if seg == prev:
        return "repeat", None
    if seg.startswith(prev + " ") and len(seg.split()) - len(prev.split()) <= 2:
        return "repeat", number
    if trailing and number is not None:
        stem = trailing["stem"].casefold()
        if prev == stem or prev.startswith(stem + " "):
            return "repeat", number
    return None


def _is_extra_title(title: str) -> bool:
    return any(p.search(title) for p in _EXTRA_TITLE_RES)


def _dedupe(parts: list[str]) -> str:
    """Join series segments, dropping a segment that repeats the previous one."""
    kept: list[str] = []
    for part in parts:
        if not kept or kept[-1].casefold() != part.casefold():
            kept.append(part)
    return ": ".join(kept)


def parse_title(title: str, supplemental_type: str = "") -> ParsedTitle:
    """Split a ``Title`` cell into series, season and episode.

    Netflix writes episodes as ``'<Series>: <Season>: <Episode title> (Episode K)'`` in
    the member's language, where the series and the episode title may themselves hold
    ``': '``. Rules, in order:

    1. A non-empty ``supplemental_type`` (``TRAILER``, ``HOOK``, ``RECAP``...) ->
       ``SUPPLEMENTAL``. So are titles that are extras by their own shape even with an
       empty type cell, seen in the real data: ``'..._hook_primary_16x9'``,
       ``'Trailer: From Scratch'``, ``'Plot Clip: The Stranger'``,
       ``'The Blacklist: Season 1 - Upper Bound Clip 6'``.
    2. A trailing ``(Episode K)`` / ``(Capítulo K)`` / ``(Episódio K)`` /
       ``(Odcinek K)`` / ``(Episodio K)`` gives ``episode_number`` and is removed.
    3. The rest is split on ``': '``. The first segment after the first one that is a
       season marker and is followed by at least one more segment becomes
       ``season_label``: ``Season|Temporada|Sezon|Series N``, ``Limited Series``/
       ``Miniserie``/``Minissérie``/``Miniserial`` (season 1), ``Volume|Volumen|Vol. N``,
       ``Part|Parte|Część N``, ``Book|Libro N``, ``Collection [N]``, ``The Final Season
       [Part N]``, or a season named after the series (``'Stranger Things 3'``,
       ``'Haikyu!! II'``, ``'Death Note'``). Numbers may be digits, roman numerals
       (``Parte I``) or words (``Book One``, ``Part Two``). ``Chapter N`` counts only
       when no other marker exists. Segments before the marker are the series (a
       directly repeated segment is dropped: ``'Blue Planet II: Blue Planet II: Season
       1'``), segments after it the episode title.
    4. A marker in the last segment is not a season: without an episode number it is a
       film's sequel label and the title stays whole (``'Nymphomaniac: Volume 1'``,
       ``'The Christmas Chronicles: Part Two'``); with one it is part of the episode
       title (``'LEGO Ninjago: Masters of Spinjitzu: Possession: Curse World: Part 1
       (Episode 9)'``). Only a 2-segment ``'Show: Season 2 (Episode 3)'`` keeps it.
    5. Without a marker, the title is an episode only with episode evidence (rule 2's
       suffix, or a last segment ``'Episode 59'`` / ``'EPISODE.01 ...'``):
       2 segments -> series + episode title; 3 -> series + named season + episode title
       (``'ONE PIECE: East Blue: Episode 7'``, ``'Locked Up: The Oasis: ...'``);
       4+ -> if the last segment is a bare episode number, the first segment is the
       series and the middle ones the season (``'ONE PIECE: Sky Island: Skypiea:
       Episode 151'``), otherwise the first two segments are the series, the third the
       season and the rest the episode title (``'Demon Slayer: Kimetsu no Yaiba:
       Tanjiro Kamado, Unwavering Resolve Arc: Cruelty (Episode 1)'``). Such unmarked
       seasons get ``season_number=None``. A lone ``'Episode 5'`` (the series name is
       missing in household-ca-kr-hk) is an episode whose ``title_name`` is that text.
    6. Anything else is a ``FILM`` kept whole, colons included: ``'Star Wars: The Force
       Awakens'``, ``'Star Wars: Episode VIII: The Last Jedi'``,
       ``'Black Mirror: Bandersnatch'``.

    Whitespace runs (including non-breaking spaces and a newline seen in one real title)
    are collapsed to one space in the parsed fields; ``raw`` keeps the original.

    Args:
        title: The raw ``Title`` cell.
        supplemental_type: The raw ``Supplemental Video Type`` cell.

    Returns:
        A :class:`ParsedTitle`.

    Raises:
        ParseError: ``title`` is empty or whitespace-only.
    """
    clean = _WS_RE.sub(" ", title or "").strip()
    if not clean:
        raise ParseError(f"Title: {title!r} is empty; expected a film or episode title")
    if (supplemental_type or "").strip() or _is_extra_title(clean):
        return ParsedTitle(raw=title, kind="SUPPLEMENTAL", title_name=clean)

    episode_number: int | None = None
    body = clean
    m = _EPISODE_SUFFIX_RE.search(body)
    if m and m.start() > 0:
        episode_number = int(m["num"])
        body = body[: m.start()].rstrip()

    parts = [p.strip() for p in _SEGMENT_SPLIT_RE.split(body)]
    parts = [p for p in parts if p] or [body]
    last_m = _EPISODE_SEGMENT_RE.fullmatch(parts[-1]) or _EPISODE_LOOSE_RE.match(parts[-1])
    if episode_number is None and last_m:
        episode_number = _to_int(last_m["num"])
    has_evidence = episode_number is not None or last_m is not None
    bare_episode_segment = bool(_EPISODE_SEGMENT_RE.fullmatch(parts[-1]))

    def episode(series: list[str], label=None, number=None, rest=()) -> ParsedTitle:
        rest = list(rest)
        if label is not None and len(rest) > 1 and rest[0].casefold() == label.casefold():
            rest = rest[1:]  # 'Dance Moms: Collection: Collection: The Competition Begins'
        return ParsedTitle(
            raw=title,
            kind="EPISODE",
            title_name=_dedupe(series),
            season_label=label,
            season_number=number,
            episode_title=": ".join(rest) or None,
            episode_number=episode_number,
        )

    # Rule 3: the first strong marker / series-named season followed by a segment.
    for i in range(1, len(parts) - 1):
        hit = _match_marker(parts[i], _SEASON_MARKERS) or _repeat_marker(parts[i], parts[i - 1])
        if hit is None:
            continue
        if hit[0] == "repeat" and i + 2 < len(parts):
            # 'Blue Planet II: Blue Planet II: Season 1: One Ocean': prefer the keyword.
            nxt = _match_marker(parts[i + 1], _SEASON_MARKERS)
            if nxt is not None:
                return episode(parts[: i + 1], parts[i + 1], nxt[1], parts[i + 2 :])
        return episode(parts[:i], parts[i], hit[1], parts[i + 1 :])
    for i in range(1, len(parts) - 1):
        hit = _match_marker(parts[i], _WEAK_MARKERS)
        if hit is not None:
            return episode(parts[:i], parts[i], hit[1], parts[i + 1 :])

    if not has_evidence:
        return ParsedTitle(raw=title, kind="FILM", title_name=clean)  # rules 4 and 6

    # Rule 4, 2-segment case: 'Show: Season 2 (Episode 3)'.
    if len(parts) == 2 and (hit := _match_marker(parts[1], _SEASON_MARKERS)) is not None:
        return episode(parts[:1], parts[1], hit[1])
    # Rule 5.
    if len(parts) == 1:
        if bare_episode_segment:  # 'Episode 5' alone: the series name is missing.
            return episode([clean], rest=[clean])
        return episode(parts)  # 'Some Show (Episode 3)'
    if len(parts) == 2:
        return episode(parts[:1], rest=parts[1:])
    if len(parts) == 3:
        return episode(parts[:1], parts[1], None, parts[2:])
    if bare_episode_segment:
        return episode(parts[:1], ": ".join(parts[1:-1]), None, parts[-1:])
    return episode(parts[:2], parts[2], None, parts[3:])


# --------------------------------------------------------------------------- devices
def classify_device(device: str) -> str:
    """Map the free-text ``Device Type`` to one of :data:`DEVICE_TYPES`.

    Applies the ordered regex table ``_DEVICE_RULES`` at the top of this module (first
    match wins); see the comment there for why the order is what it is. Examples from
    the real exports: ``'Samsung CE 2019 Muse-L UHD TV Smart TV'`` -> ``'TV'``,
    ``'Apple iPhone 12'`` -> ``'mobile'``, ``'iPad Air 2 WiFi'`` -> ``'tablet'``,
    ``'Chrome PC (Cadmium)'`` -> ``'web'``, ``'Sony PS4 Pro'`` -> ``'console'``,
    ``'Amazon FIRETVSTICK2021 Streaming Stick'`` -> ``'streaming_stick'``,
    ``'Worlds Best TV'`` -> ``'TV'``. Over the four real files fewer than 3% of rows
    fall through to ``'other'`` (checked by the test suite; currently 0%).

    Args:
        device: The raw cell (empty or ``None`` gives ``'other'``).

    Returns:
        One of ``DEVICE_TYPES``.
    """
    text = (device or "").strip()
    if not text:
        return "other"
    for kind, pattern in _DEVICE_RULES:
        if pattern.search(text):
            return kind
    return "other"


# ----------------------------------------------------------------------------- stats
def title_stats(titles: Iterable[ParsedTitle]) -> dict:
    """Count parsed titles by kind.

    Args:
        titles: Parsed titles, one per viewing row.

    Returns:
        ``{'rows', 'episodes', 'films', 'supplemental', 'episode_share',
        'film_share'}``: counts of rows per kind, and the shares of episodes and films
        among the non-supplemental rows (floats in 0..1 that add up to 1; both 0.0 when
        there are none).
    """
    rows = episodes = films = supplemental = 0
    for parsed in titles:
        rows += 1
        if parsed.kind == "EPISODE":
            episodes += 1
        elif parsed.kind == "FILM":
            films += 1
        else:
            supplemental += 1
    main = episodes + films
    return {
        "rows": rows,
        "episodes": episodes,
        "films": films,
        "supplemental": supplemental,
        "episode_share": episodes / main if main else 0.0,
        "film_share": films / main if main else 0.0,
    }


# ------------------------------------------------------------------- the file itself
# Columns without which a row cannot become a viewing; the others are optional.
REQUIRED_COLUMNS = ("Profile Name", "Start Time", "Duration", "Title")

# Bytes a spreadsheet's Latin-1 / Windows-1252 save may hold that cp1252 leaves undefined.
_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
_BINARY_MAGIC = {
    b"PK\x03\x04": "a ZIP archive (an .xlsx workbook or a zipped export)",
    b"\xd0\xcf\x11\xe0": "a legacy Excel .xls workbook",
    b"%PDF": "a PDF",
}


def detect_encoding(path: str, chunk_size: int = 1 << 20) -> str:
    """The text encoding of an export file, from its bytes.

    Netflix writes UTF-8; spreadsheet re-saves add a UTF-8 byte-order mark, or save
    "Unicode text" (UTF-16 with a BOM, usually tab-separated), or the machine's
    Latin-1 / Windows-1252. Rules, in order: a BOM decides (UTF-8, UTF-16 LE/BE);
    NUL bytes in every other position of the first 4 KiB mean BOM-less UTF-16; a file
    that decodes as UTF-8 to its end is UTF-8; else cp1252, or Latin-1 when a byte
    cp1252 leaves undefined occurs. One streaming pass, constant memory.

    Args:
        path: The file.
        chunk_size: Bytes read at a time.

    Returns:
        A Python codec name: ``'utf-8-sig'``, ``'utf-16'``, ``'utf-16-le'``,
        ``'utf-16-be'``, ``'utf-8'``, ``'cp1252'`` or ``'latin-1'``.

    Raises:
        ParseError: the file is empty or is a workbook/archive/PDF, not text.
        OSError: the file cannot be read (``IsADirectoryError`` for a folder).
    """
    with open(path, "rb") as fh:
        head = fh.read(4096)
        if not head:
            raise ParseError(f"{path}: the file is empty; expected a ViewingActivity.csv export")
        for magic, what in _BINARY_MAGIC.items():
            if head.startswith(magic):
                raise ParseError(f"{path}: this is {what}, not a CSV; save it as CSV (UTF-8)")
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16"
        if head.count(0) > len(head) // 4:
            even_nuls = head[0::2].count(0)
            return "utf-16-be" if even_nuls > head[1::2].count(0) else "utf-16-le"
        decoder = codecs.getincrementaldecoder("utf-8")()
        utf8_ok, undefined = True, False
        chunk = head
        while chunk:
            if utf8_ok:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8_ok = False
            undefined = undefined or any(b in chunk for b in _CP1252_UNDEFINED)
            chunk = fh.read(chunk_size)
    if utf8_ok:
        try:
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            pass
    return "latin-1" if undefined else "cp1252"


def detect_separator(header_line: str, source: str = "the file") -> str:
    r"""The field separator of an export, from its header line.

    Netflix writes commas; a spreadsheet's "Unicode text" save writes tabs and some
    European locales semicolons. The separator is the first of ``,``, tab, ``;`` that
    splits the header into fields holding every :data:`REQUIRED_COLUMNS` name.

    Args:
        header_line: The first line, decoded (a leading BOM is ignored).
        source: Name of the file, for the message.

    Returns:
        ``','``, ``'\\t'`` or ``';'``.

    Raises:
        ParseError: no separator gives the required columns; the message shows the
            header as found and lists the columns needed.
    """
    line = header_line.lstrip("\ufeff").rstrip("\r\n")
    for sep in (",", "\t", ";"):
        fields = [f.strip() for f in next(csv.reader([line], delimiter=sep), [])]
        if all(c in fields for c in REQUIRED_COLUMNS):
            return sep
    shown = line if len(line) <= 160 else line[:157] + "..."
    raise ParseError(
        f"{source}: header {shown!r} has no {list(REQUIRED_COLUMNS)} columns separated by "
        "',', tab or ';'; expected a Netflix ViewingActivity.csv (Profile Name, Start Time, "
        "Duration, Attributes, Title, ...)"
    )


def check_duration(duration_sec: int, max_sec: int) -> None:
    """Reject a viewing longer than ``max_sec`` seconds.

    No single viewing lasts days: a ``Duration`` such as ``'999:00:00'`` is a corrupt
    cell, and would become ~120 000 synthetic HEARTBEATs. The cap comes from
    ``importer.max_duration_sec`` (default 24 h, the ingest's ``max_position_sec``).

    Raises:
        ParseError: ``duration_sec > max_sec``.
    """
    if duration_sec > max_sec:
        raise ParseError(
            f"Duration: {duration_sec} s is longer than importer.max_duration_sec "
            f"({max_sec} s); a single viewing cannot last that long"
        )


class ExportFingerprint:
    """An order-independent fingerprint of an export's viewings.

    It identifies "the same export" across re-saves: each distinct viewing is added
    by its :func:`viewing_identity` (minute precision, normalized names, so a
    spreadsheet's date format, dropped seconds, encoding, separator, row order or
    duplicated rows do not change it), hashed to 64 bits, and the hashes are summed
    modulo 2**64 with the row count. Constant memory.
    """

    def __init__(self) -> None:
        self._sum = 0
        self.rows = 0

    def add(self, *values: object) -> None:
        """Add one distinct viewing, given by its normalized values."""
        text = "\x1f".join("" if v is None else str(v) for v in values)
        digest = hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest()
        self._sum = (self._sum + int.from_bytes(digest, "big")) & 0xFFFFFFFFFFFFFFFF
        self.rows += 1

    def hexdigest(self) -> str:
        """``'<rows>-<16 hex digits>'``; ``''`` when no row was added."""
        return f"{self.rows}-{self._sum:016x}" if self.rows else ""


def identity_conflicts(
    ledger: Iterable[tuple[str, str]], fingerprints: dict[str, str], account_label: str
) -> list[str]:
    """Exports of this import already imported under another account label.

    One export is one account's history: importing it again under a second label
    would count every viewing twice (new account, profile and session ids). Labels are
    compared normalized (:func:`normalize_name`), as the account ids are.

    Args:
        ledger: ``(fingerprint, account_label)`` of every earlier import.
        fingerprints: file name -> :class:`ExportFingerprint` hex digest of this import.
        account_label: The label given now.

    Returns:
        One message per conflicting file, naming the earlier label(s); empty when none.
    """
    earlier: dict[str, set[str]] = {}
    for fingerprint, label in ledger:
        if normalize_name(label) != normalize_name(account_label):
            earlier.setdefault(fingerprint, set()).add(label)
    return [
        f"{name} was already imported as account {', '.join(map(repr, sorted(earlier[fp])))}"
        for name, fp in fingerprints.items()
        if fp and fp in earlier
    ]
