"""The player's write path and the reads from Redis (issue 22 §1-§3).

* ``POST /api/playback/events``: heartbeats land once (a retry writes nothing again),
  a bad event is a 422 naming its index and field and nothing of its batch lands, the
  accepted events of concurrent requests share one landing file, which reads back as
  the landing contract;
* Continue Watching and the per-device positions come from Redis right after the POST
  (``X-Served-From: redis``), without any ingest; a late heartbeat does not move them
  back; with Redis stopped they come from Delta (``X-Served-From: delta``) and writes
  still land (202, ``X-Hot-Store: unavailable``), never a 5xx;
* :class:`api.event_log.EventLog` (property): whatever batches, repeats and order, every
  distinct ``(session_id, event_time)`` key lands exactly once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api.event_log import EventLog
from jobs.core.rules.as_of import parse_utc
from jobs.core.tables.registry import LANDING_EVENT_SCHEMA
from tests.api.conftest import OTHER, P
from tests.redis_server import redis_server, redis_url  # noqa: F401 - the fixture

EVENTS = "/api/playback/events"
CW = f"/api/profiles/{P}/continue-watching"
ROMA = 20  # a film of the mini lake, runtime 8100 s


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def beat(pos: int, seconds_ago: float, device: str = "tv-a", session: str = "s-a", **kw) -> dict:
    when = _now() - dt.timedelta(seconds=seconds_ago)
    return {
        "session_id": session,
        "event_time": when.isoformat().replace("+00:00", "Z"),
        "event_type": "HEARTBEAT",
        "position_sec": pos,
        "device_id": device,
        "title_id": ROMA,
        "runtime_sec": 8100,
        **kw,
    }


def landed(lake: Path) -> list[dict]:
    """Every line of the published landing files (``*.jsonl``, as the ingest globs)."""
    return [
        json.loads(line)
        for f in sorted((lake / "landing").glob("*.jsonl"))
        for line in f.read_text().splitlines()
    ]


def play_files(lake: Path) -> list[Path]:
    return sorted((lake / "landing").glob("play-*.jsonl"))


@pytest.fixture
def hot_client(make_client, redis_url, monkeypatch):  # noqa: F811
    """An API client whose hot store is the module's redis-server (emptied first)."""
    import redis

    redis.Redis.from_url(redis_url).flushall()
    monkeypatch.setenv("REDIS_URL", redis_url)
    return make_client(event_flush_ms=20)


def test_heartbeats_show_in_continue_watching_from_redis_without_ingest(hot_client, auth, lake):
    r = hot_client.post(EVENTS, json={"events": [beat(100, 30), beat(200, 20), beat(300, 10)]},
                        headers=auth())  # fmt: skip
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 3, "stored": 3, "duplicates": 0, "hot_store": "ok"}
    assert r.headers["X-Hot-Store"] == "ok"
    cw = hot_client.get(CW, headers=auth())
    assert cw.status_code == 200 and cw.headers["X-Served-From"] == "redis"
    roma = [i for i in cw.json()["items"] if i["title_id"] == ROMA]
    assert [i["position_sec"] for i in roma] == [300]
    assert cw.json()["table_version"] is None
    # the landing zone has the three events, and no table was touched (no ingest ran)
    assert sorted(e["position_sec"] for e in landed(lake)) == [100, 200, 300]
    assert not (lake / "tables" / "playback_event").exists()


