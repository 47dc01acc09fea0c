"""The Redis hot store: resume points at cache speed, Delta staying the system of record.

Keys (declared in :mod:`jobs.core.tables.hot`, listed in docs/tables.md) start with
``hot_store.key_prefix`` and carry the profile as a hash tag (``{<profile_id>}``), so one
profile's keys share a Redis Cluster slot and one server-side script may touch them all:

* ``resume:{p}:<content_key>`` (hash): the profile's ``resume_state`` row of the item;
* ``watch_position_by_device:{p}:<content_key>`` (hash): one field per device, the
  newest position on that device (JSON);
* ``recent:{p}`` (sorted set): content keys scored by ``last_update`` (microseconds),
  the ``hot_store.recent_items`` newest within ``maintenance.resume_ttl_days``;
* ``last_timestamp:{p}`` (string): the newest ``last_update`` applied (microseconds), TTL
  ``hot_store.last_timestamp_ttl_hours``;
* ``version:{p}`` (string): bumped with every resume row written, so a reader that kept
  the decoded rows of a version reads only the version while it is unchanged
  (:meth:`HotStore.resume_rows_since`).

One rule, the Delta form's (:mod:`jobs.core.rules.playback_state`): a batch of events is
first folded to its newest row per (profile, item) exactly as ``resume_updates`` folds a
micro-batch (:func:`fold_events`), then each row goes through one server-side Lua script
that writes it only when it is newer than the stored row under the total order
``(last_update, last_position_sec, session_id)`` (``newer_than``): a late or replayed
event never moves a position back, and applying a batch twice changes nothing.

A resume point expires ``maintenance.resume_ttl_days`` after its ``last_update``, measured
on the store's clock (the wall clock; the rebuild passes ``maintain_tables``' reference
time, ``min(now, newest resume point)``), so Redis drops a row when the nightly expiry
drops it from Delta. Times are UTC; positions and runtimes whole seconds.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import redis
from pyspark.sql import functions as F

from jobs.core.changelog.maintenance import ttl_reference
from jobs.core.changelog.resume import current_resume
from jobs.core.rules.as_of import collected_utc, to_utc
from jobs.core.rules.watched import at_credits_value
from jobs.core.runtime.config import Config, HotStoreSettings
from jobs.core.runtime.errors import RunError
from jobs.core.storage.delta import DeltaEngine
from jobs.core.tables.hot import HotKeys

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)

# The columns of a resume row as the hot store returns it (resume_state's, session_id
# included: the rule's tie-break, as api.lookups.resume_table reads them).
RESUME_FIELDS = (
    "profile_id",
    "title_id",
    "episode_id",
    "content_key",
    "last_position_sec",
    "last_update",
    "device_id",
    "session_id",
    "is_finished",
    "runtime_sec",
)
_INT_FIELDS = frozenset(
    ("profile_id", "title_id", "episode_id", "content_key", "last_position_sec", "runtime_sec")
)

# KEYS: resume hash, device hash (values: JSON arrays of the row's name/value pairs, in
# RESUME_FIELDS order), recency zset, last_timestamp, version (set to max(old + 1, TIME in
# microseconds) when the resume row is written: never repeats, even after a restart).
# ARGV: device_id ('' = none), expire_ms (> 0), cutoff_us (recency: older is dropped),
# recent_items, last_timestamp_ttl_ms, to_resume ('1': also the item's newest row), then
# the row's non-NULL fields as name/value pairs (last_update in microseconds).
# Returns {resume row written (0/1), device position written (0/1)}.
_MERGE_LUA = """
local function bytes_gt(a, b)
  -- Spark compares strings by their UTF-8 bytes; Lua's '<' follows the locale
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end
local function newer(lu, pos, sid, olu, opos, osid)
  -- playback_state.newer_than: (last_update, last_position_sec, session_id), strictly
  if olu == nil then return true end
  if lu ~= olu then return lu > olu end
  if pos ~= opos then return pos > opos end
  return bytes_gt(sid, osid)
