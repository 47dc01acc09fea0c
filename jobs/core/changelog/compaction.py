"""Compaction of both playback-state change logs, the one call jobs make.

``resume_state_change`` folds into ``resume_state`` (:mod:`jobs.core.changelog.resume`,
newest wins) and ``playback_session_change`` into ``playback_session``
(:mod:`jobs.core.changelog.session`, an aggregate fold). The ingest calls :func:`compact_if_due`
after micro-batches and :func:`compact` at the end of a ``--once`` run;
``jobs.maintain_tables --only compact`` and ``jobs.merge_resume_state`` call :func:`compact`.
"""

from __future__ import annotations

from typing import Any

from jobs.core.changelog import resume as resume_log
from jobs.core.changelog import session as session_log
from jobs.core.storage.delta import DeltaEngine


def compact(engine: DeltaEngine) -> dict[str, Any]:
    """Compact both logs; ``{"resume_state": ..., "playback_session": ...}`` CompactResults.

    Raises:
        Whatever the engine raises after its retries (rerunning is safe).
    """
    return {
        "resume_state": resume_log.compact(engine),
        "playback_session": session_log.compact(engine),
    }


def compact_if_due(engine: DeltaEngine, every_batches: int, batch_id: int) -> dict[str, Any] | None:
    """Compact after every ``every_batches``-th micro-batch (``resume.compact_every_batches``; 0 = never)."""
    if every_batches <= 0 or (batch_id + 1) % every_batches:
        return None
    return compact(engine)