def test_a_late_heartbeat_does_not_regress_and_each_device_keeps_its_position(hot_client, auth):
    assert (
        hot_client.post(EVENTS, json={"events": [beat(300, 10)]}, headers=auth()).status_code == 202
    )
    late = hot_client.post(
        EVENTS, json={"events": [beat(50, 60, session="s-late")]}, headers=auth()
    )
    assert late.status_code == 202
    cw = hot_client.get(CW, headers=auth()).json()["items"]
    assert [i["position_sec"] for i in cw if i["title_id"] == ROMA] == [300]
    # device B, later: the item's position moves on; the TV keeps its own
    phone = beat(900, 1, device="phone-b", session="s-b")
    assert hot_client.post(EVENTS, json={"events": [phone]}, headers=auth()).status_code == 202
    cw = hot_client.get(CW, headers=auth()).json()["items"]
    assert [i["position_sec"] for i in cw if i["title_id"] == ROMA] == [900]
    pos = hot_client.get(f"/api/profiles/{P}/positions/{ROMA}", headers=auth())
    assert pos.status_code == 200 and pos.headers["X-Served-From"] == "redis"
    by_device = {d["device_id"]: d["position_sec"] for d in pos.json()["devices"]}
    assert by_device == {"phone-b": 900, "tv-a": 300}
    assert (
        hot_client.get(f"/api/profiles/{P}/positions/{ROMA}", headers=auth(OTHER)).status_code
        == 403
    )


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"position_sec": -5}, "position_sec"),
        ({"position_sec": 86401}, "position_sec"),
        ({"position_sec": 2**31}, "position_sec"),
        ({"position_sec": "12"}, "position_sec"),
        ({"event_type": "WATCHED"}, "event_type"),
        ({"event_type": "NONSENSE"}, "event_type"),
        ({"progress_pct": 50.0}, "progress_pct"),
        ({"country_code": "KE"}, "country_code"),
        ({"device_id": None}, "device_id"),
        ({"session_id": None}, "session_id"),
        ({"title_id": 2**63}, "title_id"),
        ({"is_autoplay": "yes"}, "is_autoplay"),
        ({"event_time": "2999-01-01T00:00:00Z"}, "event_time"),
        ({"event_time": "yesterday"}, "event_time"),
        ({"event_time": "0001-01-01T00:00:00+01:00"}, "event_time"),
        ({"device_id": "tv-\ud800"}, "device_id"),
        ({"session_id": "s" * 201}, "session_id"),
    ],
)
def test_a_bad_event_is_a_422_naming_index_and_field_and_nothing_lands(
    client, auth, lake, bad, field
):
    batch = [beat(100, 30), {**beat(200, 20), **bad}, beat(300, 10)]
    body = json.dumps({"events": batch})  # ASCII: a lone surrogate travels as \ud800
    r = client.post(EVENTS, content=body, headers={**auth(), "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    locs = [d["loc"] for d in r.json()["detail"]]
    assert ["body", "events", 1, field] in locs, locs
    assert landed(lake) == []


def test_too_many_events_or_another_profile_is_refused(make_client, auth, lake):
    client = make_client(playback_batch_max=2)
    r = client.post(EVENTS, json={"events": [beat(1, 3), beat(2, 2), beat(3, 1)]}, headers=auth())
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "events"]
    r = client.post(EVENTS, json={"events": [beat(1, 3, profile_id=OTHER)]}, headers=auth())
    assert r.status_code == 403 and "events[0]" in r.json()["detail"]
    r = client.post(
        EVENTS, json={"events": [beat(1, 3)]}, params={"profileId": OTHER}, headers=auth()
    )
    assert r.status_code == 403
    assert landed(lake) == []


def test_a_retried_batch_lands_nothing_twice(client, auth, lake):
    batch = {"events": [beat(100, 30), beat(200, 20), beat(200, 20)]}  # a repeat inside, too
    first = client.post(EVENTS, json=batch, headers=auth())
    again = client.post(EVENTS, json=batch, headers=auth())
    assert first.status_code == again.status_code == 202
    assert first.json()["stored"] == 2 and first.json()["duplicates"] == 1
    assert again.json()["stored"] == 0 and again.json()["duplicates"] == 3
    keys = [(e["session_id"], e["event_time"]) for e in landed(lake)]
    assert len(keys) == len(set(keys)) == 2


def test_without_redis_url_writes_land_and_reads_come_from_delta(
    make_client, auth, lake, monkeypatch
):
    monkeypatch.delenv("REDIS_URL", raising=False)
    client = make_client()
    r = client.post(EVENTS, json={"events": [beat(100, 3)]}, headers=auth())
    assert r.status_code == 202 and r.headers["X-Hot-Store"] == "off"
    cw = client.get(CW, headers=auth())
    assert cw.status_code == 200 and cw.headers["X-Served-From"] == "delta"
    assert isinstance(cw.json()["table_version"], int)
    pos = client.get(f"/api/profiles/{P}/positions/{ROMA}", headers=auth())
    assert pos.status_code == 200 and pos.headers["X-Served-From"] == "delta"
    assert pos.json()["devices"] == [
        {"device_id": "tv", "position_sec": 4050, "last_update": "2024-05-30T12:00:00Z"}
    ]


def test_concurrent_requests_share_one_landing_file_in_the_landing_contract(
    make_client, auth, lake, monkeypatch
):
    monkeypatch.delenv("REDIS_URL", raising=False)
    app = make_client(event_flush_ms=300).app
    headers = auth()

    async def post_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            return await asyncio.gather(
                *(
                    c.post(EVENTS, json={"events": [beat(i, 5, session=f"s{i}")]}, headers=headers)
                    for i in range(20)
                )
            )

    answers = asyncio.run(post_all())
    assert [a.status_code for a in answers] == [202] * 20
    files = play_files(lake)
    assert 1 <= len(files) <= 2  # one group (two when a flush tick fell inside the burst)
    assert not list((lake / "landing").glob(".*"))  # no temp file left behind
    lines = landed(lake)
    assert sorted(e["position_sec"] for e in lines) == list(range(20))
    contract = {f.name for f in LANDING_EVENT_SCHEMA.fields}
    for e in lines:
        assert set(e) <= contract, set(e) - contract
        assert e["profile_id"] == P and e["country_code"] == "KE" and e["account_id"] == 1
        assert e["event_time"].endswith("Z") and parse_utc(e["event_time"]) <= dt.datetime.now(
            dt.UTC
        )


def test_redis_stopped_mid_test_reads_fall_back_and_writes_land(
    make_client, auth, lake, monkeypatch
):
    with redis_server() as url:
        monkeypatch.setenv("REDIS_URL", url)
        client = make_client(event_flush_ms=20)
        assert (
            client.post(EVENTS, json={"events": [beat(300, 10)]}, headers=auth()).json()[
                "hot_store"
            ]
            == "ok"
        )
        assert client.get(CW, headers=auth()).headers["X-Served-From"] == "redis"
    # redis-server is stopped now
    r = client.post(EVENTS, json={"events": [beat(400, 5)]}, headers=auth())
    assert r.status_code == 202 and r.headers["X-Hot-Store"] == "unavailable"
    assert sorted(e["position_sec"] for e in landed(lake)) == [300, 400]
    cw = client.get(CW, headers=auth())
    assert cw.status_code == 200 and cw.headers["X-Served-From"] == "delta"
    pos = client.get(f"/api/profiles/{P}/positions/{ROMA}", headers=auth())
    assert pos.status_code == 200 and pos.headers["X-Served-From"] == "delta"


_KEYS = st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 5))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(st.lists(_KEYS, max_size=6), max_size=8), max_events=st.integers(1, 4))
def test_event_log_lands_every_distinct_key_exactly_once(tmp_path_factory, batches, max_events):
    landing = tmp_path_factory.mktemp("landing")
    log = EventLog(str(landing), flush_sec=0.005, max_events=max_events, dedupe_keys=1000)
    receipts = []
    threads = [
        threading.Thread(
            target=lambda b=b: receipts.append(
                log.submit([{"session_id": s, "event_time": str(t)} for s, t in b])
            )
        )
        for b in batches
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for receipt in receipts:
        receipt.wait(5)
    log.close()
    lines = [json.loads(x) for f in landing.glob("*.jsonl") for x in f.read_text().splitlines()]
    keys = [(e["session_id"], int(e["event_time"])) for e in lines]
    assert sorted(keys) == sorted({k for b in batches for k in b})
    assert sum(r.stored for r in receipts) == len(keys)
    assert not list(landing.glob(".*"))


def test_event_log_answers_only_after_the_file_is_published(tmp_path):
    log = EventLog(str(tmp_path), flush_sec=0.3, max_events=100, dedupe_keys=10)
    receipt = log.submit([{"session_id": "s", "event_time": "1"}])
    assert not receipt.futures[0].done() and not list(tmp_path.glob("*.jsonl"))
    [path] = receipt.wait(5)
    assert path.exists() and path.suffix == ".jsonl" and path.read_text().count("\n") == 1
    log.close()


def test_the_landing_file_passes_the_ingest_parser_and_rules_in_spark(spark, client, auth, lake):
    from pyspark.sql import functions as F

    from jobs.core.ingest.stream import parse_landing_lines, validate
    from jobs.core.ingest.stream_expectations import check_batch, load_rules
    from jobs.core.runtime.config import load_config

    kinds = ["PLAY", "HEARTBEAT", "PAUSE", "SEEK", "BITRATE_CHANGE", "ERROR", "END"]
    batch = [
        beat(
            60 * i,
            70 - i,
            event_type=k,
            **({"bitrate_kbps": 4300} if k == "BITRATE_CHANGE" else {}),
        )
        for i, k in enumerate(kinds)
    ]
    assert client.post(EVENTS, json={"events": batch}, headers=auth()).status_code == 202
    [file] = play_files(lake)
    lines = spark.read.text(str(file)).select(
        F.col("value").alias("raw_record"), F.lit(file.name).alias("source_file")
    )
    cfg = load_config("test", str(lake))
    checked = check_batch(
        lines.transform(parse_landing_lines).transform(validate(cfg.ingest)), load_rules(cfg)
    )
    rows = checked.batch.collect()
    assert [(r.event_type, r._corrupt_record, r.reject_reason) for r in rows] == [
        (k, None, None) for k in kinds
    ]
    assert {r.profile_id for r in rows} == {P} and {r.country_code for r in rows} == {"KE"}
    assert checked.counts == {rule.name: 0 for rule in load_rules(cfg)}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _uvicorn(lake: Path, hot_url: str, port: int) -> subprocess.Popen:
    """A real ``uvicorn api.app:create_app --factory`` on ``lake`` and ``hot_url``, up."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "LAKEHOUSE_ENV": "test", "LAKEHOUSE_ROOT": str(lake),
           "REDIS_URL": hot_url, "PYTHONPATH": str(root)}  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory",
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return server
        except httpx.TransportError:
            time.sleep(0.1)
    server.terminate()
    server.wait(10)
    raise RuntimeError("uvicorn did not answer /healthz in 30 s")


def _stop(server: subprocess.Popen) -> None:
    server.terminate()  # SIGTERM: the lifespan publishes the pending landing group
    server.wait(10)


def test_real_uvicorn_and_redis_server_device_a_to_device_b_redis_loss_and_rebuild(
    spark, lake, settings, monkeypatch
):
    """Issue 22's end-to-end: heartbeats on device A show on device B with no ingest run;
    a late one does not regress; Redis killed: reads fall back, writes land; a stopped
    worker publishes its pending group (lifespan); then a fresh Redis, the ingest once
    (its sync to the dead Redis fails quietly), the rebuild and a restarted uvicorn give
    the answers Delta gives. Rust engine (the suite's default)."""
    from api.tokens import issue
    from jobs import rebuild_hot_store
    from jobs.core.ingest import query as ingest
    from jobs.core.runtime.config import load_config

    headers = {"Authorization": f"Bearer {issue(settings, P)}"}
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    with redis_server() as url:
        server = _uvicorn(lake, url, port)
        try:
            a = httpx.post(f"{base}{EVENTS}", json={"events": [beat(1234, 2)]}, headers=headers)
            assert a.status_code == 202 and a.headers["X-Hot-Store"] == "ok", a.text
            b = httpx.get(f"{base}{CW}", headers=headers)  # device B asks right after
            assert b.headers["X-Served-From"] == "redis"
            assert [i["position_sec"] for i in b.json()["items"] if i["title_id"] == ROMA] == [1234]
            late = httpx.post(
                f"{base}{EVENTS}", json={"events": [beat(10, 50, session="old")]}, headers=headers
            )
            assert late.status_code == 202
            b = httpx.get(f"{base}{CW}", headers=headers).json()["items"]
            assert [i["position_sec"] for i in b if i["title_id"] == ROMA] == [1234]
        except BaseException:
            _stop(server)
            raise
    try:  # redis-server is gone: device B plays on, its write lands
        phone = beat(1300, 1, device="phone-b", session="s-b")
        down = httpx.post(f"{base}{EVENTS}", json={"events": [phone]}, headers=headers)
        assert down.status_code == 202 and down.headers["X-Hot-Store"] == "unavailable"
        cw = httpx.get(f"{base}{CW}", headers=headers)
        assert cw.status_code == 200 and cw.headers["X-Served-From"] == "delta"
    finally:
        _stop(server)
    assert sorted(e["position_sec"] for e in landed(lake)) == [10, 1234, 1300]
    assert not list((lake / "landing").glob(".*"))

    # restart + rebuild: the ingest runs once (REDIS_URL still names the dead server: its
    # sync logs and goes on), a fresh Redis is refilled from Delta, uvicorn restarts on it
    monkeypatch.setenv("REDIS_URL", url)
    lake_args = ["--env", "test", "--lake-root", str(lake)]
    # the ingest on the suite's session (its job main would stop the session it shares)
    ingest.run(load_config("test", lake_root=str(lake)), once=True, spark=spark)
    with redis_server() as fresh:
        assert rebuild_hot_store.main([*lake_args, "--redis-url", fresh]) == 0
        server = _uvicorn(lake, fresh, port)
        try:
            hot = httpx.get(f"{base}{CW}", headers=headers)
            assert hot.status_code == 200 and hot.headers["X-Served-From"] == "redis"
            asked = {"as_of": hot.json()["as_of"]}  # an explicit time: served from Delta
            delta = httpx.get(f"{base}{CW}", params=asked, headers=headers)
            assert delta.headers["X-Served-From"] == "delta"
            assert hot.json()["items"] == delta.json()["items"]  # item for item
            assert [(i["title_id"], i["position_sec"]) for i in hot.json()["items"]] == [
                (ROMA, 1300)
            ]
            # resume_state keeps one device per item (the newest): that is what the
            # rebuild restores; device A, playing on, adds its own position beside it
            pos = httpx.get(f"{base}/api/profiles/{P}/positions/{ROMA}", headers=headers)
            assert pos.headers["X-Served-From"] == "redis"
            assert [(d["device_id"], d["position_sec"]) for d in pos.json()["devices"]] == [
                ("phone-b", 1300)
            ]
            tv = httpx.post(f"{base}{EVENTS}", json={"events": [beat(1400, 0)]}, headers=headers)
            assert tv.status_code == 202 and tv.headers["X-Hot-Store"] == "ok"
            pos = httpx.get(f"{base}/api/profiles/{P}/positions/{ROMA}", headers=headers)
            by_device = {d["device_id"]: d["position_sec"] for d in pos.json()["devices"]}
            assert by_device == {"phone-b": 1300, "tv-a": 1400}
        finally:
            _stop(server)


def test_event_log_sweeps_the_temp_files_of_a_crashed_worker_only(tmp_path):
    stale, live = tmp_path / ".play-a.jsonl.part", tmp_path / ".play-b.jsonl.part"
    for f in (stale, live):
        f.write_text('{"session_id":"x"}\n')
    old = time.time() - 3600
    os.utime(stale, (old, old))
    log = EventLog(str(tmp_path), flush_sec=0.01, max_events=10, dedupe_keys=10)
    log.submit([{"session_id": "s", "event_time": "1"}]).wait(5)
    log.close()
    assert not stale.exists() and live.exists()
    assert len(list(tmp_path.glob("play-*.jsonl"))) == 1
