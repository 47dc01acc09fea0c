"""The HTTP API over a small delta-rs lake: auth, validation, paging, idempotency, feed."""

from __future__ import annotations

import datetime as dt
import json

from deltalake import DeltaTable

from api.landing import landing_file
from jobs.core.rules.continue_watching import Catalog, continue_watching_rows
from tests.api.conftest import NOW, OTHER, RESUME_ROWS, P, at, domain_event, resume, write

CW = f"/api/profiles/{P}/continue-watching"


# ------------------------------------------------------------------------------ 401 / 403
def test_missing_garbage_expired_and_foreign_tokens_are_401(client, auth, settings):
    assert client.get(CW).status_code == 401
    assert client.get(CW, headers={"Authorization": "Bearer not.a.jwt"}).status_code == 401
    expired = auth(now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2), ttl_minutes=60)
    r = client.get(CW, headers=expired)
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    import jwt

    forged = jwt.encode(
        {"sub": str(P), "role": "admin", "iss": settings.jwt_issuer, "iat": NOW, "exp": 4102444800},
        "another-secret-of-sufficient-length-0123456789",
        algorithm="HS256",
    )
    assert client.get(CW, headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_a_profile_reads_and_writes_only_its_own_data(client, auth):
    assert (
        client.get(f"/api/profiles/{OTHER}/continue-watching", headers=auth(P)).status_code == 403
    )
    r = client.get("/api/viewing/history", params={"profileId": OTHER}, headers=auth(P))
    assert r.status_code == 403
    r = client.post(
        "/api/viewing/movies/20/watched", params={"profileId": OTHER}, json={}, headers=auth(P)
    )
    assert r.status_code == 403
    assert client.delete(f"/api/admin/profiles/{P}", headers=auth(P)).status_code == 403
    admin = auth(999, admin=True)
    assert client.get(f"/api/profiles/{OTHER}/continue-watching", headers=admin).status_code == 200


# ------------------------------------------------------------------------------ reads
def test_continue_watching_is_the_shared_rule_and_travels_in_time(client, auth, lake):
    r = client.get(CW, params={"as_of": NOW.isoformat()}, headers=auth())
    # the table was written today: a 2024 as_of precedes its first commit
    assert r.status_code == 404
    r = client.get(CW, params={"as_of": "latest"}, headers=auth())
    assert r.status_code == 200
    body = r.json()
    assert body["table_version"] == 1 and body["as_of"] == "2024-06-01T07:12:00Z"
    as_of = dt.datetime(2024, 6, 1, 7, 12, tzinfo=dt.UTC)
    titles, episodes = (
        DeltaTable(str(lake / "tables" / n)).to_pyarrow_table() for n in ("title", "episode")
    )
    expected = continue_watching_rows(
        [r for r in RESUME_ROWS if r["profile_id"] == P],
        Catalog.from_arrow(titles, episodes),
        as_of,
    )
    assert [(i["title_id"], i["episode_id"], i["is_next_episode"]) for i in body["items"]] == [
        (e["title_id"], e["episode_id"], e["is_next_episode"]) for e in expected
    ]
    assert [(i["rank"], i["title_name"], i["episode_id"]) for i in body["items"]] == [
        (1, "Dark", 102),
        (2, "Roma", None),
    ]
    assert body["items"][1]["progress_pct"] == 50.0
    assert body["items"][0]["last_update"] == "2024-05-31T12:00:00Z"
    # a newer resume point; version 1 still answers as before
    write(lake / "tables", "resume_state", [resume(P, 40, 401, 50, at(0.1))])
    now_items = client.get(CW, params={"as_of": "latest"}, headers=auth()).json()["items"]
    assert [i["title_id"] for i in now_items] == [40, 10, 20]
    old = client.get(CW, params={"as_of": "latest", "version": 1}, headers=auth()).json()
    assert [i["title_id"] for i in old["items"]] == [10, 20] and old["table_version"] == 1
    assert client.get(CW, params={"version": 99}, headers=auth()).status_code == 404


def test_history_filters_and_pages(client, auth):
    h = auth()
    page1 = client.get("/api/viewing/history", params={"limit": 2}, headers=h).json()
    assert page1["page"] == {"page": 1, "limit": 2, "total": 5, "has_more": True}
    assert [i["session_id"] for i in page1["items"]] == ["h4", "h3"]
    page3 = client.get("/api/viewing/history", params={"limit": 2, "page": 3}, headers=h).json()
    assert [i["session_id"] for i in page3["items"]] == ["h0"] and not page3["page"]["has_more"]
    movies = client.get(
        "/api/viewing/history", params={"contentType": "MOVIE", "platform": "tv"}, headers=h
    ).json()
    assert [i["session_id"] for i in movies["items"]] == ["h4", "h2", "h0"]
    assert movies["items"][0]["platform"] == "TV" and movies["items"][0]["title_name"] == "Roma"
    window = client.get(
        "/api/viewing/history",
        params={"startDate": "2024-05-24", "endDate": "2024-05-25"},
        headers=h,
    ).json()
    assert [i["session_id"] for i in window["items"]] == ["h3", "h2"]
    bad = client.get(
        "/api/viewing/history",
        params={"startDate": "2024-05-25", "endDate": "2024-05-01"},
        headers=h,
    )
    assert bad.status_code == 422


def test_progress_and_statistics(client, auth):
    p = client.get("/api/viewing/progress/10", headers=auth()).json()
    assert (p["next_episode_id"], p["next_episode_title"], p["known_episodes"]) == (102, "Lies", 3)
    assert p["completion_pct"] == 33.3
    assert client.get("/api/viewing/progress/20", headers=auth()).status_code == 404
    s = client.get(
        "/api/viewing/statistics", params={"period": "month", "limit": 1}, headers=auth()
    )
    body = s.json()
    assert body["page"]["total"] == 2 and body["periods"][0]["period_start"] == "2024-05-01"
    first = body["periods"][0]
    assert (
        first["watch_hours"],
        first["by_genre"][0]["value"],
        first["by_platform"][0]["value"],
    ) == (
        2.5,
        "Dramas",
        "TV",
    )
    assert (
        client.get(
            "/api/viewing/statistics", params={"period": "decade"}, headers=auth()
        ).status_code
        == 422
    )


def test_a_table_not_built_yet_is_a_clean_404(client, auth):
    r = client.get("/api/events", headers=auth())
    assert r.status_code == 404 and "not built" in r.json()["detail"]


def test_continue_watching_before_the_ingest_made_its_tables_is_a_clean_404(
    lake, make_client, auth
):
    """The soak's finding: the API up before the ingest created resume_state (was a 500)."""
    import shutil

    shutil.rmtree(lake / "tables" / "resume_state")
    r = make_client().get(f"/api/profiles/{P}/continue-watching", headers=auth())
    assert r.status_code == 404 and "resume_state" in r.json()["detail"]


# ------------------------------------------------------------------------------ writes
def test_watched_post_lands_one_event_and_a_retry_creates_nothing(client, auth, cfg_of):
    h = {**auth(), "Idempotency-Key": "k-1"}
    body = {
        "watchDate": "2024-06-01T20:00:00Z",
        "viewingPlatform": "TV",
        "watchedWith": ["Ann", "<b>Bo</b>\x07"],
    }
    first = client.post("/api/viewing/movies/20/watched", json=body, headers=h)
    again = client.post("/api/viewing/movies/20/watched", json=body, headers=h)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["record_id"] == again.json()["record_id"] and again.json()["duplicate"]
    files = list(
        (cfg_of.paths.landing_dir and __import__("pathlib").Path(cfg_of.paths.landing_dir)).glob(
            "*.jsonl"
        )
    )
    assert files == [landing_file(cfg_of.paths.landing_dir, first.json()["record_id"])]
    [line] = files[0].read_text().splitlines()
    event = json.loads(line)
    assert event["event_type"] == "WATCHED" and event["position_sec"] == 8100
    assert event["watched_with"] == ["Ann", "Bo"] and event["country_code"] == "KE"
    assert event["session_id"] == f"api-{first.json()['record_id']}"
    assert event["event_time"] == "2024-06-01T20:00:00.000000Z"
    other_key = client.post(
        "/api/viewing/movies/20/watched", json=body, headers={**auth(), "Idempotency-Key": "k-2"}
    )
    assert (
        other_key.status_code == 201 and other_key.json()["record_id"] != first.json()["record_id"]
    )


def test_episode_and_abandon_posts_validate_and_clean_text(client, auth, cfg_of):
    h = auth(OTHER)
    r = client.post("/api/viewing/episodes/102/watched", json={"viewingDuration": 1500}, headers=h)
    assert r.status_code == 201
    event = json.loads(landing_file(cfg_of.paths.landing_dir, r.json()["record_id"]).read_text())
    assert (event["title_id"], event["episode_id"], event["country_code"]) == (10, 102, "ZZ")
    reason = "  <script>alert(1)</script>Too\x00 slow\u202e" + "x" * 180
    r = client.post(
        "/api/viewing/20/abandon",
        json={
            "progressPercent": 25,
            "abandonReason": reason,
            "qualityRating": 2,
            "wouldRetry": False,
        },
        headers=h,
    )
    assert r.status_code == 201
    event = json.loads(landing_file(cfg_of.paths.landing_dir, r.json()["record_id"]).read_text())
    assert event["abandon_reason"] == "alert(1) Too slow " + "x" * 180
    assert event["position_sec"] == 2025
    # longer than api.text_max_chars once cleaned: refused, never cut silently
    long = client.post(
        "/api/viewing/20/abandon",
        json={"progressPercent": 25, "abandonReason": "y" * 201},
        headers=h,
    )
    assert long.status_code == 422 and long.json()["detail"][0]["loc"] == ["body", "abandonReason"]
    assert "yyy" not in long.text


def test_unknown_content_is_404_and_bad_bodies_are_422(client, auth):
    h = auth()
    assert client.post("/api/viewing/movies/999/watched", json={}, headers=h).status_code == 404
    assert (
        client.post("/api/viewing/movies/10/watched", json={}, headers=h).status_code == 404
    )  # a series
    assert client.post("/api/viewing/episodes/20/watched", json={}, headers=h).status_code == 404
    assert (
        client.post("/api/viewing/123/abandon", json={"progressPercent": 5}, headers=h).status_code
        == 404
    )
    for body in (
        {"progressPercent": 150},
        {"progressPercent": 5, "qualityRating": 9},
        {"progressPercent": 5, "unknownField": 1},
        {"progressPercent": 5, "abandonDate": "2024-06-01T10:00:00"},  # no time zone
        {},
    ):
        assert client.post("/api/viewing/20/abandon", json=body, headers=h).status_code == 422, body
    assert client.get(CW, params={"as_of": "yesterday"}, headers=h).status_code == 422


# ------------------------------------------------------------------------------ 429
def test_rate_limits_per_token_and_per_ip_answer_429_with_retry_after(make_client, auth):
    client = make_client(rate_limit_per_token="3/minute", rate_limit_per_ip="5/minute")
    h = auth()
    codes = [client.get(CW, params={"as_of": "latest"}, headers=h).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    r = client.get(CW, headers=h)
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
    other = auth(OTHER)  # a new token: its own budget, but the IP budget (5) is spent now
    assert client.get(f"/api/profiles/{OTHER}/continue-watching", headers=other).status_code == 429
    assert (
        "per ip"
        in client.get(f"/api/profiles/{OTHER}/continue-watching", headers=other).json()["detail"]
    )


# ------------------------------------------------------------------------------ feed
def test_event_feed_polls_from_a_cursor_without_missing_or_repeating(client, auth, lake):
    t = lake / "tables"
    write(
        t, "viewing_domain_event", [domain_event(i) for i in (3, 1, 2)] + [domain_event(9, OTHER)]
    )
    h = auth()
    seen, cursor = [], None
    for _ in range(3):
        r = client.get(
            "/api/events",
            params={"after": cursor, "limit": 2} if cursor else {"limit": 2},
            headers=h,
        ).json()
        seen += [e["event_id"] for e in r["events"]]
        cursor = r["next_cursor"]
    assert seen == ["e001", "e002", "e003"]  # OTHER's event is not this profile's
    write(t, "viewing_domain_event", [domain_event(0), domain_event(4)])
    r = client.get("/api/events", params={"after": cursor}, headers=h).json()
    assert [e["event_id"] for e in r["events"]] == ["e000", "e004"]
    assert r["events"][0]["payload"] == {"n": 0}
    again = client.get("/api/events", params={"after": r["next_cursor"]}, headers=h).json()
    assert again["events"] == []
    everything = client.get("/api/events", headers=auth(1, admin=True)).json()
    assert len(everything["events"]) == 6
    assert client.get("/api/events", params={"after": "nonsense"}, headers=h).status_code == 422


def test_openapi_lists_every_route(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/viewing/{itemId}/abandon" in paths and "/api/events" in paths
    assert client.get("/docs").status_code == 200


def test_the_in_memory_index_and_the_filtered_scan_answer_alike(make_client, auth):
    indexed, scanned = make_client(), make_client(index_max_rows=0)
    for url, params in (
        (CW, {"as_of": "latest"}),
        ("/api/viewing/history", {"startDate": "2024-05-23", "limit": 3}),
        ("/api/viewing/statistics", {"period": "month"}),
        ("/api/viewing/progress/10", {}),
    ):
        a = indexed.get(url, params=params, headers=auth()).json()
        b = scanned.get(url, params=params, headers=auth()).json()
        assert a == b and a


def test_every_field_a_statement_writes_is_in_the_landing_contract(client, auth, cfg_of):
    from jobs.core.tables.registry import LANDING_EVENT_SCHEMA

    posts = [
        ("/api/viewing/movies/20/watched", {
            "watchDate": "2024-06-01T20:00:00Z", "viewingLocation": "home", "viewingPlatform": "TV",
            "watchedWith": ["Ann"], "viewingContext": "date night", "isRewatch": True}),
        ("/api/viewing/episodes/102/watched", {
            "platform": "web", "bingeSessionId": "b1", "viewingDuration": 1500}),
        ("/api/viewing/20/abandon", {
            "progressPercent": 25, "abandonReason": "dull", "qualityRating": 2, "wouldRetry": False}),
    ]  # fmt: skip
    contract = set(LANDING_EVENT_SCHEMA.fieldNames())
    written: set[str] = set()
    for url, body in posts:
        r = client.post(url, json=body, headers=auth())
        assert r.status_code == 201, r.text
        event = json.loads(
            landing_file(cfg_of.paths.landing_dir, r.json()["record_id"]).read_text()
        )
        written |= set(event)
    assert written <= contract, f"not in LANDING_EVENT_SCHEMA: {sorted(written - contract)}"
    assert {"watched_with", "is_rewatch", "binge_session_id", "viewing_duration_sec",
            "progress_pct", "abandon_reason", "quality_rating", "would_retry"} <= written  # fmt: skip