end
local function as_row(flat, first)
  local r = {}
  for i = first, #flat, 2 do r[flat[i]] = flat[i + 1] end
  return r
end
local row = as_row(ARGV, 7)
local lu, pos, sid = tonumber(row.last_update), tonumber(row.last_position_sec), row.session_id
local expire_ms = tonumber(ARGV[2])
local wrote_resume, wrote_device = 0, 0
if ARGV[1] ~= '' then
  local old = redis.call('HGET', KEYS[2], ARGV[1])
  local o = old and as_row(cjson.decode(old), 1) or {}
  if newer(lu, pos, sid, tonumber(o.last_update), tonumber(o.last_position_sec), o.session_id) then
    redis.call('HSET', KEYS[2], ARGV[1], cjson.encode({unpack(ARGV, 7)}))
    wrote_device = 1
  end
  if redis.call('PTTL', KEYS[2]) < expire_ms then redis.call('PEXPIRE', KEYS[2], expire_ms) end
end
if ARGV[6] == '1' then
  local o = redis.call('HMGET', KEYS[1], 'last_update', 'last_position_sec', 'session_id')
  if newer(lu, pos, sid, tonumber(o[1]), tonumber(o[2]), o[3]) then
    redis.call('DEL', KEYS[1])
    redis.call('HSET', KEYS[1], unpack(ARGV, 7))
    redis.call('PEXPIRE', KEYS[1], expire_ms)
    redis.call('ZADD', KEYS[3], row.last_update, row.content_key)  -- the text: exact
    redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[3])
    redis.call('ZREMRANGEBYRANK', KEYS[3], 0, -(tonumber(ARGV[4]) + 1))
    if redis.call('PTTL', KEYS[3]) < expire_ms then redis.call('PEXPIRE', KEYS[3], expire_ms) end
    local t = redis.call('TIME')
    local v = math.max(tonumber(redis.call('GET', KEYS[5]) or '0') + 1, t[1] * 1000000 + t[2])
    redis.call('SET', KEYS[5], string.format('%.0f', v), 'KEEPTTL')
    if redis.call('PTTL', KEYS[5]) < expire_ms then redis.call('PEXPIRE', KEYS[5], expire_ms) end
    wrote_resume = 1
  end
  local last = tonumber(redis.call('GET', KEYS[4]))
  if last == nil or lu > last then redis.call('SET', KEYS[4], row.last_update) end
  redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[5]))
end
return {wrote_resume, wrote_device}
"""

# KEYS: recency zset, version. ARGV: resume key prefix of the profile, the version the
# caller holds ('' = none), the number of rows it holds of it.
# Returns {version ('' = none)} when it equals the caller's and as many listed items are
# still stored as the caller holds (a row that expires does not move the version), else
# {version, JSON}: one JSON text, the flat HGETALL of each listed item still stored (an
# expired one is gone), newest first (one bulk string: parsing 1,000 RESP strings per
# read in Python costs more than the read).
_READ_LUA = """
local version = redis.call('GET', KEYS[2]) or ''
if version ~= '' and version == ARGV[2] then
  local held = 0
  for _, ck in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
    held = held + redis.call('EXISTS', ARGV[1] .. ck)
  end
  if held == tonumber(ARGV[3]) then return {version} end
end
local items = redis.call('ZREVRANGE', KEYS[1], 0, -1)
local out = {}
for _, ck in ipairs(items) do
  local h = redis.call('HGETALL', ARGV[1] .. ck)
  if #h > 0 then out[#out + 1] = h end
end
if #out == 0 then return {version, '[]'} end
return {version, cjson.encode(out)}
"""


class HotStoreUnavailable(RunError):
    """Redis is unusable: readers fall back to Delta.

    Raised when no URL is configured, Redis cannot be reached (down, refused, timed out)
    or it refuses a command (out of memory, a read-only replica).
    """


def to_micros(moment: dt.datetime) -> int:
    """An aware datetime as integer microseconds since the epoch (UTC)."""
    return (to_utc(moment) - EPOCH) // _US


def from_micros(micros: int) -> dt.datetime:
    """Integer microseconds since the epoch as an aware UTC datetime."""
    return EPOCH + dt.timedelta(microseconds=micros)


def _struct_key(value: Any) -> tuple[int, Any]:
    """Spark's ordering of one struct field: NULL before every value."""
    return (0, 0) if value is None else (1, value)


