"""Recommendation rules on small inline DataFrames."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from chispa import assert_df_equality
from pyspark.sql.types import (
    DoubleType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from jobs.core.recommend import ab, evaluation, interactions, lists
from jobs.core.runtime.config import ConfigError, EvaluationSettings, load_config


def _evaluation(**changes: float) -> EvaluationSettings:
    """Evaluation settings with the cut-offs the assertions below are written for."""
    values = {
        "holdout_fraction": 0.2,
        "min_train_titles": 5,
        "min_test_titles": 1,
        "bootstrap_samples": 200,
        "seed": 7,
        "k_precision": 10,
        "k_recall": 20,
        "k_ndcg": 10,
    }
    return EvaluationSettings(**{**values, **changes})


T0 = dt.datetime(2024, 1, 1, 20, 0)


def _schema(*cols: tuple[str, object]) -> StructType:
    return StructType([StructField(n, t) for n, t in cols])


def test_cold_start_profile_gets_its_country_popularity_list(spark):
    train = spark.createDataFrame(
        [(1, 10, T0), (2, 10, T0), (3, 10, T0), (1, 11, T0), (4, 12, T0), (5, 12, T0)],
        _schema(("profile_id", LongType()), ("title_id", LongType()), ("last_ts", TimestampType())),
    )
    profiles = spark.createDataFrame(
        [(1, "GT"), (2, "GT"), (3, "GT"), (4, "US"), (5, "US"), (9, "GT"), (8, "FR")],
        _schema(("profile_id", LongType()), ("country_code", StringType())),
    )
    popular = lists.popularity(train, profiles, T0 + dt.timedelta(days=1), 90, min_profiles=2)
    new = profiles.where("profile_id IN (8, 9)")
    got = lists.cold_start_scores(new, popular, 2).select("profile_id", "title_id", "score")
    expected = spark.createDataFrame(
        [(8, 10, 3 / 5), (8, 12, 2 / 5), (9, 10, 1.0), (9, 11, 1 / 3)],
        _schema(("profile_id", LongType()), ("title_id", LongType()), ("score", DoubleType())),
    )
    # FR has no viewers in the window: global list; GT has 3 viewers: its own list
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_popularity_window_excludes_old_views(spark):
    old = T0 - dt.timedelta(days=200)
    train = spark.createDataFrame(
        [(1, 10, old), (2, 10, old), (3, 11, T0)],
        _schema(("profile_id", LongType()), ("title_id", LongType()), ("last_ts", TimestampType())),
    )
    profiles = spark.createDataFrame(
        [(1, None), (2, None), (3, None)], "profile_id long, country_code string"
    )
    popular = lists.popularity(train, profiles, T0 + dt.timedelta(days=1), 90, 2)
    assert [r.title_id for r in popular.collect()] == [11]


def test_seen_titles_are_excluded(spark):
    cand = spark.createDataFrame(
        [(1, 10, 0.9), (1, 11, 0.8), (2, 10, 0.7)], "profile_id long, title_id long, score double"
    )
    seen = spark.createDataFrame([(1, 10)], "profile_id long, title_id long")
    got = lists.exclude_seen(cand, seen)
    expected = spark.createDataFrame(
        [(1, 11, 0.8), (2, 10, 0.7)], "profile_id long, title_id long, score double"
    )
    assert_df_equality(got, expected, ignore_row_order=True)


def test_diversity_cap_moves_the_third_title_of_a_genre_down(spark):
    cand = spark.createDataFrame(
        [(1, 10, 1.0), (1, 11, 0.9), (1, 12, 0.8), (1, 13, 0.5), (1, 14, 0.4)],
        "profile_id long, title_id long, score double",
    )
    genres = spark.createDataFrame(
        [(10, 7), (11, 7), (12, 7), (13, 8)], "title_id long, genre_key long"
    )
    got = lists.diversify(cand, genres, max_per_genre=2, n=4).orderBy("rank_position")
    assert [r.title_id for r in got.collect()] == [10, 11, 13, 14]
    assert [r.rank_position for r in got.collect()] == [1, 2, 3, 4]
    assert got.first().score == 1.0
    off = lists.diversify(cand, genres, max_per_genre=0, n=4).orderBy("rank_position")
    assert [r.title_id for r in off.collect()] == [10, 11, 12, 13]


def test_intra_list_diversity_is_mean_pairwise_genre_distance(spark):
    rows = spark.createDataFrame(
        [(1, "home", 10), (1, "home", 11), (1, "home", 12)],
        "profile_id long, context string, title_id long",
    )
    bridge = spark.createDataFrame(
        [(10, 1), (11, 1), (12, 1), (12, 2)], "title_id long, genre_key long"
    )
    got = lists.intra_list_diversity(rows, bridge).first()
    # pairs: (10,11) 0, (10,12) 1-1/2, (11,12) 1-1/2
    assert got.ild == pytest.approx(1 / 3)
    assert got.pairs == 3


def test_neighbour_scores_sum_weighted_similarities_and_name_the_strongest_source(spark):
    hist = spark.createDataFrame(
        [(1, 10, 1.0), (1, 11, 0.5)], "profile_id long, title_id long, weight double"
    )
    edges = spark.createDataFrame(
        [(10, 20, 0.2), (11, 20, 0.8), (10, 21, 0.5)],
        "src_title_id long, dst_title_id long, score double",
    )
    got = {
        r.title_id: (r.score, r.related_title_id)
        for r in lists.neighbour_scores(hist, edges, 5).collect()
    }
    assert got[20] == (pytest.approx(0.6), 11)
    assert got[21] == (pytest.approx(0.5), 10)


def test_neighbour_scores_drop_seen_titles_before_keeping_the_top_n(spark):
    hist = spark.createDataFrame(
        [(1, 10, 1.0), (1, 11, 1.0)], "profile_id long, title_id long, weight double"
    )
    # the strongest neighbour of each watched title is the other watched title
    edges = spark.createDataFrame(
        [(10, 11, 0.9), (11, 10, 0.9), (10, 20, 0.3), (11, 21, 0.2)],
        "src_title_id long, dst_title_id long, score double",
    )
    seen = hist.select("profile_id", "title_id")
    got = lists.neighbour_scores(hist, edges, 2, seen).orderBy("title_id").collect()
    assert [(r.title_id, r.related_title_id) for r in got] == [(20, 10), (21, 11)]
    # without ``seen`` the two watched titles fill the top 2
    kept = {r.title_id for r in lists.neighbour_scores(hist, edges, 2).collect()}
    assert kept == {10, 11}


def test_ab_assignment_is_stable_and_follows_the_split(spark):
    profiles = spark.range(0, 2000).withColumnRenamed("id", "profile_id")
    split = {"item_cosine": 0.5, "als": 0.5}
    a = ab.assign_variants(profiles, "exp-1", split, T0).select("profile_id", "variant")
    b = ab.assign_variants(
        profiles.orderBy("profile_id", ascending=False), "exp-1", split, T0 + dt.timedelta(days=3)
    )
    assert_df_equality(a, b.select("profile_id", "variant"), ignore_row_order=True)
    share = a.where("variant = 'als'").count() / 2000
    assert 0.45 < share < 0.55
    other = ab.assign_variants(profiles, "exp-2", split, T0).select("profile_id", "variant")
    assert other.exceptAll(a).count() > 500  # another experiment reshuffles
    with pytest.raises(ValueError):
        ab.assign_variants(profiles, "x", {"a": 0.6, "b": 0.6}, T0)


def test_conversion_counts_only_views_inside_the_list_window(spark):
    lst = spark.createDataFrame(
        [
            (1, 10, "als", "als", "v1", "home", T0, T0 + dt.timedelta(hours=24)),
            (1, 11, "als", "als", "v1", "home", T0, T0 + dt.timedelta(hours=24)),
            (1, 12, "als", "als", "v1", "home", T0, T0 + dt.timedelta(hours=24)),
        ],
        "profile_id long, title_id long, variant string, model string, model_version string, context string, generated_at timestamp, expires_at timestamp",
    )
    views = spark.createDataFrame(
        [
            (1, 10, "VIEW", T0 + dt.timedelta(hours=2)),  # inside: converts
            (1, 11, "VIEW", T0 - dt.timedelta(hours=1)),  # before generation
            (1, 12, "VIEW", T0 + dt.timedelta(hours=24)),  # at expiry: outside
            (1, 12, "LIKE", T0 + dt.timedelta(hours=1)),
        ],  # not a VIEW
        "profile_id long, title_id long, interaction_type string, event_ts timestamp",
    )
    got = ab.conversions(lst, views)
    assert {r.title_id: r.converted for r in got.collect()} == {10: True, 11: False, 12: False}
    ctr = ab.ctr_table(got).first()
    assert (ctr.impressions, ctr.conversions) == (3, 1)
    assert ctr.ctr == pytest.approx(1 / 3)


def test_ab_report_has_wilson_interval_and_fisher_test():
    import pandas as pd

    ctr = pd.DataFrame(
        {
            "variant": ["a", "b"],
            "model": ["a", "b"],
            "model_version": ["1", "1"],
            "impressions": [1000, 1000],
            "conversions": [100, 60],
            "ctr": [0.1, 0.06],
        }
    )
    table, test = ab.ab_report(ctr)
    assert table.loc[0, "ci_low"] < 0.1 < table.loc[0, "ci_high"]
    assert test["p_value"] < 0.01


def test_household_bootstrap_ratio_and_interval():
    a = np.array([0.2, 0.4, 0.3, 0.3])
    b = np.array([0.1, 0.2, 0.2, 0.1])
    r, lo, hi = evaluation.household_bootstrap(a, b, np.array(["h1", "h1", "h2", "h3"]), 500, 1)
    assert r == pytest.approx(2.0)
    assert lo <= r <= hi


def test_view_interactions_value_is_completion_and_supplementals_are_dropped(spark):
    sessions = spark.createDataFrame(
        [
            ("s1", 1, 10, None, False, T0, T0 + dt.timedelta(minutes=45), None, 2700),
            ("s2", 1, 20, 200, False, T0, None, T0 + dt.timedelta(minutes=10), 300),
            ("s3", 1, 30, None, True, T0, T0 + dt.timedelta(minutes=2), None, 120),
        ],
        "session_id string, profile_id long, title_id long, episode_id long, is_supplemental boolean, started_at timestamp, ended_at timestamp, last_event_at timestamp, last_position_sec int",
    )
    titles = spark.createDataFrame(
        [(10, "FILM", 5400), (20, "SERIES", None), (30, "SUPPLEMENTAL", None)],
        "title_id long, title_type string, runtime_sec int",
    )
    episodes = spark.createDataFrame([(200, None)], "episode_id long, runtime_sec int")
    v = interactions.viewing_sessions(sessions, titles, episodes, typical_length_sec=1200)
    got = {r.session_id: (r.watch_duration_sec, r.completion_rate) for r in v.collect()}
    assert got == {"s1": (2700, 0.5), "s2": (600, 0.5)}  # runtime known / unknown
    rows = interactions.view_interactions(v, T0).collect()
    assert sorted(r.interaction_value for r in rows) == [0.5, 0.5]
    assert {r.interaction_type for r in rows} == {"VIEW"}


def test_explicit_feedback_is_validated(spark):
    fb = spark.createDataFrame(
        [
            (1, 10, "like", None, T0),
            (1, 11, "RATING", 7.0, T0),
            (1, 12, "SHRUG", 1.0, T0),
            (1, 13, "RATING", 4.0, T0),
        ],
        "profile_id long, title_id long, interaction_type string, interaction_value double, event_ts timestamp",
    )
    good, bad = interactions.explicit_interactions(fb, T0)
    assert sorted(
        (r.title_id, r.interaction_type, r.interaction_value) for r in good.collect()
    ) == [(10, "LIKE", 1.0), (13, "RATING", 4.0)]
    assert sorted((r.title_id, r.reason) for r in bad.collect()) == [
        (11, "rating not in 1..5"),
        (12, "unknown interaction_type"),
    ]


def test_current_lists_drop_expired_and_keep_newest_generation(spark):
    now = T0 + dt.timedelta(hours=30)
    rows = spark.createDataFrame(
        [
            (1, "home", 1, 10, T0, T0 + dt.timedelta(hours=24)),  # expired
            (2, "home", 1, 10, T0, T0 + dt.timedelta(hours=48)),  # older generation
            (2, "home", 1, 11, T0 + dt.timedelta(hours=1), T0 + dt.timedelta(hours=49)),
        ],
        "profile_id long, context string, rank_position int, title_id long, generated_at timestamp, expires_at timestamp",
    )
    got = lists.current_lists(rows, now)
    assert [(r.profile_id, r.title_id) for r in got.collect()] == [(2, 11)]


def test_settings_load_with_env_overlay():
    s = load_config("test").recommend
    assert s.als.rank == 8 and s.lists.size == 20
    assert abs(sum(s.ab.split.values()) - 1) < 1e-9


def test_an_ab_split_that_does_not_sum_to_one_names_the_key():
    with pytest.raises(ConfigError, match=r"recommend\.ab\.split: must be non-empty"):
        load_config("test", overrides={"recommend": {"ab": {"split": {"als": 0.7}}}})


def test_summary_gives_ratio_to_popularity_with_interval_bounds_and_a_markdown_row():
    import pandas as pd

    from jobs.core.recommend import offline

    s = load_config("test").recommend
    rows = []
    for p in range(12):  # 6 households of 2 profiles
        base = {"profile_id": p, "household": f"h{p // 2}", "precision@10": 0.1}
        rows.append({**base, "model": "popularity", "recall@20": 0.1, "ndcg@10": 0.2})
        rows.append({**base, "model": "item_cosine", "recall@20": 0.2, "ndcg@10": 0.2})
    cov = pd.DataFrame({"model": ["popularity", "item_cosine"], "coverage@20": [0.01, 0.05]})
    got = offline.summarize(pd.DataFrame(rows), cov, s).set_index("model")
    assert got.loc["item_cosine", "recall@20 vs pop"] == pytest.approx(2.0)
    # every household doubles recall: the interval cannot leave 2
    assert got.loc["item_cosine", "recall@20 vs pop low"] == pytest.approx(2.0)
    assert got.loc["item_cosine", "ndcg@10 vs pop high"] == pytest.approx(1.0)
    assert got.loc["popularity", "recall@20 vs pop"] is None
    table = offline.markdown_table(got.reset_index(), s).splitlines()
    assert table[0].startswith("| model | recall@20 | precision@10 | ndcg@10 | coverage@20 |")
    assert table[3] == (
        "| item_cosine | 0.2000 | 0.1000 | 0.2000 | 0.0500 | 12 "
        "| 2.00 [2.00, 2.00] | 1.00 [1.00, 1.00] | 1.00 [1.00, 1.00] |"
    )
    with_caveat = offline.markdown_table(got.reset_index(), s, households=6).splitlines()
    assert (
        with_caveat[-1].startswith("95 % percentile intervals")
        and "6 households" in (with_caveat[-1])
    )
    assert "rough" in with_caveat[-1]
