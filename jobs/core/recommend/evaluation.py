"""Offline evaluation: per-profile temporal split, top-N metrics, household bootstrap.

Protocol (Cremonesi, Koren & Turrin, "Performance of recommender algorithms on top-N
recommendation tasks", RecSys 2010; Ferrari Dacrema, Cremonesi & Jannach, "Are we really
making much progress?", RecSys 2019 / TOIS 2021; baselines and metrics as in Ferrari
Dacrema et al., Frontiers in Big Data 2022):

* Split: per profile, titles ordered by their first view; the last
  ``holdout_fraction`` (at least one) are the test set, the rest is training history.
  Profiles with fewer than ``min_train_titles`` training titles are not evaluated. Other
  profiles' training rows are in every model's training data, so a model may learn from
  a household member's viewing that happened after this profile's cut (the usual
  per-user leave-last-out leak; it helps popularity and the models alike).
* Metrics, binary relevance (a held-out title is relevant), titles in the profile's
  training history never recommended: precision@10 = hits in top 10 / 10;
  recall@20 = hits in top 20 / |test|; NDCG@10 = DCG / ideal DCG with gain 1/log2(rank+1)
  (Järvelin & Kekäläinen, TOIS 2002); catalogue coverage@20 = distinct titles recommended
  in any top 20 / titles in training.
* Baselines: TopPopular (distinct training profiles per title) and Random.
* Uncertainty: profiles of one household share an account and often a screen, so they are
  not independent; intervals come from a cluster (household) bootstrap of the ratio of
  means, ``scipy.stats.bootstrap`` with households resampled with replacement.
"""

from __future__ import annotations

import math

import numpy as np
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from scipy import stats

from jobs.core.runtime.config import EvaluationSettings

METRICS = ("precision@10", "recall@20", "ndcg@10")


def first_views(interactions: DataFrame) -> DataFrame:
    """First view of each (profile, title).

    Args:
        interactions: profile_id, title_id, event_ts (and optional household).

    Returns:
        profile_id, title_id, first_ts, last_ts, views.
    """
    return interactions.groupBy("profile_id", "title_id").agg(
        F.min("event_ts").alias("first_ts"),
        F.max("event_ts").alias("last_ts"),
        F.count(F.lit(1)).alias("views"),
    )


def temporal_split(first: DataFrame, s: EvaluationSettings) -> DataFrame:
    """Per-profile temporal split: the newest titles (by first view) are held out.

    Args:
        first: profile_id, title_id, first_ts, ...
        s: holdout_fraction, min_train_titles, min_test_titles.

    Returns:
        ``first``'s columns plus ``split`` = 'train' | 'test'. Profiles whose training part
        would have fewer than ``min_train_titles`` titles keep every title in 'train'
        (they feed the models but are not evaluated).
    """
    w = Window.partitionBy("profile_id").orderBy("first_ts", "title_id")
    n = F.count(F.lit(1)).over(Window.partitionBy("profile_id"))
    n_test = F.greatest(F.lit(s.min_test_titles), F.ceil(n * F.lit(s.holdout_fraction)))
    evaluated = (n - n_test) >= s.min_train_titles
    return (
        first.withColumn("_r", F.row_number().over(w))
        .withColumn(
            "split", F.when(evaluated & (F.col("_r") > n - n_test), "test").otherwise("train")
        )
        .drop("_r")
    )


def ranking_metrics(recs: DataFrame, truth: DataFrame, s: EvaluationSettings) -> DataFrame:
    """Per-profile precision@k, recall@k and NDCG@k.

    Args:
        recs: profile_id, title_id, rank_position (1 = best).
        truth: profile_id, title_id (the held-out titles); every profile in it is scored,
            profiles without recommendations score 0.
        s: k_precision, k_recall, k_ndcg.

    Returns:
        profile_id, ``precision@10``, ``recall@20``, ``ndcg@10`` (names follow the ks),
        n_test.
    """
    kp, kr, kn = s.k_precision, s.k_recall, s.k_ndcg
    t = truth.groupBy("profile_id").agg(F.count(F.lit(1)).alias("n_test"))
    hits = recs.join(truth.select("profile_id", "title_id"), ["profile_id", "title_id"])
    gain = F.when(F.col("rank_position") <= kn, 1.0 / F.log2(F.col("rank_position") + 1.0))
    agg = hits.groupBy("profile_id").agg(
        F.sum(F.when(F.col("rank_position") <= kp, 1).otherwise(0)).alias("hp"),
        F.sum(F.when(F.col("rank_position") <= kr, 1).otherwise(0)).alias("hr"),
        F.coalesce(F.sum(gain), F.lit(0.0)).alias("dcg"),
    )
    ideal = F.aggregate(
        F.sequence(F.lit(1), F.least(F.col("n_test"), F.lit(kn)).cast("int")),
        F.lit(0.0),
        lambda acc, i: acc + 1.0 / F.log2(i + 1.0),
    )
    return (
        t.join(agg, "profile_id", "left")
        .fillna(0, ["hp", "hr", "dcg"])
        .select(
            "profile_id",
            (F.col("hp") / kp).alias(f"precision@{kp}"),
            (F.col("hr") / F.col("n_test")).alias(f"recall@{kr}"),
            (F.col("dcg") / ideal).alias(f"ndcg@{kn}"),
            "n_test",
        )
    )


