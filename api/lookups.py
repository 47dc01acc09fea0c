"""Lookups the routes share: small dimensions by key, the catalogue, a profile's resume points.

Each is read from a warm Delta snapshot (:mod:`api.lake`) and, for the dimensions,
built once per table version.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
from fastapi import HTTPException

from api.deps import AppState
from api.lake import Snapshot, TableMissingError, VersionNotFoundError
from jobs.core.changelog.resume import current_resume_arrow
from jobs.core.rules.continue_watching import Catalog
from jobs.core.tables.registry import RESUME_STATE, RESUME_STATE_CHANGE

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
    """The Continue Watching lookups of the newest ``title`` and ``episode``.

    Built once per version of the two tables (cached on the ``title`` snapshot).
    """
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


def resume_table(
    st: AppState,
    profile_id: int,
    when: dt.datetime | str,
    version: int | None,
    latest: tuple[Snapshot | None, Snapshot] | None = None,
) -> tuple[Snapshot, pa.Table]:
    """One profile's current resume points (:func:`jobs.core.changelog.resume.current_resume_arrow`).

    ``resume_state`` ∪ its change log ``resume_state_change``: latest (the log listed
    first), as they stood at ``when`` (a UTC time: each table's version current then), or
    at ``resume_state`` ``version`` with the log as it stood when that version was committed.
    ``latest``: the (change log, ``resume_state``) snapshots of a latest read already
    listed by the caller (:meth:`api.lake.Lake.latest_in_order`), so that its cache key
    and the rows name the same versions.

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
        change, snap = latest or st.lake.latest_in_order(
            RESUME_STATE_CHANGE.name, RESUME_STATE.name
        )
        if snap is None:  # the ingest has not created its tables yet: 404, like every read
            raise TableMissingError(f"table {RESUME_STATE.name!r} is not built yet on this lake")
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


def lookup(snap: Snapshot, key: str, columns: list[str]) -> dict[Any, tuple]:
    """``key`` -> the other ``columns`` of a small dimension, built once per table version.

    Args:
        snap: the table's snapshot (``st.lake.latest(name)``).
        key: the key column (``title_id``, ``profile_id``, ...).
        columns: the columns to return, in that order.

    Returns:
        A dict from each key to the tuple of its ``columns`` (cached on the snapshot).
    """

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


def profile_origin(st: AppState, pid: int) -> tuple[int | None, str]:
    """(account_id, country_code) a landing event of profile ``pid`` carries.

    A profile without a valid ISO 3166 alpha-2 country gets ``api.unknown_country_code``
    (the landing contract needs one).

    Raises:
        HTTPException: 404 for a profile the ``profile`` table does not know.
    """
    profiles = lookup(st.lake.latest("profile"), "profile_id", ["account_id", "country_code"])
    if pid not in profiles:
        raise HTTPException(404, f"unknown profile {pid}")
    account_id, country = profiles[pid]
    ok = isinstance(country, str) and len(country) == 2 and country.isalpha() and country.isupper()
    return account_id, country if ok else st.settings.unknown_country_code