def fold_events(events: Iterable[dict[str, Any]], finish_ratio: float) -> list[dict[str, Any]]:
    """``playback_state.resume_updates`` over plain rows: the newest row per (profile, item).

    The same rule, field by field: supplemental videos, rows without profile or title
    and ABANDONED statements are left out; per ``(profile_id, coalesce(episode_id,
    title_id))`` the row of the greatest ``(event_time, position_sec, session_id,
    device_id, runtime_sec, title_id, episode_id, watched)`` wins (NULL first, as Spark's
    ``max`` of a struct); a WATCHED statement's position is at least the greatest
    playback position of the item among ``events``; ``is_finished`` is WATCHED or
    :func:`jobs.core.rules.watched.at_credits_value`.

    Args:
        events: landing-contract events (``LANDING_EVENT_SCHEMA`` fields; ``event_time`` an
            aware datetime, UTC).
        finish_ratio: ``resume.finish_ratio``.

    Returns:
        ``resume_state`` rows (:data:`RESUME_FIELDS`, ``last_update`` UTC) in no
        particular order.
    """
    best: dict[tuple[int, int], tuple[tuple[Any, ...], dict[str, Any]]] = {}
    max_position: dict[tuple[int, int], int] = {}
    for e in events:
        kind = e.get("event_type")
        if e.get("is_supplemental") or kind == "ABANDONED":
            continue
        if e.get("profile_id") is None or e.get("title_id") is None:
            continue
        ck = e["episode_id"] if e.get("episode_id") is not None else e["title_id"]
        key = (e["profile_id"], ck)
        position = e.get("position_sec")
        if kind not in ("WATCHED", "ABANDONED") and position is not None:
            max_position[key] = max(position, max_position.get(key, position))
        fields = (
            to_utc(e["event_time"]),
            position,
            e.get("session_id"),
            e.get("device_id"),
            e.get("runtime_sec"),
            e["title_id"],
            e.get("episode_id"),
            kind == "WATCHED" if kind is not None else None,
        )
        order = tuple(_struct_key(v) for v in fields)
        kept = best.get(key)
        if kept is None or order > kept[0]:
            best[key] = (order, {"event": e, "fields": fields})
    rows = []
    for key, (_, won) in best.items():
        last_update, position, session_id, device_id, runtime, title_id, episode_id, watched = won[
            "fields"
        ]
        if watched:
            batch_max = max_position.get(key)
            # greatest() skips NULLs
            position = max((p for p in (position, batch_max) if p is not None), default=None)
        finished = at_credits_value(won["fields"][1], runtime, finish_ratio)
        rows.append(
            {
                "profile_id": key[0],
                "title_id": title_id,
                "episode_id": episode_id,
                "content_key": key[1],
                "last_position_sec": position,
                "last_update": last_update,
                "device_id": device_id,
                "session_id": session_id,
                "is_finished": True if watched else finished,
                "runtime_sec": runtime,
            }
        )
    return rows


def _encode(row: dict[str, Any]) -> list[str]:
    """A resume row as the script's name/value pairs (NULL fields left out)."""
    out: list[str] = []
    for name in RESUME_FIELDS:
        value = row.get(name)
        if value is None:
            continue
        if name == "last_update":
            value = to_micros(value)
        elif name == "is_finished":
            value = int(bool(value))
        out += [name, str(value)]
    return out


def _decode(fields: dict[str, str]) -> dict[str, Any]:
    """A stored row (hash fields, or a device position) as a resume row."""
    row: dict[str, Any] = dict.fromkeys(RESUME_FIELDS)
    for name, text in fields.items():
        if name in _INT_FIELDS:
            row[name] = int(text)
        elif name == "last_update":
            row[name] = from_micros(int(text))
        elif name == "is_finished":
            row[name] = text == "1"
        elif name in row:
            row[name] = text
    return row


