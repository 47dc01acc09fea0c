"""When both change logs are compacted (jobs/core/changelog/compaction.py), without a lake.

Each fold itself is tested in test_resume.py and test_session.py; here the one call
jobs make, with the two folds replaced by recorders.
"""

from __future__ import annotations

import pytest

from jobs.core.changelog import compaction
from jobs.core.changelog import resume as resume_log
from jobs.core.changelog import session as session_log


class Untouchable:
    """An engine that fails on any use: compaction that is not due must not touch it."""

    def __getattr__(self, name):
        raise AssertionError(f"engine.{name} used")


@pytest.fixture
def folds(monkeypatch) -> list[str]:
    calls: list[str] = []
    monkeypatch.setattr(resume_log, "compact", lambda engine: calls.append("resume") or "r")
    monkeypatch.setattr(session_log, "compact", lambda engine: calls.append("session") or "s")
    return calls


def test_compact_folds_both_logs_in_order(folds):
    assert compaction.compact(Untouchable()) == {"resume_state": "r", "playback_session": "s"}
    assert folds == ["resume", "session"]


@pytest.mark.parametrize(
    "every, batch, due",
    [(0, 9, False), (-1, 0, False), (1, 0, True), (3, 0, False), (3, 1, False), (3, 2, True),
     (3, 5, True), (3, 6, False)],
)  # fmt: skip
def test_compact_if_due_after_every_nth_micro_batch(folds, every, batch, due):
    out = compaction.compact_if_due(Untouchable(), every, batch)
    assert (out is not None) == due
    assert folds == (["resume", "session"] if due else [])
