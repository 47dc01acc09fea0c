"""Issue 22 §3: Continue Watching from Redis, kept per version of the profile's rows.

A repeat read is one round trip answering the version (nothing decoded, the rule not run
again for the same window); a new heartbeat moves the version, so the next read shows it.
Real redis-server (tests/redis_server.py), the API's mini lake.
"""

from __future__ import annotations

import datetime as dt

import pytest
import redis

import api.routes_read
import jobs.core.serving.hot_store
from tests.api.test_api_playback import CW, EVENTS, ROMA, beat
from tests.redis_server import redis_url  # noqa: F401 - the fixture


@pytest.fixture
def hot_client(make_client, redis_url, monkeypatch):  # noqa: F811
    """An API client whose hot store is the module's redis-server (emptied first)."""
    redis.Redis.from_url(redis_url).flushall()
    monkeypatch.setenv("REDIS_URL", redis_url)
    return make_client(event_flush_ms=20)


@pytest.fixture
def calls(monkeypatch):
    """Counts of rows decoded from Redis and of runs of the Continue Watching rule."""
    counted = {"decode": 0, "rule": 0}

    def counting(name, fn):
        def wrapper(*args, **kwargs):
            counted[name] += 1
            return fn(*args, **kwargs)

        return wrapper

    store = jobs.core.serving.hot_store
    monkeypatch.setattr(store, "_decode", counting("decode", store._decode))
    rule = api.routes_read.continue_watching_rows
    monkeypatch.setattr(api.routes_read, "continue_watching_rows", counting("rule", rule))
    return counted


def post(client, auth, *events) -> None:
    r = client.post(EVENTS, json={"events": list(events)}, headers=auth())
    assert r.status_code == 202 and r.json()["hot_store"] == "ok", r.text


def roma(answer) -> list[tuple[int, str]]:
    assert answer.status_code == 200 and answer.headers["X-Served-From"] == "redis", answer.text
    return [
        (i["position_sec"], i["device_id"]) for i in answer.json()["items"] if i["title_id"] == ROMA
    ]


def test_a_repeat_read_decodes_nothing_and_runs_the_rule_once(hot_client, auth, calls):
    post(hot_client, auth, beat(100, 30), beat(200, 20, title_id=30, runtime_sec=6000))
    first = hot_client.get(CW, headers=auth())
    assert roma(first) == [(100, "tv-a")]
    assert calls == {"decode": 2, "rule": 1}  # two rows decoded, the rule run once
    again = [hot_client.get(CW, headers=auth()) for _ in range(3)]
    assert calls == {"decode": 2, "rule": 1}  # nothing decoded, the rule not run again
    assert all(a.json()["items"] == first.json()["items"] for a in again)
    # the answer's as_of is still "now" per request (not the cached one)
    as_ofs = [dt.datetime.fromisoformat(a.json()["as_of"]) for a in (first, *again)]
    assert as_ofs == sorted(as_ofs) and as_ofs[-1] <= dt.datetime.now(dt.UTC)
    assert as_ofs[-1] > dt.datetime.fromisoformat(first.json()["items"][0]["last_update"])
    latest = hot_client.get(f"{CW}?as_of=latest", headers=auth()).json()
    assert latest["as_of"] == first.json()["items"][0]["last_update"]  # the newest row
    assert calls["decode"] == 2  # another window (ends at the newest row): the rule only


def test_a_new_heartbeat_shows_in_the_next_read(hot_client, make_client, auth, calls, redis_url):  # noqa: F811
    post(hot_client, auth, beat(100, 30, device="tv-a"))
    assert roma(hot_client.get(CW, headers=auth())) == [(100, "tv-a")]
    assert roma(hot_client.get(CW, headers=auth())) == [(100, "tv-a")]  # kept
    post(hot_client, auth, beat(700, 5, device="phone-b", session="s-b"))  # device B plays on
    assert roma(hot_client.get(CW, headers=auth())) == [(700, "phone-b")]  # not the kept one
    assert calls["decode"] == 2  # the new version's row was read
    post(hot_client, auth, beat(650, 10, device="tv-a"))  # late: changes nothing
    assert roma(hot_client.get(CW, headers=auth())) == [(700, "phone-b")]
    assert calls["decode"] == 2  # and nothing was read again
    # the cached worker answers what a fresh worker (nothing kept) answers
    fresh = make_client(event_flush_ms=20).get(CW, headers=auth())
    assert fresh.json()["items"] == hot_client.get(CW, headers=auth()).json()["items"]
    # Redis restarted empty, then a heartbeat: a new version, never the kept rows
    redis.Redis.from_url(redis_url).flushall()
    post(hot_client, auth, beat(40, 1, device="tv-a", session="s-c"))
    assert roma(hot_client.get(CW, headers=auth())) == [(40, "tv-a")]
