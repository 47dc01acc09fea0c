"""A viewing's ids come from its content, and its events are PLAY, HEARTBEATs and END."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from jobs.core.ingest.netflix_export import ParseError
from jobs.core.ingest.viewings import (
    parse_row,
    profile_id_for,
    viewing_to_events,
    viewing_to_lines,
    with_ordinal,
)

ROW = {
    "Profile Name": "Ana",
    "Start Time": "2024-05-30 20:00:00",
    "Duration": "00:01:10",
    "Attributes": "",
    "Title": "Dark: Season 1: Secrets (Episode 1)",
    "Supplemental Video Type": "",
    "Device Type": "Samsung TV",
    "Bookmark": "00:01:10",
    "Latest Bookmark": "00:01:10",
    "Country": "KE (Kenya)",
}


def test_ids_are_stable_and_depend_on_the_account_not_the_cell_spelling():
    v = parse_row(ROW, 2, "hh")
    again = parse_row({**ROW, "Profile Name": " Ana "}, 9, "HH")
    assert (v.profile_id, v.session_id, v.title_id) == (
        again.profile_id,
        again.session_id,
        again.title_id,
    )
    assert v.profile_id == profile_id_for("hh", "Ana")
    assert parse_row(ROW, 2, "other").session_id != v.session_id
    assert v.start == dt.datetime(2024, 5, 30, 20, 0, tzinfo=dt.UTC)
    assert (v.duration_sec, v.bookmark_sec, v.country_code) == (70, 70, "KE")


def test_a_same_minute_twin_gets_its_own_session():
    v = parse_row(ROW, 2, "hh")
    assert with_ordinal(v, "hh", 0) is v
    twin = with_ordinal(v, "hh", 1)
    assert twin.session_id != v.session_id and twin.identity != v.identity


def test_bad_rows_raise_parse_errors():
    with pytest.raises(ParseError, match="empty Title"):
        parse_row({**ROW, "Title": ""}, 2, "hh")
    with pytest.raises(ParseError):
        parse_row({**ROW, "Duration": "30:00:00"}, 2, "hh", max_duration_sec=3600)


def test_events_and_their_json_lines_are_the_same():
    v = parse_row(ROW, 2, "hh")
    events = viewing_to_events(v, heartbeat_sec=30)
    assert [(e["event_type"], e["position_sec"]) for e in events] == [
        ("PLAY", 0),
        ("HEARTBEAT", 30),
        ("HEARTBEAT", 60),
        ("END", 70),
    ]
    assert [json.loads(line) for line in viewing_to_lines(v, 30)] == events
    with pytest.raises(ValueError):
        viewing_to_lines(v, 0)
