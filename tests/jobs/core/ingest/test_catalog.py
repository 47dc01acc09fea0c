"""The catalogue's rows: runtimes in seconds, seasons counted, empty cells NULL."""

from __future__ import annotations

import pytest

from jobs.core.ingest.catalog import load_catalog_runtimes, parse_catalog_row


def test_a_film_row_gets_its_runtime_in_seconds_and_a_show_its_seasons():
    film = parse_catalog_row(
        {"show_id": "s1", "type": "Movie", "title": "Up ", "duration": "90 min"}
    )
    show = parse_catalog_row(
        {"show_id": "s2", "type": "TV Show", "title": "Dark", "duration": "3 Seasons"}
    )
    assert film[:4] == ("s1", "Movie", "Up", "up") and film[9:11] == (5400, None)
    assert show[9:11] == (None, 3) and show[4] is None
    with pytest.raises(ValueError):
        parse_catalog_row({"show_id": "", "title": "x"})


def test_runtimes_are_read_for_films_only_and_a_missing_file_gives_none(tmp_path):
    path = tmp_path / "netflix_titles.csv"
    path.write_text(
        "show_id,type,title,duration\ns1,Movie,Up,90 min\ns2,TV Show,Dark,3 Seasons\n",
        encoding="utf-8",
    )
    assert load_catalog_runtimes(str(path)) == {"up": 5400}
    assert load_catalog_runtimes(str(tmp_path / "nope.csv")) == {}
    assert load_catalog_runtimes(None) == {}
