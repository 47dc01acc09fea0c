"""The player's routes: heartbeats in (``POST /api/playback/events``), positions per device out.

``POST /api/playback/events`` takes a batch of playback events (PLAY, HEARTBEAT, PAUSE,
SEEK, END, BITRATE_CHANGE, ERROR) of one profile, validates every event as the ingest
would (:func:`landing_events`: a bad event is a 422 naming its index and field, and
nothing of the batch is stored), appends them to the worker's group-committed landing
file (:mod:`api.event_log`) and answers 202 once that file is published; then the hot
store (Redis) takes them, best effort (``X-Hot-Store: ok | unavailable | off``).

``GET /api/profiles/{id}/positions/{content_key}`` answers where each device left an
item, from Redis; without it, ``resume_state``'s one row (the newest device).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError

from api import hot
from api.deps import AppState, acting_profile, principal, state
from api.event_log import EventLogClosed
from api.landing import utc_text
from api.lookups import profile_origin, resume_table
from api.models import EARLIEST_TIME
from api.models_playback import (
    PLAYER_REQUIRED,
    DevicePositions,
    PlaybackAccepted,
    PlaybackBatch,
)
from api.tokens import Principal
from jobs.core.rules.as_of import parse_utc, to_utc

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api")

Who = Annotated[Principal, Depends(principal)]
St = Annotated[AppState, Depends(state)]
ProfileParam = Annotated[int | None, Query(description="admin only: another profile")]


def _problem(index: int, field: str, problem: str) -> dict[str, Any]:
    return {
        "loc": ("body", "events", index, field),
        "msg": f"Value error, {problem}",
        "type": "value_error",
    }


def landing_events(
    st: AppState, pid: int, batch: PlaybackBatch, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """The batch as landing-contract dicts, every event checked as the ingest checks it.

    The rules are the ingest's (:func:`jobs.core.ingest.stream.validate`), from their
    data: the required fields (``REQUIRED_FIELDS``, plus ``device_id``), ``0 <=
    position_sec <= ingest.max_position_sec``, ``event_time`` at most
    ``ingest.max_future_sec`` after ``now`` (and not before 2000, the contract's 4-digit
    years); types and event types come from the model (:mod:`api.models_playback`).
    ``profile_id``, ``account_id`` and ``country_code`` are the profile's.

    Args:
        st: the app state (config, lake).
        pid: the profile the request acts for.
        batch: the parsed body.
        now: the reference time (UTC; default: now).

    Returns:
        One dict per event: its non-NULL fields, ``event_time`` as the contract's UTC text.

    Raises:
        RequestValidationError: 422, one problem per bad field, located
            ``body.events.<index>.<field>``; nothing of the batch is taken.
        HTTPException: 403 for an event of another profile, 404 for an unknown profile.
    """
    ingest = st.cfg.ingest
    if len(batch.events) > st.settings.playback_batch_max:
        raise RequestValidationError(
            [
                {
                    "loc": ("body", "events"),
                    "msg": f"Value error, at most {st.settings.playback_batch_max} events "
                    "per request (api.playback_batch_max)",
                    "type": "value_error",
                }
            ]
        )
    latest = to_utc(now or dt.datetime.now(dt.UTC)) + dt.timedelta(seconds=ingest.max_future_sec)
    errors: list[dict[str, Any]] = []
    for i, event in enumerate(batch.events):
        values = event.model_dump()
        if values["profile_id"] not in (None, pid):
            raise HTTPException(403, f"events[{i}].profile_id: this request acts for {pid} only")
        errors += [_problem(i, f, f"missing {f}") for f in PLAYER_REQUIRED if values[f] is None]
        position = values["position_sec"]
        if position is not None and not 0 <= position <= ingest.max_position_sec:
            errors.append(
                _problem(i, "position_sec", f"give 0 to {ingest.max_position_sec} seconds")
            )
        when = values["event_time"]
        if when is not None and not EARLIEST_TIME <= to_utc(when) <= latest:
            errors.append(
                _problem(
                    i,
                    "event_time",
                    f"give a time from {EARLIEST_TIME:%Y-%m-%d} up to "
                    f"{ingest.max_future_sec} s from now (the ingest quarantines later ones)",
                )
            )
        for name, value in values.items():
            if isinstance(value, str) and len(value) > st.settings.text_max_chars:
                errors.append(
                    _problem(i, name, f"text longer than {st.settings.text_max_chars} characters")
                )
    if errors:
        raise RequestValidationError(errors)
    account_id, country = profile_origin(st, pid)
    out = []
    for event in batch.events:
        values = {k: v for k, v in event.model_dump().items() if v is not None}
        values["event_time"] = utc_text(values["event_time"])
        values.update(profile_id=pid, account_id=account_id, country_code=country)
        out.append(values)
    return out


@router.post(
    "/playback/events",
    response_model=PlaybackAccepted,
    status_code=202,
    summary="A player's batch of playback events (heartbeats...): 202 once durable",
    responses={
        422: {"description": "an event is invalid: its index and field are named"},
        503: {"description": "the landing zone could not be written: retry the batch"},
    },
)
async def playback_events(
    who: Who,
    st: St,
    response: Response,
    body: PlaybackBatch,
    profileId: ProfileParam = None,  # noqa: N803
) -> dict[str, Any]:
    pid = acting_profile(who, profileId)
    # CPU only (the profile table is a warm snapshot, refreshed in the background): on
    # the loop; a threadpool hop costs more than the checks
    events = landing_events(st, pid, body)
    try:
        receipt = st.events.submit(events)
        await receipt.durable()
    except (OSError, EventLogClosed) as exc:
        log.error("playback events of profile %s not landed: %s", pid, exc)
        raise HTTPException(
            503, "the events could not be stored; retry the batch", headers={"Retry-After": "1"}
        ) from None
    timed = [{**e, "event_time": parse_utc(e["event_time"])} for e in events]
    # one pipelined round trip, bounded by hot_store.socket_timeout_sec: on the loop, as
    # the Redis reads are (a threadpool hop cost more CPU than the call itself)
    taken = hot.apply_events(st, timed)
    response.headers["X-Hot-Store"] = taken
    return {
        "accepted": len(events),
        "stored": receipt.stored,
        "duplicates": receipt.duplicates,
        "hot_store": taken,
    }


@router.get(
    "/profiles/{profile_id}/positions/{content_key}",
    response_model=DevicePositions,
    summary='Where each device left an item ("where was I on the TV?")',
)
async def positions(
    who: Who, st: St, response: Response, profile_id: int, content_key: int
) -> dict[str, Any]:
    """Redis is read on the event loop (one round trip); the Delta fallback in the threadpool."""
    acting_profile(who, profile_id)
    devices = hot.device_positions(st, profile_id, content_key)
    served = "redis"
    if devices is None:
        served = "delta"
        devices = await run_in_threadpool(_delta_positions, st, profile_id, content_key)
    response.headers["X-Served-From"] = served
    return {
        "profile_id": profile_id,
        "content_key": content_key,
        "served_from": served,
        "devices": devices,
    }


def _delta_positions(st: AppState, profile_id: int, content_key: int) -> list[dict[str, Any]]:
    """``resume_state``'s row of the item (the newest device), as a device position."""
    _, table = resume_table(st, profile_id, "latest", None)
    return [
        {
            "device_id": r["device_id"],
            "position_sec": r["last_position_sec"],
            "last_update": r["last_update"],
        }
        for r in table.to_pylist()
        if r["content_key"] == content_key
    ]
