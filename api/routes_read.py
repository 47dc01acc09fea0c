"""Read routes: Continue Watching, history, show progress, statistics, the event feed.

Each reads one profile's rows from a warm Delta snapshot (:mod:`api.lake`) and shapes
them with pyarrow and plain Python once per version of the tables it reads (lookups:
titles, episodes, devices; answers: :mod:`api.profile_cache`), so a request slices
rendered rows; answers go out as pre-rendered JSON, the same bytes FastAPI would render
from the ``response_model`` each route still declares for the OpenAPI document.
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import os
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
from deltalake import DeltaTable
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from api import hot as hot_path
from api import models, profile_cache
from api.deps import AppState, acting_profile, principal, state
from api.lake import Snapshot, TableMissingError
from api.lookups import catalog, lookup, resume_table
from api.paging import page_info, page_size
from api.profile_cache import ProfileCache, cache_of, json_response, render, render_each, splice
from api.tokens import Principal
from jobs.core.rules.as_of import Token, parse_as_of, resolve_as_of, to_utc
from jobs.core.rules.continue_watching import continue_watching_rows
from jobs.core.tables.registry import RESUME_STATE, RESUME_STATE_CHANGE

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
async def continue_watching(
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
) -> Response:
    """From Redis on the event loop when it holds the profile (``now`` / ``latest``),
    else from Delta in the threadpool (per-profile index, :func:`_cw_from_delta`).

    Redis: one round trip; the rows are decoded once per version of the profile's rows
    and the items rendered once per window of rows (:func:`api.hot.resume_index`)."""
    acting_profile(who, profile_id)
    asked = _as_of(as_of)
    cw = st.cfg.continue_watching
    # now / latest: Redis when configured and it holds the profile (api/hot.py), same rule
    hot = None if version is not None or isinstance(asked, dt.datetime) else st.hot
    index = hot_path.resume_index(st, profile_id) if hot is not None else None
    if index is None:
        body = await run_in_threadpool(_cw_from_delta, st, profile_id, asked, version, limit)
        return json_response(body, {"X-Served-From": "delta"})
    when = resolve_as_of(asked, lambda: index.times[-1])
    size = limit or cw.limit
    lo, hi = hot_path.window_bounds(index, when, cw.window_days)
    rows = index.rows

    def build() -> list[bytes]:
        items = continue_watching_rows(rows[lo:hi], cat, when, cw.window_days, size)
        return render_each(models.ContinueWatchingItem, items)

    cat = catalog(st)
    parts = index.window_items(cat, (lo, hi, size), build, st.settings.hot_windows_kept)
    content = {"profile_id": profile_id, "as_of": when, "table_version": None, "items": []}
    envelope = render(models.ContinueWatching, content)
    return json_response(splice(envelope, "items", parts), {"X-Served-From": "redis"})


@dataclass
class _ResumeIndex:
    """One profile's current resume rows, sorted by ``last_update`` (UTC), and the rendered
    Continue Watching items per window (the rule sees only the rows in its window)."""

    rows: list[dict[str, Any]]
    times: list[dt.datetime]
    items: dict[tuple[int, int, int], list[bytes]]

    def weight(self) -> int:
        return profile_cache.ROW_OVERHEAD * 4 * len(self.rows)


def _resume_index(table: pa.Table) -> _ResumeIndex:
    """Rows without a ``last_update`` are left out: the rule never shows them."""
    rows = [r for r in table.to_pylist() if r["last_update"] is not None]
    for r in rows:
        r["last_update"] = to_utc(r["last_update"])
    rows.sort(key=lambda r: r["last_update"])
    return _ResumeIndex(rows, [r["last_update"] for r in rows], {})


def _cw_from_delta(
    st: AppState,
    profile_id: int,
    asked: dt.datetime | Token,
    version: int | None,
    limit: int | None,
) -> bytes:
    """Continue Watching from ``resume_state`` ∪ its change log, rendered.

    ``now`` / ``latest``: the profile's rows are indexed once per version of the two
    tables and the catalogue, and the items once per window (the set of rows in
    ``(as_of - window, as_of]``): a request costs a binary search and the envelope.
    Time travel (``version``, an ISO ``as_of``) reads as before, uncached.
    """
    cw = st.cfg.continue_watching
    size = limit or cw.limit
    if version is not None or isinstance(asked, dt.datetime):
        snap, table = resume_table(st, profile_id, asked, version)
        when = resolve_as_of(
            asked, lambda: pc.max(table.column("last_update")).as_py() if table.num_rows else None
        )
        # the rule looks only at rows touched in (as_of - window, as_of]: cut in Arrow
        rows = _touched_between(table, when - dt.timedelta(days=cw.window_days), when)
        items = continue_watching_rows(rows.to_pylist(), catalog(st), when, cw.window_days, size)
        content = {"profile_id": profile_id, "as_of": when, "table_version": snap.version}
        return render(models.ContinueWatching, {**content, "items": items})
    change, snap = st.lake.latest_in_order(RESUME_STATE_CHANGE.name, RESUME_STATE.name)
    if snap is None:  # the ingest has not created its tables yet: 404, like every read
        raise TableMissingError(f"table {RESUME_STATE.name!r} is not built yet on this lake")
    titles, episodes = st.lake.latest("title"), st.lake.latest("episode")
    key = ("continue-watching", snap.version, change.version if change else -1,
           titles.version, episodes.version, profile_id)  # fmt: skip
    index = cache_of(st).get(
        key,
        lambda: _resume_index(resume_table(st, profile_id, asked, None, (change, snap))[1]),
        _ResumeIndex.weight,
    )
    when = resolve_as_of(asked, lambda: index.times[-1] if index.times else None)
    lo = bisect.bisect_right(index.times, when - dt.timedelta(days=cw.window_days))
    hi = bisect.bisect_right(index.times, when)
    parts = index.items.get((lo, hi, size))
    if parts is None:
        items = continue_watching_rows(index.rows[lo:hi], catalog(st), when, cw.window_days, size)
        parts = render_each(models.ContinueWatchingItem, items)
        if len(index.items) < 64:  # windows seen of this version (a few per day)
            index.items[(lo, hi, size)] = parts
    content = {"profile_id": profile_id, "as_of": when, "table_version": snap.version}
    envelope = render(models.ContinueWatching, {**content, "items": []})
    return splice(envelope, "items", parts)


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


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MOVIE_COLUMNS = [
    "title_id", "title_name", "content_type", "season_number", "episode_number", "episode_title",
]  # fmt: skip


def _micros(t: dt.datetime) -> int:
    """Microseconds since 1970 (UTC; a naive time is UTC), exact."""
    return (to_utc(t) - _EPOCH) // dt.timedelta(microseconds=1)


@dataclass
class _HistoryIndex:
    """One profile's history rows in answer order (newest first, then ``session_id``),
    each rendered once; ``keys``: minus ``started_at`` in microseconds (ascending), for a
    date range by binary search; ``views``: the rows of one (content type, platform)."""

    keys: list[int]
    parts: list[bytes]
    content_types: list[str | None]
    platforms: list[str]
    views: dict[tuple[str | None, str | None], tuple[list[int], list[bytes]]]

    def weight(self) -> int:
        return profile_cache.weight_of(self.parts) + 2 * profile_cache.ROW_OVERHEAD * len(self.keys)

    def view(self, content_type: str | None, platform: str | None) -> tuple[list[int], list[bytes]]:
        """(keys, parts) of the rows of ``content_type`` on ``platform`` (any case)."""
        if content_type is None and platform is None:
            return self.keys, self.parts
        name = (content_type, platform.lower() if platform else None)
        found = self.views.get(name)
        if found is None:
            keep = [
                i
                for i, (c, p) in enumerate(zip(self.content_types, self.platforms, strict=True))
                if (not content_type or c == content_type) and (not platform or p == name[1])
            ]
            found = [self.keys[i] for i in keep], [self.parts[i] for i in keep]
            self.views[name] = found
        return found


def _history_index(fact: Snapshot, movies_snap: Snapshot, devices_snap: Snapshot, pid: int):
    """:class:`_HistoryIndex` of profile ``pid`` (the shaping the route did per request)."""
    movies = lookup(movies_snap, "movie_key", _MOVIE_COLUMNS)
    devices = lookup(devices_snap, "device_key", ["device_type"])
    out = []
    for r in fact.rows(pid).to_pylist():
        m = movies.get(r["movie_key"], (None,) * 6)
        device_type = devices.get(r["device_key"], (None,))[0]
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
    return _HistoryIndex(
        [-_micros(r["started_at"]) if r["started_at"] is not None else 0 for r in out],
        render_each(models.HistoryItem, out),
        [r["content_type"] for r in out],
        [(r["platform"] or "").lower() for r in out],
        {},
    )


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
) -> Response:
    """The profile's rows are shaped and rendered once per version of the fact and its
    two dimensions (:mod:`api.profile_cache`); a page is a slice of them."""
    pid = acting_profile(who, profileId)
    if startDate and endDate and startDate > endDate:
        raise HTTPException(422, "startDate is after endDate: swap them")
    size = page_size(st, limit)
    fact = st.lake.latest("fact_watch_history")
    movies, devices = st.lake.latest("dim_movies"), st.lake.latest("dim_device")
    index = cache_of(st).get(
        ("history", fact.version, movies.version, devices.version, pid),
        lambda: _history_index(fact, movies, devices, pid),
        _HistoryIndex.weight,
    )
    keys, parts = index.view(contentType, platform)
    lo, hi = 0, len(keys)
    if startDate:  # started_at >= the first day's midnight UTC
        hi = bisect.bisect_right(keys, -_micros(dt.datetime.combine(startDate, dt.time(), dt.UTC)))
    if endDate and endDate < dt.date.max:  # before the next day (the last day has none)
        end = dt.datetime.combine(endDate + dt.timedelta(days=1), dt.time(), dt.UTC)
        lo = bisect.bisect_right(keys, -_micros(end))
    total = max(0, hi - lo)
    start = lo + (page - 1) * size
    content = {"profile_id": pid, "page": page_info(total, page, size), "items": []}
    return json_response(
        splice(render(models.History, content), "items", parts[start : min(hi, start + size)])
    )


def _progress_answer(st: AppState, pid: int, show_id: int) -> bytes | None:
    """The rendered progress of ``pid`` on series ``show_id``; None when there is none."""
    rows = st.lake.latest("show_progress").rows(pid, where=pc.field("title_id") == show_id)
    if rows.num_rows == 0:
        return None
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
    known = per_series.get(show_id)
    names = catalog(st).episodes
    nxt = names.get(r["next_episode_id"]) if r["next_episode_id"] is not None else None
    done = r["episodes_watched"]
    return render(
        models.ShowProgress,
        {
            **{k: r[k] for k in models.ShowProgress.model_fields if k in r},
            "known_episodes": known,
            "completion_pct": round(min(100.0, 100.0 * done / known), 1)
            if known and done is not None
            else None,
            "next_episode_title": nxt[3] if nxt else None,
        },
    )


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
) -> Response:
    """Rendered once per version of ``show_progress``, ``episode`` and ``title``."""
    pid = acting_profile(who, profileId)
    versions = [st.lake.latest(n).version for n in ("show_progress", "episode", "title")]
    body = cache_of(st).get(
        ("progress", *versions, pid, showId),
        lambda: _progress_answer(st, pid, showId),
        lambda b: len(b or b"") + profile_cache.ROW_OVERHEAD,
    )
    if body is None:
        raise HTTPException(404, f"profile {pid} has no progress on series {showId}")
    return json_response(body)


def _statistics_periods(snap: Snapshot, pid: int, period: str) -> list[bytes]:
    """The profile's periods of ``period``, newest first, each rendered."""
    rows = snap.rows(pid, where=pc.field("period") == period)
    periods: dict[dt.date, dict[str, Any]] = {}
    target = {"content_type": "by_content_type", "genre": "by_genre", "device_type": "by_platform"}
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
        if r["breakdown"] in target:
            p[target[r["breakdown"]]].append({"value": r["breakdown_value"], **figures})
    ordered = sorted(periods.values(), key=lambda p: p["period_start"], reverse=True)
    for p in ordered:
        for k in ("by_content_type", "by_genre", "by_platform"):
            p[k].sort(key=lambda b: (-b["watch_hours"], b["value"] or ""))
    return render_each(models.PeriodStatistics, ordered)


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
) -> Response:
    """The periods are shaped and rendered once per ``viewing_statistics`` version."""
    pid = acting_profile(who, profileId)
    size = page_size(st, limit)
    snap = st.lake.latest("viewing_statistics")
    parts = cache_of(st).get(
        ("statistics", snap.version, pid, period),
        lambda: _statistics_periods(snap, pid, period),
        profile_cache.weight_of,
    )
    start = (page - 1) * size
    content = {
        "profile_id": pid,
        "period": period,
        "page": page_info(len(parts), page, size),
        "periods": [],
    }
    return json_response(
        splice(render(models.Statistics, content), "periods", parts[start : start + size])
    )


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
) -> Response:
    """Events in (commit version, event_id) order: polling from ``next_cursor`` never
    misses or repeats one (the table is append-only; each event is committed once).

    When older versions are gone (an erasure, or log retention), the table's state at
    the first readable version ``F`` stands for every version up to ``F``: a read
    without a cursor starts with its rows (cursors ``F:EVENT_ID``), then the change data
    feed after ``F``. A poller whose cursor was at or past the last version before an
    erasure goes on after ``F``; an older cursor gets 410 (read again without one).

    Each commit's events are read and rendered once per worker (:class:`_Feed`), so a
    poll costs the commits after its cursor, up to a page.
    """
    pid = acting_profile(who, profileId) if (profileId is not None or not who.admin) else None
    version, last_id = _parse_cursor(after)
    snap = st.lake.latest("viewing_domain_event")
    path = st.lake.path("viewing_domain_event")
    table = snap.cached("delta_table", lambda: DeltaTable(path, version=snap.version))
    if table.metadata().configuration.get("delta.enableChangeDataFeed") != "true":
        raise HTTPException(
            503,
            "viewing_domain_event has no change data feed: rebuild the activity tables "
            "(python -m jobs.build_viewing_activity --full-refresh) with this version",
        )
    first, before_erasure = snap.cached("readable_from", lambda: _readable_from(path, table))
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
    parts: list[bytes] = []
    last_cursor = ""
    if first > 0 and (version < first or (version == first and last_id != _WHOLE)):
        # the state at the first readable version stands for every version up to it
        expr = pc.field("event_id") > pa.scalar(last_id if version == first else "")
        if pid is not None:
            expr = expr & (pc.field("profile_id") == pa.scalar(pid, pa.int64()))
        rows0 = st.lake.at("viewing_domain_event", first).dataset.to_table(filter=expr)
        base = sorted(rows0.to_pylist(), key=lambda r: r["event_id"])[:page]
        parts = render_each(models.DomainEvent, [_feed_event(r, first) for r in base])
        last_cursor = f"{first}:{base[-1]['event_id']}" if base else ""
        version, last_id = first, _WHOLE
    cdf_from = max(version + 1 if last_id == _WHOLE else version, first)
    feed = _Feed(cache_of(st), table, table.metadata().id)
    for v in range(cdf_from, snap.version + 1):
        if len(parts) >= page:
            break
        commit = feed.commit(v, snap.version)
        picked = commit.positions(pid)
        skip = 0
        if v == version:  # the cursor's own commit: the events after its id
            skip = bisect.bisect_right(picked, last_id, key=lambda i: commit.ids[i])
        for i in picked[skip : skip + page - len(parts)]:
            parts.append(commit.parts[i])
            last_cursor = f"{v}:{commit.ids[i]}"
    if not parts and after and version > snap.version:
        nxt = after  # a snapshot older than the cursor: nothing new yet
    elif len(parts) < page:
        nxt = f"{snap.version}:"  # everything up to this version has been delivered
    else:
        nxt = last_cursor
    envelope = render(models.EventFeed, {"events": [], "next_cursor": nxt})
    return json_response(splice(envelope, "events", parts))


