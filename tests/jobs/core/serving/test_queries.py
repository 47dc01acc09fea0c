"""jobs.core.serving.queries: the answers' argument checks and the printed table."""

from __future__ import annotations

import datetime as dt

import pytest

from jobs.core.serving.queries import PERIODS, format_rows, history, statistics


def test_format_rows_aligns_columns_cuts_cells_and_prints_datetimes():
    rows = [
        {"title": "A very long title indeed", "at": dt.datetime(2023, 1, 2, 3, 4, 5), "n": 1},
        {"title": "B", "at": None, "n": 22},
    ]
    lines = format_rows(rows, width=10).splitlines()
    assert lines[0].split() == ["title", "at", "n"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].startswith("A very lon  2023-01-02 03:04:05  1")
    assert lines[3].split() == ["B", "22"]
    assert len({len(line) for line in lines}) == 1  # every line padded to the widths


def test_format_rows_of_nothing():
    assert format_rows([]) == "(no rows)"


@pytest.mark.parametrize("page, size", [(0, 20), (1, 0)])
def test_history_refuses_a_page_below_one_before_reading(page, size):
    with pytest.raises(ValueError, match="must be >= 1"):
        history(None, None, None, 1, page=page, page_size=size)  # type: ignore[arg-type]


def test_history_refuses_from_after_to():
    with pytest.raises(ValueError, match="is after"):
        history(None, None, None, 1, dt.date(2023, 2, 1), dt.date(2023, 1, 1))  # type: ignore[arg-type]


def test_statistics_names_the_periods_it_knows():
    assert PERIODS == ("week", "month", "year", "all")
    with pytest.raises(ValueError, match="choose one of"):
        statistics(None, 1, "decade")  # type: ignore[arg-type]
