"""The Continue Watching rule, once, over plain rows: shared by Spark and the HTTP API.

For one profile: the ``limit`` (10) most recent unfinished titles or episodes touched in
the ``window_days`` (90) days up to ``as_of``, newest first. A series appears once, at
its most recently touched episode (ties: the larger ``content_key``); when that episode
is finished, the row offers the next episode (the next number in the season, else
episode 1 of the next season, the smallest such when the data has gaps) when the
``episode`` table knows it, at position 0. Finished films, finished episodes with no
known successor and rows whose ``is_finished`` is unknown are left out.

The rule works on Python dicts so the same code runs in two places:

* the API (:mod:`api`) calls :func:`continue_watching_rows` on one profile's
  ``resume_state`` rows read through delta-rs / pyarrow, with a warm :class:`Catalog`;
* Spark (``jobs.continue_watching``) calls it per profile group through
  ``groupBy("profile_id").applyInArrow(...)`` via :func:`arrow_group_fn`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from jobs.core.rules.as_of import to_utc
from jobs.core.rules.watched import progress_pct_value

OUTPUT_COLUMNS = [
    "rank",
    "profile_id",
    "title_id",
    "episode_id",
    "title_name",
    "season_number",
    "episode_number",
    "episode_title",
    "position_sec",
    "runtime_sec",
    "progress_pct",
    "last_update",
    "device_id",
    "is_next_episode",
]

OUTPUT_SCHEMA = pa.schema(
    [
        ("rank", pa.int32()),
        ("profile_id", pa.int64()),
        ("title_id", pa.int64()),
        ("episode_id", pa.int64()),
        ("title_name", pa.string()),
        ("season_number", pa.int32()),
        ("episode_number", pa.int32()),
        ("episode_title", pa.string()),
        ("position_sec", pa.int32()),
        ("runtime_sec", pa.int32()),
        ("progress_pct", pa.float64()),
        ("last_update", pa.timestamp("us", tz="UTC")),
        ("device_id", pa.string()),
        ("is_next_episode", pa.bool_()),
    ]
)

# Spark DDL of OUTPUT_SCHEMA, for applyInArrow
OUTPUT_DDL = (
    "rank int, profile_id bigint, title_id bigint, episode_id bigint, title_name string, "
    "season_number int, episode_number int, episode_title string, position_sec int, "
    "runtime_sec int, progress_pct double, last_update timestamp, device_id string, "
    "is_next_episode boolean"
)


@dataclass(frozen=True)
class Catalog:
    """The lookups the rule needs from ``title`` and ``episode``, built once and reused.

    Attributes:
        title_names: title_id -> title_name.
        episodes: episode_id -> (title_id, season_number, episode_number, episode_title,
            runtime_sec).
        by_number: (title_id, season_number, episode_number) -> episode_id, for the
            successor lookup (smallest episode_id when the catalogue holds duplicates).
    """

    title_names: dict[int, str | None]
    episodes: dict[int, tuple[Any, ...]]
    by_number: dict[tuple[int, int, int], int]

    @classmethod
    def from_arrow(cls, titles: pa.Table, episodes: pa.Table) -> Catalog:
        """Build from ``title`` (title_id, title_name) and ``episode`` Arrow tables."""
        names = dict(
            zip(
                titles.column("title_id").to_pylist(),
                titles.column("title_name").to_pylist(),
                strict=True,
            )
        )
        eps: dict[int, tuple[Any, ...]] = {}
        by_number: dict[tuple[int, int, int], int] = {}
        cols = ["episode_id", "title_id", "season_number", "episode_number", "episode_title"]
        cols.append("runtime_sec")
        for eid, tid, season, number, name, runtime in zip(
            *(episodes.column(c).to_pylist() for c in cols), strict=True
        ):
            eps[eid] = (tid, season, number, name, runtime)
            if None not in (tid, season, number):
                key = (tid, season, number)
                by_number[key] = min(eid, by_number.get(key, eid))
        return cls(names, eps, by_number)

    def successor(self, title_id: int, season: int | None, number: int | None) -> int | None:
        """The next episode: number + 1 in the season, else episode 1 of the next season."""
        if season is None or number is None:
            return None
        same = self.by_number.get((title_id, season, number + 1))
        return same if same is not None else self.by_number.get((title_id, season + 1, 1))


def continue_watching_rows(
    resume: Iterable[dict[str, Any]],
    catalog: Catalog,
    as_of: dt.datetime,
    window_days: int = 90,
    limit: int = 10,
) -> list[dict[str, Any]]:
    """One profile's Continue Watching list.

    Args:
        resume: that profile's ``resume_state`` rows as dicts (profile_id, title_id,
            episode_id, content_key, last_position_sec, last_update UTC, device_id,
            is_finished, runtime_sec).
        catalog: title and episode lookups.
        as_of: the moment the list is for (UTC); rows touched after it are ignored and
            rows older than ``window_days`` before it are left out.
        window_days: how far back a touched item still counts (days).
        limit: rows returned.

    Returns:
        Dicts with :data:`OUTPUT_COLUMNS`, ranked newest first: ``position_sec`` in
        seconds, ``progress_pct`` 0-100 rounded to 0.1 when the runtime is known (else
        None), ``last_update`` UTC, ``is_next_episode`` true when the row offers the
        episode after a finished one.
    """
    as_of = to_utc(as_of)
    since = as_of - dt.timedelta(days=window_days)
    latest: dict[int, dict[str, Any]] = {}
    for r in resume:
        t = r["last_update"]
        if t is None:
            continue
        t = to_utc(t)
        if not (since < t <= as_of):
            continue
        kept = latest.get(r["title_id"])
        if kept is None or (t, r["content_key"]) > (kept["_t"], kept["content_key"]):
            latest[r["title_id"]] = {**r, "_t": t}
    out = []
    for r in latest.values():
        finished = r["is_finished"]
        if finished is None:
            continue
        ep = catalog.episodes.get(r["episode_id"]) if r["episode_id"] is not None else None
        _, season, number, ep_title, ep_runtime = ep or (None, None, None, None, None)
        nxt = catalog.successor(r["title_id"], season, number) if finished else None
        if finished and nxt is None:
            continue
        if nxt is not None:
            _, season, number, ep_title, runtime = catalog.episodes[nxt]
            episode_id, position = nxt, 0
        else:
            episode_id, position = r["episode_id"], r["last_position_sec"]
            runtime = r["runtime_sec"] if r["runtime_sec"] is not None else ep_runtime
        out.append(
            {
                "profile_id": r["profile_id"],
                "title_id": r["title_id"],
                "episode_id": episode_id,
                "title_name": catalog.title_names.get(r["title_id"]),
                "season_number": season,
                "episode_number": number,
                "episode_title": ep_title,
                "position_sec": position,
                "runtime_sec": runtime,
                "progress_pct": progress_pct_value(position, runtime),
                "last_update": r["_t"],
                "device_id": r["device_id"],
                "is_next_episode": nxt is not None,
            }
        )
    out.sort(key=lambda row: row["title_id"])
    out.sort(key=lambda row: row["last_update"], reverse=True)  # stable: title_id breaks ties
    return [{"rank": i, **row} for i, row in enumerate(out[:limit], start=1)]


def to_arrow(rows: list[dict[str, Any]]) -> pa.Table:
    """Rule output rows as an Arrow table with :data:`OUTPUT_SCHEMA`."""
    return pa.Table.from_pylist([{c: r[c] for c in OUTPUT_COLUMNS} for r in rows], OUTPUT_SCHEMA)


def arrow_group_fn(
    catalog: Catalog, as_of: dt.datetime, window_days: int, limit: int
) -> Callable[[pa.Table], pa.Table]:
    """The rule as a function of one profile's rows, for ``GroupedData.applyInArrow``."""

    def apply(group: pa.Table) -> pa.Table:
        return to_arrow(
            continue_watching_rows(group.to_pylist(), catalog, as_of, window_days, limit)
        )

    return apply
