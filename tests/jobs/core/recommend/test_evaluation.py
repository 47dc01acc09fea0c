"""The leak-free evaluation protocol: one test per leak of the per-profile split (issue 24).

Each history is built so that the leak, if present, changes the answer: the old
per-profile split (each profile cut at its own 80 %, every other row in training) fails
every test below.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from jobs.core.recommend import baselines as bl
from jobs.core.recommend import evaluation as ev
from jobs.core.recommend import tuning
from jobs.core.runtime.config import EvaluationSettings

T0 = pd.Timestamp("2024-01-01")
CUT = T0 + pd.Timedelta(days=10)


def _settings(**changes) -> EvaluationSettings:
    values = {
        "holdout_fraction": 0.2,
        "min_train_titles": 3,
        "min_test_titles": 1,
        "bootstrap_samples": 200,
        "seed": 7,
        "k_precision": 10,
        "k_recall": 20,
        "k_ndcg": 10,
        "test_days": 30,
        "cut": str(CUT.date()),
    }
    return EvaluationSettings(**{**values, **changes})


def _views(rows: list[tuple[str, int, str, int]]) -> pd.DataFrame:
    """(household, profile, title, day after T0) -> view rows."""
    return pd.DataFrame(
        [(h, p, t, T0 + pd.Timedelta(days=d, hours=20)) for h, p, t, d in rows],
        columns=["household", "profile_id", "title_id", "event_ts"],
    )


def _old(h: str, p: int) -> list[tuple[str, int, str, int]]:
    return [(h, p, t, d) for d, t in enumerate("abc", start=1)]


def _top(split: ev.Split, model: str, profile: int, params: dict | None = None) -> list:
    d = bl.interactions(ev.training_pairs(split.train), split.cut)
    rows = np.searchsorted(d.users, [profile])
    return bl.top_n(d, bl.scores(d, model, params or {}, rows, 7), rows, 5)[0]


def test_leak_1_popularity_counts_only_rows_before_the_cut():
    # y: 2 profiles before the cut; x: 3 profiles, all after it (and p1's test title)
    rows = [*_old("h1", 1), ("h1", 1, "x", 12)]
    rows += [*_old("h2", 2), ("h2", 2, "y", 5), ("h2", 2, "x", 15)]
    rows += [*_old("h3", 3), ("h3", 3, "y", 6), ("h3", 3, "x", 16)]
    rows += [*_old("h4", 4), ("h4", 4, "x", 17)]
    split = ev.split_at(_views(rows), CUT, _settings())
    assert _top(split, "popularity", 1) == ["y"]  # with the leak: x (3 profiles) first
    assert "x" not in set(split.train.title_id)
    assert set(split.test[split.test.profile_id == 1].title_id) == {"x"}


def test_leak_2_a_household_members_later_viewing_is_not_in_training():
    # p5 (same household as p1) watches w after the cut; p6 co-viewed c with v before it
    rows = [*_old("h1", 1), ("h1", 1, "w", 12)]
    rows += [*_old("h1", 5), ("h1", 5, "w", 11)]
    rows += [*_old("h2", 6), ("h2", 6, "v", 4)]
    split = ev.split_at(_views(rows), CUT, _settings())
    assert split.train.event_ts.max() < CUT
    assert "w" not in set(split.train.title_id)
    # item-kNN over co-viewing: with p5's later w in training, w would be p1's top title
    assert _top(split, "item_knn", 1, {"bm25": 0, "shrink": 0, "k": 50}) == ["v"]


def test_leak_3_confidence_counts_only_views_before_the_cut():
    rows = [*_old("h1", 1), ("h1", 1, "x", 12)]
    rows += [("h1", 1, "a", d) for d in (11, 12, 13, 14)]  # a again, after the cut
    pairs = ev.training_pairs(ev.split_at(_views(rows), CUT, _settings()).train)
    a = pairs[(pairs.profile_id == 1) & (pairs.title_id == "a")].iloc[0]
    assert a.views == 1 and a.confidence == pytest.approx(math.log(2))
    assert a.last_ts < CUT


def test_leak_4_the_content_candidate_pool_holds_only_titles_viewed_before_the_cut(spark):
    rows = [*_old("h1", 1), ("h1", 1, "x", 12)]
    split = ev.split_at(_views(rows), CUT, _settings())
    texts = spark.createDataFrame(
        [("a", "drama"), ("x", "drama")], "title_id string, genres string"
    )
    train = spark.createDataFrame(split.train[["profile_id", "title_id"]])
    got = {r.title_id for r in ev.recommendable(texts, train).collect()}
    assert got == {"a"}  # x (only in the test window) is no candidate


def test_the_cut_is_the_month_start_where_most_profiles_are_scorable():
    rows = []
    for p in range(1, 4):  # three profiles: 3 titles in January, a new one in March
        rows += [(f"h{p}", p, f"t{p}{i}", 1 + i) for i in range(3)]
        rows += [(f"h{p}", p, f"n{p}", 65)]
    rows += [("h9", 9, f"z{i}", 70 + i) for i in range(4)]  # only from March on
    s = _settings(cut=None, test_days=40)
    cut = ev.choose_cut(_views(rows), s)
    # Feb 1 and Mar 1 both score profiles 1-3 (new title on Mar 6, within 40 days),
    # Jan 1 none (no title before it), Apr 1 none (p9 has no test title): ties go later
    assert cut == pd.Timestamp("2024-03-01")
    val, test = ev.protocol(_views(rows), s)
    assert test.cut == cut and val.end == cut and val.cut == cut - pd.Timedelta(days=40)
    assert val.train.event_ts.max() < val.cut
    assert set(test.test.profile_id) == {1, 2, 3}


def test_score_households_scores_only_them_but_trains_on_everyone():
    rows = [*_old("h1", 1), ("h1", 1, "x", 12)]
    rows += [*_old("h2", 2), ("h2", 2, "y", 5), ("h2", 2, "x", 15)]
    split = ev.split_at(_views(rows), CUT, _settings(), scored={"h2"})
    assert set(split.test.profile_id) == {2}
    assert {"y", "a"} <= set(split.train.title_id) and set(split.train.profile_id) == {1, 2}


def test_list_metrics_match_a_hand_computed_example():
    got = ev.list_metrics(
        {1: [5, 6, 7, 8, 9, 10], 2: [1]}, {1: {6, 9, 99}, 2: {2}, 3: {4}}, _settings()
    ).set_index("profile_id")
    dcg = 1 / math.log2(3) + 1 / math.log2(6)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert got.loc[1, "recall@20"] == pytest.approx(2 / 3)
    assert got.loc[1, "ndcg@10"] == pytest.approx(dcg / idcg)
    assert got.loc[1, "precision@10"] == pytest.approx(0.2) and got.loc[1, "hits@20"] == 2
    assert got.loc[3, "recall@20"] == 0.0  # no list


def test_ease_is_the_closed_form_of_steck_2019():
    x = np.array([[1, 1, 0], [1, 0, 1], [1, 1, 1], [0, 1, 1]], dtype=float)
    pairs = pd.DataFrame(
        [(u, i, T0, T0) for u, i in zip(*np.nonzero(x), strict=True)],
        columns=["profile_id", "title_id", "first_ts", "last_ts"],
    )
    cols, b = bl.ease(bl.interactions(pairs, CUT), 2.0, 1)
    p = np.linalg.inv(x.T @ x + 2.0 * np.eye(3))
    want = np.eye(3) - p / np.diag(p)  # B = I - P diagMat(1 / diag(P))
    assert list(cols) == [0, 1, 2]
    assert b == pytest.approx(want)


def test_the_validation_cut_never_sees_the_test_window():
    rows = [*_old("h1", 1), ("h1", 1, "v", 20), ("h1", 1, "w", 45)]
    s = _settings(cut=str((T0 + pd.Timedelta(days=40)).date()))
    val, test = ev.protocol(_views(rows), s)
    assert val.cut == T0 + pd.Timedelta(days=10) and val.end == test.cut
    assert set(val.test.title_id) == {"v"} and set(test.test.title_id) == {"w"}
    assert "w" not in set(val.train.title_id) and "v" not in set(val.train.title_id)
    assert "v" in set(test.train.title_id)


def test_facts_give_the_unrecommendable_share():
    rows = [*_old("h1", 1), ("h1", 1, "x", 12), ("h1", 1, "b2", 13)]
    rows += [*_old("h2", 2), ("h2", 2, "b2", 4)]
    facts = tuning.split_facts(ev.split_at(_views(rows), CUT, _settings()))
    assert facts["test_titles"] == 2 and facts["test_titles_never_in_training"] == 1
    assert facts["unrecommendable_share"] == 0.5 and facts["cut"] == str(dt.date(2024, 1, 11))


def _pairs(x: np.ndarray, last_days: np.ndarray | None = None) -> pd.DataFrame:
    rows = []
    for u, i in zip(*np.nonzero(x), strict=True):
        last = CUT - pd.Timedelta(days=0 if last_days is None else float(last_days[u, i]))
        rows.append((u, i, last, last))
    return pd.DataFrame(rows, columns=["profile_id", "title_id", "first_ts", "last_ts"])


def test_item_knn_is_cosine_shrunk_by_the_norms_plus_shrink():
    x = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1]], dtype=float)
    w = bl.item_knn(bl.interactions(_pairs(x), CUT), bm25=False, shrink=2.0, k=5).toarray()
    # titles 0 and 1 share 2 profiles; |x0| = sqrt 2, |x1| = sqrt 3
    assert w[0, 1] == pytest.approx(2 / (math.sqrt(2) * math.sqrt(3) + 2.0))
    assert w[0, 0] == 0.0
    w1 = bl.item_knn(bl.interactions(_pairs(x), CUT), bm25=False, shrink=0.0, k=1).toarray()
    assert (w1 > 0).sum(axis=0).max() == 1  # one neighbour kept per target title


def test_trending_halves_a_profiles_weight_every_half_life():
    x = np.array([[1, 0], [1, 1]], dtype=float)
    ages = np.array([[10.0, 0], [0.0, 20.0]])
    got = bl.trending(bl.interactions(_pairs(x, ages), CUT), half_life_days=10.0)
    assert got == pytest.approx([0.5 + 1.0, 0.25], rel=1e-6)
    assert list(bl.popularity(bl.interactions(_pairs(x, ages), CUT))) == [2.0, 1.0]
