"""The FastAPI application: ``uvicorn api.app:create_app --factory`` (``make serve``).

Every route under ``/api`` needs ``Authorization: Bearer TOKEN`` (``python -m
api.tokens``); a profile token reaches only that profile's data (403 otherwise), an
admin token any profile and erasure. Requests are rate-limited per token and per client
IP (429 with ``Retry-After``). OpenAPI at ``/docs``.

The lake is ``--lake-root`` of the jobs: ``LAKEHOUSE_ROOT`` / ``LAKEHOUSE_ENV`` as for
every job (``jobs.core.config.load_config``).
"""

from __future__ import annotations

import hashlib
import math
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from limits import parse as parse_limit
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from api import models, routes_read, routes_reco, routes_write
from api.deps import AppState
from api.lake import Lake, TableMissingError, VersionNotFoundError
from api.settings import ApiSettings, load_api_settings
from jobs.core.config import load_config


class RateLimit:
    """Pure ASGI middleware: per-IP and per-token limits on ``/api/`` (429 + Retry-After).

    Plain ASGI rather than ``@app.middleware("http")``, which costs a task and a stream
    per request.
    """

    def __init__(self, app, settings: ApiSettings):
        self.app = app
        self.limiter = MovingWindowRateLimiter(MemoryStorage())
        self.per_ip = parse_limit(settings.rate_limit_per_ip)
        self.per_token = parse_limit(settings.rate_limit_per_token)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            return await self.app(scope, receive, send)
        client = scope.get("client")
        checks = [(self.per_ip, "ip", client[0] if client else "unknown")]
        auth = dict(scope["headers"]).get(b"authorization")
        if auth:
            checks.append((self.per_token, "token", hashlib.sha256(auth).hexdigest()[:24]))
        for limit, kind, key in checks:
            if not self.limiter.hit(limit, kind, key):
                reset, _ = self.limiter.get_window_stats(limit, kind, key)
                retry = max(1, math.ceil(reset - time.time()))
                response = JSONResponse(
                    {"detail": f"rate limit per {kind} exceeded ({limit}); retry in {retry} s"},
                    status_code=429,
                    headers={"Retry-After": str(retry)},
                )
                return await response(scope, receive, send)
        return await self.app(scope, receive, send)


def create_app(
    settings: ApiSettings | None = None,
    env: str | None = None,
    lake_root: str | None = None,
) -> FastAPI:
    """The application over the lake of ``env`` / ``lake_root`` (as the jobs resolve them)."""
    settings = settings or load_api_settings()
    cfg = load_config(env, lake_root)
    models.TEXT_MAX_CHARS = settings.text_max_chars
    app = FastAPI(
        title="Viewing activity API",
        version="1.0",
        description=(
            "Continue Watching, history, progress, statistics and explicit watched / "
            "abandoned statements, served from the lakehouse's Delta tables. Times are "
            "UTC ISO-8601; durations in seconds. Authorize with a token from "
            "`python -m api.tokens --profile ID`."
        ),
    )
    app.state.api = AppState(
        settings,
        cfg,
        Lake(
            cfg.paths.tables_dir,
            settings.snapshot_refresh_sec,
            index_max_rows=settings.index_max_rows,
        ),
    )
    app.add_middleware(RateLimit, settings=settings)

    @app.exception_handler(TableMissingError)
    async def _missing(request: Request, exc: TableMissingError):
        return JSONResponse({"detail": f"not built: {exc}"}, status_code=404)

    @app.exception_handler(VersionNotFoundError)
    async def _no_version(request: Request, exc: VersionNotFoundError):
        return JSONResponse({"detail": str(exc)}, status_code=404)

    app.include_router(routes_read.router)
    app.include_router(routes_write.router)
    app.include_router(routes_reco.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
