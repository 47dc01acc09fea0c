"""The Redis keys of the hot store, declared once (like the Delta tables beside them).

Each :class:`HotKey` says its pattern, Redis type, fields, TTL and why it exists;
:func:`jobs.core.tables.registry.markdown` renders them into docs/tables.md.
:class:`HotKeys` builds the names (the code of :mod:`jobs.core.serving.hot_store` uses
nothing else). Every name starts with ``hot_store.key_prefix`` and carries the profile
as a Redis Cluster hash tag ``{<profile_id>}``, so a profile's keys share one slot and
one server-side script can update them together. Delta stays the system of record:
``python -m jobs.rebuild_hot_store`` rebuilds every key from ``resume_state`` and its
change log.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HotKey:
    """One Redis key family.

    Attributes:
        pattern: the name after the prefix (``{p}`` the profile_id hash tag, ``<k>`` the
            content_key).
        redis_type: hash, zset or string.
        fields: ``(field, meaning)`` pairs.
        ttl: when the key expires, in words.
        why: what reads it.
    """

    pattern: str
    redis_type: str
    fields: tuple[tuple[str, str], ...]
    ttl: str
    why: str


RESUME = HotKey(
    pattern="resume:{<profile_id>}:<content_key>",
    redis_type="hash",
    fields=(
        ("profile_id, title_id, episode_id, content_key", "as in `resume_state` (NULL: no field)"),
        ("last_position_sec", "newest position, seconds"),
        ("last_update", "event_time of that position, UTC, integer microseconds since the epoch"),
        ("device_id, session_id", "device and session of the update (session: the tie-break)"),
        ("is_finished", "1 / 0: WATCHED, or position >= resume.finish_ratio x runtime"),
        ("runtime_sec", "item length when known, seconds"),
    ),
    ttl="maintenance.resume_ttl_days (90) after last_update: gone when maintain_tables' "
    "expiry drops the row from Delta",
    why="the design's newest position + device per (profile, item): the `resume_state` row, "
    "written only when newer under (last_update, last_position_sec, session_id)",
)

DEVICE = HotKey(
    pattern="watch_position_by_device:{<profile_id>}:<content_key>",
    redis_type="hash",
    fields=(("<device_id>", "JSON: that device's newest row of the item (the resume fields)"),),
    ttl="the newest of its devices' rows' resume TTL",
    why='the design\'s `watch_position_by_device`: "where was I on the TV?"; each field '
    "monotonic like the resume row",
)

RECENT = HotKey(
    pattern="recent:{<profile_id>}",
    redis_type="zset",
    fields=(("member <content_key>", "score: last_update in microseconds (UTC)"),),
    ttl="its newest member's resume TTL; members older than maintenance.resume_ttl_days "
    "dropped on write and skipped on read",
    why="the per-profile recency index: the hot_store.recent_items (50, >= "
    "continue_watching.limit) newest items, the rows Continue Watching reads",
)

LAST_TIMESTAMP = HotKey(
    pattern="last_timestamp:{<profile_id>}",
    redis_type="string",
    fields=(("value", "newest last_update written for the profile, microseconds (UTC)"),),
    ttl="hot_store.last_timestamp_ttl_hours (24) after the last write",
    why="the design's `last_timestamp`: has anything changed for this profile (cache keys)",
)

VERSION = HotKey(
    pattern="version:{<profile_id>}",
    redis_type="string",
    fields=(
        (
            "value",
            "the profile's resume rows' version: max(previous + 1, Redis TIME in microseconds) "
            "on every resume row written (never repeats, even after a Redis restart)",
        ),
    ),
    ttl="that of `recent:{<profile_id>}` (its newest member's resume TTL)",
    why="Continue Watching's repeat read: the API keeps the decoded rows per (profile, "
    "version) and the read script answers only the version while it is unchanged",
)

HOT_KEYS = (RESUME, DEVICE, RECENT, LAST_TIMESTAMP, VERSION)


@dataclass(frozen=True)
class HotKeys:
    """The key names under one ``hot_store.key_prefix``.

    Attributes:
        prefix: the prefix (``"vl:"`` by default).
    """

    prefix: str

    def resume(self, profile_id: int, content_key: int) -> str:
        """The resume hash of (profile, item)."""
        return f"{self.resume_prefix(profile_id)}{content_key}"

    def resume_prefix(self, profile_id: int) -> str:
        """The profile's resume hashes' names up to the content_key."""
        return f"{self.prefix}resume:{{{profile_id}}}:"

    def device(self, profile_id: int, content_key: int) -> str:
        """The per-device position hash of (profile, item)."""
        return f"{self.prefix}watch_position_by_device:{{{profile_id}}}:{content_key}"

    def recent(self, profile_id: int) -> str:
        """The profile's recency index."""
        return f"{self.prefix}recent:{{{profile_id}}}"

    def last_timestamp(self, profile_id: int) -> str:
        """The profile's last_timestamp."""
        return f"{self.prefix}last_timestamp:{{{profile_id}}}"

    def version(self, profile_id: int) -> str:
        """The version of the profile's resume rows (bumped by every resume row written)."""
        return f"{self.prefix}version:{{{profile_id}}}"


def markdown() -> list[str]:
    """The docs/tables.md section of the Redis keys (lines)."""
    out = [
        "# Redis keys (the hot store)",
        "",
        "Declared in `jobs/core/tables/hot.py`, written by `jobs/core/serving/hot_store.py`. A",
        "copy in front of Delta, never the record: `python -m jobs.rebuild_hot_store` refills",
        "it from `resume_state` ∪ `resume_state_change`. Every name starts with",
        "`hot_store.key_prefix` (`vl:`); `{<profile_id>}` is a Redis Cluster hash tag (one",
        "profile, one slot). Updates go through one Lua script: a row is written only when",
        "newer under `(last_update, last_position_sec, session_id)`, the order of `resume_state`.",
        "",
    ]
    for key in HOT_KEYS:
        out += [f"## `{key.pattern}`", "", key.why, ""]
        out += [f"- type: {key.redis_type}", f"- TTL: {key.ttl}", ""]
        out += ["| field | meaning |", "|---|---|"]
        out += [f"| `{name}` | {meaning} |" for name, meaning in key.fields]
        out.append("")
    return out
