"""ASGI guards in front of the routes: request body size and rate limits.

Plain ASGI classes rather than ``@app.middleware("http")``, which costs a task and a
stream per request.

* :class:`BodyLimit`: a body longer than ``api.max_body_bytes`` is answered 413 before
  any route parses it (``Content-Length`` checked up front, a chunked body counted as
  it arrives).
* :class:`RateLimit`: on ``/api/``, per client IP, per token and per profile (the token's
  profile). Where the counters live is decided once, by :func:`rate_limit_url`:
  ``api.rate_limit_storage`` when set, else the hot store's Redis (``$REDIS_URL``,
  ``hot_store.url_env``) when set, else ``memory://`` (per process: local and test).
  On Redis (:class:`RedisLimiter`) a request costs one round trip for all its limits (one
  Lua script, sliding-window counters, awaited on the event loop with ``redis.asyncio``:
  no threadpool hop) and a Redis that is down lets requests through (one warning per
  outage, never a 5xx); ``memory://`` (or another ``limits`` storage URL)
  is the ``limits`` library's moving window (:class:`MemoryLimiter`).
  ``X-Forwarded-For`` names the client only when the connection comes from an address of
  ``api.trusted_proxies`` (empty by default: never, not even from 127.0.0.1).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import multiprocessing
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
import redis
import redis.asyncio
from limits import RateLimitItem
from limits import parse as parse_limit
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from api.settings import ApiSettings, ApiSettingsError
from api.tokens import InvalidTokenError, verify
from jobs.core.runtime.config import HotStoreSettings

log = logging.getLogger(__name__)


async def _answer(send, status: int, detail: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(Exception):
    """Raised inside ``receive`` when a streamed body passes the limit."""


class BodyLimit:
    """413 for a request body longer than ``max_bytes`` (checked before parsing)."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        detail = f"request body larger than {self.max_bytes} bytes (api.max_body_bytes)"
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return await _answer(send, 413, detail)
        seen = 0
        over = answered = False

        async def counted_receive():
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    over = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message):
            # whatever the app answers to a body cut short (FastAPI: 400) becomes the 413
            nonlocal answered
            if not over:
                await send(message)
            elif not answered:
                answered = True
                await _answer(send, 413, detail)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge:
            if not answered:
                await _answer(send, 413, detail)


def several_workers() -> bool:
    """Whether this process is one of several serving workers.

    ``WEB_CONCURRENCY`` > 1 (uvicorn's and gunicorn's variable for ``--workers``) or a
    process started by ``multiprocessing`` (``uvicorn --workers N`` spawns its workers so).
    """
    try:
        workers = int(os.environ.get("WEB_CONCURRENCY") or 1)
    except ValueError:
        workers = 1
    return workers > 1 or multiprocessing.parent_process() is not None


def rate_limit_url(
    settings: ApiSettings, hot: HotStoreSettings, environ: Mapping[str, str] | None = None
) -> str:
    """Where the rate-limit counters live: the one place that decides.

    ``api.rate_limit_storage`` when it is set (non-empty); else the hot store's Redis, the
    URL in the environment variable ``hot_store.url_env`` (``REDIS_URL``), so every worker
    on that Redis shares one budget; else ``memory://`` (per process: local and test).

    Args:
        settings: the ``api:`` section.
        hot: the ``hot_store:`` section (``url_env``).
        environ: the environment to read (default ``os.environ``).
    """
    explicit = settings.rate_limit_storage.strip()
    if explicit:
        return explicit
    env = os.environ if environ is None else environ
    return env.get(hot.url_env, "").strip() or "memory://"


def open_storage(settings: ApiSettings, url: str | None = None) -> Storage:
    """The ``limits`` storage of ``url`` (default: ``api.rate_limit_storage``, else memory://).

    Per-process ``memory://`` under several workers would multiply every limit by the
    number of workers: outside ``api.dev_secret_envs`` (local, test) that refuses to
    start; in local and test it is logged as a warning.

    Raises:
        ApiSettingsError: an unknown or unusable storage URL (a missing client library
            such as ``redis``), or ``memory://`` under several workers outside local/test.
    """
    url = url or settings.rate_limit_storage.strip() or "memory://"
    try:
        storage = storage_from_string(url)
    except Exception as exc:  # limits raises ConfigurationError / ImportError variants
        raise ApiSettingsError(
            f"api.rate_limit_storage {url!r} is unusable ({exc}); use memory:// or "
            "redis://HOST:PORT (needs the redis package)"
        ) from None
    if isinstance(storage, MemoryStorage) and several_workers():
        message = (
            "api.rate_limit_storage is memory:// (per process) but several workers serve "
            "the API: every rate limit is multiplied by the worker count; set "
            "api.rate_limit_storage to redis://HOST:PORT (or the hot store's "
            "REDIS_URL, which the limits then share)"
        )
        if settings.environment not in settings.dev_secret_envs:
            raise ApiSettingsError(message)
        log.warning(message)
    return storage


