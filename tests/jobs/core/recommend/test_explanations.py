"""Why each title of a list is there (jobs.core.recommend.explanations)."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality

from jobs.core.recommend.explanations import explain, related_titles

GENERATED = dt.datetime(2023, 2, 17, 18, 0, tzinfo=dt.UTC)
NARCOS, REINA, YOU, UMBRELLA, OFFICE = 10, 20, 30, 40, 50
LISTS = (
    "profile_id long, context string, generated_at timestamp, title_id long, model string, "
    "related_title_id long, country_code string"
)


def test_related_titles_fill_only_missing_links_with_the_most_similar_watched_title(spark):
    lists = spark.createDataFrame(
        [(1, REINA, None), (1, YOU, UMBRELLA), (1, OFFICE, None), (2, REINA, None)],
        "profile_id long, title_id long, related_title_id long",
    )
    history = spark.createDataFrame(
        [(1, NARCOS), (1, UMBRELLA), (2, OFFICE)], "profile_id long, title_id long"
    )
    edges = spark.createDataFrame(
        [
            (NARCOS, REINA, 0.8),
            (UMBRELLA, REINA, 0.3),  # weaker than Narcos
            (NARCOS, YOU, 0.9),  # YOU already names UMBRELLA: kept
            (YOU, OFFICE, 0.7),  # profile 1 did not watch YOU
        ],
        "src_title_id long, dst_title_id long, score double",
    )
    expected = spark.createDataFrame(
        [(1, REINA, NARCOS), (1, YOU, UMBRELLA), (1, OFFICE, None), (2, REINA, None)],
        "profile_id long, title_id long, related_title_id long",
    )
    assert_df_equality(
        related_titles(lists, history, edges).select(expected.columns),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_explanation_kinds_and_texts(spark):
    lists = spark.createDataFrame(
        [
            (1, "for_you", GENERATED, REINA, "item_knn", NARCOS, "GT"),
            (1, "because_you_watched", GENERATED, YOU, "item_knn", UMBRELLA, "GT"),
            (1, "for_you", GENERATED, OFFICE, "popularity", NARCOS, "GT"),  # popularity model
            (2, "for_you", GENERATED, OFFICE, "als", None, "KE"),  # no related title found
            (3, "for_you", GENERATED, OFFICE, "als", 999, None),  # an unnamed related title
        ],
        LISTS,
    )
    titles = spark.createDataFrame(
        [(NARCOS, "Narcos"), (UMBRELLA, "The Umbrella Academy")], "title_id long, title_name string"
    )
    expected = spark.createDataFrame(
        [
            (1, "for_you", GENERATED, REINA, "because_you_watched", "Because you watched Narcos",
             NARCOS),
            (1, "because_you_watched", GENERATED, YOU, "similar_to",
             "Similar to The Umbrella Academy", UMBRELLA),
            (1, "for_you", GENERATED, OFFICE, "popular", "Popular in GT right now", None),
            (2, "for_you", GENERATED, OFFICE, "popular", "Popular in KE right now", None),
            (3, "for_you", GENERATED, OFFICE, "popular", "Popular right now", None),
        ],
        "profile_id long, context string, generated_at timestamp, title_id long, "
        "explanation_type string, text string, related_title_id long",
    )  # fmt: skip
    assert_df_equality(
        explain(lists, titles), expected, ignore_row_order=True, ignore_nullable=True
    )