class HotStore:
    """Resume points and device positions in Redis, written monotonically (module docstring).

    Args:
        client: a ``redis.Redis`` (``decode_responses`` is not required).
        settings: ``cfg.hot_store``.
        resume_ttl_days: ``maintenance.resume_ttl_days``: a row lives that long after its
            ``last_update``.
        finish_ratio: ``resume.finish_ratio``.
        clock: the store's "now" (aware UTC); the wall clock by default.
    """

    def __init__(
        self,
        client: redis.Redis,
        settings: HotStoreSettings,
        resume_ttl_days: int,
        finish_ratio: float,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.client = client
        self.settings = settings
        self.keys = HotKeys(settings.key_prefix)
        self.ttl = dt.timedelta(days=resume_ttl_days)
        self.finish_ratio = finish_ratio
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self._merge = client.register_script(_MERGE_LUA)
        self._read = client.register_script(_READ_LUA)

    @classmethod
    def from_config(
        cls, cfg: Config, url: str | None = None, clock: Callable[[], dt.datetime] | None = None
    ) -> HotStore:
        """A store on ``url``, else on the URL in the env var ``hot_store.url_env``.

        No connection is made here (redis-py connects on first use).

        Raises:
            HotStoreUnavailable: no URL given and the env var is unset or empty, or the
                URL is malformed.
        """
        settings = cfg.hot_store
        url = url or os.environ.get(settings.url_env)
        if not url:
            raise HotStoreUnavailable(
                f"no Redis URL: set {settings.url_env} (e.g. redis://127.0.0.1:6379/0)"
            )
        try:
            client = redis.Redis.from_url(
                url,
                socket_timeout=settings.socket_timeout_sec,
                socket_connect_timeout=settings.socket_timeout_sec,
            )
        except ValueError as exc:
            raise HotStoreUnavailable(f"{settings.url_env}: {exc}") from None
        return cls(
            client, settings, cfg.maintenance.resume_ttl_days, cfg.resume.finish_ratio, clock
        )

    @contextmanager
    def _reaching(self) -> Iterator[None]:
        try:
            yield
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
            raise HotStoreUnavailable(f"Redis is unreachable: {exc}") from exc
        except redis.exceptions.RedisError as exc:  # OOM, READONLY replica, a script error
            raise HotStoreUnavailable(f"Redis refused the command: {exc}") from exc

    def ping(self) -> bool:
        """True when Redis answers.

        Raises:
            HotStoreUnavailable: it does not (down, refused, timed out).
        """
        with self._reaching():
            return bool(self.client.ping())

    def apply_events(self, events: Iterable[dict[str, Any]]) -> int:
        """Fold landing-contract events into Redis: newest rows only, idempotent.

        The batch is folded per (profile, item) and per (profile, item, device) by
        :func:`fold_events` (the Delta rule), then every row is merged by the server-side
        script in one pipeline round trip.

        Args:
            events: dicts with the ``LANDING_EVENT_SCHEMA`` fields (``event_time`` aware UTC).

        Returns:
            Resume rows written (0 when nothing in the batch is newer than Redis).

        Raises:
            HotStoreUnavailable: Redis is unreachable.
        """
        events = list(events)
        newest = {
            (r["profile_id"], r["content_key"]): r for r in fold_events(events, self.finish_ratio)
        }
        by_device: dict[Any, list[dict[str, Any]]] = {}
        for e in events:
            by_device.setdefault(e.get("device_id"), []).append(e)
        writes: list[tuple[dict[str, Any], bool]] = []
        for group in by_device.values():
            for row in fold_events(group, self.finish_ratio):
                key = (row["profile_id"], row["content_key"])
                is_top = newest.get(key) == row
                if is_top:  # the item's newest row is also its device's newest
                    del newest[key]
                writes.append((row, is_top))
        writes += [(row, True) for row in newest.values()]  # a WATCHED row's own position
        return self._write(writes)

    def apply_resume_rows(self, rows: Iterable[dict[str, Any]]) -> int:
        """Merge ``resume_state`` rows (each also its device's position), idempotent.

        Args:
            rows: dicts with :data:`RESUME_FIELDS` (``last_update`` aware UTC).

        Returns:
            Rows written (newer than what Redis held and within the TTL).

        Raises:
            HotStoreUnavailable: Redis is unreachable.
        """
        return self._write([(row, True) for row in rows])

    def _write(self, writes: list[tuple[dict[str, Any], bool]]) -> int:
        now = self.clock()
        cutoff_us = to_micros(now - self.ttl)
        last_ttl_ms = self.settings.last_timestamp_ttl_hours * 3_600_000
        # EVALSHA straight into the pipeline: redis-py's Script in a pipeline asks SCRIPT
        # EXISTS first, one more round trip per write (16% of a POST's server time)
        calls: list[tuple[list[str], list[Any]]] = []  # (KEYS, ARGV) per merge
        for row, to_resume in writes:
            expire_ms = (to_utc(row["last_update"]) + self.ttl - now) // dt.timedelta(
                milliseconds=1
            )
            if expire_ms <= 0:
                continue  # older than the TTL: maintain_tables' expiry has dropped it
            profile, ck = row["profile_id"], row["content_key"]
            keys = [
                self.keys.resume(profile, ck),
                self.keys.device(profile, ck),
                self.keys.recent(profile),
                self.keys.last_timestamp(profile),
                self.keys.version(profile),
            ]
            device = row.get("device_id") or ""
            args = [device, expire_ms, cutoff_us, self.settings.recent_items, last_ttl_ms]
            calls.append((keys, [*args, "1" if to_resume else "0", *_encode(row)]))
        if not calls:
            return 0

        def run() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)
            for keys, argv in calls:
                pipe.evalsha(self._merge.sha, len(keys), *keys, *argv)
            return pipe.execute()

        with self._reaching():
            try:
                results = run()
            except redis.exceptions.NoScriptError:
                # a restarted or flushed Redis: load the script, run the batch again (the
                # merges are idempotent and monotonic: the ones that ran stay as they are)
                self.client.script_load(_MERGE_LUA)
                results = run()
        return sum(int(r[0]) for r in results)

    def resume_rows(self, profile_id: int) -> list[dict[str, Any]]:
        """The profile's current resume rows held in the recency index, newest first.

        Returns:
            Dicts with :data:`RESUME_FIELDS` (``last_update`` aware UTC, positions
            seconds): the rows ``continue_watching_rows`` takes, at most
            ``hot_store.recent_items``; an expired row (TTL) is gone, whatever the clock.

        Raises:
            HotStoreUnavailable: Redis is unreachable.
        """
        return self.resume_rows_since(profile_id, None)[1] or []

    def resume_rows_since(
        self, profile_id: int, known: str | None, held: int = 0
    ) -> tuple[str | None, list[dict[str, Any]] | None]:
        """The version of the profile's resume rows, and the rows unless it is ``known``.

        One round trip. The version (key ``version:{p}``) changes with every resume row
        written (never back to an earlier value, even after a Redis restart); a row that
        expires (TTL) does not change it, so the script also counts the rows still stored
        against ``held`` (a row only ever leaves by expiring).

        Args:
            profile_id: the profile.
            known: the version the caller holds the rows of (None: none).
            held: how many rows of ``known`` the caller holds.

        Returns:
            ``(version, None)`` when the version is ``known`` and none of its rows expired
            (nothing read or decoded), else ``(version, rows)`` with the rows of
            :meth:`resume_rows`; the version is None when Redis holds none for the
            profile (rows written before versions existed, or none at all): such rows
            must not be kept.

        Raises:
            HotStoreUnavailable: Redis is unreachable.
        """
        prefix = self.keys.resume_prefix(profile_id)
        keys = [self.keys.recent(profile_id), self.keys.version(profile_id)]
        with self._reaching():
            answer = self._read(keys, [prefix, known or "", held])
        version = answer[0].decode() if answer[0] else None
        if len(answer) == 1:
            return version, None
        rows = [_decode(dict(zip(h[::2], h[1::2], strict=True))) for h in json.loads(answer[1])]
        return version, rows

    def device_positions(self, profile_id: int, content_key: int) -> list[dict[str, Any]]:
        """Where the item stands on each device of the profile, newest first.

        Returns:
            One dict per device with :data:`RESUME_FIELDS` (that device's newest row of
            the item; ``last_update`` aware UTC); empty when Redis holds none.

        Raises:
            HotStoreUnavailable: Redis is unreachable.
        """
        with self._reaching():
            stored = self.client.hgetall(self.keys.device(profile_id, content_key))
        flat = [json.loads(v) for v in stored.values()]
        rows = [_decode(dict(zip(f[::2], f[1::2], strict=True))) for f in flat]
        return sorted(rows, key=lambda r: (r["last_update"], r["last_position_sec"]), reverse=True)

    def last_timestamp(self, profile_id: int) -> dt.datetime | None:
        """The newest ``last_update`` written for the profile within the last 24 h (UTC), or None.

        Raises:
            HotStoreUnavailable: Redis is unreachable.
        """
        with self._reaching():
            value = self.client.get(self.keys.last_timestamp(profile_id))
        return None if value is None else from_micros(int(value))