Check = tuple[RateLimitItem, str, str]  # (limit, kind: ip / token / profile, key)


@dataclass(frozen=True)
class Refusal:
    """The first limit a request exceeds: its kind, the limit, seconds until it may retry."""

    kind: str
    limit: RateLimitItem
    retry_after: int


class MemoryLimiter:
    """The ``limits`` library's moving window on a ``limits`` storage (``memory://``: per process).

    Hits the limits in order and stops at the first one exceeded (the earlier ones have
    counted the request).
    """

    def __init__(self, storage: Storage):
        self.limiter = MovingWindowRateLimiter(storage)
        # memory:// does no I/O: called on the event loop; any other storage in a thread
        self.blocking = not isinstance(storage, MemoryStorage)

    def check(self, checks: Sequence[Check]) -> Refusal | None:
        """Count one request against every limit of ``checks``; the first exceeded, or None."""
        for limit, kind, key in checks:
            if not self.limiter.hit(limit, kind, key):
                reset, _ = self.limiter.get_window_stats(limit, kind, key)
                return Refusal(kind, limit, max(1, math.ceil(reset - time.time())))
        return None


# Sliding-window counters for every limit of one request, in one round trip.
# KEYS: per limit i, KEYS[2i-1] = its counter of the current window, KEYS[2i] = of the
# previous one. ARGV[1] = cost; per limit i: ARGV[3i-1] = amount, ARGV[3i] = window (ms),
# ARGV[3i+1] = ms elapsed in the current window. The estimate is the previous window's
# count weighted by the part of it still inside the sliding window, plus the current
# count. Nothing is counted when a limit is exceeded: returns {i, current, previous} of
# the first such limit, else {0, 0, 0} after adding cost to every current counter (which
# lives two windows: it is the next window's "previous").
RATE_SCRIPT = """
local cost = tonumber(ARGV[1])
local n = #KEYS / 2
for i = 1, n do
  local amount = tonumber(ARGV[3 * i - 1])
  local window = tonumber(ARGV[3 * i])
  local elapsed = tonumber(ARGV[3 * i + 1])
  local current = tonumber(redis.call('GET', KEYS[2 * i - 1]) or '0')
  local previous = tonumber(redis.call('GET', KEYS[2 * i]) or '0')
  if previous * (window - elapsed) / window + current + cost > amount then
    return {i, current, previous}
  end
end
for i = 1, n do
  if redis.call('INCRBY', KEYS[2 * i - 1], cost) == cost then
    redis.call('PEXPIRE', KEYS[2 * i - 1], 2 * tonumber(ARGV[3 * i]))
  end
end
return {0, 0, 0}
"""


def sliding_retry_after(
    amount: int, window: float, elapsed: float, current: int, previous: int, cost: int = 1
) -> float:
    """Seconds until a sliding-window counter admits ``cost`` more (the ``Retry-After``).

    The estimate at a fraction ``f`` into a window is ``previous * (1 - f) + current``.
    While ``current + cost`` fits, the wait is until the previous window's share has
    shrunk enough; otherwise until the next window, where the current count becomes the
    shrinking "previous". At most two windows.

    Args:
        amount: requests allowed per window.
        window: the window, seconds.
        elapsed: seconds elapsed in the current window.
        current: the current window's count; previous: the previous window's.
    """
    if current + cost <= amount:
        share = 1 - (amount - current - cost) / previous if previous else 0.0
        return max(0.0, share * window - elapsed)
    share = 1 - (amount - cost) / current if current else 0.0
    return (window - elapsed) + max(0.0, share) * window


