"""The read routes' per-profile cache (api/profile_cache.py): built once per table version,
a new version shows in the next answer, pages and feed tails equal slices of the whole."""

from __future__ import annotations

import datetime as dt

import pytest

from api import models
from api.profile_cache import ProfileCache, render, splice
from tests.api.conftest import NOW, OTHER, P, at, domain_event, resume, write


def _cache(client) -> ProfileCache:
    cache = client.app.state.api.lake.profile_cache
    assert cache is not None
    return cache


@pytest.mark.parametrize(
    "url",
    [
        "/api/viewing/history?limit=2&page=2",
        "/api/viewing/statistics?period=month",
        "/api/viewing/progress/10",
        f"/api/profiles/{P}/continue-watching?as_of=latest",
        "/api/events?limit=2",
    ],
)
def test_a_second_request_is_served_from_the_cache(client, auth, lake, url):
    write(lake / "tables", "viewing_domain_event", [domain_event(i) for i in range(3)])
    first = client.get(url, headers=auth())
    assert first.status_code == 200, first.text
    cache = _cache(client)
    builds, hits = cache.builds, cache.hits
    second = client.get(url, headers=auth())
    assert second.content == first.content
    assert cache.builds == builds  # nothing shaped again
    assert cache.hits > hits


def test_a_new_delta_version_shows_in_the_next_answer(client, auth, lake):
    tables = lake / "tables"
    before = client.get("/api/viewing/history", headers=auth()).json()
    write(tables, "fact_watch_history", [
        {"session_id": "new", "profile_id": P, "movie_key": 1, "device_key": 7,
         "started_at": at(0.5), "watch_seconds": 60, "progress_pct": 1.0, "is_finished": False},
    ])  # fmt: skip
    after = client.get("/api/viewing/history", headers=auth()).json()
    assert after["page"]["total"] == before["page"]["total"] + 1
    assert after["items"][0]["session_id"] == "new"

    cw = f"/api/profiles/{P}/continue-watching?as_of=latest"
    old = client.get(cw, headers=auth()).json()
    write(tables, "resume_state", [resume(P, 20, None, 4500, at(0.1), runtime=8100)])
    new = client.get(cw, headers=auth()).json()
    assert new["table_version"] == old["table_version"] + 1
    assert [(i["title_id"], i["position_sec"]) for i in new["items"]][0] == (20, 4500)

    stats = "/api/viewing/statistics?period=year"
    assert client.get(stats, headers=auth()).json()["periods"] == []
    write(tables, "viewing_statistics", [
        {"profile_id": P, "period": "year", "period_start": dt.date(2024, 1, 1), "breakdown": "total",
         "breakdown_value": "all", "items_watched": 9, "items_completed": 4, "watch_hours": 7.5},
    ])  # fmt: skip
    periods = client.get(stats, headers=auth()).json()["periods"]
    assert [(p["period_start"], p["items_watched"]) for p in periods] == [("2024-01-01", 9)]


