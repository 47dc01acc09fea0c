"""The API's side of the Redis hot store: used when configured and reachable, never a 5xx.

The hot store (:class:`jobs.core.serving.hot_store.HotStore`) is opened when the
environment variable named by ``hot_store.url_env`` (``REDIS_URL``) holds a URL; without
it the API serves every read from Delta, as before. Each call here is best effort: a
Redis that is down, times out or answers an error makes a write report ``unavailable``
and a read return None (the route then reads Delta and says so in ``X-Served-From``).
A warning is logged when Redis goes away and when it is back, not on every request.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any, Literal

import redis

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
