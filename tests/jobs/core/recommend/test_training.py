"""jobs.core.recommend.training: model versions and the training window's as-of (UTC)."""

from __future__ import annotations

import datetime as dt

import pytest

from jobs.core.recommend.training import model_version, training_as_of
from jobs.core.runtime.config import load_config

UTC = dt.UTC


def test_model_version_names_model_data_and_a_hash_of_the_parameters():
    s = load_config("test").recommend
    v = model_version("als", 12, s.als)
    assert v.startswith("als-v12-") and len(v.rsplit("-", 1)[1]) == 8
    assert model_version("als", 12, s.als) == v
    assert model_version("als", 13, s.als) != v
    changed = s.als.model_copy(update={"rank": s.als.rank + 1})
    assert model_version("als", 12, changed) != v


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2026-11-23T00:00:00", dt.datetime(2026, 11, 23, tzinfo=UTC)),
        ("2026-11-23T02:00:00+02:00", dt.datetime(2026, 11, 23, tzinfo=UTC)),
        ("2026-11-23T00:00:00Z", dt.datetime(2026, 11, 23, tzinfo=UTC)),
    ],
)
def test_an_iso_as_of_is_utc_and_reads_nothing(text, expected):
    assert training_as_of(None, text) == expected  # type: ignore[arg-type]


def test_a_bad_as_of_is_a_value_error():
    with pytest.raises(ValueError, match="ISO-8601"):
        training_as_of(None, "yesterday")  # type: ignore[arg-type]
