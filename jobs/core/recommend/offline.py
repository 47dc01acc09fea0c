"""Run every model and baseline through the offline evaluation protocol.

See :mod:`jobs.core.recommend.evaluation` for the split, metrics and bootstrap. This
module wires the models (:mod:`similarity`, :mod:`lists`) to it so the job and the bench
script share one definition of "the evaluation".
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.core.recommend import evaluation as ev
from jobs.core.recommend import lists, similarity
from jobs.core.runtime.config import RecommendSettings

log = logging.getLogger(__name__)

BASELINE = "popularity"


@dataclass
class EvaluationResult:
    """Per-profile metrics (pandas: model, profile_id, household, metrics...) and the summary."""

    per_profile: pd.DataFrame
    summary: pd.DataFrame
    facts: dict


def _pop_scores(train: DataFrame, top: int) -> DataFrame:
    pop = train.groupBy("title_id").agg(F.countDistinct("profile_id").alias("score"))
    return lists.top_n(pop.withColumn("profile_id", F.lit(0)), top).drop("profile_id")


def model_lists(
    train: DataFrame, profiles: DataFrame, texts: DataFrame | None, s: RecommendSettings
) -> dict[str, DataFrame]:
    """Top-N lists (profile_id, title_id, score, rank_position) of every model, seen excluded.

    Args:
        train: profile_id, title_id, last_ts, confidence (training split).
        profiles: profile_id to recommend for.
        texts: title_id, genres, director, cast, description for catalogue-matched
            titles (None: no content model).
        s: settings.

    Returns:
        ``{model name: lists}`` for popularity, random, item_cosine, als and
        (with texts) content_tfidf. Neighbourhood models are topped up with popularity
        when they have fewer than N candidates.
    """
    n = s.lists.size
    seen = train.select("profile_id", "title_id")
    pop = _pop_scores(train, n + 3000)
    # every model is topped up from it: computed once
    pop_c = lists.exclude_seen(profiles.crossJoin(pop), seen).cache()
    out = {BASELINE: ev.rank(pop_c, n)}
    items = train.select("title_id").distinct()
    out["random"] = ev.random_recs(profiles, items, seen, n, s.evaluation.seed)
    history = (
        lists.history_weights(train, s.training.recency_tau_titles)
        .join(profiles, "profile_id")
        .cache()
    )

    def neighbourhood(edges: DataFrame) -> DataFrame:
        cand = lists.neighbour_scores(history, edges, s.lists.candidates, seen)
        return ev.fill_with(cand, pop_c, n)

    edges = similarity.item_cosine_edges(train, s.item_cosine, s.training.max_titles_per_profile)
    out["item_cosine"] = neighbourhood(edges)
    model, users, its = similarity.fit_als(train, s.als)
    top = train.groupBy("profile_id").count().agg(F.max("count")).first()
    max_seen = (top[0] if top is not None else 0) or 0
    als = lists.als_scores(model, users, its, profiles, n + int(max_seen))
    out["als"] = ev.fill_with(lists.exclude_seen(als, seen), pop_c, n)
    if texts is not None:
        feats = similarity.content_features(
            similarity.content_text(texts), s.content, embeddings=False
        )
        out["content_tfidf"] = neighbourhood(similarity.content_edges(feats, s.content))
    return out


def evaluate(views: DataFrame, texts: DataFrame | None, s: RecommendSettings) -> EvaluationResult:
    """Split, train every model on the training part, score the held-out titles.

    Args:
        views: profile_id, household, title_id, event_ts (one row per viewing).
        texts: catalogue text of matched titles, or None.
        s: settings (evaluation, models, list size).

    Returns:
        :class:`EvaluationResult`; summary has one row per model with the mean metrics,
        coverage@N and, for each metric, the ratio to popularity with its 95 % household
        bootstrap interval.
    """
    e = s.evaluation
    first = ev.first_views(views)
    split = ev.temporal_split(first, e).cache()
    # recency of a training title = its first view: nothing after the cut leaks in
    train = (
        split.where("split = 'train'")
        .select("profile_id", "title_id", F.col("first_ts").alias("last_ts"), "views")
        .withColumn("confidence", F.log1p("views"))
        .cache()
    )
    test = split.where("split = 'test'").select("profile_id", "title_id").cache()
    profiles = test.select("profile_id").distinct().cache()
    households = views.select("profile_id", "household").distinct()
    n_items = train.select("title_id").distinct().count()
    unseen = test.join(train.select("title_id").distinct(), "title_id", "left_anti").count()
    facts = {
        "profiles_evaluated": profiles.count(),
        "households": households.join(profiles, "profile_id")
        .select("household")
        .distinct()
        .count(),
        "training_titles": n_items,
        "test_titles": test.count(),
        "test_titles_never_in_training": unseen,
    }
    log.info("evaluation split: %s", facts)
    frames, rows = [], []
    t0 = time.monotonic()
    for name, recs in model_lists(train, profiles, texts, s).items():
        recs = recs.cache()
        m: Any = ev.ranking_metrics(recs, test, e).join(households, "profile_id").toPandas()
        m["model"] = name
        frames.append(m)
        rows.append(
            {"model": name, f"coverage@{s.lists.size}": ev.coverage(recs, n_items, s.lists.size)}
        )
        recs.unpersist()
        log.info("evaluated %s (%.0f s since the split)", name, time.monotonic() - t0)
    per = pd.concat(frames, ignore_index=True)
    return EvaluationResult(per, summarize(per, pd.DataFrame(rows), s), facts)


def summarize(per: pd.DataFrame, cov: pd.DataFrame, s: RecommendSettings) -> pd.DataFrame:
    """Mean metrics per model and the ratio to popularity with household bootstrap CIs.

    Args:
        per: model, profile_id, household and one column per metric (one row per model
            and profile; every model scores the same profiles).
        cov: model, ``coverage@N``.
        s: settings (metric cut-offs, bootstrap samples and seed).

    Returns:
        One row per model: the mean of each metric, ``<metric> vs pop`` (ratio of means to
        popularity) with ``<metric> vs pop low`` / ``high`` (95 % household-bootstrap
        interval; None for popularity itself) and ``coverage@N``.
    """
    e = s.evaluation
    metrics = [f"precision@{e.k_precision}", f"recall@{e.k_recall}", f"ndcg@{e.k_ndcg}"]
    base = per[per.model == BASELINE].sort_values("profile_id")
    out = []
    for name, g in per.groupby("model", sort=False):
        g = g.sort_values("profile_id")
        row = {"model": name, **{m: float(g[m].mean()) for m in metrics}}
        for m in metrics:
            if name == BASELINE:
                continue
            r, lo, hi = ev.household_bootstrap(
                g[m].to_numpy(),
                base[m].to_numpy(),
                g["household"].to_numpy(),
                e.bootstrap_samples,
                e.seed,
            )
            row.update({f"{m} vs pop": r, f"{m} vs pop low": lo, f"{m} vs pop high": hi})
        out.append(row)
    table = pd.DataFrame(out).merge(cov, on="model")
    return table.replace({np.nan: None})


def markdown_table(summary: pd.DataFrame, s: RecommendSettings) -> str:
    """The summary as a Markdown table: means, coverage, ratio to popularity [95 % CI]."""
    e = s.evaluation
    metrics = [f"recall@{e.k_recall}", f"precision@{e.k_precision}", f"ndcg@{e.k_ndcg}"]
    cov = [c for c in summary.columns if c.startswith("coverage@")]
    head = ["model", *metrics, *cov, *(f"{m} vs pop [95% CI]" for m in metrics)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in summary.to_dict("records"):
        cells = [r["model"], *(f"{r[m]:.4f}" for m in [*metrics, *cov])]
        for m in metrics:
            if r.get(f"{m} vs pop") is None:
                cells.append("1 (baseline)")
            else:
                cells.append(
                    f"{r[f'{m} vs pop']:.2f} [{r[f'{m} vs pop low']:.2f}, "
                    f"{r[f'{m} vs pop high']:.2f}]"
                )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