@pytest.fixture
def long_history(lake):
    """4,000 more rows for P: ties in started_at, both content types, three platforms."""
    write(
        lake / "tables", "dim_device", [{"device_key": 9, "device_id": "web", "device_type": "web"}]
    )
    rows = [
        {"session_id": f"L{(i * 7919) % 4000:05d}", "profile_id": P, "movie_key": 1 + i % 2,
         "device_key": 7 + i % 3, "started_at": NOW - dt.timedelta(hours=i // 3),
         "watch_seconds": i, "progress_pct": float(i % 100), "is_finished": i % 5 == 0}
        for i in range(4000)
    ]  # fmt: skip
    write(lake / "tables", "fact_watch_history", rows)
    return rows


def _all_items(client, auth, query: str = "") -> list[dict]:
    items, page = [], 1
    while True:
        answer = client.get(f"/api/viewing/history?limit=100&page={page}{query}", headers=auth())
        body = answer.json()
        items += body["items"]
        if not body["page"]["has_more"]:
            assert len(items) == body["page"]["total"]
            return items
        page += 1


def test_pages_of_a_4000_row_history_equal_slices_of_the_full_list(client, auth, long_history):
    full = _all_items(client, auth)
    assert len(full) == 4005  # the mini lake's five and the 4,000
    # newest first, then session_id: the order the route always gave
    expected = sorted(
        [r for r in long_history]
        + [{"session_id": f"h{i}", "started_at": at(10 - i)} for i in range(5)],
        key=lambda r: r["session_id"],
    )
    expected.sort(key=lambda r: r["started_at"], reverse=True)
    assert [i["session_id"] for i in full] == [r["session_id"] for r in expected]
    for page in (1, 2, 57, 200, 201):
        body = client.get(f"/api/viewing/history?limit=20&page={page}", headers=auth()).json()
        assert body["items"] == full[(page - 1) * 20 : page * 20]
        assert body["page"] == {
            "page": page,
            "limit": 20,
            "total": 4005,
            "has_more": page * 20 < 4005,
        }

    movies_on_web = _all_items(client, auth, "&contentType=MOVIE&platform=WEB")
    assert movies_on_web == [
        i for i in full if i["content_type"] == "MOVIE" and i["platform"] == "web"
    ]
    assert len(movies_on_web) > 600

    days = _all_items(client, auth, "&startDate=2024-05-20&endDate=2024-05-25")
    first, last = dt.datetime(2024, 5, 20, tzinfo=dt.UTC), dt.datetime(2024, 5, 26, tzinfo=dt.UTC)
    in_range = [i for i in full if first <= dt.datetime.fromisoformat(i["started_at"]) < last]
    assert days == in_range and len(in_range) > 300
    page = client.get("/api/viewing/history?limit=20&page=3&startDate=2024-05-20&endDate=2024-05-25&platform=tv", headers=auth()).json()  # fmt: skip
    assert page["items"] == [i for i in in_range if i["platform"] == "TV"][40:60]


def test_the_event_feed_after_a_cursor_equals_the_tail(client, auth, lake):
    tables = lake / "tables"
    for commit in range(5):
        write(tables, "viewing_domain_event", [
            domain_event(commit * 10 + i, P if i % 3 else OTHER) for i in (7, 3, 5, 1, 9, 0)
        ])  # fmt: skip
    admin = auth(admin=True)
    whole = client.get("/api/events?limit=500", headers=admin).json()
    events = whole["events"]
    assert len(events) == 30 and whole["next_cursor"] == "5:"
    keys = [(e["commit_version"], e["event_id"]) for e in events]
    assert keys == sorted(keys)
    for k in (0, 1, 5, 6, 17, 29):
        tail = client.get(f"/api/events?limit=500&after={events[k]['cursor']}", headers=admin)
        assert tail.json()["events"] == events[k + 1 :]
        page = client.get(f"/api/events?limit=4&after={events[k]['cursor']}", headers=admin).json()
        assert page["events"] == events[k + 1 : k + 5]
    own = [e for e in events if e["profile_id"] == P]
    for k in (0, 7, len(own) - 1):
        tail = client.get(f"/api/events?limit=500&after={own[k]['cursor']}", headers=auth()).json()
        assert tail["events"] == own[k + 1 :]
    # polling page by page gives every event once, in order
    seen, cursor = [], ""
    while True:
        body = client.get(f"/api/events?limit=7&after={cursor}", headers=admin).json()
        if not body["events"]:
            break
        seen += body["events"]
        cursor = body["next_cursor"]
    assert seen == events


def test_render_and_splice_give_what_fastapi_renders():
    item = {"session_id": "s\"items\":[]", "started_at": NOW, "title_id": None, "title_name": "é",
            "content_type": None, "season_number": None, "episode_number": None, "episode_title": None,
            "platform": "TV", "watch_seconds": 5, "progress_pct": 0.1, "is_finished": None}  # fmt: skip
    content = {"profile_id": P, "page": {"page": 1, "limit": 2, "total": 2, "has_more": False}}
    whole = render(models.History, {**content, "items": [item, item]})
    empty = render(models.History, {**content, "items": []})
    parts = [render(models.HistoryItem, item)] * 2
    assert splice(empty, "items", parts) == whole
    assert b'"session_id":"s\\"items\\":[]"' in whole


def test_the_cache_keeps_its_bound_and_evicts_the_oldest():
    cache = ProfileCache(max_bytes=100)
    for k in range(5):
        cache.get(k, lambda k=k: b"x" * 30, len)
    assert cache.size_bytes <= 100
    assert cache.get(4, lambda: b"rebuilt", len) == b"x" * 30  # the newest is kept
    assert cache.get(0, lambda: b"rebuilt", len) == b"rebuilt"  # the oldest was evicted
    assert cache.get("huge", lambda: b"y" * 500, len) == b"y" * 500  # returned, not kept
    assert cache.size_bytes <= 100
