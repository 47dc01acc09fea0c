"""Read routes: Continue Watching, history, show progress, statistics, the event feed.

Each reads one profile's rows from a warm Delta snapshot (:mod:`api.lake`) and shapes
them with pyarrow and plain Python; lookups (titles, episodes, devices) are built once
per table version.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from fastapi import APIRouter, Depends, HTTPException, Path, Query

from api import models
from api.deps import AppState, acting_profile, principal, state
from api.lake import Snapshot, TableMissingError, VersionNotFoundError
from api.tokens import Principal
from jobs.core.continue_watching_rule import Catalog, continue_watching_rows
from jobs.core.resume_log import current_resume_arrow
from jobs.core.tables import RESUME_STATE, RESUME_STATE_CHANGE

router = APIRouter(prefix="/api")

Who = Annotated[Principal, Depends(principal)]
St = Annotated[AppState, Depends(state)]

RESUME_COLUMNS = [
    "profile_id",
    "title_id",
    "episode_id",
    "content_key",
    "last_position_sec",
    "last_update",
    "device_id",
    "is_finished",
    "runtime_sec",
]


def catalog(st: AppState) -> Catalog:
    """The Continue Watching lookups of the newest ``title`` and ``episode``."""
    titles, episodes = st.lake.latest("title"), st.lake.latest("episode")
    return titles.cached(
        f"catalog@{episodes.version}",
        lambda: Catalog.from_arrow(
            titles.dataset.to_table(columns=["title_id", "title_name"]),
            episodes.dataset.to_table(
                columns=[
                    "episode_id",
                    "title_id",
                    "season_number",
                    "episode_number",
                    "episode_title",
                    "runtime_sec",
                ]
            ),
        ),
    )


def _parse_as_of(text: str | None) -> dt.datetime | str:
    if text in (None, "", "now"):
        return "now"
    if text == "latest":
        return "latest"
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise HTTPException(
            422, f"as_of {text!r}: give an ISO-8601 time, 'now' or 'latest'"
        ) from None
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


@router.get(
    "/profiles/{profile_id}/continue-watching",
    response_model=models.ContinueWatching,
    summary="The Continue Watching row (the same rows as jobs.continue_watching)",
)
def continue_watching(
    who: Who,
    st: St,
    profile_id: int,
    as_of: Annotated[
        str | None,
        Query(
            description="ISO time: the list as the table stood then (time travel) and for "
            "that moment; 'latest': the profile's newest resume point; default now"
        ),
    ] = None,
    version: Annotated[
        int | None, Query(ge=0, description="resume_state version to read (time travel)")
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=100)] = None,
) -> dict[str, Any]:
    acting_profile(who, profile_id)
    when = _parse_as_of(as_of)
    snap, table = resume_table(st, profile_id, when, version)
    if when == "now":
        when = dt.datetime.now(dt.UTC)
    elif when == "latest":
        newest = pc.max(table.column("last_update")).as_py() if table.num_rows else None
        when = newest if newest is not None else dt.datetime.now(dt.UTC)
    cw = st.cfg.continue_watching
    # the rule looks only at rows touched in (as_of - window, as_of]: a long history is cut
    # here, in Arrow, before the rows become Python objects (most of a request's cost)
    rows = _touched_between(table, when - dt.timedelta(days=cw.window_days), when).to_pylist()
    items = continue_watching_rows(rows, catalog(st), when, cw.window_days, limit or cw.limit)
    return {"profile_id": profile_id, "as_of": when, "table_version": snap.version, "items": items}


def _touched_between(table: pa.Table, since: dt.datetime, until: dt.datetime) -> pa.Table:
    """Rows with ``since < last_update <= until`` (UTC)."""
    kind = table.schema.field("last_update").type
    if getattr(kind, "tz", None) is None:  # naive UTC column: compare naive UTC times
        since, until = (t.astimezone(dt.UTC).replace(tzinfo=None) for t in (since, until))
    column = table.column("last_update")
    keep = pc.and_(
        pc.greater(column, pa.scalar(since, kind)), pc.less_equal(column, pa.scalar(until, kind))
    )
    return table.filter(keep)


def resume_table(
    st: AppState, profile_id: int, when: dt.datetime | str, version: int | None
) -> tuple[Snapshot, pa.Table]:
    """One profile's current resume points (:func:`jobs.core.resume_log.current_resume_arrow`).

    ``resume_state`` ∪ its change log ``resume_state_change``: latest (the log listed
    first), as they stood at ``when`` (a UTC time: each table's version current then), or
    at ``resume_state`` ``version`` with the log as it stood when that version was committed.

    Returns:
        The ``resume_state`` snapshot read (its version is the answer's ``table_version``)
        and the rows, with :data:`RESUME_COLUMNS`.
    """
    if version is not None:
        snap = st.lake.at(RESUME_STATE.name, version)
        change = _change_at(st, st.lake.commit_time(RESUME_STATE.name, version))
    elif isinstance(when, dt.datetime):
        change = _change_at(st, when)  # the log first, as for the latest read
        snap = st.lake.at(RESUME_STATE.name, when)
    else:
        change, snap = st.lake.latest_in_order(RESUME_STATE_CHANGE.name, RESUME_STATE.name)
    columns = [*RESUME_COLUMNS, "session_id"]  # session_id: the rule's tie-break
    pending = change.rows(profile_id, columns) if change is not None else None
    rows = current_resume_arrow(snap.rows(profile_id, columns), pending)
    return snap, rows.select(RESUME_COLUMNS)


def _change_at(st: AppState, when: dt.datetime) -> Snapshot | None:
    """The change log as it stood at ``when``; None when it did not exist yet."""
    try:
        return st.lake.at(RESUME_STATE_CHANGE.name, when)
    except (TableMissingError, VersionNotFoundError):
        return None


def _page(total: int, page: int, limit: int) -> dict[str, Any]:
    return {"page": page, "limit": limit, "total": total, "has_more": page * limit < total}


def _limit(st: AppState, limit: int | None) -> int:
    return min(limit or st.settings.page_size_default, st.settings.page_size_max)


def _lookup(snap: Snapshot, key: str, columns: list[str]) -> dict[Any, tuple]:
    """``key`` -> the other columns, for a small dimension, built once per version."""

    def build() -> dict[Any, tuple]:
        t = snap.dataset.to_table(columns=[key, *columns])
        return dict(
            zip(
                t.column(key).to_pylist(),
                zip(*(t.column(c).to_pylist() for c in columns), strict=True),
                strict=True,
            )
        )

    return snap.cached(f"lookup:{key}:{','.join(columns)}", build)


@router.get("/viewing/history", response_model=models.History, summary="Viewing history, paged")
def history(
    who: Who,
    st: St,
    startDate: Annotated[dt.date | None, Query(description="first UTC date")] = None,  # noqa: N803
    endDate: Annotated[dt.date | None, Query(description="last UTC date")] = None,  # noqa: N803
    contentType: Annotated[Literal["MOVIE", "EPISODE"] | None, Query()] = None,  # noqa: N803
    platform: Annotated[str | None, Query(max_length=40, description="TV, mobile, web...")] = None,
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    limit: Annotated[int | None, Query(ge=1)] = None,
    profileId: Annotated[int | None, Query(description="admin only: another profile")] = None,  # noqa: N803
) -> dict[str, Any]:
    pid = acting_profile(who, profileId)
    if startDate and endDate and startDate > endDate:
        raise HTTPException(422, f"startDate {startDate} is after endDate {endDate}")
    size = _limit(st, limit)
    fact = st.lake.latest("fact_watch_history")
    movies = _lookup(
        st.lake.latest("dim_movies"),
        "movie_key",
        [
            "title_id",
            "title_name",
            "content_type",
            "season_number",
            "episode_number",
            "episode_title",
        ],
    )
    devices = _lookup(st.lake.latest("dim_device"), "device_key", ["device_type"])
    where = None
    if startDate:
        where = pc.field("started_at") >= dt.datetime.combine(startDate, dt.time(), dt.UTC)
    if endDate:
        end = pc.field("started_at") < dt.datetime.combine(
            endDate + dt.timedelta(days=1), dt.time(), dt.UTC
        )
        where = end if where is None else where & end
    rows = fact.rows(pid, where=where).to_pylist()
    out = []
    for r in rows:
        m = movies.get(r["movie_key"], (None,) * 6)
        device_type = devices.get(r["device_key"], (None,))[0]
        if contentType and m[2] != contentType:
            continue
        if platform and (device_type or "").lower() != platform.lower():
            continue
        out.append(
            {
                "session_id": r["session_id"],
                "started_at": r["started_at"],
                "title_id": m[0],
                "title_name": m[1],
                "content_type": m[2],
                "season_number": m[3],
                "episode_number": m[4],
                "episode_title": m[5],
                "platform": device_type,
                "watch_seconds": r["watch_seconds"],
                "progress_pct": r["progress_pct"],
                "is_finished": r["is_finished"],
            }
        )
    out.sort(key=lambda x: x["session_id"])
    out.sort(key=lambda x: x["started_at"], reverse=True)
    start = (page - 1) * size
    return {
        "profile_id": pid,
        "page": _page(len(out), page, size),
        "items": out[start : start + size],
    }


@router.get(
    "/viewing/progress/{showId}",
    response_model=models.ShowProgress,
    summary="Season / episode progress of one series, completion and next episode",
)
def progress(
    who: Who,
    st: St,
    showId: Annotated[int, Path(description="the series' title_id")],  # noqa: N803
    profileId: Annotated[int | None, Query(description="admin only: another profile")] = None,  # noqa: N803
) -> dict[str, Any]:
    pid = acting_profile(who, profileId)
    rows = st.lake.latest("show_progress").rows(pid, where=pc.field("title_id") == showId)
    if rows.num_rows == 0:
        raise HTTPException(404, f"profile {pid} has no progress on series {showId}")
    r = rows.to_pylist()[0]
    eps = st.lake.latest("episode")
    per_series = eps.cached(
        "episodes_per_series",
        lambda: dict(
            zip(
                *(
                    c.to_pylist()
                    for c in eps.dataset.to_table(columns=["title_id"])
                    .group_by("title_id")
                    .aggregate([("title_id", "count")])
                    .columns
                ),
                strict=True,
            )
        ),
    )
    known = per_series.get(showId)
    names = catalog(st).episodes
    nxt = names.get(r["next_episode_id"]) if r["next_episode_id"] is not None else None
    done = r["episodes_watched"]
    return {
        **{k: r[k] for k in models.ShowProgress.model_fields if k in r},
        "known_episodes": known,
        "completion_pct": round(min(100.0, 100.0 * done / known), 1)
        if known and done is not None
        else None,
        "next_episode_title": nxt[3] if nxt else None,
    }


@router.get(
    "/viewing/statistics",
    response_model=models.Statistics,
    summary="Totals, hours and breakdowns (content type, genre, platform) per period",
)
def statistics(
    who: Who,
    st: St,
    period: Literal["week", "month", "year", "all"] = "all",
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    limit: Annotated[int | None, Query(ge=1)] = None,
    profileId: Annotated[int | None, Query(description="admin only: another profile")] = None,  # noqa: N803
) -> dict[str, Any]:
    pid = acting_profile(who, profileId)
    size = _limit(st, limit)
    rows = st.lake.latest("viewing_statistics").rows(pid, where=pc.field("period") == period)
    periods: dict[dt.date, dict[str, Any]] = {}
    for r in rows.to_pylist():
        p = periods.setdefault(
            r["period_start"],
            {
                "period_start": r["period_start"],
                "items_watched": 0,
                "items_completed": 0,
                "watch_hours": 0.0,
                "by_content_type": [],
                "by_genre": [],
                "by_platform": [],
            },
        )
        figures = {k: r[k] or 0 for k in ("items_watched", "items_completed", "watch_hours")}
        if r["breakdown"] == "total":
            p.update(figures)
            continue
        target = {
            "content_type": "by_content_type",
            "genre": "by_genre",
            "device_type": "by_platform",
        }
        if r["breakdown"] in target:
            p[target[r["breakdown"]]].append({"value": r["breakdown_value"], **figures})
    ordered = sorted(periods.values(), key=lambda p: p["period_start"], reverse=True)
    for p in ordered:
        for k in ("by_content_type", "by_genre", "by_platform"):
            p[k].sort(key=lambda b: (-b["watch_hours"], b["value"] or ""))
    start = (page - 1) * size
    return {
        "profile_id": pid,
        "period": period,
        "page": _page(len(ordered), page, size),
        "periods": ordered[start : start + size],
    }


_WHOLE = "\U0010ffff"  # sorts after every event id: "V:" = all of version V delivered


def _parse_cursor(after: str | None) -> tuple[int, str]:
    """``VERSION:EVENT_ID`` -> the last delivered (commit version, event id)."""
    if not after:
        return -1, _WHOLE
    version, _, event_id = after.partition(":")
    if not version.isdigit():
        raise HTTPException(422, f"after {after!r}: pass a next_cursor from a previous answer")
    return int(version), event_id or _WHOLE


@router.get(
    "/events",
    response_model=models.EventFeed,
    summary="Domain events after a cursor (Delta change data feed of viewing_domain_event)",
)
def events(
    who: Who,
    st: St,
    after: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the last call")
    ] = None,
    limit: Annotated[int, Query(ge=1)] = 100,
    profileId: Annotated[int | None, Query(description="admin: one profile (default all)")] = None,  # noqa: N803
) -> dict[str, Any]:
    """Events in (commit version, event_id) order: polling from ``next_cursor`` never
    misses or repeats one (the table is append-only; each event is committed once)."""
    pid = acting_profile(who, profileId) if (profileId is not None or not who.admin) else None
    version, last_id = _parse_cursor(after)
    snap = st.lake.latest("viewing_domain_event")
    first = version + 1 if last_id == _WHOLE else version
    if first > snap.version:
        return {"events": [], "next_cursor": after or f"{snap.version}:"}
    table = DeltaTable(st.lake.path("viewing_domain_event"), version=snap.version)
    try:
        reader = table.load_cdf(starting_version=max(first, 0), ending_version=snap.version)
        changes = pa.RecordBatchReader.from_stream(reader).read_all()
    except Exception as exc:  # delta-rs: CDF not enabled on an old table
        raise HTTPException(
            503,
            f"viewing_domain_event has no change data feed ({exc}); it is enabled on "
            "tables created by this version: rebuild the activity tables",
        ) from None
    rows = sorted(
        (
            r
            for r in changes.to_pylist()
            if r["_change_type"] in ("insert", "update_postimage")
            and (pid is None or r["profile_id"] == pid)
            and (r["_commit_version"], r["event_id"]) > (version, last_id)
        ),
        key=lambda r: (r["_commit_version"], r["event_id"]),
    )[: min(limit, st.settings.events_page_max)]
    out = [
        {
            "cursor": f"{r['_commit_version']}:{r['event_id']}",
            "event_id": r["event_id"],
            "event_type": r["event_type"],
            "profile_id": r["profile_id"],
            "title_id": r["title_id"],
            "episode_id": r["episode_id"],
            "occurred_at": r["occurred_at"],
            "payload": json.loads(r["payload"]) if r["payload"] else None,
            "commit_version": r["_commit_version"],
        }
        for r in rows
    ]
    if len(out) < min(limit, st.settings.events_page_max):
        nxt = f"{snap.version}:"  # everything up to this version has been delivered
    else:
        nxt = out[-1]["cursor"]
    return {"events": out, "next_cursor": nxt}