class RedisLimiter:
    """Every limit of a request checked and counted in one Redis round trip (:data:`RATE_SCRIPT`).

    Sliding-window counters (two integer keys per limit and client, ``{prefix}{kind}:
    {key}:{amount}/{seconds}s:{window number}``, each living two windows), shared by every
    worker and host on the Redis. A refused request counts against no limit. The window
    number comes from the worker's clock (UTC epoch; hosts kept in sync by NTP).

    The round trip is awaited on the event loop (``redis.asyncio``): :meth:`check` is a
    coroutine and no worker thread is involved. A client (and its connection pool) is
    made per event loop, since asyncio connections belong to the loop that opened them
    (a server has one loop; a test client may start one per request).

    A Redis that is down or slower than ``hot_store.socket_timeout_sec`` lets the request
    through (fail open: the limits protect the service, an outage of Redis must not take
    it down); one warning when Redis goes away and one when it is back, not per request.
    """

    blocking = False  # awaited on the event loop (see RateLimit.__call__)

    def __init__(self, connect: Callable[[], redis.asyncio.Redis], key_prefix: str):
        """
        Args:
            connect: makes an asyncio Redis client (called once per event loop).
            key_prefix: prepended to every counter key.
        """
        self.connect = connect
        self.prefix = key_prefix
        self._down = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._script: Any = None

    @classmethod
    def from_url(cls, url: str, hot: HotStoreSettings) -> RedisLimiter:
        """A limiter on the Redis at ``url``; keys under ``{hot_store.key_prefix}rl:``.

        No connection is made here (a Redis down at start only means open limits).
        ``hot_store.socket_timeout_sec`` bounds the connect, every reply and the wait for
        a free connection: the pool (``hot_store.max_connections``) blocks rather than
        fail, so a burst of concurrent requests queues for a connection instead of
        finding the limits open (redis-py's default pool raises past 100 in use).

        Raises:
            ApiSettingsError: ``url`` is not a Redis URL redis-py understands.
        """
        timeout = hot.socket_timeout_sec

        def connect() -> redis.asyncio.Redis:
            pool = redis.asyncio.BlockingConnectionPool.from_url(
                url,
                max_connections=hot.max_connections,
                timeout=timeout,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
            )
            return redis.asyncio.Redis(connection_pool=pool)

        try:
            connect()  # parses the URL now: a malformed one fails at start, not per request
        except ValueError as exc:
            raise ApiSettingsError(f"rate-limit storage: not a Redis URL ({exc})") from None
        return cls(connect, f"{hot.key_prefix}rl:")

    def _bound_script(self) -> Any:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._script = self.connect().register_script(RATE_SCRIPT)
            self._loop = loop
        return self._script

    async def check(self, checks: Sequence[Check], now: float | None = None) -> Refusal | None:
        """Count one request against every limit of ``checks`` (one round trip, awaited).

        Args:
            checks: ``(limit, kind, key)`` per limit of the request.
            now: the time, epoch seconds (default: the clock).

        Returns:
            The first limit exceeded (nothing counted then), or None (counted everywhere,
            or Redis unreachable or slower than the socket timeout: the request passes).
        """
        now_ms = int((time.time() if now is None else now) * 1000)
        keys: list[str] = []
        args: list[int] = [1]
        for limit, kind, key in checks:
            seconds = limit.get_expiry()
            window_ms = seconds * 1000
            number = now_ms // window_ms
            base = f"{self.prefix}{kind}:{key}:{limit.amount}/{seconds}s:"
            keys += [f"{base}{number}", f"{base}{number - 1}"]
            args += [limit.amount, window_ms, now_ms - number * window_ms]
        try:
            index, current, previous = await self._bound_script()(keys=keys, args=args)
        except (TimeoutError, redis.exceptions.RedisError, OSError) as exc:
            self._failed(exc)
            return None
        if self._down:
            self._reached()
        if not index:
            return None
        limit, kind, _ = checks[index - 1]
        wait = sliding_retry_after(
            limit.amount,
            limit.get_expiry(),
            args[3 * index] / 1000,
            int(current),
            int(previous),
        )
        return Refusal(kind, limit, max(1, math.ceil(round(wait, 3))))  # to the ms

    def _failed(self, exc: BaseException) -> None:
        # on the event loop: no other task runs between the test and the set
        down, self._down = self._down, True
        if not down:
            log.warning(
                "rate limits not enforced: Redis unreachable (%s: %s); requests pass until "
                "it is back",
                type(exc).__name__,
                exc,
            )

    def _reached(self) -> None:
        down, self._down = self._down, False
        if down:
            log.warning("Redis reachable again: rate limits enforced")


