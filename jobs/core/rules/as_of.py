"""The "as of" time of a run or a query, resolved once, in UTC.

Every build and query that looks at a window ("the last 90 days", "abandoned for 90
days", "the last 7 days of events") measures it from one reference time, chosen by the
user as ``--as-of``:

* ``None`` or ``"now"``: the wall clock, in UTC;
* ``"latest"``: the newest timestamp of the data the answer is about (old exports:
  "as if today were the day of the last viewing"); the caller says which column;
* ISO-8601 text: that moment; without an offset it is read as UTC;
* an aware ``datetime``: itself (a naive one is read as UTC).

Why one module: the newest timestamp of a table must never go through the Python
process's local time zone. PySpark's ``collect()`` turns a TIMESTAMP into a *naive local*
``datetime``; labelling that as UTC shifts it by the process's offset (under
``TZ=America/New_York`` the "latest" moment moved 5 hours back and Continue Watching
dropped the newest resume point). :func:`newest` reads the maximum as microseconds since
the epoch instead, which no time zone touches.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

Latest = dt.datetime | None | Callable[[], dt.datetime | None]


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


def as_utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` as an aware UTC datetime; a naive one is taken to be UTC already."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def resolve_as_of(value: str | dt.datetime | None, latest: Latest = None) -> dt.datetime:
    """The reference time (aware, UTC) of ``--as-of`` ``value``.

    Args:
        value: ``None``/``"now"``, ``"latest"``, ISO-8601 text or a datetime.
        latest: the newest moment of the data, or a function returning it (called only
            when ``value`` is ``"latest"``; use :func:`newest`). When it is ``None`` for
            ``"latest"`` (no data yet), the answer is now.

    Returns:
        An aware ``datetime`` in UTC.

    Raises:
        ValueError: ``value`` is text but not ISO-8601.
    """
    if isinstance(value, dt.datetime):
        return as_utc(value)
    if value in (None, "now"):
        return dt.datetime.now(dt.UTC)
    if value == "latest":
        found = latest() if callable(latest) else latest
        return as_utc(found) if found is not None else dt.datetime.now(dt.UTC)
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"--as-of {value!r}: give 'now', 'latest' or an ISO-8601 time such as "
            "2023-01-25T21:08:18Z (UTC when no offset is given)"
        ) from None
    return as_utc(parsed)
