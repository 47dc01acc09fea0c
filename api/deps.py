"""Request dependencies: the app state, the caller (bearer token) and whom it acts for."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.event_log import EventLog
from api.hot import HotPath
from api.lake import Lake
from api.models import BodyLimits
from api.settings import ApiSettings
from api.tokens import InvalidTokenError, Principal, verify
from jobs.core.runtime.config import Config

_bearer = HTTPBearer(auto_error=False, description="python -m api.tokens --profile ID")


@dataclasses.dataclass
class AppState:
    """What every request reaches through ``request.app.state.api``.

    Attributes:
        cfg: the configuration, loaded once per process by :func:`api.app.create_app`.
        lake: the warm Delta snapshots of ``cfg.paths.tables_dir``.
        events: the worker's group-committed landing file (``POST /api/playback/events``).
        hot: the Redis hot store when ``hot_store.url_env`` is set (:mod:`api.hot`).
    """

    cfg: Config
    lake: Lake
    events: EventLog
    hot: HotPath

    @property
    def settings(self) -> ApiSettings:
        """The ``api:`` section of :attr:`cfg`."""
        return self.cfg.api

    @property
    def limits(self) -> BodyLimits:
        """The limits of a statement body (:func:`api.models.within_limits`)."""
        return BodyLimits(self.cfg.api.text_max_chars, self.cfg.ingest.max_future_sec)


async def state(request: Request) -> AppState:
    """The app state (``async``: no I/O, so FastAPI runs it on the loop, no thread hop)."""
    return request.app.state.api


async def principal(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, from a valid bearer token (401 otherwise).

    ``async`` though it awaits nothing: verifying an HS256 token is a few µs of CPU, less
    than the threadpool hop a sync dependency costs on every request.
    """
    if creds is None:
        raise HTTPException(
            401,
            "missing bearer token: send 'Authorization: Bearer TOKEN' "
            "(python -m api.tokens --profile ID)",
            headers={"WWW-Authenticate": "Bearer"},
        )
    try:
        return verify(request.app.state.api.settings, creds.credentials)
    except InvalidTokenError as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None


def acting_profile(who: Principal, profile_id: int | None) -> int:
    """The profile a request acts for: its own, or any for an admin (403 otherwise)."""
    if profile_id is None:
        return who.profile_id
    if not who.may_act_for(profile_id):
        raise HTTPException(403, f"this token is for profile {who.profile_id} only")
    return profile_id
