"""The Redis hot store: monotonic merge, ties as resume_state breaks them, TTLs, reads.

Each test runs on a private redis-server (tests/redis_server.py; skipped when the binary
is absent). ``test_the_hot_store_and_spark_resume_updates_give_the_same_rows`` feeds the
same shuffled events to :meth:`HotStore.apply_events` and to Spark's ``resume_updates``.
"""

from __future__ import annotations

import datetime as dt
import random
import socket
import time
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.core.rules.as_of import collected_utc
from jobs.core.rules.playback_state import resume_updates
from jobs.core.runtime.config import load_config
from jobs.core.serving.hot_store import (
    HotStore,
    HotStoreUnavailable,
    fold_events,
    from_micros,
    to_micros,
)
from jobs.core.tables.hot import HotKeys
from jobs.core.tables.registry import PLAYBACK_EVENT
from tests import redis_server

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
CFG = load_config("test", lake_root="/tmp/viewing-lakehouse-unused")
KEYS = HotKeys(CFG.hot_store.key_prefix)
DAY_MS = 86_400_000
redis_url = redis_server.redis_url  # the fixtures: a private redis-server per module
redis_client = redis_server.redis_client


def store(client: redis.Redis, now: dt.datetime = NOW) -> HotStore:
    return HotStore(
        client,
        CFG.hot_store,
        CFG.maintenance.resume_ttl_days,
        CFG.resume.finish_ratio,
        clock=lambda: now,
    )


def ev(
    sec: float,
    pos: int,
    *,
    session: str = "s1",
    device: str = "tv",
    kind: str = "HEARTBEAT",
    profile: int = 1,
    title: int = 10,
    episode: int | None = None,
    runtime: int | None = 1000,
    supplemental: bool = False,
) -> dict[str, Any]:
    """A landing event ``sec`` seconds before NOW."""
    return {
        "session_id": session,
        "event_time": NOW - dt.timedelta(seconds=sec),
        "event_type": kind,
        "position_sec": pos,
        "profile_id": profile,
        "device_id": device,
        "title_id": title,
        "episode_id": episode,
        "is_supplemental": supplemental,
        "runtime_sec": runtime,
    }


def snapshot(client: redis.Redis, versions: bool = True) -> dict[bytes, Any]:
    """Every key's value (TTLs aside; ``versions=False``: the version keys left out)."""
    out: dict[bytes, Any] = {}
    for key in client.keys("*"):
        if not versions and b":version:" in key:
            continue
        kind = client.type(key)
        if kind == b"hash":
            out[key] = client.hgetall(key)
        elif kind == b"zset":
            out[key] = client.zrange(key, 0, -1, withscores=True)
        else:
            out[key] = client.get(key)
    return out


def test_a_late_heartbeat_never_moves_the_position_back(redis_client):
    hs = store(redis_client)
    assert hs.apply_events([ev(60, 100), ev(30, 400)]) == 1
    assert hs.apply_events([ev(45, 250)]) == 0  # late: older than the stored row
    [row] = hs.resume_rows(1)
    assert (row["last_position_sec"], row["last_update"]) == (400, NOW - dt.timedelta(seconds=30))
    assert hs.apply_events([ev(10, 50)]) == 1  # newer, even backwards (a rewind)
    assert hs.resume_rows(1)[0]["last_position_sec"] == 50


def test_a_replay_changes_nothing(redis_client):
    hs = store(redis_client)
    batch = [ev(60, 100), ev(30, 400, device="phone", session="s2"), ev(20, 5, title=11)]
    assert hs.apply_events(batch) == 2
    before = snapshot(redis_client)
    assert hs.apply_events(list(reversed(batch))) == 0
    assert hs.apply_resume_rows(hs.resume_rows(1)) == 0
    assert snapshot(redis_client) == before


