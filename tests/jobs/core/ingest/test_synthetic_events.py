"""The synthetic feed's load model: the evening peak by country, the mean kept."""

from __future__ import annotations

import pytest

from jobs.core.ingest.synthetic_events import dimension_rows, mean_utc_load, paced_rate, utc_load


def test_the_paced_rate_follows_the_load_and_keeps_its_mean():
    assert paced_rate(100.0, 12.0, None) == (100.0, 0.0)
    rates = [paced_rate(100.0, h * 10.0, 240.0)[0] for h in range(24)]
    assert sum(rates) / 24 == pytest.approx(100.0)
    assert max(rates) > 100.0 > min(rates)
    assert utc_load(0.5) == pytest.approx((utc_load(0) + utc_load(1)) / 2)
    assert mean_utc_load() > 0


def test_dimension_rows_name_every_profile_and_title_of_the_feed():
    rows = dimension_rows(seed=3, accounts=5)
    assert {r["account_id"] for r in rows["profile"]} == {r["account_id"] for r in rows["account"]}
    assert {r["title_type"] for r in rows["title"]} == {"FILM", "SERIES"}
    assert dimension_rows(seed=3, accounts=5) == rows
