"""Issue 22: rate limits in Redis, shared by every worker, one round trip per request.

Real redis-server (tests/redis_server.py); two ``create_app()`` instances on one Redis
stand for two uvicorn workers.
"""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
import redis
import redis.asyncio
from limits import parse

from api.guards import RedisLimiter, open_limiter, rate_limit_url, sliding_retry_after
from jobs.core.runtime.config import HotStoreSettings
from tests.api.conftest import OTHER, P
from tests.redis_server import redis_client, redis_server, redis_url  # noqa: F401 - fixtures

CW = f"/api/profiles/{P}/continue-watching"
HOT = HotStoreSettings()
NOT_ENFORCED = "rate limits not enforced"


@pytest.fixture(autouse=True)
def _no_hot_store(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)  # each test says where limits live


def test_one_place_decides_where_limits_are_counted(settings):
    auto = settings.model_copy(update={"rate_limit_storage": ""})
    assert rate_limit_url(auto, HOT, {}) == "memory://"
    assert rate_limit_url(auto, HOT, {"REDIS_URL": "redis://h:1/0"}) == "redis://h:1/0"
    explicit = settings.model_copy(update={"rate_limit_storage": "memory://"})
    assert rate_limit_url(explicit, HOT, {"REDIS_URL": "redis://h:1/0"}) == "memory://"
    assert isinstance(open_limiter(auto, HOT, {"REDIS_URL": "redis://h:1/0"}), RedisLimiter)


def test_two_workers_on_the_hot_store_redis_share_one_limit(
    make_client,
    auth,
    monkeypatch,
    redis_url,  # noqa: F811
    redis_client,  # noqa: F811
):
    monkeypatch.setenv("REDIS_URL", redis_url)  # api.rate_limit_storage left empty (conf)
    workers = [make_client(rate_limit_per_profile="3/minute") for _ in (1, 2)]
    codes = [workers[i % 2].get(CW, headers=auth()).status_code for i in range(5)]
    assert codes == [200, 200, 200, 429, 429]  # N across both workers, not 2N
    refused = workers[1].get(CW, headers=auth())
    assert refused.status_code == 429
    assert refused.json() == {
        "detail": f"rate limit per profile exceeded (3 per 1 minute); "
        f"retry in {refused.headers['Retry-After']} s"
    }
    assert 1 <= int(refused.headers["Retry-After"]) <= 120  # a sliding window: two at most
    assert (
        workers[0].get(f"/api/profiles/{OTHER}/continue-watching", headers=auth(OTHER)).status_code
        == 200
    )
    assert redis_client.keys("vl:rl:profile:*"), "the counters live in the hot store's Redis"


def test_one_redis_round_trip_per_request_for_all_its_limits(
    make_client,
    auth,
    redis_url,  # noqa: F811
    redis_client,  # noqa: F811
):
    # one event loop for the whole block (a bare TestClient starts one per request, and
    # asyncio connections belong to their loop): as a server runs
    with make_client(rate_limit_storage=redis_url) as client:  # no REDIS_URL: hot store off
        headers = auth()
        assert client.get(CW, headers=headers).status_code == 200  # connects, loads the script
        marker = redis.Redis.from_url(redis_url)
        marker.ping()  # connected before the monitor starts: its end marker is one command
        with redis_client.monitor() as monitor:  # every command Redis receives, in order
            for _ in range(5):
                assert client.get(CW, headers=headers).status_code == 200
            marker.echo("end of test")
            sent = []
            while (entry := monitor.next_command())["command"] != "ECHO end of test":
                if entry["client_type"] != "lua":  # not the script's own GET / INCRBY
                    sent.append(entry["command"].split()[0])
    assert sent == ["EVALSHA"] * 5, sent  # awaited on the loop, one connection, no hop
    kinds = {k.decode().split(":")[2] for k in redis_client.keys("vl:rl:*")}
    assert kinds == {"ip", "token", "profile"}  # three limits counted per round trip