def test_the_version_moves_with_every_resume_row_written_and_only_then(redis_client):
    hs = store(redis_client)
    assert hs.resume_rows_since(1, None) == (None, [])  # nothing held: nothing to keep
    hs.apply_events([ev(60, 100)])
    v1, rows = hs.resume_rows_since(1, None)
    assert v1 is not None and [r["last_position_sec"] for r in rows] == [100]
    assert hs.resume_rows_since(1, v1, 1) == (v1, None)  # unchanged: the version only
    hs.apply_events([ev(60, 100), ev(70, 50)])  # a replay and a late one: nothing written
    assert hs.resume_rows_since(1, v1, 1) == (v1, None)
    hs.apply_events([ev(10, 20, device="phone", session="s9")])  # newer: the row changes
    v2, rows = hs.resume_rows_since(1, v1, 1)
    assert v2 != v1 and [r["last_position_sec"] for r in rows] == [20]
    ttl_version, ttl_recent = redis_client.pttl(KEYS.version(1)), redis_client.pttl(KEYS.recent(1))
    assert ttl_version > 0 and abs(ttl_version - ttl_recent) < 1000  # expire together
    redis_client.flushall()  # a restarted Redis: the next version is still a new one
    hs.apply_events([ev(5, 30)])
    v3, rows = hs.resume_rows_since(1, v2, 1)
    assert int(v3) > int(v2) and [r["last_position_sec"] for r in rows] == [30]
    hs.apply_events([ev(4, 30, title=11)])
    v4, rows = hs.resume_rows_since(1, v3, 1)
    assert [r["content_key"] for r in rows] == [11, 10]
    assert hs.resume_rows_since(1, v4, 2) == (v4, None)
    redis_client.pexpire(KEYS.resume(1, 10), 1)  # its TTL ends: the version stays
    time.sleep(0.05)
    assert redis_client.get(KEYS.version(1)).decode() == v4
    assert [r["content_key"] for r in hs.resume_rows_since(1, v4, 2)[1]] == [11]


def test_ties_break_on_position_then_session_bytes(redis_client):
    hs = store(redis_client)
    hs.apply_events([ev(30, 100, session="a")])
    hs.apply_events([ev(30, 200, session="a2")])  # same time, greater position
    assert hs.resume_rows(1)[0]["last_position_sec"] == 200
    hs.apply_events([ev(30, 200, session="z")])
    hs.apply_events([ev(30, 200, session="Z")])  # "Z" < "z" in bytes
    assert hs.resume_rows(1)[0]["session_id"] == "z"
    hs.apply_events([ev(30, 200, session="é")])  # UTF-8 0xC3 > "z", whatever the locale
    assert hs.resume_rows(1)[0]["session_id"] == "é"


def test_statements_supplementals_and_finish(redis_client):
    hs = store(redis_client)
    hs.apply_events([ev(60, 300), ev(50, 10, kind="ABANDONED", session="api-x")])
    assert hs.resume_rows(1)[0]["last_position_sec"] == 300  # ABANDONED is no resume point
    hs.apply_events([ev(40, 5, title=99, supplemental=True)])
    assert [r["content_key"] for r in hs.resume_rows(1)] == [10]
    hs.apply_events([ev(30, 960, kind="END")])  # >= 95% of 1000
    assert hs.resume_rows(1)[0]["is_finished"] is True
    hs.apply_events([ev(20, 0, kind="WATCHED", runtime=None, session="api-w", title=12)])
    row = next(r for r in hs.resume_rows(1) if r["content_key"] == 12)
    assert row["is_finished"] is True and row["runtime_sec"] is None


def test_positions_per_device_are_kept_apart_and_monotonic(redis_client):
    hs = store(redis_client)
    hs.apply_events([ev(60, 100, device="tv"), ev(50, 700, device="tv")])
    hs.apply_events([ev(40, 30, device="phone", session="s2")])
    hs.apply_events([ev(55, 900, device="tv")])  # late on the TV
    by_device = {r["device_id"]: r["last_position_sec"] for r in hs.device_positions(1, 10)}
    assert by_device == {"phone": 30, "tv": 700}
    assert hs.device_positions(1, 10)[0]["device_id"] == "phone"  # newest first
    assert hs.resume_rows(1)[0]["device_id"] == "phone"
    assert hs.device_positions(1, 999) == []


