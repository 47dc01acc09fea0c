"""The API's side of the Redis hot store: used when configured and reachable, never a 5xx.

The hot store (:class:`jobs.core.serving.hot_store.HotStore`) is opened when the
environment variable named by ``hot_store.url_env`` (``REDIS_URL``) holds a URL; without
it the API serves every read from Delta, as before. Each call here is best effort: a
Redis that is down, times out or answers an error makes a write report ``unavailable``
and a read return None (the route then reads Delta and says so in ``X-Served-From``).
A warning is logged when Redis goes away and when it is back, not on every request.

Continue Watching's repeat read (:func:`resume_index`): the worker keeps one profile's
decoded rows with the version Redis gave them (``version:{p}``, bumped by every resume row
written) and asks Redis for the rows only when the version moved: a repeat read is one
round trip answering the version (the script also checks that none of the rows held
expired), nothing decoded; the rule's rendered items are kept
per window of rows (the rows in ``(as_of - window, as_of]``) and catalogue. A new
heartbeat moves the version, so the next read has it: never a stale list.
"""

from __future__ import annotations

import bisect
import datetime as dt
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import redis

from api import profile_cache
from api.profile_cache import cache_of
from jobs.core.rules.continue_watching import Catalog
from jobs.core.runtime.config import Config
from jobs.core.serving.hot_store import HotStore, HotStoreUnavailable

if TYPE_CHECKING:
    from api.deps import AppState

log = logging.getLogger(__name__)

Taken = Literal["ok", "unavailable", "off"]
_FAILURES = (HotStoreUnavailable, redis.exceptions.RedisError)


class HotPath:
    """The hot store of one API process, or None, and whether it was reachable last time.

    Attributes:
        store: the store, None when ``hot_store.url_env`` is unset (Delta only).
    """

    def __init__(self, store: HotStore | None):
        self.store = store
        self._down = False
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg: Config) -> HotPath:
        """The hot path of ``cfg``: a store on ``$<hot_store.url_env>``, else none."""
        url = os.environ.get(cfg.hot_store.url_env, "").strip()
        if not url:
            log.info("%s is not set: the API serves reads from Delta only", cfg.hot_store.url_env)
            return cls(None)
        try:
            return cls(HotStore.from_config(cfg, url))
        except HotStoreUnavailable as exc:
            log.warning("hot store not used: %s; reads come from Delta", exc)
            return cls(None)

    def _failed(self, what: str, exc: Exception) -> None:
        with self._lock:
            down, self._down = self._down, True
        if not down:
            log.warning("Redis unavailable (%s: %s): reads fall back to Delta", what, exc)

    def _reached(self) -> None:
        if self._down:
            with self._lock:
                self._down = False
            log.warning("Redis reachable again: reads come from Redis")

    def apply_events(self, events: list[dict[str, Any]]) -> Taken:
        """Give landed events to Redis (``event_time`` aware UTC); what became of them."""
        if self.store is None:
            return "off"
        try:
            self.store.apply_events(events)
        except _FAILURES as exc:
            self._failed("write", exc)
            return "unavailable"
        self._reached()
        return "ok"

    def resume_rows(self, profile_id: int) -> list[dict[str, Any]] | None:
        """The profile's resume rows from Redis; None: read Delta (no store, down, or none held).

        A profile Redis holds no row of is read from Delta: after a Redis restart its
        rows are back only once the rebuild ran (docs/api.md, "The hot store").
        """
        if self.store is None:
            return None
        try:
            rows = self.store.resume_rows(profile_id)
        except _FAILURES as exc:
            self._failed("read", exc)
            return None
        self._reached()
        return rows or None

    def resume_rows_since(
        self, profile_id: int, known: str | None, held: int = 0
    ) -> tuple[str | None, list[dict[str, Any]] | None] | None:
        """:meth:`HotStore.resume_rows_since`; None: read Delta (no store, or down)."""
        if self.store is None:
            return None
        try:
            got = self.store.resume_rows_since(profile_id, known, held)
        except _FAILURES as exc:
            self._failed("read", exc)
            return None
        self._reached()
        return got

    def device_positions(self, profile_id: int, content_key: int) -> list[dict[str, Any]] | None:
        """The item's newest row per device from Redis; None: read Delta."""
        if self.store is None:
            return None
        try:
            rows = self.store.device_positions(profile_id, content_key)
        except _FAILURES as exc:
            self._failed("read", exc)
            return None
        self._reached()
        return rows or None


