"""Build ``viewing_session``, ``user_content_interaction`` and ``user_content_rating``.

The step ``python -m jobs.build_interactions`` runs: VIEW rows from the non-supplemental
playback sessions (:mod:`jobs.core.recommend.interactions`), optional explicit feedback
from JSON lines, and the current ratings. Incremental: nothing happens when the sources
have not moved since the last run (``build_state``); otherwise rows are merged on their
keys and only new or changed rows are written, with ``ingested_at`` = now (UTC).
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from jobs.core.changelog.session import current_sessions
from jobs.core.recommend import interactions as ri
from jobs.core.recommend import state
from jobs.core.runtime.config import RecommendSettings
from jobs.core.runtime.errors import RunError
from jobs.core.storage.delta import DeltaEngine, MergeSpec

log = logging.getLogger("build_interactions")
JOB = "build_interactions"
SOURCES = ("playback_session", "playback_session_change", "title", "episode")
TABLES = ["viewing_session", "user_content_interaction", "user_content_rating", "build_state"]
FEEDBACK_SCHEMA = (
    "profile_id long, title_id long, interaction_type string, interaction_value double, "
    "event_ts timestamp"
)
_INTERACTION_KEY = (
    "t.profile_id = s.profile_id AND t.title_id = s.title_id AND t.event_ts = s.event_ts"
)
_INTERACTION_CHANGED = "t.interaction_value <> s.interaction_value OR t.session_id <> s.session_id"
_SESSION_CHANGED = (
    "t.completion_rate <> s.completion_rate OR t.watch_duration_sec <> s.watch_duration_sec "
    "OR t.ended_at <> s.ended_at"
)


def build(
    engine: DeltaEngine,
    settings: RecommendSettings,
    feedback: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Build the interaction tables from the lake, incrementally.

    Args:
        engine: the Delta engine (reads the current sessions, ``title``, ``episode``).
        settings: ``recommend`` settings (``interactions.typical_length_sec``).
        feedback: path of JSON lines of explicit feedback (profile_id, title_id,
            interaction_type, interaction_value, event_ts); bad rows are rejected and
            counted, five of them logged.
        force: rebuild even when the sources did not move.

    Returns:
        Merge metrics per table (``viewing_session``, ``view_interactions``, and with
        feedback ``feedback`` and ``feedback_rejected``); ``{"skipped": True}`` when
        nothing moved.

    Raises:
        RunError: ``playback_session`` does not exist yet.
    """
    now = dt.datetime.now(dt.UTC)
    engine.create_all(TABLES)
    current = state.versions(engine, SOURCES)
    if "playback_session" not in current:
        raise RunError("playback_session not found: import and ingest an export first")
    marks = {k: v for k, (v, _) in state.read_marks(engine, JOB).items()}
    if not force and not feedback and marks == current:
        log.info("sources unchanged since the last run (%s): nothing to do", current)
        return {"skipped": True}
    viewing = ri.viewing_sessions(
        current_sessions(engine),
        engine.read("title"),
        engine.read("episode"),
        settings.interactions.typical_length_sec,
    ).cache()
    r1 = engine.merge(
        "viewing_session",
        viewing,
        MergeSpec(on="t.session_id = s.session_id", update_condition=_SESSION_CHANGED),
    )
    views = ri.view_interactions(viewing, now)
    upsert = MergeSpec(on=_INTERACTION_KEY, update_condition=_INTERACTION_CHANGED)
    r2 = engine.merge("user_content_interaction", views, upsert)
    report: dict[str, Any] = {"viewing_session": r1.metrics, "view_interactions": r2.metrics}
    if feedback:
        raw = engine.spark.read.schema(FEEDBACK_SCHEMA).json(feedback)
        good, bad = ri.explicit_interactions(raw, now)
        report["feedback_rejected"] = bad.count()
        for r in bad.limit(5).collect():
            log.warning("feedback rejected: %s", r.asDict())
        report["feedback"] = engine.merge("user_content_interaction", good, upsert).metrics
    ratings = ri.current_ratings(engine.read("user_content_interaction"))
    engine.overwrite("user_content_rating", ratings)
    state.write_marks(engine, JOB, current, now)
    viewing.unpersist()
    return report
