"""The stream keeps Redis true: each micro-batch's resume rows reach the hot store.

Real redis-servers (tests/redis_server.py; skipped where the binary is absent). The
ingest scenarios run the streaming ingest on the run's engine (rust by default).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import os
import random
import socket
from pathlib import Path

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import Row

from jobs.core.changelog.resume import current_resume
from jobs.core.ingest import query as ingest
from jobs.core.ingest.hot_sync import HotSync, batch_resume_rows, hot_rows
from jobs.core.rules.as_of import utc_iso
from jobs.core.runtime.config import load_config
from jobs.core.serving.hot_store import RESUME_FIELDS, HotStore
from jobs.core.storage.delta import get_engine
from jobs.core.tables.registry import RESUME_STATE
from tests.redis_server import redis_url  # noqa: F401  (the module's server)

UTC = dt.UTC
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@functools.cache
def _cfg():
    return load_config("test")


def _store(url: str, clock=lambda: NOW) -> HotStore:
    return HotStore.from_config(_cfg(), url=url, clock=clock)


def redis_state(client: redis.Redis) -> dict:
    """Every key's content (not its TTL): hashes, sorted sets with scores, strings.

    Leaves out ``vl:version:{p}``: a cache token for the API's workers (Redis TIME in µs
    when written), not state; it differs between any two runs by design.
    """
    state: dict = {}
    for key in client.scan_iter("*"):
        if key.startswith(b"vl:version:"):
            continue
        kind = client.type(key)
        if kind == b"hash":
            state[key] = client.hgetall(key)
        elif kind == b"zset":
            state[key] = client.zrange(key, 0, -1, withscores=True)
        else:
            state[key] = client.get(key)
    return state


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed when the block ends: refused


# ------------------------------------------------------------------ rows as collected
def test_hot_rows_takes_collect_output_to_utc_rows():
    # collect() gives a naive datetime in the process's local time
    local = dt.datetime(2026, 11, 30, 8, 0, tzinfo=UTC).astimezone().replace(tzinfo=None)
    row = Row(
        profile_id=7, title_id=100, episode_id=None, content_key=100, last_position_sec=42,
        last_update=local, device_id="tv", session_id="s1", is_finished=False, runtime_sec=None,
    )  # fmt: skip
    assert hot_rows([row]) == [
        {
            "profile_id": 7, "title_id": 100, "episode_id": None, "content_key": 100,
            "last_position_sec": 42, "last_update": dt.datetime(2026, 11, 30, 8, 0, tzinfo=UTC),
            "device_id": "tv", "session_id": "s1", "is_finished": False, "runtime_sec": None,
        }
    ]  # fmt: skip


# ------------------------------------------------------------------ push: monotonic, idempotent
SESSIONS = ("a", "b", "s1", "s10")  # ASCII: Python's order is the bytes' order
row_strategy = st.builds(
    lambda profile, ck, minutes, pos, sid: {
        "profile_id": profile,
        "title_id": ck,
        "episode_id": None,
        "content_key": ck,
        "last_position_sec": pos,
        "last_update": NOW - dt.timedelta(minutes=minutes),
        # one session plays on one device; the rest follows the row's order fields
        "device_id": f"dev-{sid}",
        "session_id": sid,
        "is_finished": pos >= 95,
        "runtime_sec": 100,
    },
    st.integers(1, 3),
    st.integers(10, 13),
    st.integers(0, 3),  # few distinct times: ties on last_update happen
    st.integers(0, 100),
    st.sampled_from(SESSIONS),
)


def _newest_per_key(rows: list[dict]) -> dict:
    best: dict = {}
    for r in rows:
        key = (r["profile_id"], r["content_key"])
        order = (r["last_update"], r["last_position_sec"], r["session_id"])
        if key not in best or order > best[key][0]:
            best[key] = (order, r)
    return {k: v[1] for k, v in best.items()}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    batches=st.lists(st.lists(row_strategy, min_size=1, max_size=8), min_size=1, max_size=5),
    seed=st.randoms(use_true_random=False),
)
def test_batches_in_any_order_leave_redis_with_the_newest_row_per_key(
    redis_url,  # noqa: F811
    batches,
    seed,
):
    """Identity: pushing the batches in any order (and again) == the newest row per key."""
    client = redis.Redis.from_url(redis_url)
    states = []
    for order in (batches, seed.sample(batches, len(batches))):
        client.flushall()
        sync = HotSync(_store(redis_url), 0.95)
        for i, batch in enumerate(order):
            sync.push(list(_newest_per_key(batch).values()), i)  # a batch's newest per key
        states.append(redis_state(client))
    assert states[0] == states[1]
    store = _store(redis_url)
    expected = _newest_per_key([r for b in batches for r in b])
    held = {
        (r["profile_id"], r["content_key"]): r
        for p in {k[0] for k in expected}
        for r in store.resume_rows(p)
    }
    assert held == expected
    # a replay of every batch changes nothing and writes no row
    again = HotSync(store, 0.95).push(list(expected.values()), 99)
    assert (again.written, again.error) == (0, None)
    assert redis_state(client) == states[1]
    client.close()


def test_an_older_batch_after_a_newer_one_does_not_regress(redis_url):  # noqa: F811
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    sync = HotSync(_store(redis_url), 0.95)
    base = dict(profile_id=1, title_id=5, episode_id=None, content_key=5, device_id="tv",
                is_finished=False, runtime_sec=None)  # fmt: skip
    newer = {**base, "last_position_sec": 600, "last_update": NOW, "session_id": "s2"}
    older = {**base, "last_position_sec": 900, "last_update": NOW - dt.timedelta(hours=1),
             "session_id": "s1", "device_id": "phone"}  # fmt: skip
    assert sync.push([newer], 1).written == 1
    assert sync.push([older], 2).written == 0
    assert _store(redis_url).resume_rows(1) == [newer]
    client.close()


# ------------------------------------------------------------------ Redis down: never raised
def test_redis_down_is_logged_never_raised_and_its_return_is_said(redis_url, caplog):  # noqa: F811
    down = HotStore.from_config(
        _cfg(), url=f"redis://127.0.0.1:{_closed_port()}/0", clock=lambda: NOW
    )
    sync = HotSync(down, 0.95)
    row = dict(profile_id=1, title_id=5, episode_id=None, content_key=5, last_position_sec=60,
               last_update=NOW, device_id="tv", session_id="s", is_finished=False,
               runtime_sec=None)  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="ingest_playback_events"):
        first = sync.push([row], 4)
        second = sync.push([row], 5)
    assert first.error and second.error and first.written == 0
    assert "batch 4: hot store not updated" in caplog.text
    assert "behind since batch 4" in caplog.text.split("batch 5:")[1]
    caplog.clear()
    sync.store = _store(redis_url)  # Redis back
    redis.Redis.from_url(redis_url).flushall()
    with caplog.at_level(logging.WARNING, logger="ingest_playback_events"):
        back = sync.push([row], 6)
    assert (back.written, back.error) == (1, None)
    assert "reachable again; keys of batches 4-5 stay behind" in caplog.text
    assert sync.behind_since is None


def test_the_sync_is_off_without_the_url_env_and_on_with_it(redis_url, monkeypatch, caplog):  # noqa: F811
    cfg = _cfg()
    monkeypatch.delenv(cfg.hot_store.url_env, raising=False)
    assert HotSync.from_config(cfg) is None
    monkeypatch.setenv(cfg.hot_store.url_env, redis_url)
    sync = HotSync.from_config(cfg)
    assert sync is not None and sync.store.ping()
    monkeypatch.setenv(cfg.hot_store.url_env, "http://not-redis/0")
    with caplog.at_level(logging.WARNING, logger="ingest_playback_events"):
        assert HotSync.from_config(cfg) is None
    assert "hot store off" in caplog.text


# ------------------------------------------------------------------ the ingest keeps Redis true
def _event(session, seconds_ago, pos, *, profile=7, title=100, episode=None, device="tv",
           etype="HEARTBEAT", runtime=None, now=None) -> dict:  # fmt: skip
    moment = (now or dt.datetime.now(UTC)) - dt.timedelta(seconds=seconds_ago)
    return {
        "session_id": session, "event_time": utc_iso(moment.replace(microsecond=0)),
        "event_type": etype, "position_sec": pos, "bitrate_kbps": None, "account_id": 1,
        "profile_id": profile, "device_id": device, "title_id": title, "episode_id": episode,
        "country_code": "GT", "is_supplemental": False, "is_autoplay": False,
        "runtime_sec": runtime,
    }  # fmt: skip


def _land(cfg, name: str, lines: list[dict]) -> None:
    folder = Path(cfg.paths.landing_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    stamp = 1_700_000_000 + len(list(folder.iterdir()))
    os.utime(path, (stamp, stamp))


def _feed(
    now: dt.datetime, rng: random.Random, n: int, ago: tuple[int, int], keys: set | None = None
) -> list[dict]:
    """``n`` events over 2 profiles, films and episodes, 3 devices, ``ago`` minutes back.

    Each ``(session_id, event_time)`` once (the ingest would drop a repeat); only the
    ``(profile, content_key)`` of ``keys`` when given.
    """
    out: list[dict] = []
    used: set = set()
    while len(out) < n:
        i = len(out)
        profile = rng.choice((7, 8))
        title = rng.choice((100, 200, 300))
        episode = title * 10 + rng.randint(1, 2) if title == 300 else None
        session = f"s{profile}-{title}-{rng.randint(1, 3)}"
        seconds = rng.randint(ago[0] * 60, ago[1] * 60)
        if (session, seconds) in used or (keys and (profile, episode or title) not in keys):
            continue
        used.add((session, seconds))
        out.append(_event(
            session, seconds, rng.randint(0, 5000),
            profile=profile, title=title, episode=episode, runtime=5400 if i % 3 else None,
            device=rng.choice(("tv", "phone", "web")), now=now,
            etype=rng.choice(("HEARTBEAT", "HEARTBEAT", "PAUSE", "END")),
        ))  # fmt: skip
    return out


def _by_key(rows: list[dict]) -> dict:
    return {(r["profile_id"], r["content_key"]): r for r in rows}


def _held(store: HotStore, profiles) -> dict:
    return _by_key([r for p in profiles for r in store.resume_rows(p)])


@pytest.mark.slow  # a Spark pipeline of its own (~10-45 s): make test, not test-fast
def test_the_ingest_leaves_redis_holding_current_resume(spark, tmp_path, redis_url, monkeypatch):  # noqa: F811
    cfg = load_config(
        "test", lake_root=str(tmp_path), overrides={"ingest": {"max_files_per_trigger": 1}}
    )
    monkeypatch.setenv(cfg.hot_store.url_env, redis_url)
    client = redis.Redis.from_url(redis_url)
    client.flushall()
    now, rng = dt.datetime.now(UTC), random.Random(22)
    _land(cfg, "a.jsonl", _feed(now, rng, 60, (30, 60)))
    _land(cfg, "b.jsonl", _feed(now, rng, 60, (0, 45)))  # newer and late rows mixed
    totals = ingest.run(cfg, once=True, spark=spark)
    assert totals["written"] > 100
    engine = get_engine(spark, cfg)
    delta = _by_key(hot_rows(current_resume(engine).collect()))
    store = HotStore.from_config(cfg, url=redis_url)
    assert len(delta) >= 8 and _held(store, (7, 8)) == delta
    resume_keys = list(client.scan_iter("vl:resume:*"))  # nothing more than Delta's rows
    assert len(resume_keys) == len(delta)

    # a replay of the batches' events changes nothing in Redis
    before = redis_state(client)
    replay = HotSync(store, cfg.resume.finish_ratio).push(
        batch_resume_rows(engine.read("playback_event"), cfg.resume.finish_ratio), 99
    )
    assert replay.rows == len(delta) and replay.written == 0
    assert redis_state(client) == before

    # an older batch after the newer ones: Delta and Redis keep the newer positions
    _land(cfg, "c.jsonl", _feed(now, rng, 40, (90, 120), keys=set(delta)))
    assert ingest.run(cfg, once=True, spark=spark)["written"] == 40
    assert _by_key(hot_rows(current_resume(engine).collect())) == delta
    assert _held(store, (7, 8)) == delta

    # resume rows, recency index, last_timestamp unchanged (a device seen only in the older
    # batch gets its own field in watch_position_by_device: new to Redis, not a regression)
    def items(state: dict) -> dict:
        return {k: v for k, v in state.items() if b":watch_position_by_device:" not in k}

    assert items(redis_state(client)) == items(before)
    client.close()


@pytest.mark.slow  # a Spark pipeline of its own (~10-45 s): make test, not test-fast
def test_redis_down_the_ingest_commits_and_logs(spark, tmp_path, monkeypatch, caplog):
    cfg = load_config("test", lake_root=str(tmp_path))
    monkeypatch.setenv(cfg.hot_store.url_env, f"redis://127.0.0.1:{_closed_port()}/0")
    _land(cfg, "a.jsonl", _feed(dt.datetime.now(UTC), random.Random(1), 20, (0, 30)))
    with caplog.at_level(logging.WARNING, logger="ingest_playback_events"):
        totals = ingest.run(cfg, once=True, spark=spark)
    assert totals["written"] == 20
    engine = get_engine(spark, cfg)
    assert engine.read("playback_event").count() == 20
    assert current_resume(engine).count() > 0
    assert "batch 0: hot store not updated" in caplog.text


def test_resume_fields_are_the_resume_state_columns():
    assert list(RESUME_FIELDS) == RESUME_STATE.columns
