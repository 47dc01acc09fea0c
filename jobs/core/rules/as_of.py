"""The "as of" time of a run or a query, resolved once, in UTC.

Every build and query that looks at a window ("the last 90 days", "abandoned for 90
days", "the last 7 days of events") measures it from one reference time, chosen by the
user as ``--as-of``:

* ``None`` or ``"now"``: the wall clock, in UTC;
* ``"latest"``: the newest timestamp of the data the answer is about (old exports:
  "as if today were the day of the last viewing"); the caller says which column;
* ISO-8601 text: that moment; without an offset it is read as UTC;
* an aware ``datetime``: itself (a naive one is read as UTC).

This module is the one place that turns text into a moment (``fromisoformat``) and a
moment into UTC: :func:`parse_utc` (ISO-8601 text), :func:`parse_as_of` (the ``--as-of``
/ ``as_of`` forms), :func:`to_utc` (a datetime from Arrow, Spark or a caller),
:func:`utc_iso` (the ``...Z`` text of the API) and the argparse types
:func:`as_of_argument` and :func:`utc_argument`. ``tests/test_architecture.py`` fails on
a ``fromisoformat``/``strptime`` call anywhere else in jobs/, api/ and dq/ (bar a short
allow-list of values that are not moments, such as a Netflix export's dates).

Why one module: the newest timestamp of a table must never go through the Python
process's local time zone. PySpark's ``collect()`` turns a TIMESTAMP into a *naive local*
``datetime``; labelling that as UTC shifts it by the process's offset (under
``TZ=America/New_York`` the "latest" moment moved 5 hours back and Continue Watching
dropped the newest resume point). :func:`newest` reads the maximum as microseconds since
the epoch instead, which no time zone touches.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from typing import Literal, overload

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

Latest = dt.datetime | None | Callable[[], dt.datetime | None]
Token = Literal["now", "latest"]
AS_OF_HELP = (
    "give 'now', 'latest' or an ISO-8601 time such as 2023-01-25T21:08:18Z "
    "(UTC when no offset is given)"
)


def newest(df: DataFrame, column: str) -> dt.datetime | None:
    """The greatest value of TIMESTAMP ``column`` of ``df`` as an aware UTC datetime.

    Exact to the microsecond and independent of the process's and the Spark session's
    time zones (read as microseconds since the epoch). ``None`` when ``df`` is empty or
    the column is all NULL.
    """
    row = df.agg(F.unix_micros(F.max(column)).alias("us")).first()
    micros = row.us if row is not None else None
    return None if micros is None else EPOCH + dt.timedelta(microseconds=int(micros))


def collected_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A TIMESTAMP that PySpark's ``collect()`` returned, as an aware UTC datetime.

    ``collect()`` gives a naive datetime in the process's local time; ``astimezone``
    reads a naive value as local time, so this is the exact instant in UTC (for display:
    "last watched (UTC)"). Never use ``replace(tzinfo=UTC)`` on such a value.
    """
    if value is None or value.tzinfo is not None:
        return value
    return value.astimezone(dt.UTC)


@overload
def to_utc(moment: dt.datetime) -> dt.datetime: ...
@overload
def to_utc(moment: None) -> None: ...
def to_utc(moment: dt.datetime | None) -> dt.datetime | None:
    """``moment`` as an aware UTC datetime; a naive one is taken to be UTC already.

    For a datetime that already means UTC: a parsed ``--as-of``, a value read back from
    Arrow or delta-rs (``timestamp[us, tz=UTC]``), a caller's ``now``. An aware time in
    another offset is converted (the same instant), never relabelled. ``None`` stays
    ``None``. Not for PySpark's ``collect()`` output: use :func:`collected_utc`.

    Raises:
        OverflowError: the instant lies outside ``datetime``'s range once in UTC.
    """
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def utc_iso(moment: dt.datetime | None) -> str | None:
    """``moment`` as ISO-8601 text in UTC ending in ``Z`` (``2026-11-23T12:00:00Z``).

    A naive ``moment`` is read as UTC (:func:`to_utc`); ``None`` stays ``None``.
    """
    if moment is None:
        return None
    return to_utc(moment).isoformat().replace("+00:00", "Z")


def parse_utc(text: str) -> dt.datetime:
    """ISO-8601 ``text`` as an aware UTC datetime (the one parser of a moment).

    ``Z`` and any ``+HH:MM`` offset are accepted and converted to the same instant in
    UTC; text without an offset is read as UTC; a date alone is its midnight UTC.

    Raises:
        ValueError: ``text`` is not ISO-8601, or its instant is outside the range of
            ``datetime`` once in UTC.
    """
    try:
        return to_utc(dt.datetime.fromisoformat(text))
    except OverflowError:
        raise ValueError(f"{text!r} is out of range once converted to UTC") from None


def parse_day(text: str) -> dt.date:
    """ISO-8601 day ``text`` (``YYYY-MM-DD``), e.g. a ``--from-dt`` partition date (UTC).

    Raises:
        ValueError: ``text`` is not a day.
    """
    return dt.date.fromisoformat(text)


def parse_as_of(value: str | None) -> dt.datetime | Token:
    """The form of an ``--as-of`` / ``as_of`` value, checked, before any data is read.

    Args:
        value: ``None``, ``""`` or ``"now"``; ``"latest"``; or ISO-8601 text.

    Returns:
        ``"now"``, ``"latest"`` or the aware UTC moment (:func:`parse_utc`).

    Raises:
        ValueError: anything else (the message says what to give).
    """
    if value in (None, "", "now"):
        return "now"
    if value == "latest":
        return "latest"
    assert value is not None  # for mypy: None was handled above
    try:
        return parse_utc(value)
    except ValueError:
        raise ValueError(f"--as-of {value!r}: {AS_OF_HELP}") from None


def as_of_argument(text: str) -> dt.datetime | Token:
    """The argparse ``type=`` of ``--as-of``: :func:`parse_as_of`, else a usage error.

    A bad value fails while the arguments are parsed (exit 2), before Spark starts; the
    parsed value goes to :func:`resolve_as_of` as it is.

    Raises:
        argparse.ArgumentTypeError: ``text`` is not ``now``, ``latest`` or ISO-8601.
    """
    try:
        return parse_as_of(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: {AS_OF_HELP}") from None


def utc_argument(text: str) -> dt.datetime:
    """The argparse ``type=`` of a moment option (``--now``): :func:`parse_utc`.

    Raises:
        argparse.ArgumentTypeError: ``text`` is not ISO-8601.
    """
    try:
        return parse_utc(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected ISO-8601, e.g. 2024-05-01T12:00:00Z (UTC when no offset)"
        ) from None


def resolve_as_of(value: str | dt.datetime | None, latest: Latest = None) -> dt.datetime:
    """The reference time (aware, UTC) of ``--as-of`` ``value``.

    Args:
        value: ``None``/``"now"``, ``"latest"``, ISO-8601 text or a datetime (as
            :func:`as_of_argument` returns it).
        latest: the newest moment of the data, or a function returning it (called only
            when ``value`` is ``"latest"``; use :func:`newest`). When it is ``None`` for
            ``"latest"`` (no data yet), the answer is now.

    Returns:
        An aware ``datetime`` in UTC.

    Raises:
        ValueError: ``value`` is text but not ISO-8601 (:func:`parse_as_of`).
    """
    parsed = value if isinstance(value, dt.datetime) else parse_as_of(value)
    if isinstance(parsed, dt.datetime):
        return to_utc(parsed)
    if parsed == "latest":
        found = latest() if callable(latest) else latest
        if found is not None:
            return to_utc(found)
    return dt.datetime.now(dt.UTC)
