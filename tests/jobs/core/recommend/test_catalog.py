"""The catalogue side of recommendations (jobs.core.recommend.catalog): matching, genres, seasons."""

from __future__ import annotations

from chispa import assert_df_equality
from hypothesis import given
from hypothesis import strategies as st

from jobs.core.recommend.catalog import (
    genre_dimension,
    match_titles,
    primary_genre,
    seasons,
    slug,
    title_genre_bridge,
)
from jobs.core.rules.ids import stable_id

REINA, NARCOS, CASA, OFFICE = 20, 10, 60, 50
CATALOG = "show_id string, normalized_title string, genres string"


def test_slug_is_ascii_lowercase_with_underscores():
    assert slug("International TV Shows") == "international_tv_shows"
    assert slug("Crime TV Shows") == "crime_tv_shows"
    assert slug("  Música & Películas!! ") == "musica_peliculas"
    assert slug("Sci-Fi & Fantasy") == "sci_fi_fantasy"


@given(st.text(max_size=30))
def test_slug_is_idempotent_and_safe(name):
    s = slug(name)
    assert slug(s) == s
    assert all(c.isascii() and (c.isalnum() or c == "_") for c in s)
    assert not s.startswith("_") and not s.endswith("_")


def test_a_title_matches_only_a_unique_catalogue_name(spark):
    titles = spark.createDataFrame(
        [(REINA, "la reina del sur"), (NARCOS, "narcos"), (CASA, "la casa de papel")],
        "title_id long, normalized_title string",
    )
    catalog = spark.createDataFrame(
        [
            ("s101", "la reina del sur", "Crime TV Shows"),
            ("s102", "narcos", "Crime TV Shows"),
            ("s103", "narcos", "Documentaries"),  # two rows of that name: no match
            ("s104", "money heist", "International TV Shows"),  # English name only
        ],
        CATALOG,
    )
    expected = spark.createDataFrame([(REINA, "s101")], "title_id long, catalog_show_id string")
    assert_df_equality(match_titles(titles, catalog), expected, ignore_nullable=True)


def test_genres_a_bridge_weighted_one_over_n_and_a_deterministic_primary(spark):
    catalog = spark.createDataFrame(
        [
            ("s101", "la reina del sur", "Crime TV Shows, International TV Shows, Spanish-Language TV Shows"),
            ("s201", "the office u s", "TV Comedies,TV Comedies"),  # a repeated genre counts once
            ("s301", "blank", " , "),  # no genre
        ],
        CATALOG,
    )  # fmt: skip
    key = {
        name: stable_id("genre", slug(name))
        for name in (
            "Crime TV Shows",
            "International TV Shows",
            "Spanish-Language TV Shows",
            "TV Comedies",
        )
    }
    dim = genre_dimension(catalog)
    assert sorted((r.genre_key, r.genre_name, r.genre_slug) for r in dim.collect()) == sorted(
        (k, name, slug(name)) for name, k in key.items()
    )
    matches = spark.createDataFrame(
        [(REINA, "s101"), (OFFICE, "s201"), (CASA, "s301")], "title_id long, catalog_show_id string"
    )
    bridge = title_genre_bridge(matches, catalog)
    third = 1.0 / 3
    expected = spark.createDataFrame(
        [
            (REINA, key["Crime TV Shows"], third, "s101"),
            (REINA, key["International TV Shows"], third, "s101"),
            (REINA, key["Spanish-Language TV Shows"], third, "s101"),
            (OFFICE, key["TV Comedies"], 1.0, "s201"),
        ],
        "title_id long, genre_key long, weight double, catalog_show_id string",
    )
    assert_df_equality(bridge, expected, ignore_row_order=True, ignore_nullable=True)
    primary = {r.title_id: r.genre_key for r in primary_genre(bridge).collect()}
    assert primary == {
        REINA: min(key[g] for g in key if g != "TV Comedies"),
        OFFICE: key["TV Comedies"],
    }


def test_seasons_are_keyed_by_title_and_number_else_label(spark):
    episodes = spark.createDataFrame(
        [
            (3301, REINA, 3, "Temporada 3"),
            (3302, REINA, 3, "Temporada 3"),
            (3302, REINA, 3, "Temporada 3"),  # the same episode twice: counted once
            (9001, REINA, None, "Serie limitada"),  # no number: the label is the key
            (5501, OFFICE, 5, None),
        ],
        "episode_id long, title_id long, season_number int, season_label string",
    )
    expected = spark.createDataFrame(
        [
            (stable_id("season", REINA, "3"), REINA, 3, "Temporada 3", 2),
            (stable_id("season", REINA, "Serie limitada"), REINA, None, "Serie limitada", 1),
            (stable_id("season", OFFICE, "5"), OFFICE, 5, None, 1),
        ],
        "season_id long, title_id long, season_number int, season_label string, episode_count long",
    )
    assert_df_equality(seasons(episodes), expected, ignore_row_order=True, ignore_nullable=True)
