"""Read routes: Continue Watching, history, show progress, statistics, the event feed.

Each reads one profile's rows from a warm Delta snapshot (:mod:`api.lake`) and shapes
them with pyarrow and plain Python; lookups (titles, episodes, devices) are built once
per table version.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from typing import Annotated, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response

from api import models
from api.deps import AppState, acting_profile, principal, state
from api.lookups import catalog, lookup, resume_table
from api.paging import page_info, page_size
from api.tokens import Principal
from jobs.core.rules.as_of import Token, parse_as_of, resolve_as_of
from jobs.core.rules.continue_watching import continue_watching_rows

router = APIRouter(prefix="/api")

Who = Annotated[Principal, Depends(principal)]
St = Annotated[AppState, Depends(state)]

AS_OF_EARLIEST = dt.datetime(1970, 1, 2, tzinfo=dt.UTC)  # no Delta commit is older
AS_OF_LATEST = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)  # room for the window arithmetic


def _as_of(text: str | None) -> dt.datetime | Token:
    """``as_of``: ``now``, ``latest`` or an ISO-8601 time from 1970 on (naive = UTC).

    Parsed by the one owner (:func:`jobs.core.rules.as_of.parse_as_of`); the API adds the
    range a Delta time travel can answer.

    Raises:
        HTTPException: 422 for anything else (the value is not echoed).
    """
    problem = "as_of: give an ISO-8601 time from 1970-01-02 on (UTC), 'now' or 'latest'"
    try:
        t = parse_as_of(text)
    except ValueError:
        raise HTTPException(422, problem) from None
    if isinstance(t, dt.datetime) and not AS_OF_EARLIEST <= t < AS_OF_LATEST:
        raise HTTPException(422, problem)
    return t


@router.get(
    "/profiles/{profile_id}/continue-watching",
    response_model=models.ContinueWatching,
    summary="The Continue Watching row (the same rows as jobs.continue_watching)",
)
def continue_watching(
    who: Who,
    st: St,
    response: Response,
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
    asked = _as_of(as_of)
    cw = st.cfg.continue_watching
    # now / latest: Redis when configured and it holds the profile (api/hot.py), same rule
    hot = None if version is not None or isinstance(asked, dt.datetime) else st.hot
    redis_rows = hot.resume_rows(profile_id) if hot is not None else None
    response.headers["X-Served-From"] = "delta" if redis_rows is None else "redis"
    if redis_rows is not None:
        when = resolve_as_of(asked, lambda: max(r["last_update"] for r in redis_rows))
        items = continue_watching_rows(
            redis_rows, catalog(st), when, cw.window_days, limit or cw.limit
        )
        return {"profile_id": profile_id, "as_of": when, "table_version": None, "items": items}
    snap, table = resume_table(st, profile_id, asked, version)
    # 'latest': the profile's newest resume point as read (now when it has none)
    when = resolve_as_of(
        asked, lambda: pc.max(table.column("last_update")).as_py() if table.num_rows else None
    )
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
        raise HTTPException(422, "startDate is after endDate: swap them")
    size = page_size(st, limit)
    fact = st.lake.latest("fact_watch_history")
    movies = lookup(
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
    devices = lookup(st.lake.latest("dim_device"), "device_key", ["device_type"])
    where = None
    if startDate:
        where = pc.field("started_at") >= dt.datetime.combine(startDate, dt.time(), dt.UTC)
    if endDate and endDate < dt.date.max:  # the last day has no day after it: no bound
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
        "page": page_info(len(out), page, size),
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
    size = page_size(st, limit)
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
        "page": page_info(len(ordered), page, size),
        "periods": ordered[start : start + size],
    }


_WHOLE = "\U0010ffff"  # sorts after every event id: "V:" = all of version V delivered
_CURSOR = re.compile(r"(0|[1-9][0-9]{0,18})(?::(.*))?", re.ASCII | re.DOTALL)
_MAX_VERSION = 2**63 - 1  # Delta versions are signed 64-bit


def _parse_cursor(after: str | None) -> tuple[int, str]:
    """``VERSION:EVENT_ID`` -> the last delivered (commit version, event id).

    ``VERSION`` is ASCII digits only (``str.isdigit`` also accepts ``"²"``, which ``int``
    refuses), at most 2^63 - 1.

    Raises:
        HTTPException: 422 naming ``after`` when the text is not such a cursor.
    """
    if not after:
        return -1, _WHOLE
    m = _CURSOR.fullmatch(after)
    if m is None or int(m.group(1)) > _MAX_VERSION:
        raise HTTPException(
            422, f"after {after!r}: not a cursor; pass the next_cursor of a previous answer"
        )
    return int(m.group(1)), m.group(2) or _WHOLE


def _readable_from(path: str, table: DeltaTable) -> tuple[int, int]:
    """(first version whose state the log still holds, last version before an erasure).

    Erasure (:mod:`jobs.core.privacy.erasure`) and log retention remove older commits: the first
    readable version is then a checkpoint. The erasure records in the table property
    ``lakehouse.erasure.onlyDeletesBetween`` (``B,F``) that versions ``B+1..F`` are its
    own, which only delete rows; -1 when there is none or ``F`` is no longer the first.
    """
    names = os.listdir(os.path.join(path, "_delta_log"))
    commits = {int(n[:20]) for n in names if re.fullmatch(r"[0-9]{20}\.json", n)}
    first = 0
    if 0 not in commits:
        marks = {int(n[:20]) for n in names if re.match(r"[0-9]{20}\.checkpoint\.", n)}
        first = min((c for c in marks if all(v in commits for v in range(c + 1, max(commits, default=c) + 1))), default=table.version())  # fmt: skip
    mark = re.fullmatch(
        r"([0-9]{1,19}),([0-9]{1,19})",
        table.metadata().configuration.get("lakehouse.erasure.onlyDeletesBetween", ""),
    )
    # valid only while the erasure's own commit is the first readable version
    return first, int(mark.group(1)) if mark and int(mark.group(2)) == first else -1


@router.get(
    "/events",
    response_model=models.EventFeed,
    summary="Domain events after a cursor (Delta change data feed of viewing_domain_event)",
    responses={410: {"description": "the cursor points into versions an erasure removed"}},
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
    misses or repeats one (the table is append-only; each event is committed once).

    When older versions are gone (an erasure, or log retention), the table's state at
    the first readable version ``F`` stands for every version up to ``F``: a read
    without a cursor starts with its rows (cursors ``F:EVENT_ID``), then the change data
    feed after ``F``. A poller whose cursor was at or past the last version before an
    erasure goes on after ``F``; an older cursor gets 410 (read again without one).
    """
    pid = acting_profile(who, profileId) if (profileId is not None or not who.admin) else None
    version, last_id = _parse_cursor(after)
    snap = st.lake.latest("viewing_domain_event")
    path = st.lake.path("viewing_domain_event")
    table = DeltaTable(path, version=snap.version)
    if table.metadata().configuration.get("delta.enableChangeDataFeed") != "true":
        raise HTTPException(
            503,
            "viewing_domain_event has no change data feed: rebuild the activity tables "
            "(python -m jobs.build_viewing_activity --full-refresh) with this version",
        )
    first, before_erasure = _readable_from(path, table)
    if 0 <= version < first:
        if version < before_erasure or (version == before_erasure and last_id != _WHOLE):
            raise HTTPException(
                410,
                f"after {after!r}: versions before {first} of viewing_domain_event were "
                "removed (erasure or log retention); read again without after and skip "
                "the event ids you already hold",
            )
        version, last_id = first, _WHOLE  # only deletions happened since that cursor
    page = min(limit, st.settings.events_page_max)
    base: list[dict] = []
    if first > 0 and (version < first or (version == first and last_id != _WHOLE)):
        # the state at the first readable version stands for every version up to it
        expr = pc.field("event_id") > pa.scalar(last_id if version == first else "")
        if pid is not None:
            expr = expr & (pc.field("profile_id") == pa.scalar(pid, pa.int64()))
        rows0 = st.lake.at("viewing_domain_event", first).dataset.to_table(filter=expr)
        base = sorted(rows0.to_pylist(), key=lambda r: r["event_id"])[:page]
        for r in base:
            r["_commit_version"] = first
        version, last_id = first, _WHOLE
    cdf_from = version + 1 if last_id == _WHOLE else version
    changes: list[dict] = []
    if len(base) < page and cdf_from <= snap.version:
        reader = table.load_cdf(starting_version=max(cdf_from, first), ending_version=snap.version)
        changes = pa.RecordBatchReader.from_stream(reader).read_all().to_pylist()
    rows = (
        base
        + sorted(
            (
                r
                for r in changes
                if r["_change_type"] in ("insert", "update_postimage")
                and (pid is None or r["profile_id"] == pid)
                and (r["_commit_version"], r["event_id"]) > (version, last_id)
            ),
            key=lambda r: (r["_commit_version"], r["event_id"]),
        )
    )[:page]
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
    if not out and after and version > snap.version:
        nxt = after  # a snapshot older than the cursor: nothing new yet
    elif len(out) < page:
        nxt = f"{snap.version}:"  # everything up to this version has been delivered
    else:
        nxt = out[-1]["cursor"]
    return {"events": out, "next_cursor": nxt}
