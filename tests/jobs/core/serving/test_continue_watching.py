"""Continue Watching as the command line prints it: the terminal table."""

from __future__ import annotations

import datetime as dt

from jobs.core.serving.continue_watching import HEADER, format_table

ROW = {
    "rank": 1, "title_id": 7, "title_name": "Show A", "episode_id": 71,
    "season_number": 1, "episode_number": 2, "episode_title": "Two",
    "is_next_episode": True, "position_sec": 3725, "progress_pct": 41.6,
    "last_update": dt.datetime(2023, 3, 1, 20, 5, tzinfo=dt.UTC),
}  # fmt: skip


def test_a_row_shows_episode_position_progress_and_utc_time():
    header, rule, line = format_table([ROW]).splitlines()
    assert header.split()[:2] == ["#", "title"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert line.split("  ")[0] == "1"
    for part in ("Show A", "next: S1E2 Two", "1:02:05", "42%", "2023-03-01 20:05"):
        assert part in line


def test_a_film_without_progress_or_position_leaves_those_cells_empty():
    film = {**ROW, "episode_id": None, "title_name": None, "position_sec": None,
            "progress_pct": None, "last_update": None}  # fmt: skip
    line = format_table([film]).splitlines()[2]
    assert line.split() == ["1", "7"]


def test_no_rows_is_the_header_alone():
    assert format_table([]).splitlines()[0].split() == " ".join(HEADER).split()
