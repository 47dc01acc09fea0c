"""Co-viewing cosine, neighbour cut and content text (jobs.core.recommend.similarity).

ALS and the TF-IDF/LSH models are trained end to end in ``tests/jobs/test_recommend_jobs.py``;
here the hand-computable rules.
"""

from __future__ import annotations

import datetime as dt
import math

from chispa import assert_df_equality

from jobs.core.recommend.similarity import content_text, dense_index, item_cosine_edges, top_k
from jobs.core.runtime.config import ItemCosineSettings

NARCOS, REINA, YOU, OFFICE = 10, 20, 30, 50
T0 = dt.datetime(2023, 2, 1, tzinfo=dt.UTC)


def day(n: int) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


def test_item_cosine_is_shrunk_co_viewing_over_the_geometric_mean(spark):
    # Narcos: profiles 1, 2, 3; La Reina del Sur: 1, 2; You: 3; The Office: 4
    train = spark.createDataFrame(
        [(1, NARCOS, day(1)), (2, NARCOS, day(1)), (3, NARCOS, day(1)), (1, REINA, day(2)),
         (2, REINA, day(2)), (3, YOU, day(3)), (4, OFFICE, day(1))],
        "profile_id long, title_id long, last_ts timestamp",
    )  # fmt: skip
    s = ItemCosineSettings(k=50, min_coviews=1, shrink=2.0)
    got = {
        (r.src_title_id, r.dst_title_id): (r.score, r.model)
        for r in item_cosine_edges(train, s, max_titles=10).collect()
    }
    narcos_reina = 2 / math.sqrt(3 * 2) * 2 / (2 + 2.0)
    narcos_you = 1 / math.sqrt(3 * 1) * 1 / (1 + 2.0)
    assert set(got) == {(NARCOS, REINA), (REINA, NARCOS), (NARCOS, YOU), (YOU, NARCOS)}
    assert math.isclose(got[NARCOS, REINA][0], narcos_reina)
    assert got[REINA, NARCOS] == got[NARCOS, REINA]  # symmetric
    assert math.isclose(got[YOU, NARCOS][0], narcos_you)
    assert {m for _, m in got.values()} == {"item_cosine"}
    # a pair needs min_coviews profiles; each profile lends only its newest titles
    two = ItemCosineSettings(k=50, min_coviews=2, shrink=2.0)
    assert {
        (r.src_title_id, r.dst_title_id) for r in item_cosine_edges(train, two, 10).collect()
    } == {(NARCOS, REINA), (REINA, NARCOS)}
    newest_only = {
        (r.src_title_id, r.dst_title_id) for r in item_cosine_edges(train, s, 1).collect()
    }
    assert newest_only == set()  # one title per profile: no pairs


def test_top_k_keeps_the_best_scores_ties_by_destination(spark):
    edges = spark.createDataFrame(
        [(NARCOS, REINA, 0.5), (NARCOS, YOU, 0.5), (NARCOS, OFFICE, 0.9), (REINA, NARCOS, 0.1)],
        "src_title_id long, dst_title_id long, score double",
    )
    expected = spark.createDataFrame(
        [(NARCOS, OFFICE, 0.9), (NARCOS, REINA, 0.5), (REINA, NARCOS, 0.1)],
        "src_title_id long, dst_title_id long, score double",
    )
    assert_df_equality(
        top_k(edges, "src_title_id", 2), expected, ignore_row_order=True, ignore_nullable=True
    )
    users = spark.createDataFrame(
        [(1, 3, 0.2), (1, 2, 0.2)], "src_profile_id long, dst_profile_id long, score double"
    )
    assert [r.dst_profile_id for r in top_k(users, "src_profile_id", 1).collect()] == [2]


def test_content_text_keeps_names_as_single_tokens(spark):
    titles = spark.createDataFrame(
        [
            (NARCOS, "Crime TV Shows, International TV Shows", None, "Wagner Moura, Boyd Holbrook",
             "The true story of Colombia's infamous drug cartels."),
            (YOU, None, "Greg Berlanti", None, None),
        ],
        "title_id long, genres string, director string, cast string, description string",
    )  # fmt: skip
    got = {r.title_id: r.text for r in content_text(titles).collect()}
    assert got[NARCOS] == (
        "crime_tv_shows international_tv_shows  wagner_moura boyd_holbrook "
        "the true story of colombia's infamous drug cartels."
    )
    assert got[YOU] == " greg_berlanti  "
    no_cast = content_text(titles.drop("cast", "director"))
    assert no_cast.where(f"title_id = {YOU}").first().text == "   "


def test_dense_index_numbers_distinct_values_from_zero_in_order(spark):
    df = spark.createDataFrame([(30,), (10,), (30,), (20,)], "title_id long")
    got = [(r.title_id, r.item) for r in dense_index(df, "title_id", "item").collect()]
    assert sorted(got) == [(10, 0), (20, 1), (30, 2)]