def test_ttls_are_the_declared_ones(redis_client):
    hs = store(redis_client)
    hs.apply_events([ev(86_400 * 10, 100)])  # 10 days old: 80 days left
    ttl_days = CFG.maintenance.resume_ttl_days
    for key in (KEYS.resume(1, 10), KEYS.device(1, 10), KEYS.recent(1)):
        assert redis_client.pttl(key) == pytest.approx((ttl_days - 10) * DAY_MS, abs=2_000)
    hours = CFG.hot_store.last_timestamp_ttl_hours
    assert redis_client.pttl(KEYS.last_timestamp(1)) == pytest.approx(hours * 3_600_000, abs=2_000)
    assert hs.last_timestamp(1) == NOW - dt.timedelta(days=10)
    # older than the TTL: maintain_tables has expired it, the hot store never holds it
    assert hs.apply_events([ev(86_400 * (ttl_days + 1), 5, title=11)]) == 0
    assert not redis_client.exists(KEYS.resume(1, 11))


def test_the_recency_index_keeps_the_newest_items_within_the_window(redis_client):
    hs = store(redis_client)
    limit = CFG.hot_store.recent_items
    hs.apply_events([ev(1000 + i, 1, title=100 + i, session=f"s{i}") for i in range(limit + 5)])
    items = [r["content_key"] for r in hs.resume_rows(1)]
    assert items == [100 + i for i in range(limit)]  # newest first, the 5 oldest trimmed
    assert redis_client.zcard(KEYS.recent(1)) == limit
    hs.apply_events([ev(1e-6, 2, title=7, session="a"), ev(2e-6, 2, title=8, session="b")])
    assert [r["content_key"] for r in hs.resume_rows(1)][:2] == [7, 8]  # 1 µs apart
    assert redis_client.zscore(KEYS.recent(1), "7") == to_micros(NOW - dt.timedelta(microseconds=1))
    redis_client.flushall()
    almost = dt.timedelta(days=CFG.maintenance.resume_ttl_days) - dt.timedelta(seconds=0.3)
    assert hs.apply_events([ev(almost.total_seconds(), 1)]) == 1  # 0.3 s left to live
    assert [r["content_key"] for r in hs.resume_rows(1)] == [10]
    time.sleep(0.5)
    assert hs.resume_rows(1) == []  # expired: gone from the read although still indexed


def test_redis_down_raises_hot_store_unavailable(redis_url, monkeypatch):
    monkeypatch.delenv(CFG.hot_store.url_env, raising=False)
    with pytest.raises(HotStoreUnavailable, match="no Redis URL"):
        HotStore.from_config(CFG)
    monkeypatch.setenv(CFG.hot_store.url_env, redis_url)
    assert HotStore.from_config(CFG).ping()
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        free = sock.getsockname()[1]
    down = HotStore.from_config(CFG, f"redis://127.0.0.1:{free}/0", clock=lambda: NOW)
    calls = (down.ping, lambda: down.resume_rows(1), lambda: down.apply_events([ev(1, 1)]))
    for call in calls:
        with pytest.raises(HotStoreUnavailable, match="unreachable"):
            call()
    with pytest.raises(HotStoreUnavailable, match="unreachable"):
        down.device_positions(1, 10)


def test_a_refused_command_is_hot_store_unavailable_too(redis_client):
    hs = store(redis_client)
    redis_client.config_set("maxmemory", "1")  # every write is refused: OOM
    try:
        with pytest.raises(HotStoreUnavailable, match="refused"):
            hs.apply_events([ev(1, 1)])
    finally:
        redis_client.config_set("maxmemory", "0")


def test_micros_round_trip():
    moment = dt.datetime(2023, 1, 25, 21, 8, 18, 123456, tzinfo=dt.UTC)
    assert from_micros(to_micros(moment)) == moment
    assert to_micros(dt.datetime(1970, 1, 1, 0, 0, 1, tzinfo=dt.UTC)) == 1_000_000


# -- one rule: the same shuffled events to the hot store and to Spark ---------------------

SESSIONS = [  # session -> (device, title, episode, runtime): one item on one device each
    ("s1", "tv", 10, None, 1000),
    ("s2", "phone", 10, None, 1000),
    ("s3", "tv", 20, 21, 1800),
    ("s4", "web", 20, 21, None),
    ("s5", "phone", 20, 22, 1800),
    ("api-w", "api:web", 20, 22, 1800),
]
POSITIONS = [0, 100, 940, 949, 950, 951, 1000, 1710, 1711, 1800]
KINDS = ["PLAY", "HEARTBEAT", "HEARTBEAT", "PAUSE", "SEEK", "END", "BITRATE_CHANGE", "ERROR"]