def open_limiter(
    settings: ApiSettings, hot: HotStoreSettings, environ: Mapping[str, str] | None = None
) -> MemoryLimiter | RedisLimiter:
    """The limiter of :func:`rate_limit_url`: a ``redis://`` / ``rediss://`` / ``unix://``
    URL gives a :class:`RedisLimiter` (one awaited round trip per request), any other ``limits``
    storage URL (``memory://``, ``memcached://``, ``redis+sentinel://`` ...) a
    :class:`MemoryLimiter` on it.

    Raises:
        ApiSettingsError: as :func:`open_storage`, or a malformed Redis URL.
    """
    url = rate_limit_url(settings, hot, environ)
    if url.startswith(("redis://", "rediss://", "unix://")):
        source = "api.rate_limit_storage" if settings.rate_limit_storage.strip() else hot.url_env
        log.info("rate limits counted in Redis (%s), shared by every worker", source)
        return RedisLimiter.from_url(url, hot)
    return MemoryLimiter(open_storage(settings, url))


def client_ip(scope: dict[str, Any], trusted: frozenset[str]) -> str:
    """The client's address: the peer, or ``X-Forwarded-For`` when the peer is a trusted proxy.

    The chain is read from the right: the first address that is not a trusted proxy is
    the client (addresses to its left were written by the client and are not believed).
    """
    client = scope.get("client")
    peer = client[0] if client else "unknown"
    if peer not in trusted:
        return peer
    forwarded = [v.decode("latin-1") for k, v in scope["headers"] if k == b"x-forwarded-for"]
    hops = [h.strip() for line in forwarded for h in line.split(",") if h.strip()]
    for hop in reversed(hops):
        if hop not in trusted:
            return hop
    return peer


class RateLimit:
    """Per-IP, per-token and per-profile limits on ``/api/`` (429 + ``Retry-After``).

    ``limiter`` counts (default: :func:`open_limiter` of ``settings`` and the default
    ``hot_store`` settings); ``storage`` (a ``limits`` storage) is the older way to give
    a :class:`MemoryLimiter`.
    """

    def __init__(
        self,
        app,
        settings: ApiSettings,
        storage: Storage | None = None,
        limiter: MemoryLimiter | RedisLimiter | None = None,
    ):
        self.app = app
        self.settings = settings
        if limiter is None:
            limiter = (
                MemoryLimiter(storage)
                if storage is not None
                else open_limiter(settings, HotStoreSettings())
            )
        self.limiter = limiter
        self.per_ip = parse_limit(settings.rate_limit_per_ip)
        self.per_token = parse_limit(settings.rate_limit_per_token)
        self.per_profile = parse_limit(settings.rate_limit_per_profile)
        self.trusted = frozenset(settings.trusted_proxies)

    def _checks(self, scope) -> list[Check]:
        checks = [(self.per_ip, "ip", client_ip(scope, self.trusted))]
        auth = dict(scope["headers"]).get(b"authorization")
        if auth:
            checks.append((self.per_token, "token", hashlib.sha256(auth).hexdigest()[:24]))
            scheme, _, token = auth.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token:
                try:
                    who = verify(self.settings, token.strip())
                except (InvalidTokenError, ValueError):
                    who = None  # the route answers 401
                if who is not None:
                    checks.append((self.per_profile, "profile", str(who.profile_id)))
        return checks

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            return await self.app(scope, receive, send)
        checks = self._checks(scope)
        limiter = self.limiter
        if isinstance(limiter, RedisLimiter):
            refusal = await limiter.check(checks)  # on the loop (redis.asyncio)
        elif limiter.blocking:
            refusal = await anyio.to_thread.run_sync(limiter.check, checks)
        else:
            refusal = limiter.check(checks)
        if refusal is not None:
            retry = refusal.retry_after
            return await _answer(
                send,
                429,
                f"rate limit per {refusal.kind} exceeded ({refusal.limit}); retry in {retry} s",
                {"Retry-After": str(retry)},
            )
        return await self.app(scope, receive, send)
