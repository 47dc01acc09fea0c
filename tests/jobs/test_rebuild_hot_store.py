"""``python -m jobs.rebuild_hot_store``: Redis refilled from resume_state ∪ its change log.

Monotonic (a newer live position in Redis stays), idempotent (a second run writes
nothing), rows past maintain_tables' TTL skipped, each row's TTL counted from the same
reference time as that expiry; Redis unreachable or no URL: exit 1 with one line.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from jobs import rebuild_hot_store
from jobs.core.serving.hot_store import HotStore
from jobs.core.tables.hot import HotKeys
from jobs.core.tables.registry import RESUME_STATE, RESUME_STATE_CHANGE
from tests import redis_server

redis_url = redis_server.redis_url  # the fixtures: a private redis-server per module
redis_client = redis_server.redis_client

NEWEST = dt.datetime(2023, 3, 1, 20, 0, tzinfo=dt.UTC)  # a historical export's newest row


def row(profile, key, days_before, pos, session="s1", device="tv", episode=None):
    return (
        profile,
        key if episode is None else 500,
        episode,
        key,
        pos,
        NEWEST - dt.timedelta(days=days_before),
        device,
        session,
        False,
        3000,
    )


def write(spark, engine, table, rows):
    engine.append(table, spark.createDataFrame(rows, RESUME_STATE.schema))


@pytest.fixture
def lake(spark, engine, cfg):
    engine.create_all([RESUME_STATE.name, RESUME_STATE_CHANGE.name])
    write(
        spark,
        engine,
        RESUME_STATE.name,
        [
            row(1, 10, 0, 100),  # the lake's newest row: the TTL reference
            row(1, 11, 5, 200, episode=11),
            row(1, 12, 30, 300),  # superseded by the change log
            row(2, 10, 89, 400, device="phone"),
            row(2, 13, 91, 500),  # past the 90-day TTL: skipped
        ],
    )
    write(spark, engine, RESUME_STATE_CHANGE.name, [row(1, 12, 2, 350, session="s9")])
    return cfg


def run(cfg, *extra):
    return rebuild_hot_store.main(["--env", "test", "--lake-root", cfg.paths.lake_root, *extra])


def test_rebuild_fills_redis_with_the_current_rows_within_the_ttl(
    lake, redis_url, redis_client, capsys
):
    assert run(lake, "--redis-url", redis_url) == 0
    report = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert report["rows_read"] == report["rows_written"] == 4
    assert report["ttl_reference"] == "2023-03-01T20:00:00Z"
    hs = HotStore.from_config(lake, redis_url)
    got = {(r["profile_id"], r["content_key"]): r["last_position_sec"] for r in hs.resume_rows(1)}
    got.update({(2, r["content_key"]): r["last_position_sec"] for r in hs.resume_rows(2)})
    assert got == {(1, 10): 100, (1, 11): 200, (1, 12): 350, (2, 10): 400}
    assert hs.device_positions(2, 10)[0]["device_id"] == "phone"
    # TTL from the reference, as maintain_tables' expiry counts: 1 day left for (2, 10)
    keys = HotKeys(lake.hot_store.key_prefix)
    assert redis_client.pttl(keys.resume(2, 10)) == pytest.approx(86_400_000, abs=60_000)
    assert not redis_client.exists(keys.resume(2, 13))

    assert run(lake, "--redis-url", redis_url) == 0  # idempotent
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rows_written"] == 0


def test_rebuild_never_moves_a_newer_live_position_back(lake, redis_url, redis_client, capsys):
    live = HotStore.from_config(lake, redis_url, clock=lambda: NEWEST)
    later = NEWEST - dt.timedelta(days=1)  # newer than the lake's (1, 12) row
    event = {"session_id": "live", "event_time": later, "event_type": "HEARTBEAT"}
    event.update(position_sec=900, profile_id=1, device_id="phone", title_id=12, runtime_sec=3000)
    assert live.apply_events([event]) == 1
    assert run(lake, "--redis-url", redis_url) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rows_written"] == 3
    [kept] = [r for r in live.resume_rows(1) if r["content_key"] == 12]
    assert (kept["last_position_sec"], kept["session_id"]) == (900, "live")
    devices = {r["device_id"]: r["last_position_sec"] for r in live.device_positions(1, 12)}
    assert devices == {"phone": 900, "tv": 350}


def test_no_url_or_redis_down_fails_with_one_line(lake, monkeypatch, capsys):
    monkeypatch.delenv(lake.hot_store.url_env, raising=False)
    assert run(lake) == 1
    assert "REDIS_URL" in capsys.readouterr().err
    assert run(lake, "--redis-url", "redis://127.0.0.1:1/0") == 1
    assert "unreachable" in capsys.readouterr().err
