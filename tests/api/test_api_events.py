"""The event feed (``GET /api/events``): cursors that cannot break it, and erasure.

* a malformed ``after`` (superscript or other non-ASCII digits, a sign, a version past
  2^63, a bare word) is a 422 naming the parameter, never a 500 (property-based);
* after an erasure rewrote ``viewing_domain_event`` and removed its older log versions,
  a read without a cursor answers the surviving events (it answered 503 for good), a
  poller that was up to date goes on without a gap or a repeat, and a cursor inside the
  removed versions is told (410) to start again without one.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.conftest import OTHER, P, domain_event, write

EVENTS = "/api/events"


def _poll(client, headers, after=None, limit=2) -> tuple[list[str], str]:
    """Every event id from ``after`` on, page by page; the last next_cursor."""
    seen: list[str] = []
    while True:
        params = {"limit": limit} | ({"after": after} if after else {})
        r = client.get(EVENTS, params=params, headers=headers)
        assert r.status_code == 200, r.text
        body = r.json()
        seen += [e["event_id"] for e in body["events"]]
        if body["next_cursor"] == after:
            return seen, after
        after = body["next_cursor"]
        if not body["events"]:
            return seen, after


@pytest.mark.parametrize(
    "after",
    [
        "²:",  # str.isdigit() is True for it, int() is not
        "²",
        "١٢:e001",  # Arabic-Indic digits
        "-1:",
        "+3:",
        " 3:",
        "99999999999999999999:",  # past a 64-bit version
        "9223372036854775808:",
        "nonsense",
        ":e001",
    ],
)
def test_a_malformed_cursor_is_a_422_naming_the_parameter(client, auth, lake, after):
    write(lake / "tables", "viewing_domain_event", [domain_event(1)])
    r = client.get(EVENTS, params={"after": after}, headers=auth(1, admin=True))
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and detail.startswith("after ") and "\n" not in detail


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(after=st.text(min_size=1, max_size=40))
def test_no_cursor_text_is_a_server_error(client, auth, lake, after):
    if not (lake / "tables" / "viewing_domain_event").is_dir():
        write(lake / "tables", "viewing_domain_event", [domain_event(1)])
    r = client.get(EVENTS, params={"after": after}, headers=auth(1, admin=True))
    assert r.status_code in (200, 410, 422), (after, r.status_code, r.text)


def test_after_an_erasure_the_feed_reads_without_a_cursor_and_pollers_go_on(client, auth, lake):
    t = lake / "tables"
    write(t, "viewing_domain_event", [domain_event(1), domain_event(2, OTHER)])
    write(t, "viewing_domain_event", [domain_event(3, OTHER), domain_event(4)])
    admin = auth(1, admin=True)
    seen, up_to_date = _poll(client, admin)
    assert seen == ["e001", "e002", "e003", "e004"]
    stale = client.get(EVENTS, params={"limit": 1}, headers=admin).json()["next_cursor"]
    assert stale.startswith("1:")  # inside version 1, which the erasure removes

    erased = client.delete(f"/api/admin/profiles/{P}", headers=admin)
    assert erased.status_code == 200, erased.text
    assert erased.json()["tables"]["viewing_domain_event"] == 2
    write(t, "viewing_domain_event", [domain_event(5, OTHER)])

    # no cursor: the surviving events, in order, then the new one; no 503
    seen, last = _poll(client, admin)
    assert seen == ["e002", "e003", "e005"]
    assert _poll(client, admin, after=last)[0] == []
    # the poller that was up to date before the erasure gets only the new event
    assert _poll(client, admin, after=up_to_date)[0] == ["e005"]
    # one whose cursor points into the removed versions is told what to do
    gone = client.get(EVENTS, params={"after": stale}, headers=admin)
    assert gone.status_code == 410
    assert "read again without after" in gone.json()["detail"]
    # a profile's own feed holds nothing of the erased profile
    assert _poll(client, auth(P))[0] == []
    assert _poll(client, auth(OTHER))[0] == ["e002", "e003", "e005"]