@st.composite
def event_batches(draw) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(unique events as the ingest stores them, the same shuffled with replays)."""
    stored: dict[tuple[str, int], dict[str, Any]] = {}
    for _ in range(draw(st.integers(1, 25))):
        sid, device, title, episode, runtime = draw(st.sampled_from(SESSIONS))
        sec = draw(st.integers(0, 6)) * 30  # few distinct times: many ties
        kind = draw(st.sampled_from(["WATCHED", "ABANDONED"] if sid == "api-w" else KINDS))
        row = ev(
            sec,
            draw(st.sampled_from(POSITIONS)),
            session=sid,
            device=device,
            kind=kind,
            profile=draw(st.sampled_from([1, 2])),
            title=title,
            episode=episode,
            runtime=runtime,
            supplemental=draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans()),
        )
        stored.setdefault((sid, sec), row)  # the ingest keeps one per (session_id, event_time)
    unique = list(stored.values())
    replayed = unique + draw(st.lists(st.sampled_from(unique), max_size=5))
    random.Random(draw(st.integers(0, 2**32))).shuffle(replayed)
    return unique, replayed


def rows_by_key(rows: list[dict[str, Any]]) -> dict[tuple[int, int], dict[str, Any]]:
    return {(r["profile_id"], r["content_key"]): r for r in rows}


@pytest.mark.slow  # a Spark pipeline of its own (~10-45 s): make test, not test-fast
@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(batches=event_batches())
def test_the_hot_store_and_spark_resume_updates_give_the_same_rows(spark, redis_client, batches):
    unique, replayed = batches
    redis_client.flushall()
    hs = store(redis_client)
    hs.apply_events(replayed)
    hot = rows_by_key([*hs.resume_rows(1), *hs.resume_rows(2)])
    frame = spark.createDataFrame(
        [tuple(e.get(c) for c in PLAYBACK_EVENT.columns) for e in unique], PLAYBACK_EVENT.schema
    )
    delta = rows_by_key(
        [
            {**r.asDict(), "last_update": collected_utc(r["last_update"])}
            for r in resume_updates(frame, CFG.resume.finish_ratio).collect()
        ]
    )
    assert hot == delta


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(batches=event_batches(), data=st.data())
def test_any_batching_and_order_gives_the_same_store(redis_client, batches, data):
    """Without WATCHED (its position is per batch, in Delta too), batching is invisible."""
    _, replayed = batches
    replayed = [e for e in replayed if e["event_type"] != "WATCHED"]
    redis_client.flushall()
    hs = store(redis_client)
    hs.apply_events(replayed)
    once = snapshot(redis_client, versions=False)  # a version counts writes: not the state
    assert rows_by_key(hs.resume_rows(1) + hs.resume_rows(2)) == rows_by_key(
        fold_events(replayed, CFG.resume.finish_ratio)
    )
    redis_client.flushall()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(replayed)), max_size=4)))
    for lo, hi in zip([0, *cuts], [*cuts, len(replayed)], strict=True):
        hs.apply_events(replayed[lo:hi][::-1])
    assert snapshot(redis_client, versions=False) == once


def test_a_redis_that_lost_its_scripts_still_takes_the_merge(redis_client: redis.Redis) -> None:
    """The merge is sent as EVALSHA (no SCRIPT EXISTS round trip): on NOSCRIPT (a restarted
    or script-flushed Redis) the script is loaded and the whole batch applied, once."""
    redis_client.flushall()
    hs = store(redis_client)
    assert hs.apply_events([ev(60, 100)]) == 1
    redis_client.script_flush()
    assert hs.apply_events([ev(50, 200), ev(40, 300, device="phone", session="s2")]) == 1
    rows = hs.resume_rows(1)
    assert [(r["last_position_sec"], r["device_id"]) for r in rows] == [(300, "phone")]
    devices = hs.device_positions(1, 10)
    assert [(d["device_id"], d["last_position_sec"]) for d in devices] == [
        ("phone", 300),
        ("tv", 200),
    ]
