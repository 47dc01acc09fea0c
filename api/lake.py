"""Warm Delta snapshots for the API: delta-rs tables kept open and refreshed by log tail.

Opening a Delta table replays its log; doing that per request costs tens of ms. A
:class:`Lake` keeps one ``deltalake.DeltaTable`` per table, checks the log for new
commits at most every ``snapshot_refresh_sec`` (``update_incremental()`` reads only the
new commits), and caches per table version the pyarrow dataset and small derived
lookups, so a request reads only the Parquet files that may hold its profile (file
skipping on ``profile_id`` statistics; ``resume_state`` is Z-ordered by it).

Time travel (``version=`` or a timestamp) opens that version once and keeps a few
recent ones (LRU).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pds
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError as _DeltaNotFound

if TYPE_CHECKING:
    from api.profile_cache import ProfileCache

log = logging.getLogger(__name__)


class TableMissingError(LookupError):
    """The table has not been built yet on this lake."""


class VersionNotFoundError(LookupError):
    """The requested version or time is outside the table's history."""


@dataclass
class Snapshot:
    """One version of one table, with its dataset and a cache of derived values."""

    name: str
    version: int
    dataset: pds.Dataset
    derived: dict[str, Any]
    index_max_rows: int = 0

    def _profile_index(self) -> tuple[pa.Table, np.ndarray] | None:
        """The whole table sorted by profile_id, with the sorted ids, when it is small."""

        def build():
            if "profile_id" not in self.dataset.schema.names:
                return None
            if self.dataset.count_rows() > self.index_max_rows:
                return None
            table = self.dataset.to_table().sort_by("profile_id")
            ids = table.column("profile_id").to_numpy(zero_copy_only=False)
            return table, ids

        return self.cached("profile_index", build)

    def rows(
        self, profile_id: int | None = None, columns: list[str] | None = None, where=None
    ) -> pa.Table:
        """Rows (of one profile, and matching ``where``, a pyarrow expression).

        One profile's rows come from an in-memory copy sorted by ``profile_id`` (binary
        search) when the table has at most ``index_max_rows`` rows, else from a filtered
        scan that skips files by their ``profile_id`` statistics.
        """
        index = self._profile_index() if profile_id is not None else None
        if index is not None:
            table, ids = index
            lo, hi = np.searchsorted(ids, [profile_id, profile_id + 1])
            part = table.slice(int(lo), int(hi - lo))
            if where is not None:
                part = part.filter(where)
            return part.select(columns) if columns else part
        expr = where
        if profile_id is not None:
            by_profile = pc.field("profile_id") == pa.scalar(profile_id, pa.int64())
            expr = by_profile if expr is None else by_profile & expr
        return self.dataset.to_table(columns=columns, filter=expr)

    def cached(self, key: str, build: Callable[[], Any]) -> Any:
        """A value derived from this snapshot, built once per version."""
        if key not in self.derived:
            self.derived[key] = build()
        return self.derived[key]


