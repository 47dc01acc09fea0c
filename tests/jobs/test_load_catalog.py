"""Catalogue loading and the title matching it feeds (never a silent wrong match)."""

from __future__ import annotations

import pytest
from chispa import assert_df_equality
from pyspark.sql.types import LongType, StringType, StructField, StructType

from jobs.core.ingest.catalog import load_catalog, parse_catalog_row
from jobs.core.star.dimensions import catalog_matches, match_report
from jobs.core.storage.delta import get_engine
from jobs.core.tables.registry import get_spec
from tests.conftest import SAMPLES

ROW = {
    "show_id": "s7",
    "type": "Movie",
    "title": "Za duży na\u00a0bajki",
    "director": "",
    "country": "Poland",
    "date_added": "September 24, 2021",
    "release_year": "2022",
    "rating": "TV-14",
    "duration": "90 min",
    "listed_in": "Children & Family Movies, Comedies",
    "description": "x",
}


def test_parse_catalog_row_converts_durations_and_normalizes_the_title():
    row = parse_catalog_row(ROW)
    spec = dict(zip(get_spec("catalog_title").columns, row, strict=True))
    assert spec["normalized_title"] == "za duży na bajki"
    assert (spec["runtime_sec"], spec["number_of_seasons"], spec["release_year"]) == (
        5400,
        None,
        2022,
    )
    assert spec["director"] is None
    show = dict(zip(get_spec("catalog_title").columns,
                    parse_catalog_row({**ROW, "type": "TV Show", "duration": "1 Season"}),
                    strict=True))  # fmt: skip
    assert (show["runtime_sec"], show["number_of_seasons"]) == (None, 1)
    with pytest.raises(ValueError, match="show_id or title"):
        parse_catalog_row({**ROW, "title": " "})


def test_matching_is_unique_per_type_and_reports_ambiguity(spark):
    catalog = spark.createDataFrame(
        [
            parse_catalog_row({**ROW, "show_id": "s1", "title": "Dark"}),
            parse_catalog_row({**ROW, "show_id": "s2", "title": "DARK", "type": "TV Show",
                               "duration": "3 Seasons"}),
            parse_catalog_row({**ROW, "show_id": "s3", "title": "Twin"}),
            parse_catalog_row({**ROW, "show_id": "s4", "title": "twin"}),
        ],
        get_spec("catalog_title").schema,
    )  # fmt: skip
    titles = spark.createDataFrame(
        [(1, "Dark", "SERIES", None), (2, "Twin", "FILM", None), (3, "Other", "FILM", None),
         (4, "trailer", "SUPPLEMENTAL", None)],
        get_spec("title").schema,
    )  # fmt: skip
    normalized = spark.createDataFrame(
        [(1, "dark"), (2, "twin"), (3, "other"), (4, "trailer")],
        StructType(
            [StructField("title_id", LongType()), StructField("normalized_title", StringType())]
        ),
    )
    got = catalog_matches(titles, normalized, catalog).select(
        "title_id", "catalog_match", "catalog_show_id"
    )
    schema = StructType(
        [
            StructField("title_id", LongType()),
            StructField("catalog_match", StringType()),
            StructField("catalog_show_id", StringType()),
        ]
    )
    expected = spark.createDataFrame(
        [(1, "matched", "s2"), (2, "ambiguous", None), (3, "unmatched", None)], schema
    )
    assert_df_equality(
        got, expected, ignore_row_order=True, ignore_nullable=True, ignore_metadata=True
    )
    report = match_report(catalog_matches(titles, normalized, catalog))
    assert report == {
        "matched": 1,
        "ambiguous": 1,
        "unmatched": 1,
        "titles": 3,
        "match_rate": 0.3333,
    }


def test_load_sample_catalog_twice_commits_once(spark, cfg):
    engine = get_engine(spark, cfg)
    path = str(SAMPLES / "catalog" / "netflix_titles.csv")
    first = load_catalog(engine, path)
    second = load_catalog(engine, path)
    assert first["rows"] == first["upserted"] == engine.read("catalog_title").count() > 100
    assert second["upserted"] == 0 and second["version"] == first["version"]


def test_missing_catalogue_file_says_so(spark, cfg):
    with pytest.raises(FileNotFoundError, match="netflix_titles.csv"):
        load_catalog(get_engine(spark, cfg), str(SAMPLES / "nope.csv"))
