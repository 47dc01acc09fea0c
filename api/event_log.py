"""Group commit of the player's events to the landing zone: few files, each durable once.

Every accepted event of every request of a worker is appended to ONE open landing file,
a hidden temp file (``.play-<id>.jsonl.part``) in ``paths.landing_dir``. A background
thread publishes it every ``api.event_flush_ms`` (or as soon as it holds
``api.event_flush_max_events`` events): flush, ``fsync``, rename to
``play-<UTC time>-<id>.jsonl`` (the ingest's ``*.jsonl`` glob, so it never reads a half
file), ``fsync`` of the directory; only then are the requests of that group answered.
A crash before the rename leaves a hidden ``.part`` file the ingest never reads, and no
request of it was answered: the players retry; the next worker to open a group deletes
such files once they are 10 minutes old (:meth:`EventLog.sweep_stale`).

Idempotent on ``(session_id, event_time)``: a key this worker already landed (the last
``api.event_dedupe_keys`` of them) is not written again; its request waits for the
group that holds it instead. Across workers and restarts the ingest's exact dedupe drops
a second copy (docs/architecture.md, "dedupe").

Example::

    log = EventLog(landing_dir, flush_sec=0.2, max_events=5000, dedupe_keys=200_000)
    receipt = log.submit([{"session_id": "s1", "event_time": "2026-12-07T18:00:00.000000Z", ...}])
    await receipt.durable()        # the group's file is published (or raises OSError)
    log.close()                    # publishes what is pending, stops the thread
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

Key = tuple[str, str]
STALE_AFTER_SEC = 600.0  # a temp file this old (and 10 flush intervals) was left by a crash


class EventLogClosed(RuntimeError):
    """The log was closed (the worker is shutting down): the request should be retried."""


@dataclasses.dataclass
class _Group:
    """One open landing file: its temp path, handle, events and the future of its publication."""

    tmp: Path
    fh: IO[str]
    opened: float  # time.monotonic() of its first event
    future: Future[Path] = dataclasses.field(default_factory=Future)
    count: int = 0


@dataclasses.dataclass(frozen=True)
class Receipt:
    """What :meth:`EventLog.submit` took.

    Attributes:
        stored: events of the batch appended to the open group (new keys).
        duplicates: events whose key was already landed or pending (not written again).
        futures: the groups the batch's events live in; each resolves to the published
            file's path, or raises the ``OSError`` that kept it from being published.
    """

    stored: int
    duplicates: int
    futures: tuple[Future[Path], ...]

    def wait(self, timeout: float | None = None) -> list[Path]:
        """Block until every group of the batch is published; their paths.

        Raises:
            OSError: a group could not be written (nothing of it was published).
            TimeoutError: not published within ``timeout`` seconds.
        """
        return [f.result(timeout) for f in self.futures]

    async def durable(self) -> list[Path]:
        """:meth:`wait` without blocking the event loop."""
        return [await asyncio.wrap_future(f) for f in self.futures]


class EventLog:
    """One worker's group-committed landing file (see the module docstring).

    Args:
        landing_dir: ``paths.landing_dir`` (created when missing).
        flush_sec: longest time an accepted event waits for its group's publication.
        max_events: a group holding this many events is published at once.
        dedupe_keys: ``(session_id, event_time)`` keys remembered (oldest forgotten first).
    """

    def __init__(self, landing_dir: str, flush_sec: float, max_events: int, dedupe_keys: int):
        self.landing_dir = Path(landing_dir)
        self.flush_sec = flush_sec
        self.max_events = max_events
        self.dedupe_keys = dedupe_keys
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._group: _Group | None = None
        self._seen: OrderedDict[Key, Future[Path]] = OrderedDict()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._swept = False
        self.published = 0  # files published so far (for tests and the log)

    def submit(self, events: list[dict[str, Any]]) -> Receipt:
        """Append the events whose key is new to the open group; never blocks on disk sync.

        Args:
            events: landing-contract dicts (``session_id``, ``event_time`` as the
                contract's UTC text, ...), already validated: all of them are taken.

        Returns:
            The :class:`Receipt`; await :meth:`Receipt.durable` before answering.

        Raises:
            EventLogClosed: after :meth:`close`.
            OSError: the temp file could not be created or written (nothing of the
                batch is remembered as landed).
        """
        with self._lock:
            if self._closed:
                raise EventLogClosed("the event log is closed (worker shutting down); retry")
            waits: dict[int, Future[Path]] = {}
            fresh: list[Key] = []
            lines: list[str] = []
            batch: set[Key] = set()
            for event in events:
                key = (str(event["session_id"]), str(event["event_time"]))
                if key in batch:
                    continue
                batch.add(key)
                prior = self._seen.get(key)
                if prior is not None and not _failed(prior):
                    self._seen.move_to_end(key)
                    waits[id(prior)] = prior
                    continue
                fresh.append(key)
                lines.append(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
            if lines:
                group = self._open_group()
                group.fh.write("".join(lines))
                group.count += len(lines)
                for key in fresh:
                    self._seen[key] = group.future
                while len(self._seen) > self.dedupe_keys:
                    self._seen.popitem(last=False)
                waits[id(group.future)] = group.future
                if group.count >= self.max_events:
                    self._wake.notify()
            self._start()
        return Receipt(len(lines), len(events) - len(lines), tuple(waits.values()))

    def close(self, timeout: float = 10.0) -> None:
        """Publish the pending group and stop the thread; later submits raise EventLogClosed."""
        with self._lock:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def sweep_stale(self) -> int:
        """Delete the temp files a crashed worker left (older than ``STALE_AFTER_SEC``).

        No request of such a file was answered (the players retried), and a live group
        is never that old, so another worker's open file is left alone.

        Returns:
            The number of files deleted.
        """
        cutoff = time.time() - max(STALE_AFTER_SEC, 10 * self.flush_sec)
        gone = 0
        for path in self.landing_dir.glob(".play-*.jsonl.part"):
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    gone += 1
            except FileNotFoundError:
                continue
        if gone:
            log.warning("deleted %d unpublished landing temp file(s) of a crashed worker", gone)
        return gone

    def _open_group(self) -> _Group:
        if self._group is None:
            self.landing_dir.mkdir(parents=True, exist_ok=True)
            if not self._swept:
                self._swept = True
                self.sweep_stale()
            tmp = self.landing_dir / f".play-{uuid.uuid4().hex}.jsonl.part"
            fh = open(tmp, "w", encoding="utf-8")  # noqa: SIM115 - closed by _publish
            self._group = _Group(tmp, fh, time.monotonic())
            self._wake.notify()
        return self._group

    def _start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="event-log", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._closed and not self._due():
                    group = self._group
                    timeout = (
                        None if group is None else group.opened + self.flush_sec - time.monotonic()
                    )
                    self._wake.wait(timeout)
                group, self._group = self._group, None
                if group is None:  # closed with nothing pending
                    return
            self._publish(group)

    def _due(self) -> bool:
        group = self._group
        if group is None:
            return False
        return group.count >= self.max_events or time.monotonic() >= group.opened + self.flush_sec

    def _publish(self, group: _Group) -> None:
        """fsync the group's file, rename it to its ``*.jsonl`` name, fsync the directory."""
        try:
            group.fh.flush()
            os.fsync(group.fh.fileno())
            group.fh.close()
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
            target = self.landing_dir / f"play-{stamp}-{group.tmp.name[6:38]}.jsonl"
            os.rename(group.tmp, target)
            _fsync_dir(self.landing_dir)
        except OSError as exc:
            log.exception("landing file %s could not be published; its requests get 503", group.tmp)
            group.fh.close()
            group.tmp.unlink(missing_ok=True)
            group.future.set_exception(exc)
            return
        self.published += 1
        group.future.set_result(target)


def _failed(future: Future[Path]) -> bool:
    return future.done() and future.exception() is not None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
