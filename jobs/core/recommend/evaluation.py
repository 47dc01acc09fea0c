"""Offline evaluation: one global temporal cut, top-N metrics, household bootstrap.

Protocol (Cremonesi, Koren & Turrin, RecSys 2010; Ferrari Dacrema, Cremonesi & Jannach,
"Are we really making much progress?", RecSys 2019 / TOIS 2021; Ferrari Dacrema et al.,
Frontiers in Big Data 2022; the global split after Meng, McCreadie, Macdonald & Ounis,
"Exploring data splitting strategies for the evaluation of recommendation models",
RecSys 2020):

* Split (:func:`split_at`, :func:`protocol`): ONE moment ``cut`` for every profile.
  Training = every viewing row before the cut (all profiles, all households); test = the
  titles each scored profile first views in ``[cut, cut + test_days)`` and had not viewed
  before the cut. Every count a model uses (popularity's distinct profiles, co-viewing
  pairs, ALS confidence, the content model's candidate titles) therefore comes from rows
  before the cut: no other profile's, household member's or the profile's own later
  viewing is in training. The cut is the month start with the most scorable profiles
  (>= ``min_train_titles`` titles before it, >= ``min_test_titles`` test titles), or
  ``evaluation.cut``. Validation = the same rule on the training rows with the cut
  ``test_days`` earlier: hyper-parameters are chosen there, never on the test window.
* Metrics, binary relevance (a test title is relevant), titles seen before the cut never
  recommended: precision@10 = hits in top 10 / 10; recall@20 = hits in top 20 / |test|;
  NDCG@10 = DCG / ideal DCG with gain 1/log2(rank+1) (Järvelin & Kekäläinen, TOIS 2002);
  catalogue coverage@20 = distinct titles in any top 20 / titles in training. Test titles
  never viewed before the cut are unrecommendable by any model trained on the past; the
  metrics are also given on recommendable test titles only.
* Uncertainty: profiles of one household share an account and often a screen, so they are
  not independent; intervals come from a cluster (household) bootstrap of the ratio of
  means, ``scipy.stats.bootstrap`` percentile, households resampled with replacement.
  With 8 or 32 households these percentile intervals are rough (few clusters; they tend to
  be too narrow), which every printed table says next to them.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from scipy import stats

from jobs.core.rules.as_of import parse_day
from jobs.core.runtime.config import EvaluationSettings

METRICS = ("precision@10", "recall@20", "ndcg@10")
BOOTSTRAP_CAVEAT = (
    "95 % percentile intervals from a household-cluster bootstrap over {n} households: "
    "rough with so few clusters (they tend to be too narrow)"
)


@dataclass(frozen=True)
class Split:
    """One cut of the protocol.

    Attributes:
        cut: the moment (UTC, naive) before which every training row lies.
        end: ``cut + test_days``; test titles are first viewed in ``[cut, end)``.
        train: the view rows before ``cut`` (the columns of the input views).
        test: profile_id, household, title_id: per scored profile, the titles first
            viewed in ``[cut, end)`` that it had not viewed before ``cut``.
    """

    cut: pd.Timestamp
    end: pd.Timestamp
    train: pd.DataFrame
    test: pd.DataFrame


def _first(views: pd.DataFrame) -> pd.DataFrame:
    return views.groupby(["profile_id", "household", "title_id"], as_index=False)["event_ts"].min()


def _scorable(
    first: pd.DataFrame, cut: pd.Timestamp, end: pd.Timestamp, s: EvaluationSettings
) -> pd.Index:
    before = first[first.event_ts < cut].groupby("profile_id").size()
    after = first[(first.event_ts >= cut) & (first.event_ts < end)].groupby("profile_id").size()
    n_after = after.reindex(before.index).fillna(0)
    return before.index[(before >= s.min_train_titles) & (n_after >= s.min_test_titles)]


def choose_cut(
    views: pd.DataFrame, s: EvaluationSettings, scored: Collection[str] | None = None
) -> pd.Timestamp:
    """The global cut: ``s.cut`` if set, else the month start with most scorable profiles.

    Args:
        views: profile_id, household, title_id, event_ts (UTC, naive), one row per view.
        s: min_train_titles, min_test_titles, test_days, cut (ISO day or None).
        scored: households whose profiles count (None: all).

    Returns:
        The cut (midnight UTC); ties go to the later month (more training data).

    Raises:
        ValueError: no month start leaves a single scorable profile.
    """
    if s.cut is not None:
        return pd.Timestamp(parse_day(s.cut))
    first = _first(views if scored is None else views[views.household.isin(scored)])
    if first.empty:
        raise ValueError("no views of the households to score: check --score-households")
    window = pd.Timedelta(days=s.test_days)
    months = pd.date_range(first.event_ts.min().normalize(), first.event_ts.max(), freq="MS")
    counts = [(len(_scorable(first, m, m + window, s)), m) for m in months]
    best = max(counts, default=(0, None))
    if not best[0]:
        raise ValueError("no cut leaves a scorable profile: lower min_train_titles")
    return best[1]


def split_at(
    views: pd.DataFrame,
    cut: pd.Timestamp,
    s: EvaluationSettings,
    scored: Collection[str] | None = None,
) -> Split:
    """Split every profile at the one moment ``cut`` (the rule; see the module docstring).

    Args:
        views: profile_id, household, title_id, event_ts (UTC, naive), one row per view.
        cut: the moment; rows at or after it never reach training.
        s: test_days, min_train_titles, min_test_titles.
        scored: households whose profiles are scored (None: all); every household trains.

    Returns:
        :class:`Split`.
    """
    end = cut + pd.Timedelta(days=s.test_days)
    train = views[views.event_ts < cut]
    first = _first(views[views.event_ts < end])
    if scored is not None:
        first = first[first.household.isin(scored)]
    ok = _scorable(first, cut, end, s)
    new = first[(first.event_ts >= cut) & first.profile_id.isin(ok)]
    return Split(cut, end, train, new[["profile_id", "household", "title_id"]].copy())


def protocol(
    views: pd.DataFrame, s: EvaluationSettings, scored: Collection[str] | None = None
) -> tuple[Split, Split]:
    """(validation, test) splits: test at :func:`choose_cut`, validation ``test_days`` before.

    The validation split only ever sees the test split's training rows, so choosing
    hyper-parameters on it cannot look at the test window.
    """
    cut = choose_cut(views, s, scored)
    test = split_at(views, cut, s, scored)
    return split_at(test.train, cut - pd.Timedelta(days=s.test_days), s, scored), test


def training_pairs(train: pd.DataFrame) -> pd.DataFrame:
    """One row per (profile, title) of the training rows: what models may count.

    Args:
        train: a :class:`Split`'s ``train`` (view rows before the cut).

    Returns:
        profile_id, title_id, first_ts, last_ts, views (views before the cut only, so an
        ALS confidence log1p(views) never counts a later view), confidence.
    """
    g = train.groupby(["profile_id", "title_id"], as_index=False).agg(
        first_ts=("event_ts", "min"), last_ts=("event_ts", "max"), views=("event_ts", "size")
    )
    return g.assign(confidence=np.log1p(g["views"]))


def recommendable(frame: DataFrame, train: DataFrame) -> DataFrame:
    """Rows of ``frame`` whose title_id occurs in ``train``: a model's candidate pool.

    Args:
        frame: any title_id rows, e.g. catalogue texts of matched titles.
        train: title_id rows before the cut.

    Returns:
        ``frame`` without titles never viewed before the cut (a title seen only in the test
        window is not a candidate of any model, the content model included).
    """
    return frame.join(train.select("title_id").distinct(), "title_id", "left_semi")


def list_metrics(
    lists: dict[int, list[int]], truth: dict[int, set[int]], s: EvaluationSettings
) -> pd.DataFrame:
    """Per-profile precision@k, recall@k, NDCG@k and hits@k_recall of top-N lists.

    Args:
        lists: profile_id -> titles, best first (seen titles already removed).
        truth: profile_id -> test titles; every profile in it is scored (no list: 0).
        s: k_precision, k_recall, k_ndcg.

    Returns:
        profile_id, ``precision@10``, ``recall@20``, ``ndcg@10``, ``hits@20`` (names follow
        the ks), n_test.
    """
    kp, kr, kn = s.k_precision, s.k_recall, s.k_ndcg
    rows = []
    for p, rel in truth.items():
        recs = lists.get(p, [])
        dcg = sum(1 / math.log2(r + 2) for r, t in enumerate(recs[:kn]) if t in rel)
        idcg = sum(1 / math.log2(r + 2) for r in range(min(kn, len(rel))))
        hits = len(set(recs[:kr]) & rel)
        rows.append(
            {
                "profile_id": p,
                f"precision@{kp}": len(set(recs[:kp]) & rel) / kp,
                f"recall@{kr}": hits / len(rel),
                f"ndcg@{kn}": dcg / idcg,
                f"hits@{kr}": hits,
                "n_test": len(rel),
            }
        )
    return pd.DataFrame(rows)


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
