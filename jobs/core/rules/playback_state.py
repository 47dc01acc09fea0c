"""Derived playback state: ``playback_session`` and ``resume_state`` from events.

Shared by the streaming ingest (per micro-batch) and the batch job
``merge_resume_state`` (rebuild or catch-up), so both give the same tables. The ingest
appends its resume rows to the change log ``resume_state_change`` instead of merging
them (``resume.write_path``); :mod:`jobs.core.changelog.resume` reads and compacts it with
the rule below.

The rules:

* A session's row is the fold of its events: ``started_at`` = min(event_time),
  ``ended_at`` = time of its END (NULL while open), ``last_event_at`` = max(event_time),
  ``last_position_sec`` = position at ``last_event_at``, ``event_count`` = events
  stored. Folding is associative and commutative, so batches may arrive in any order;
  ``SESSION_MERGE`` applies it as a MERGE and :func:`jobs.core.changelog.session.fold_sessions`
  as an aggregate over the change log (the module says the rule column by column).
* ``resume_state`` holds, per ``(profile_id, coalesce(episode_id, title_id))``, the
  position of the newest event, ordered by ``(event_time, position_sec, session_id)``.
  The order is total, so the result does not depend on how events were batched and a
  late event never moves a resume point backwards. Measured on the real exports, the
  newest *ending* viewing is what Netflix reports as ``Latest Bookmark`` (99.7–100% of
  titles; see bench/resume_accuracy.py).
* Supplemental videos (trailers, hooks, recaps...) are sessions and events, never
  resume points.
* ``is_finished``: the position is at least ``resume.finish_ratio`` (0.95) of the
  runtime, when the runtime is known (the point where players roll the credits): the
  "resume point finished" rule of :mod:`jobs.core.rules.watched`, which says why it differs
  from the 90% "viewing watched" rule of the star schema.
* Statements (:mod:`jobs.core.rules.statements`): a WATCHED statement finishes the item
  (``is_finished`` true even when the runtime is unknown) and never moves its position
  backwards within a batch (the greatest position of the batch's events for the item;
  the API writes the runtime, else the item's stored resume position); an ABANDONED
  statement is never a resume point: it neither overwrites the real position (with 0
  when the runtime is unknown) nor makes the item the newest of Continue Watching.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import Executor, wait
from functools import partial

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.core.rules.watched import at_credits
from jobs.core.storage.delta import DeltaEngine, MergeSpec, WriteResult
from jobs.core.tables.registry import PLAYBACK_SESSION, PLAYBACK_SESSION_CHANGE, RESUME_STATE_CHANGE

SESSION_MERGE = MergeSpec(
    on="t.session_id = s.session_id",
    update={
        "started_at": "least(t.started_at, s.started_at)",
        "ended_at": "coalesce(greatest(t.ended_at, s.ended_at), t.ended_at, s.ended_at)",
        # the reason of the newest end; END before ABANDONED on a tie
        "end_reason": (
            "CASE WHEN s.ended_at IS NULL THEN t.end_reason "
            "WHEN t.ended_at IS NULL OR s.ended_at > t.ended_at THEN s.end_reason "
            "WHEN s.ended_at = t.ended_at AND s.end_reason = 'END' THEN s.end_reason "
            "ELSE t.end_reason END"
        ),
        # the position at the greatest (last_event_at, last_position_sec)
        "last_position_sec": (
            "CASE WHEN s.last_event_at > t.last_event_at OR (s.last_event_at = t.last_event_at "
            "AND s.last_position_sec > t.last_position_sec) "
            "THEN s.last_position_sec ELSE t.last_position_sec END"
        ),
        "last_event_at": "greatest(t.last_event_at, s.last_event_at)",
        "event_count": "t.event_count + s.event_count",
        "is_autoplay": "coalesce(t.is_autoplay, s.is_autoplay)",
    },
    insert=None,
)


def newer_than(a: str, b: str) -> str:
    """SQL: row ``a`` is strictly newer than row ``b`` (table aliases).

    Newer means greater ``(last_update, last_position_sec, session_id)``: a total order,
    so an exact tie is never newer. The one ordering rule of resume points, used by the
    merge below and by :mod:`jobs.core.changelog.resume`.
    """
    return (
        f"{a}.last_update > {b}.last_update OR ({a}.last_update = {b}.last_update AND "
        f"({a}.last_position_sec > {b}.last_position_sec OR "
        f"({a}.last_position_sec = {b}.last_position_sec AND {a}.session_id > {b}.session_id)))"
    )


_NEWER = newer_than("s", "t")

RESUME_MERGE = MergeSpec(
    on="t.profile_id = s.profile_id AND t.content_key = s.content_key",
    update=None,
    update_condition=_NEWER,
    insert=None,
)


def session_updates(events: DataFrame) -> DataFrame:
    """Fold events into one partial ``playback_session`` row per session.

    Args:
        events: rows of ``playback_event`` (at least session_id, event_time, event_type,
            position_sec, profile_id, device_id, title_id, episode_id, country_code,
            is_supplemental, is_autoplay), already deduplicated.

    Returns:
        One row per session_id with the ``playback_session`` columns; ``event_count``
        counts the given events only (the merge adds it to the stored count).
    """
    latest = F.max_by(F.col("position_sec"), F.struct("event_time", "position_sec"))
    return events.groupBy("session_id").agg(
        F.first("profile_id", ignorenulls=True).alias("profile_id"),
        F.first("device_id", ignorenulls=True).alias("device_id"),
        F.first("title_id", ignorenulls=True).alias("title_id"),
        F.first("episode_id", ignorenulls=True).alias("episode_id"),
        F.first("country_code", ignorenulls=True).alias("country_code"),
        F.max("is_supplemental").alias("is_supplemental"),
        F.max("is_autoplay").alias("is_autoplay"),
        F.min("event_time").alias("started_at"),
        F.max(F.when(F.col("event_type") == "END", F.col("event_time"))).alias("ended_at"),
        F.max(F.when(F.col("event_type") == "END", F.lit("END"))).alias("end_reason"),
        F.max("event_time").alias("last_event_at"),
        latest.alias("last_position_sec"),
        F.count(F.lit(1)).cast("long").alias("event_count"),
    )


def as_change_rows(updates: DataFrame, change_id: str) -> DataFrame:
    """``updates`` (``playback_session`` rows) as ``playback_session_change`` rows.

    ``change_id`` names the append (the writer's marker and batch), unique per commit:
    with ``session_id`` it identifies a log row, which compaction deletes once folded.
    """
    return updates.select(*PLAYBACK_SESSION.columns, F.lit(change_id).alias("change_id"))


def content_key() -> Column:
    """``coalesce(episode_id, title_id)``: the resume_state key of a title or episode."""
    return F.coalesce(F.col("episode_id"), F.col("title_id"))


def resume_updates(events: DataFrame, finish_ratio: float) -> DataFrame:
    """The newest position per (profile, title or episode) among ``events``.

    Args:
        events: ``playback_event`` rows (profile_id, title_id, episode_id, event_time,
            event_type, position_sec, device_id, session_id, is_supplemental, runtime_sec).
        finish_ratio: share of the runtime at which an item counts as finished
            (``resume.finish_ratio``, 0.95).

    Returns:
        ``resume_state`` rows: one per (profile_id, content_key), supplemental videos and
        rows without profile or title and ABANDONED statements excluded; last_update is
        UTC, positions seconds; a WATCHED statement's row is finished and its position at
        least the batch's greatest playback position of the item.
    """
    statement = F.col("event_type").isin("WATCHED", "ABANDONED")
    newest = F.max(
        F.struct(
            F.col("event_time").alias("last_update"),
            F.col("position_sec").alias("last_position_sec"),
            F.col("session_id"),
            F.col("device_id"),
            F.col("runtime_sec"),
            F.col("title_id"),
            F.col("episode_id"),
            (F.col("event_type") == "WATCHED").alias("watched"),
        )
    ).alias("n")
    position = F.when(F.col("n.watched"), F.greatest("n.last_position_sec", "_max_position"))
    return (
        events.where(
            ~F.coalesce(F.col("is_supplemental"), F.lit(False))
            & F.col("profile_id").isNotNull()
            & F.col("title_id").isNotNull()
            # an ABANDONED statement is never a resume point (module docstring)
            & ~F.coalesce(F.col("event_type") == "ABANDONED", F.lit(False))
        )
        .groupBy("profile_id", content_key().alias("content_key"))
        .agg(newest, F.max(F.when(~statement, F.col("position_sec"))).alias("_max_position"))
        .select(
            "profile_id",
            "n.title_id",
            "n.episode_id",
            "content_key",
            position.otherwise(F.col("n.last_position_sec")).alias("last_position_sec"),
            "n.last_update",
            "n.device_id",
            "n.session_id",
            (
                F.col("n.watched")
                | at_credits(F.col("n.last_position_sec"), F.col("n.runtime_sec"), finish_ratio)
            ).alias("is_finished"),
            "n.runtime_sec",
        )
    )


def apply_events(
    engine: DeltaEngine,
    events: DataFrame,
    finish_ratio: float,
    app_id_prefix: str | None = None,
    version: int | None = None,
    pool: Executor | None = None,
    write_path: str = "merge",
) -> dict[str, WriteResult]:
    """Fold ``events`` into ``playback_session`` and the resume points.

    With ``write_path="merge"`` the sessions (:func:`session_updates`) are merged into
    ``playback_session`` and the resume rows (:func:`resume_updates`) into
    ``resume_state``; with ``"change_log"`` both are appended to the tables' change logs
    ``playback_session_change`` and ``resume_state_change`` (the cost follows the batch;
    readers use :mod:`jobs.core.changelog.session` and :mod:`jobs.core.changelog.resume`).

    Each table's write carries its own transaction marker ``{app_id_prefix}:{table}`` at
    ``version``, so a replay after a crash between the two commits redoes only the
    missing one. The two writes touch different tables, so with a ``pool`` they run at
    once (``events`` should then be cached); the call returns when both are done and
    raises the first error.

    Returns:
        ``{"playback_session": WriteResult, "resume_state": WriteResult}`` (the change-log
        appends on the ``change_log`` path).

    Raises:
        ValueError: an unknown ``write_path``.
    """

    def app(table: str) -> str | None:
        return f"{app_id_prefix}:{table}" if app_id_prefix else None

    resume = resume_updates(events, finish_ratio)
    sessions = session_updates(events)
    change, session_change = RESUME_STATE_CHANGE.name, PLAYBACK_SESSION_CHANGE.name
    if write_path == "merge":
        resume_write = partial(
            engine.merge, "resume_state", resume, RESUME_MERGE, app("resume_state"), version
        )
        session_write = partial(
            engine.merge, "playback_session", sessions, SESSION_MERGE, app("playback_session"),
            version,
        )  # fmt: skip
    elif write_path == "change_log":
        resume_write = partial(engine.append, change, resume, app(change), version)
        marker = app(session_change)
        change_id = f"{marker}:{version}" if marker else f"adhoc:{uuid.uuid4()}"
        session_write = partial(
            engine.append, session_change, as_change_rows(sessions, change_id), marker, version
        )
    else:
        raise ValueError(f"resume.write_path {write_path!r}: use 'change_log' or 'merge'")
    writes: dict[str, Callable[[], WriteResult]] = {
        "playback_session": session_write,
        "resume_state": resume_write,
    }
    if pool is None:
        return {key: write() for key, write in writes.items()}
    futures = {key: pool.submit(write) for key, write in writes.items()}
    wait(futures.values())
    return {key: future.result() for key, future in futures.items()}