@dataclass(frozen=True)
class RebuildResult:
    """What one :func:`rebuild` did.

    Attributes:
        rows_read: current resume rows within the TTL read from Delta.
        rows_written: rows Redis took (newer than what it held; 0 on a second run).
        reference: the TTL's reference time (``maintain_tables``': ``min(now, newest
            last_update)``, UTC).
        seconds: wall time.
    """

    rows_read: int
    rows_written: int
    reference: dt.datetime
    seconds: float


def rebuild(
    engine: DeltaEngine, cfg: Config, url: str | None = None, now: dt.datetime | None = None
) -> RebuildResult:
    """Fill Redis from Delta: the current resume rows (``resume_state`` ∪ its change log).

    Idempotent and monotonic: every row goes through the same merge as live events, so a
    row never replaces a newer one Redis already holds (a heartbeat that arrived during
    the rebuild stays). Rows older than ``maintenance.resume_ttl_days`` before the
    reference time of ``maintain_tables``' expiry are skipped, and each row's TTL counts
    from that reference, so Redis and Delta drop a row together (a lake holding a
    historical export keeps its last 90 days in Redis too).

    Args:
        engine: the lake's Delta engine.
        cfg: configuration (``hot_store``, ``maintenance.resume_ttl_days``).
        url: the Redis URL; None = the env var ``hot_store.url_env``.
        now: the current time (UTC); None = the wall clock.

    Returns:
        The counts and the reference time.

    Raises:
        HotStoreUnavailable: no URL, or Redis unreachable.
        TableNotFoundError: ``resume_state`` was never created.
    """
    start = time.monotonic()
    reference = ttl_reference(engine, now or dt.datetime.now(dt.UTC))
    store = HotStore.from_config(cfg, url, clock=lambda: reference)
    store.ping()
    cutoff = reference - dt.timedelta(days=cfg.maintenance.resume_ttl_days)
    frame = current_resume(engine).where(F.col("last_update") > F.lit(cutoff))
    batch: list[dict[str, Any]] = []
    read = written = 0
    for row in frame.select(*RESUME_FIELDS).toLocalIterator():
        batch.append({**row.asDict(), "last_update": collected_utc(row["last_update"])})
        if len(batch) >= cfg.hot_store.rebuild_batch_rows:
            read, written = read + len(batch), written + store.apply_resume_rows(batch)
            batch = []
    read, written = read + len(batch), written + store.apply_resume_rows(batch)
    return RebuildResult(read, written, reference, time.monotonic() - start)