def _feed_event(r: dict[str, Any], version: int) -> dict[str, Any]:
    """A ``viewing_domain_event`` row as a feed entry of commit ``version``."""
    return {
        "cursor": f"{version}:{r['event_id']}",
        "event_id": r["event_id"],
        "event_type": r["event_type"],
        "profile_id": r["profile_id"],
        "title_id": r["title_id"],
        "episode_id": r["episode_id"],
        "occurred_at": r["occurred_at"],
        "payload": json.loads(r["payload"]) if r["payload"] else None,
        "commit_version": version,
    }


@dataclass
class _Commit:
    """The feed entries one commit added (insert, update_postimage), sorted by event_id,
    rendered; ``by_profile``: their positions per profile."""

    ids: list[str]
    parts: list[bytes]
    by_profile: dict[int, list[int]]

    def positions(self, pid: int | None) -> list[int]:
        return list(range(len(self.ids))) if pid is None else self.by_profile.get(pid, [])

    def weight(self) -> int:
        return profile_cache.weight_of(self.parts)


_FEED_READ_VERSIONS = 64  # commits read by one change-data-feed call on a miss


@dataclass
class _Feed:
    """The change data feed of one ``viewing_domain_event`` table (``table_id``: its Delta
    metadata id, new when the table is recreated), one commit at a time.

    A committed version never changes, so each commit is read and rendered once per
    worker and kept in the profile cache; a poll reads the commits after its cursor.
    """

    cache: ProfileCache
    table: DeltaTable
    table_id: str

    def commit(self, version: int, newest: int) -> _Commit:
        """The entries of ``version``; a miss reads it and up to 63 commits after it."""
        found: dict[int, _Commit] = {}

        def read() -> _Commit:
            end = min(newest, version + _FEED_READ_VERSIONS - 1)
            reader = self.table.load_cdf(starting_version=version, ending_version=end)
            rows = pa.RecordBatchReader.from_stream(reader).read_all().to_pylist()
            per: dict[int, list[dict]] = {v: [] for v in range(version, end + 1)}
            for r in rows:
                if r["_change_type"] in ("insert", "update_postimage"):
                    per[r["_commit_version"]].append(r)
            for v, vrows in per.items():
                vrows.sort(key=lambda r: r["event_id"])
                by_profile: dict[int, list[int]] = {}
                for i, r in enumerate(vrows):
                    by_profile.setdefault(r["profile_id"], []).append(i)
                found[v] = _Commit(
                    [r["event_id"] for r in vrows],
                    render_each(models.DomainEvent, [_feed_event(r, v) for r in vrows]),
                    by_profile,
                )
            for v, c in found.items():  # the others of this read, for the next commits
                if v != version:
                    self.cache.get(("feed", self.table_id, v), lambda c=c: c, _Commit.weight)
            return found[version]

        return self.cache.get(("feed", self.table_id, version), read, _Commit.weight)
