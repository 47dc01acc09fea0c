"""The FastAPI application: ``uvicorn api.app:create_app --factory`` (``make serve``).

Every route under ``/api`` needs ``Authorization: Bearer TOKEN`` (``python -m
api.tokens``); a profile token reaches only that profile's data (403 otherwise), an
admin token any profile and erasure. Requests are rate-limited per token and per client
IP and per profile (429 with ``Retry-After``; :mod:`api.guards`: counted in the hot
store's Redis when ``REDIS_URL`` is set, so every worker shares them), bodies above
``api.max_body_bytes`` get 413. Errors have one shape, ``{"detail": ...}``; a 422 names
each field and its problem, never the value sent. OpenAPI at ``/docs``.

The lake is ``--lake-root`` of the jobs: ``LAKEHOUSE_ROOT`` / ``LAKEHOUSE_ENV`` as for
every job (``jobs.core.runtime.config.load_config``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import routes_playback, routes_read, routes_reco, routes_write
from api.deps import AppState
from api.event_log import EventLog
from api.guards import BodyLimit, RateLimit, open_limiter
from api.hot import HotPath
from api.lake import Lake, TableMissingError, VersionNotFoundError
from api.settings import ApiSettings, ApiSettingsError
from jobs.core.runtime.config import Config, load_config

log = logging.getLogger(__name__)


def _problem(error: dict[str, Any]) -> dict[str, Any]:
    """One validation error without the input: where (``loc``), what (``msg``, ``type``)."""
    loc = [part for part in error.get("loc", ()) if isinstance(part, (str, int))]
    msg = str(error.get("msg", "invalid"))
    return {"loc": loc, "msg": msg, "type": str(error.get("type", "value_error"))}


def _finite(value: Any) -> Any:
    """``value`` with NaN / Infinity floats replaced by None (JSON has no such numbers)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def check_startup(settings: ApiSettings) -> None:
    """Refuse to start without a usable signing secret.

    Raises:
        SystemExit: one line naming the variable to set (``api.jwt_secret_env``).
    """
    try:
        settings.jwt_secret  # noqa: B018 - resolving it applies the secret rules
    except ApiSettingsError as exc:
        raise SystemExit(f"viewing API refuses to start: {exc}") from None


def create_app(
    settings: ApiSettings | None = None,
    env: str | None = None,
    lake_root: str | None = None,
    cfg: Config | None = None,
) -> FastAPI:
    """The application over the lake of ``env`` / ``lake_root`` (as the jobs resolve them).

    The configuration is loaded here, once per process (or given as ``cfg``), and every
    request reads it from the app state (:class:`api.deps.AppState`); ``settings``, when
    given, replace its ``api:`` section (tests: other limits).

    Raises:
        SystemExit: no usable signing secret (``check_startup``) or an unusable
            rate-limit storage (one line saying what to set).
    """
    cfg = cfg or load_config(env, lake_root)
    if settings is not None:
        cfg = cfg.model_copy(update={"api": settings})
    settings = cfg.api
    check_startup(settings)
    try:
        # api.rate_limit_storage, else the hot store's Redis ($REDIS_URL), else memory://
        limiter = open_limiter(settings, cfg.hot_store)
    except ApiSettingsError as exc:
        raise SystemExit(f"viewing API refuses to start: {exc}") from None
    events = EventLog(
        cfg.paths.landing_dir,
        settings.event_flush_ms / 1000,
        settings.event_flush_max_events,
        settings.event_dedupe_keys,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        events.close()  # publish the pending group before the worker exits

    app = FastAPI(
        lifespan=lifespan,
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
        cfg,
        Lake(
            cfg.paths.tables_dir,
            settings.snapshot_refresh_sec,
            index_max_rows=settings.index_max_rows,
        ),
        events,
        HotPath.from_config(cfg),
    )
    app.add_middleware(RateLimit, settings=settings, limiter=limiter)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)

    # the one error shape: {"detail": ...}; a 422 names each field and its problem, never
    # the value sent (which may be huge, personal, or NaN that JSON cannot carry)
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError):
        return JSONResponse({"detail": [_problem(e) for e in exc.errors()]}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        return JSONResponse(
            {"detail": _finite(exc.detail)}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"detail": "internal error; the server log has the details"}, status_code=500
        )

    @app.exception_handler(TableMissingError)
    async def _missing(request: Request, exc: TableMissingError):
        return JSONResponse({"detail": f"not built: {exc}"}, status_code=404)

    @app.exception_handler(VersionNotFoundError)
    async def _no_version(request: Request, exc: VersionNotFoundError):
        return JSONResponse({"detail": str(exc)}, status_code=404)

    app.include_router(routes_read.router)
    app.include_router(routes_write.router)
    app.include_router(routes_reco.router)
    app.include_router(routes_playback.router)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
