"""ASGI guards in front of the routes: request body size and rate limits.

Plain ASGI classes rather than ``@app.middleware("http")``, which costs a task and a
stream per request.

* :class:`BodyLimit`: a body longer than ``api.max_body_bytes`` is answered 413 before
  any route parses it (``Content-Length`` checked up front, a chunked body counted as
  it arrives).
* :class:`RateLimit`: on ``/api/``, per client IP, per token and per profile (the token's
  profile), counted in the ``limits`` storage of ``api.rate_limit_storage``: ``memory://``
  counts per process, ``redis://host:port`` across every worker and host.
  ``X-Forwarded-For`` names the client only when the connection comes from an address of
  ``api.trusted_proxies`` (empty by default: never, not even from 127.0.0.1).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import multiprocessing
import os
import time
from typing import Any

from limits import parse as parse_limit
from limits.storage import MemoryStorage, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

from api.settings import ApiSettings, ApiSettingsError
from api.tokens import InvalidTokenError, verify

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


def open_storage(settings: ApiSettings) -> Storage:
    """The ``limits`` storage of ``api.rate_limit_storage``.

    Per-process ``memory://`` under several workers would multiply every limit by the
    number of workers: outside ``api.dev_secret_envs`` (local, test) that refuses to
    start; in local and test it is logged as a warning.

    Raises:
        ApiSettingsError: an unknown or unusable storage URL (a missing client library
            such as ``redis``), or ``memory://`` under several workers outside local/test.
    """
    url = settings.rate_limit_storage
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
            "api.rate_limit_storage to redis://HOST:PORT"
        )
        if settings.environment not in settings.dev_secret_envs:
            raise ApiSettingsError(message)
        log.warning(message)
    return storage


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
    """Per-IP, per-token and per-profile limits on ``/api/`` (429 + ``Retry-After``)."""

    def __init__(self, app, settings: ApiSettings, storage: Storage | None = None):
        self.app = app
        self.settings = settings
        self.limiter = MovingWindowRateLimiter(storage or open_storage(settings))
        self.per_ip = parse_limit(settings.rate_limit_per_ip)
        self.per_token = parse_limit(settings.rate_limit_per_token)
        self.per_profile = parse_limit(settings.rate_limit_per_profile)
        self.trusted = frozenset(settings.trusted_proxies)

    def _checks(self, scope) -> list[tuple[Any, str, str]]:
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
        for limit, kind, key in self._checks(scope):
            if not self.limiter.hit(limit, kind, key):
                reset, _ = self.limiter.get_window_stats(limit, kind, key)
                retry = max(1, math.ceil(reset - time.time()))
                return await _answer(
                    send,
                    429,
                    f"rate limit per {kind} exceeded ({limit}); retry in {retry} s",
                    {"Retry-After": str(retry)},
                )
        return await self.app(scope, receive, send)