_ITEM_BYTES = 512  # a rendered Continue Watching item, bytes, generously


@dataclass
class HotIndex:
    """One profile's resume rows as Redis last gave them, for Continue Watching.

    Attributes:
        version: Redis' version of the rows (None: not to be reused, read again).
        rows: the rows sorted by ``last_update`` (UTC); times: their ``last_update``.
        catalog: the catalogue the rendered items were made with.
        items: rendered items per ``(lo, hi, limit)`` (the window's slice of ``rows``).
    """

    version: str | None = None
    rows: list[dict[str, Any]] = field(default_factory=list)
    times: list[dt.datetime] = field(default_factory=list)
    catalog: Catalog | None = None
    items: dict[tuple[int, int, int], list[bytes]] = field(default_factory=dict)

    def refill(self, version: str | None, rows: list[dict[str, Any]]) -> None:
        """Take a new version's rows (from :meth:`HotStore.resume_rows_since`)."""
        rows = sorted(rows, key=lambda r: r["last_update"])
        self.version = version
        self.rows, self.times = rows, [r["last_update"] for r in rows]
        self.items = {}

    def window_items(
        self, cat: Catalog, key: tuple[int, int, int], build, kept: int
    ) -> list[bytes]:
        """The rendered items of ``key`` with catalogue ``cat``, ``build()`` on a miss.

        At most ``kept`` windows (``api.hot_windows_kept``) are held: the next miss
        after that starts over.
        """
        if cat is not self.catalog:
            self.catalog, self.items = cat, {}
        parts = self.items.get(key)
        if parts is None:
            parts = build()
            if len(self.items) >= kept:
                self.items.clear()
            self.items[key] = parts
        return parts


def resume_index(st: AppState, profile_id: int) -> HotIndex | None:
    """The profile's resume rows from Redis, kept per version; None: read Delta.

    The worker's :func:`api.profile_cache.cache_of` holds one :class:`HotIndex` per
    profile (counted at its bound: ``hot_store.recent_items`` rows and
    ``api.hot_windows_kept`` rendered windows). Each call is one round trip: Redis answers
    only the version while it equals the one held (nothing decoded), else the rows.
    None when there is no store, Redis fails, or it holds no row of the profile.
    """
    hot = st.hot
    if hot.store is None:
        return None
    bound = profile_cache.ROW_OVERHEAD * 4 * st.cfg.hot_store.recent_items
    bound += st.settings.hot_windows_kept * 100 * _ITEM_BYTES  # the route's largest limit
    index = cache_of(st).get(("hot-continue-watching", profile_id), HotIndex, lambda _: bound)
    got = hot.resume_rows_since(profile_id, index.version, len(index.rows))
    if got is None:
        return None
    version, rows = got
    if rows is not None:
        index.refill(version, rows)
    return index if index.rows else None


def window_bounds(index: HotIndex, when: dt.datetime, window_days: int) -> tuple[int, int]:
    """The slice of ``index.rows`` with ``when - window_days < last_update <= when``."""
    lo = bisect.bisect_right(index.times, when - dt.timedelta(days=window_days))
    return lo, bisect.bisect_right(index.times, when)


def apply_events(st: AppState, events: list[dict[str, Any]]) -> Taken:
    """:meth:`HotPath.apply_events` of the app's hot path."""
    return st.hot.apply_events(events)


def device_positions(
    st: AppState, profile_id: int, content_key: int
) -> list[dict[str, Any]] | None:
    """:meth:`HotPath.device_positions` of the app's hot path, shaped for the answer."""
    rows = st.hot.device_positions(profile_id, content_key)
    if rows is None:
        return None
    return [
        {
            "device_id": r["device_id"],
            "position_sec": r["last_position_sec"],
            "last_update": r["last_update"],
        }
        for r in rows
    ]
