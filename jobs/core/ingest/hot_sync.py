"""The stream keeps the hot store true: each micro-batch's resume rows go to Redis.

Events that arrive as landing files (imports, other producers, the API's own group
files) reach Redis through the ingest, after their micro-batch's Delta commits:

    foreachBatch ─▶ Delta commits (resume_state_change / resume_state, ...) ─▶ record_writes
                 └▶ the batch's resume rows (resume_updates over the batch's events: the
                    rows it appended to resume_state_change, newest per key)
                    ─▶ HotStore.apply_resume_rows (one pipeline, one Lua merge per row)

The rows are the ones the batch wrote to Delta, computed by the same rule function
(:func:`jobs.core.rules.playback_state.resume_updates`) over the same cached events, never
a second form of the rule. The merge in Redis is monotonic under ``(last_update,
last_position_sec, session_id)`` (:mod:`jobs.core.serving.hot_store`), so a replayed batch
changes nothing and an older batch arriving after a newer one never moves a position back.

Off unless the environment variable named by ``hot_store.url_env`` (``REDIS_URL``) holds
a URL. Redis down, refusing or slow never fails a batch: the batch's Delta commits stand,
a warning names the batch, and Redis stays behind for the keys of that batch until newer
events reach them or ``python -m jobs.rebuild_hot_store`` refills it from Delta (the
system of record). Log lines go to the ``ingest_playback_events`` logger.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import redis
from pyspark.sql import DataFrame, Row

from jobs.core.rules.as_of import collected_utc
from jobs.core.rules.playback_state import resume_updates
from jobs.core.runtime.config import Config
from jobs.core.serving.hot_store import RESUME_FIELDS, HotStore, HotStoreUnavailable

log = logging.getLogger("ingest_playback_events")


@dataclass(frozen=True)
class SyncResult:
    """What one micro-batch's push to Redis did.

    Attributes:
        batch_id: the micro-batch.
        rows: resume rows sent (the batch's newest row per profile and item).
        written: rows Redis took (newer than what it held and within the resume TTL);
            0 on a replay.
        seconds: wall time of the push (one pipeline round trip).
        error: why Redis did not take the batch (down, refused, a script error), else None.
    """

    batch_id: int
    rows: int
    written: int
    seconds: float
    error: str | None = None


def hot_rows(collected: Iterable[Row]) -> list[dict[str, Any]]:
    """Collected ``resume_state`` rows as the hot store's rows.

    Args:
        collected: PySpark rows with the ``resume_state`` columns (``last_update`` as
            ``collect()`` returns it: naive, in the process's local time).

    Returns:
        Dicts with :data:`jobs.core.serving.hot_store.RESUME_FIELDS`; ``last_update`` an
        aware UTC datetime (:func:`jobs.core.rules.as_of.collected_utc`), positions and
        runtimes seconds, NULLs kept as None.
    """
    rows = []
    for row in collected:
        values = row.asDict()
        out = {name: values.get(name) for name in RESUME_FIELDS}
        out["last_update"] = collected_utc(out["last_update"])
        rows.append(out)
    return rows


def batch_resume_rows(events: DataFrame, finish_ratio: float) -> list[dict[str, Any]]:
    """The resume rows a micro-batch wrote: ``resume_updates`` over its deduplicated events.

    Args:
        events: the batch's ``playback_event`` rows after the dedupe (cached by the
            writer), the frame :func:`jobs.core.rules.playback_state.apply_events` folded.
        finish_ratio: ``resume.finish_ratio``.

    Returns:
        One row per (profile_id, content_key) with the ``resume_state`` columns, as
        :func:`hot_rows` gives them: the rows the batch appended to
        ``resume_state_change`` (or merged into ``resume_state``).
    """
    return hot_rows(resume_updates(events, finish_ratio).collect())


class HotSync:
    """Pushes each micro-batch's resume rows to the hot store; never fails the batch.

    Args:
        store: the hot store (:class:`jobs.core.serving.hot_store.HotStore`).
        finish_ratio: ``resume.finish_ratio``, for :func:`batch_resume_rows`.
    """

    def __init__(self, store: HotStore, finish_ratio: float) -> None:
        self.store = store
        self.finish_ratio = finish_ratio
        self.behind_since: int | None = None  # first batch Redis missed, until one lands

    @classmethod
    def from_config(cls, cfg: Config) -> HotSync | None:
        """The sync when ``hot_store.url_env`` names a set variable, else None (off).

        A URL that redis-py cannot parse is logged as a warning and the sync stays off:
        the ingest never fails because of Redis.
        """
        url = os.environ.get(cfg.hot_store.url_env)
        if not url:
            return None
        try:
            store = HotStore.from_config(cfg, url=url)
        except HotStoreUnavailable as exc:
            log.warning("hot store off: %s", exc)
            return None
        return cls(store, cfg.resume.finish_ratio)

    def rows(self, events: DataFrame) -> list[dict[str, Any]]:
        """The batch's resume rows (:func:`batch_resume_rows`), collected while cached."""
        return batch_resume_rows(events, self.finish_ratio)

    def push(self, rows: list[dict[str, Any]], batch_id: int) -> SyncResult:
        """Merge ``rows`` into Redis, after the batch's Delta commits.

        Idempotent and monotonic (the store's merge). A Redis error of any kind (down,
        refused, timed out, a script or memory error) is logged as a warning naming the
        batch and returned in :attr:`SyncResult.error`, never raised.

        Args:
            rows: :meth:`rows` of the batch.
            batch_id: the micro-batch (for the log).

        Returns:
            What the push did.
        """
        start = time.monotonic()
        try:
            written = self.store.apply_resume_rows(rows) if rows else 0
        except (HotStoreUnavailable, redis.exceptions.RedisError) as exc:
            if self.behind_since is None:
                self.behind_since = batch_id
            log.warning(
                "batch %d: hot store not updated (%s): Delta holds the batch; Redis is "
                "behind since batch %d until newer events reach its keys or "
                "`python -m jobs.rebuild_hot_store` refills it",
                batch_id, exc, self.behind_since,
            )  # fmt: skip
            return SyncResult(batch_id, len(rows), 0, time.monotonic() - start, str(exc))
        seconds = time.monotonic() - start
        if self.behind_since is not None:
            log.warning(
                "batch %d: hot store reachable again; keys of batches %d-%d stay behind until "
                "newer events reach them or `python -m jobs.rebuild_hot_store` refills Redis",
                batch_id, self.behind_since, batch_id - 1,
            )  # fmt: skip
            self.behind_since = None
        log.info(
            "batch %d: hot store rows=%d written=%d %.2fs", batch_id, len(rows), written, seconds
        )
        return SyncResult(batch_id, len(rows), written, seconds)
