"""Write routes: explicit watched / abandoned statements, and erasure (admin).

A statement is validated (the content must exist: 404 otherwise), turned into one
landing event (:mod:`api.landing`) and answered with its deterministic record id; the
streaming ingest takes it into ``playback_event`` and its fields into
``viewing_statement`` exactly once, and the activity build into ``viewing_record``,
``abandoned_content``, ``viewing_companion`` and the domain events (docs/api.md).
``Idempotency-Key`` (header) makes a retry return the same record and write nothing.
The statement fields keep the landing contract's snake_case names
(:data:`jobs.core.tables.registry.STATEMENT_FIELDS`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response

from api import models
from api.deps import AppState, acting_profile, principal, state
from api.lake import TableMissingError
from api.landing import (
    IdempotencyConflict,
    accept_once,
    body_digest,
    record_id,
    utc_text,
    write_once,
)
from api.lookups import lookup, profile_origin, resume_table
from api.tokens import Principal
from jobs.core.rules.as_of import parse_utc

router = APIRouter(prefix="/api")

Who = Annotated[Principal, Depends(principal)]
St = Annotated[AppState, Depends(state)]
IdemKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="a retry with the same key returns the same record and writes nothing",
    ),
]
ProfileParam = Annotated[int | None, Query(description="admin only: another profile")]


def _item(st: AppState, item_id: int, kind: str) -> tuple[int, int | None, int | None]:
    """(title_id, episode_id, runtime_sec) of a film (``movie``), an episode, or either.

    Raises:
        HTTPException: 404 when the catalogue does not know it.
    """
    if kind in ("movie", "any"):
        titles = lookup(st.lake.latest("title"), "title_id", ["title_type", "runtime_sec"])
        hit = titles.get(item_id)
        if hit and hit[0] == "FILM":
            return item_id, None, hit[1]
    if kind in ("episode", "any"):
        episodes = lookup(st.lake.latest("episode"), "episode_id", ["title_id", "runtime_sec"])
        hit = episodes.get(item_id)
        if hit:
            return hit[0], item_id, hit[1]
    noun = {"movie": "movie", "episode": "episode", "any": "movie or episode"}[kind]
    raise HTTPException(404, f"unknown {noun} {item_id}")


def _stored_position(st: AppState, pid: int, content_key: int) -> int:
    """The item's current resume position in seconds (0 when it has none).

    A WATCHED statement for an item of unknown runtime carries it, so the statement
    finishes the item without moving its resume point back to 0:00.
    """
    try:
        _, table = resume_table(st, pid, "latest", None)
    except TableMissingError:
        return 0
    keys = table.column("content_key").to_pylist()
    positions = table.column("last_position_sec").to_pylist()
    return max(
        (p or 0 for k, p in zip(keys, positions, strict=True) if k == content_key), default=0
    )


def _watched_position(st: AppState, pid: int, item_id: int) -> Any:
    """``position(runtime)`` of a WATCHED statement: the runtime, else the stored position."""
    return lambda runtime: runtime or _stored_position(st, pid, item_id)


def _accept(
    st: AppState,
    response: Response,
    pid: int,
    event_type: str,
    item_id: int,
    kind: str,
    when: dt.datetime | None,
    position: Any,
    key: str | None,
    fields: dict[str, Any],
    body: Any,
) -> dict[str, Any]:
    account_id, country = profile_origin(st, pid)
    title_id, episode_id, runtime = _item(st, item_id, kind)
    rid = record_id(pid, event_type, item_id, key or uuid.uuid4().hex)
    when = when or dt.datetime.now(dt.UTC)
    event = {
        "session_id": f"api-{rid}",
        "event_time": utc_text(when),
        "event_type": event_type,
        "position_sec": position(runtime),
        "account_id": account_id,
        "profile_id": pid,
        "device_id": f"api:{(fields.get('viewing_platform') or 'app')[:40]}",
        "title_id": title_id,
        "episode_id": episode_id,
        "country_code": country,
        "is_supplemental": False,
        "is_autoplay": False,
        "runtime_sec": runtime,
        **{k: v for k, v in fields.items() if v is not None and v != []},
    }
    if key is None:  # a fresh record id: nothing to remember
        stored, duplicate = write_once(st.cfg.paths.landing_dir, rid, event)
    else:
        ledger = st.settings.idempotency_dir.format(lake_root=st.cfg.paths.lake_root)
        try:
            stored, duplicate = accept_once(
                ledger, st.cfg.paths.landing_dir, rid, body_digest(body.model_dump(mode="json")),
                event,
            )  # fmt: skip
        except IdempotencyConflict:
            raise HTTPException(
                409,
                "Idempotency-Key already used for a different body of this statement; "
                "send a new key for a new statement",
            ) from None
    response.status_code = 200 if duplicate else 201
    return {
        "record_id": rid,
        "event_type": event_type,
        "session_id": stored["session_id"],
        "event_time": parse_utc(stored["event_time"]),
        "duplicate": duplicate,
    }


def _companions(st: AppState, names: list[str | None]) -> list[str]:
    """The non-empty companion names (422 above ``api.companions_max``: never cut silently)."""
    kept = [c for c in names if c]
    if len(kept) > st.settings.companions_max:
        raise HTTPException(
            422, f"watchedWith: at most {st.settings.companions_max} names (api.companions_max)"
        )
    return kept


@router.post(
    "/viewing/movies/{movieId}/watched",
    response_model=models.Accepted,
    status_code=201,
    summary="Mark a film watched (201 new, 200 a retry of the same Idempotency-Key)",
)
def movie_watched(
    who: Who,
    st: St,
    response: Response,
    movieId: int,  # noqa: N803
    body: models.MovieWatchedBody,
    idempotency_key: IdemKey = None,
    profileId: ProfileParam = None,  # noqa: N803
) -> dict[str, Any]:
    body = models.within_limits(body, st.limits)
    pid = acting_profile(who, profileId)
    fields = {
        "viewing_location": body.viewingLocation,
        "viewing_platform": body.viewingPlatform,
        "watched_with": _companions(st, body.watchedWith),
        "viewing_context": body.viewingContext,
        "is_rewatch": body.isRewatch,
    }
    return _accept(
        st, response, pid, "WATCHED", movieId, "movie", body.watchDate,
        _watched_position(st, pid, movieId), idempotency_key, fields, body,
    )  # fmt: skip


@router.post(
    "/viewing/episodes/{episodeId}/watched",
    response_model=models.Accepted,
    status_code=201,
    summary="Mark an episode watched (201 new, 200 a retry of the same Idempotency-Key)",
)
def episode_watched(
    who: Who,
    st: St,
    response: Response,
    episodeId: int,  # noqa: N803
    body: models.EpisodeWatchedBody,
    idempotency_key: IdemKey = None,
    profileId: ProfileParam = None,  # noqa: N803
) -> dict[str, Any]:
    body = models.within_limits(body, st.limits)
    pid = acting_profile(who, profileId)
    fields = {
        "viewing_platform": body.platform,
        "binge_session_id": body.bingeSessionId,
        "viewing_duration_sec": body.viewingDuration,
    }
    return _accept(
        st, response, pid, "WATCHED", episodeId, "episode", body.watchDate,
        _watched_position(st, pid, episodeId), idempotency_key, fields, body,
    )  # fmt: skip


@router.post(
    "/viewing/{itemId}/abandon",
    response_model=models.Accepted,
    status_code=201,
    summary="Say a film or episode was abandoned, with reason and rating",
)
def abandon(
    who: Who,
    st: St,
    response: Response,
    itemId: int,  # noqa: N803
    body: models.AbandonBody,
    idempotency_key: IdemKey = None,
    profileId: ProfileParam = None,  # noqa: N803
) -> dict[str, Any]:
    body = models.within_limits(body, st.limits)
    pid = acting_profile(who, profileId)
    fields = {
        "progress_pct": body.progressPercent,
        "abandon_reason": body.abandonReason,
        "quality_rating": body.qualityRating,
        "would_retry": body.wouldRetry,
    }
    pct = body.progressPercent
    return _accept(
        st, response, pid, "ABANDONED", itemId, "any", body.abandonDate,
        lambda runtime: int(round((runtime or 0) * pct / 100)), idempotency_key, fields, body,
    )  # fmt: skip


@router.delete(
    "/admin/profiles/{profile_id}",
    response_model=models.ErasureReport,
    summary="Right to erasure (admin): delete one profile from every table and file",
)
def erase(who: Who, st: St, profile_id: int) -> dict[str, Any]:
    if not who.admin:
        raise HTTPException(403, "erasure needs an admin token (python -m api.tokens --admin)")
    from jobs.core.privacy.erasure import erase_profile

    report = erase_profile(st.cfg, profile_id)
    st.lake.forget()
    return report.as_dict()
