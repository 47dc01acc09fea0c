"""The one owner of "as of" and UTC (:mod:`jobs.core.rules.as_of`), without Spark.

Property: any aware moment in any offset, written as ISO-8601, parses back to the same
instant in UTC; a naive one is read as UTC. ``newest`` (which needs Spark) is pinned in
``test_rules.py``.
"""

from __future__ import annotations

import argparse
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobs.core.rules.as_of import (
    as_of_argument,
    parse_as_of,
    parse_day,
    parse_utc,
    resolve_as_of,
    to_utc,
    utc_argument,
    utc_iso,
)

UTC = dt.UTC
# fixed offsets of the world and beyond (to the second), both signs
OFFSETS = st.builds(lambda s: dt.timezone(dt.timedelta(seconds=s)), st.integers(-86399, 86399))
# years 2..9998: every offset can be converted to UTC without leaving datetime's range
NAIVE = st.datetimes(min_value=dt.datetime(2, 1, 1), max_value=dt.datetime(9998, 12, 31))


@given(NAIVE, OFFSETS)
def test_an_aware_moment_in_any_offset_parses_back_to_the_same_instant_in_utc(naive, tz):
    moment = naive.replace(tzinfo=tz)
    parsed = parse_utc(moment.isoformat())
    assert parsed == moment and parsed.utcoffset() == dt.timedelta(0)
    assert parsed.tzinfo is UTC
    assert parse_as_of(moment.isoformat()) == moment
    assert resolve_as_of(moment.isoformat()) == moment == to_utc(moment)


@given(NAIVE)
def test_a_naive_moment_is_read_as_utc(naive):
    assert parse_utc(naive.isoformat()) == naive.replace(tzinfo=UTC)
    assert to_utc(naive) == naive.replace(tzinfo=UTC)
    assert utc_iso(naive) == naive.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z")


def test_the_forms_of_as_of():
    assert parse_as_of(None) == parse_as_of("") == parse_as_of("now") == "now"
    assert parse_as_of("latest") == "latest"
    assert parse_utc("2023-02-17T17:52:00Z") == dt.datetime(2023, 2, 17, 17, 52, tzinfo=UTC)
    assert parse_utc("2023-02-17") == dt.datetime(2023, 2, 17, tzinfo=UTC)
    assert resolve_as_of(as_of_argument("2023-02-17T12:52:00-05:00")) == dt.datetime(
        2023, 2, 17, 17, 52, tzinfo=UTC
    )
    assert resolve_as_of(as_of_argument("latest"), dt.datetime(2023, 1, 3)) == dt.datetime(
        2023, 1, 3, tzinfo=UTC
    )
    assert utc_iso(dt.datetime(2023, 1, 3, 1, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == (
        "2023-01-02T23:00:00Z"
    )
    assert to_utc(None) is None and utc_iso(None) is None
    assert parse_day("2023-02-17") == dt.date(2023, 2, 17)


@pytest.mark.parametrize("bad", ["yesterday", "2023-13-01", "0001-01-01T00:00:00+05:00", "17:52"])
def test_bad_text_is_a_value_error_naming_the_forms(bad):
    with pytest.raises(ValueError):
        parse_utc(bad)
    with pytest.raises(ValueError, match="ISO-8601"):
        parse_as_of(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="ISO-8601"):
        as_of_argument(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="ISO-8601"):
        utc_argument(bad)