def coverage(recs: DataFrame, n_items: int, k: int) -> float:
    """Catalogue coverage: distinct titles in any top-``k`` list / ``n_items``."""
    got = recs.where(F.col("rank_position") <= k).select("title_id").distinct().count()
    return got / n_items if n_items else 0.0


def random_recs(
    profiles: DataFrame, items: DataFrame, seen: DataFrame, n: int, seed: int
) -> DataFrame:
    """Random baseline: ``n`` unseen titles per profile, uniformly (seeded).

    Returns:
        profile_id, title_id, score (random), rank_position.
    """
    cand = profiles.select("profile_id").crossJoin(items.select("title_id"))
    cand = cand.join(seen, ["profile_id", "title_id"], "left_anti").withColumn(
        "score", F.rand(seed)
    )
    return rank(cand, n)


def rank(scored: DataFrame, n: int) -> DataFrame:
    """Keep the ``n`` best per profile and number them 1..n (ties by title_id)."""
    w = Window.partitionBy("profile_id").orderBy(F.desc("score"), "title_id")
    return scored.withColumn("rank_position", F.row_number().over(w).cast("int")).where(
        F.col("rank_position") <= n
    )


def fill_with(primary: DataFrame, fallback: DataFrame, n: int) -> DataFrame:
    """Top up lists shorter than ``n`` with fallback titles (popularity), primary first.

    Args:
        primary: the model's lists (profile_id, title_id, score).
        fallback: the titles to top up with (profile_id, title_id, score), e.g. popularity.
        n: list length wanted per profile.

    Returns:
        profile_id, title_id, score, rank_position 1..n; fallback rows rank after every
        primary row and never repeat a primary title.
    """
    p = primary.select("profile_id", "title_id", "score", F.lit(0).alias("_tier"))
    f = fallback.join(
        primary.select("profile_id", "title_id"), ["profile_id", "title_id"], "left_anti"
    )
    both = p.unionByName(f.select("profile_id", "title_id", "score", F.lit(1).alias("_tier")))
    w = Window.partitionBy("profile_id").orderBy("_tier", F.desc("score"), "title_id")
    return (
        both.withColumn("rank_position", F.row_number().over(w).cast("int"))
        .where(F.col("rank_position") <= n)
        .drop("_tier")
    )


def household_bootstrap(
    a: np.ndarray, b: np.ndarray, households: np.ndarray, samples: int, seed: int
) -> tuple[float, float, float]:
    """Ratio of mean metric (model a / model b) with a 95 % household-cluster interval.

    Args:
        a: per-profile metric of model a (the numerator).
        b: per-profile metric of model b (the denominator; same profiles, same order).
        households: household of each profile.
        samples: bootstrap resamples.
        seed: seed of the random generator (the interval is reproducible).

    Returns:
        (ratio, low, high); NaN bounds when b's mean is 0 or there is one household.
    """
    keys, idx = np.unique(households, return_inverse=True)
    sa = np.bincount(idx, weights=a, minlength=len(keys))
    sb = np.bincount(idx, weights=b, minlength=len(keys))
    ratio = float(sa.sum() / sb.sum()) if sb.sum() else math.nan
    if len(keys) < 2 or not sb.sum():
        return ratio, math.nan, math.nan
    res = stats.bootstrap(
        (sa, sb),
        lambda x, y, axis=-1: x.sum(axis=axis) / np.maximum(y.sum(axis=axis), 1e-12),
        paired=True,
        vectorized=True,
        n_resamples=samples,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    return ratio, float(res.confidence_interval.low), float(res.confidence_interval.high)