def test_redis_stopped_mid_test_requests_pass_with_one_log_line(make_client, auth, caplog):
    with redis_server() as url:
        client = make_client(rate_limit_storage=url, rate_limit_per_profile="3/minute")
        assert [client.get(CW, headers=auth()).status_code for _ in range(2)] == [200, 200]
    with caplog.at_level(logging.WARNING, logger="api.guards"):
        codes = [client.get(CW, headers=auth()).status_code for _ in range(4)]
    assert codes == [200] * 4  # fail open: never a 5xx, never a 429 from a dead Redis
    lines = [r for r in caplog.records if r.name == "api.guards" and NOT_ENFORCED in r.message]
    assert len(lines) == 1, [r.message for r in caplog.records]


def test_sliding_window_across_a_window_boundary(redis_url):  # noqa: F811
    limiter = RedisLimiter(lambda: redis.asyncio.Redis.from_url(redis_url), f"t{time.time_ns()}:")
    limit = parse("3/minute")
    checks = [(limit, "profile", "7")]
    start = 1_800_000_000 // 60 * 60 + 59  # one second before a window ends

    async def run():
        first = [await limiter.check(checks, now=start) for _ in range(3)]
        refused = await limiter.check(checks, now=start + 2)  # new window: 3 x 59/60 of the old
        later = [await limiter.check(checks, now=start + 2 + 19) for _ in range(2)]
        return first, refused, later

    first, refused, later = asyncio.run(run())
    assert first == [None, None, None]
    assert refused is not None and refused.kind == "profile"
    assert refused.retry_after == 19  # the old window's share drops to 2 at 20 s in
    assert later[0] is None
    assert later[1] is not None  # 3 x 40/60 + 1 + 1 > 3


def test_sliding_retry_after_of_a_full_current_window():
    # 3 in the current window, 10 s in: the next window admits one at a third of the way
    assert sliding_retry_after(3, 60, 10, current=3, previous=0) == pytest.approx(70)
    # 1 now, 3 before: admits one more when 3 x (1 - f) + 1 + 1 <= 3, at f = 2/3
    assert sliding_retry_after(3, 60, 10, current=1, previous=3) == pytest.approx(30)


def test_a_hung_redis_fails_open_within_the_timeout_and_its_return_is_logged(
    redis_url,  # noqa: F811
    caplog,
):
    hot = HotStoreSettings(socket_timeout_sec=0.2)
    limiter = RedisLimiter.from_url(redis_url, hot)
    checks = [(parse("1/minute"), "ip", f"hung-{time.time_ns()}")]

    async def run():
        assert await limiter.check(checks) is None  # counted: the next one would be refused
        redis.Redis.from_url(redis_url).client_pause(1500, all=True)  # Redis answers nobody
        paused = time.monotonic()
        assert await limiter.check(checks) is None  # would be a 429: passes, Redis is away
        assert time.monotonic() - paused < 1.2  # the socket timeout (0.2 s), not the pause
        await asyncio.sleep(max(0.0, paused + 1.7 - time.monotonic()))
        return await limiter.check(checks)  # back: the limit holds again

    with caplog.at_level(logging.WARNING, logger="api.guards"):
        refused = asyncio.run(run())
    assert refused is not None and refused.kind == "ip"
    messages = [r.message for r in caplog.records if r.name == "api.guards"]
    assert len(messages) == 2, messages
    assert NOT_ENFORCED in messages[0] and "reachable again" in messages[1]


def test_more_concurrent_requests_than_pooled_connections_are_all_counted(
    redis_url,  # noqa: F811
    caplog,
):
    """A burst wider than ``hot_store.max_connections`` queues for a connection: every
    request is counted (none finds the limits open), and nothing is logged."""
    hot = HotStoreSettings(max_connections=4, socket_timeout_sec=2)
    limiter = RedisLimiter.from_url(redis_url, hot)
    checks = [(parse("150/minute"), "ip", f"burst-{time.time_ns()}")]

    async def run():
        return await asyncio.gather(*(limiter.check(checks) for _ in range(200)))

    with caplog.at_level(logging.WARNING, logger="api.guards"):
        answers = asyncio.run(run())
    assert sum(a is None for a in answers) == 150  # the limit, exactly: all 200 counted
    assert {a.kind for a in answers if a is not None} == {"ip"}
    assert not [r.message for r in caplog.records if r.name == "api.guards"]