class Lake:
    """Warm snapshots of every table under ``tables_dir``."""

    def __init__(
        self,
        tables_dir: str,
        refresh_sec: float = 2.0,
        keep_versions: int = 8,
        index_max_rows: int = 2_000_000,
    ):
        self.tables_dir = Path(tables_dir)
        self.index_max_rows = index_max_rows
        self.refresh_sec = refresh_sec
        self._lock = threading.RLock()
        self._refreshing = threading.Lock()  # one background refresh at a time
        self._latest: dict[str, tuple[DeltaTable, float, Snapshot]] = {}
        self._old: OrderedDict[tuple[str, int], Snapshot] = OrderedDict()
        self._keep = keep_versions
        # per table: monotonic (start, end) of the log listing its latest snapshot shows
        self._listed: dict[str, tuple[float, float]] = {}
        # per-profile answers keyed by the versions they come from (api.profile_cache)
        self.profile_cache: ProfileCache | None = None

    def path(self, name: str) -> str:
        return str(self.tables_dir / name)

    def exists(self, name: str) -> bool:
        return (self.tables_dir / name / "_delta_log").is_dir()

    def _snapshot(self, name: str, table: DeltaTable) -> Snapshot:
        return Snapshot(name, table.version(), table.to_pyarrow_dataset(), {}, self.index_max_rows)

    def latest(self, name: str) -> Snapshot:
        """The newest version of ``name`` as of at most ``refresh_sec`` ago.

        A stale snapshot is still answered while one background thread tails the log
        (``update_incremental()``), so no request waits on the refresh; with
        ``refresh_sec`` 0 every call refreshes first (tests).

        Raises:
            TableMissingError: the table does not exist yet.
        """
        entry = self._latest.get(name)
        if entry is None:
            with self._lock:
                if name not in self._latest:
                    self._latest[name] = self._open(name)
                return self._latest[name][2]
        if time.monotonic() - entry[1] < self.refresh_sec:
            return entry[2]
        if self.refresh_sec <= 0:
            with self._lock:
                self._refresh(name)
            return self._latest[name][2]
        if self._refreshing.acquire(blocking=False):
            threading.Thread(target=self._refresh_in_background, args=(name,), daemon=True).start()
        return entry[2]

    def _open(self, name: str) -> tuple[DeltaTable, float, Snapshot]:
        if not self.exists(name):
            raise TableMissingError(f"table {name!r} is not built yet on this lake")
        started = time.monotonic()
        try:
            table = DeltaTable(self.path(name))
        except _DeltaNotFound:
            raise TableMissingError(f"table {name!r} is not built yet") from None
        self._listed[name] = (started, time.monotonic())
        return table, time.monotonic(), self._snapshot(name, table)

    def _refresh(self, name: str) -> None:
        table, _, snap = self._latest[name]
        started = time.monotonic()
        table.update_incremental()
        self._listed[name] = (started, time.monotonic())
        if table.version() != snap.version:
            snap = self._snapshot(name, table)
            if "profile_id" in snap.dataset.schema.names:
                snap._profile_index()  # build the index here, not in the next request
        self._latest[name] = (table, time.monotonic(), snap)

    def _refresh_in_background(self, name: str) -> None:
        try:
            with self._lock:
                if name in self._latest:
                    self._refresh(name)
        except Exception:  # noqa: BLE001 - keep serving the last good snapshot
            log.exception(
                "refresh of %s failed; serving version %s", name, self._latest[name][2].version
            )
        finally:
            self._refreshing.release()

    def latest_in_order(self, *names: str) -> list[Snapshot | None]:
        """The newest snapshots of ``names``, each listed after the one before it was.

        For a change log and the base table it is compacted into (``resume_state_change``
        then ``resume_state``): compaction commits the base before it deletes from the
        log, so a base snapshot listed after the log snapshot holds every row the log
        snapshot lacks. A table listed before the previous one finished listing is
        refreshed first (usually a cheap log tail). A table not built yet gives None.
        """
        out: list[Snapshot | None] = []
        floor = 0.0
        for name in names:
            try:
                snap = self.latest(name)
            except TableMissingError:
                out.append(None)
                continue
            with self._lock:
                if self._listed.get(name, (0.0, 0.0))[0] < floor:
                    self._refresh(name)
                snap = self._latest[name][2]
                floor = self._listed[name][1]
            out.append(snap)
        return out

    def commit_time(self, name: str, version: int) -> dt.datetime:
        """When ``version`` of ``name`` was committed (UTC).

        Raises:
            VersionNotFoundError: the version is not in the table's history.
        """
        self.latest(name)
        with self._lock:
            commits = self._latest[name][0].history()
        for h in commits:
            if h.get("version") == version and h.get("timestamp") is not None:
                return dt.datetime.fromtimestamp(h["timestamp"] / 1000, dt.UTC)
        raise VersionNotFoundError(f"{name} has no version {version} in its history")

    def at(self, name: str, version: int | dt.datetime) -> Snapshot:
        """``name`` as it stood at a version, or at a UTC time (the version current then).

        Raises:
            TableMissingError: the table does not exist.
            VersionNotFoundError: the version is unknown or vacuumed, or the time
                precedes the table's first commit.
        """
        newest = self.latest(name).version  # raises TableMissingError
        if isinstance(version, dt.datetime):
            version = self.version_at(name, version)
        if not 0 <= version <= newest:  # delta-rs walks every version up to a huge one
            raise VersionNotFoundError(f"{name} has versions 0 to {newest} only")
        key = (name, version)
        with self._lock:
            if key in self._old:
                self._old.move_to_end(key)
                return self._old[key]
        try:
            table = DeltaTable(self.path(name), version=version)
            snap = self._snapshot(name, table)
            snap.dataset.count_rows()  # fails now, not mid-request, when files were vacuumed
        except Exception as exc:  # delta-rs raises several types for a missing version
            raise VersionNotFoundError(f"{name} has no readable version {version}: {exc}") from None
        with self._lock:
            self._old[key] = snap
            while len(self._old) > self._keep:
                self._old.popitem(last=False)
        return snap

    def version_at(self, name: str, when: dt.datetime) -> int:
        """The newest version of ``name`` committed at or before ``when`` (UTC).

        Raises:
            VersionNotFoundError: the table did not exist yet at ``when``.
        """
        with self._lock:  # the refresher mutates the same DeltaTable
            commits = self._latest[name][0].history()
        millis = when.timestamp() * 1000
        best = None
        for h in commits:
            if h.get("timestamp", 0) <= millis and (best is None or h["version"] > best):
                best = h["version"]
        if best is None:
            raise VersionNotFoundError(f"{name} did not exist yet at {when.isoformat()}")
        return best

    def forget(self) -> None:
        """Drop every cached snapshot and per-profile answer (after the lake was
        rewritten, e.g. by erasure)."""
        with self._lock:
            self._latest.clear()
            self._old.clear()
            self.profile_cache = None
