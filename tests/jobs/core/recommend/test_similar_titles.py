"""More Like This over plain rows (jobs.core.recommend.similar_titles), no Spark."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from jobs.core.recommend.similar_titles import (
    FALLBACK,
    MODELS,
    more_like_this_rows,
    newest_versions,
)

UTC = dt.UTC
NARCOS, REINA, YOU, UMBRELLA, OFFICE = 10, 20, 30, 40, 50
MONDAY = dt.datetime(2023, 2, 13, 3, 0, tzinfo=UTC)
TUESDAY = MONDAY + dt.timedelta(days=1)


def edge(dst, score, model="item_cosine", version="ic-v2", at=TUESDAY, src=NARCOS):
    return {
        "src_title_id": src,
        "dst_title_id": dst,
        "score": score,
        "model": model,
        "model_version": version,
        "computed_at": at,
    }


def test_newest_version_per_model_by_time_then_version_string():
    rows = [
        {"model": "item_cosine", "model_version": "ic-v1", "computed_at": MONDAY},
        {"model": "item_cosine", "model_version": "ic-v2", "computed_at": TUESDAY},
        {"model": "als", "model_version": "als-b", "computed_at": MONDAY},
        {"model": "als", "model_version": "als-a", "computed_at": MONDAY},  # tie: larger wins
        # naive times are UTC; None is the oldest
        {"model": "content_tfidf", "model_version": "ct-1", "computed_at": None},
        {"model": "content_tfidf", "model_version": "ct-0", "computed_at": MONDAY.replace(tzinfo=None)},
    ]  # fmt: skip
    assert newest_versions(rows) == {
        "item_cosine": "ic-v2",
        "als": "als-b",
        "content_tfidf": "ct-0",
    }


def test_neighbours_of_the_newest_version_by_score_ties_by_title_no_self_edge():
    edges = [
        edge(YOU, 0.5),
        edge(REINA, 0.9),
        edge(UMBRELLA, 0.5),
        edge(NARCOS, 1.0),  # a self edge: never
        edge(OFFICE, 0.99, version="ic-v1", at=MONDAY),  # an older training: never mixed in
        edge(OFFICE, 0.7, src=REINA),  # another title's edge: ignored
    ]
    got = more_like_this_rows(edges, NARCOS, "item_cosine", 10)
    assert got == {
        "model": "item_cosine",
        "model_version": "ic-v2",
        "fallback_from": None,
        "items": [
            {"rank_position": 1, "title_id": REINA, "score": 0.9},
            {"rank_position": 2, "title_id": YOU, "score": 0.5},
            {"rank_position": 3, "title_id": UMBRELLA, "score": 0.5},
        ],
    }
    assert len(more_like_this_rows(edges, NARCOS, "item_cosine", 2)["items"]) == 2


def test_a_cold_title_of_a_collaborative_model_falls_back_to_content():
    edges = [edge(REINA, 0.4, model="content_tfidf", version="ct-1")]
    assert FALLBACK == {"item_cosine": "content_tfidf", "als": "content_tfidf"}
    for model in ("item_cosine", "als"):
        got = more_like_this_rows(edges, NARCOS, model, 5)
        assert (got["model"], got["model_version"], got["fallback_from"]) == (
            "content_tfidf",
            "ct-1",
            model,
        )
        assert [i["title_id"] for i in got["items"]] == [REINA]
    # nothing anywhere: the model asked for, no version, no items
    assert more_like_this_rows([], NARCOS, "als", 5) == {
        "model": "als",
        "model_version": None,
        "fallback_from": None,
        "items": [],
    }


def test_the_given_versions_choose_what_is_served():
    edges = [edge(REINA, 0.9), edge(YOU, 0.8, version="ic-v1", at=MONDAY)]
    got = more_like_this_rows(edges, NARCOS, "item_cosine", 5, versions={"item_cosine": "ic-v1"})
    assert [i["title_id"] for i in got["items"]] == [YOU]


def test_an_unknown_model_or_a_limit_below_one_is_refused():
    assert MODELS == ("item_cosine", "content_tfidf", "als")
    with pytest.raises(ValueError, match="unknown model 'svd'"):
        more_like_this_rows([], NARCOS, "svd", 5)
    with pytest.raises(ValueError, match="limit must be >= 1, got 0"):
        more_like_this_rows([], NARCOS, "item_cosine", 0)


@given(
    st.lists(
        st.builds(
            edge,
            dst=st.sampled_from([NARCOS, REINA, YOU, UMBRELLA, OFFICE]),
            score=st.floats(0, 1),
            model=st.sampled_from(MODELS),
            version=st.sampled_from(["v1", "v2"]),
        ),
        max_size=15,
    ),
    st.randoms(use_true_random=False),
    st.integers(1, 6),
)
def test_the_list_is_ranked_and_does_not_depend_on_row_order(edges, rnd, limit):
    got = more_like_this_rows(edges, NARCOS, "item_cosine", limit)
    shuffled = list(edges)
    rnd.shuffle(shuffled)
    assert more_like_this_rows(shuffled, NARCOS, "item_cosine", limit) == got
    items = got["items"]
    assert [i["rank_position"] for i in items] == list(range(1, len(items) + 1))
    assert len(items) <= limit and NARCOS not in [i["title_id"] for i in items]
    keys = [(-i["score"], i["title_id"]) for i in items]
    assert keys == sorted(keys)
