"""Arguments the resume-state rebuild or catch-up refuses before reading anything."""

from __future__ import annotations

import datetime as dt

import pytest

from jobs.core.changelog.resume_merge import events_in_range, merge_resume_state


class _NoEngine:
    """Fails the test on any use: a refused range must not touch the lake."""

    def __getattr__(self, name):
        raise AssertionError(f"engine.{name} called")


def test_a_range_that_ends_before_it_starts_is_refused():
    with pytest.raises(ValueError, match="after --to-dt"):
        events_in_range(_NoEngine(), dt.date(2024, 2, 1), dt.date(2024, 1, 31))


def test_a_rebuild_with_a_date_range_is_refused():
    with pytest.raises(ValueError, match="--rebuild replaces the whole table"):
        merge_resume_state(_NoEngine(), None, from_dt=dt.date(2024, 1, 1), rebuild=True)
    with pytest.raises(ValueError, match="--rebuild"):
        merge_resume_state(_NoEngine(), None, to_dt=dt.date(2024, 1, 1), rebuild=True)
