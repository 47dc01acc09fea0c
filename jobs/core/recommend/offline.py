"""Run every model and baseline through the offline evaluation protocol.

See :mod:`jobs.core.recommend.evaluation` for the split, metrics and bootstrap. This
module wires the models (:mod:`similarity`, :mod:`lists`) to it so the job and the bench
script share one definition of "the evaluation".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection
from dataclasses import dataclass

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.core.recommend import evaluation as ev
from jobs.core.recommend import lists, similarity, tuning
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
        ``{model name: lists}`` for popularity, item_cosine, als and (with texts)
        content_tfidf (random and the other baselines: :mod:`baselines`). Neighbourhood
        models are topped up with popularity when they have fewer than N candidates.
    """
    n = s.lists.size
    seen = train.select("profile_id", "title_id")
    pop = _pop_scores(train, n + 3000)
    # every model is topped up from it: computed once
    pop_c = lists.exclude_seen(profiles.crossJoin(pop), seen).cache()
    out = {BASELINE: ev.rank(pop_c, n)}
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


def _spark_lists(recs: DataFrame) -> dict:
    """profile_id -> titles in rank order, of Spark top-N lists (small: profiles x N)."""
    rows: pd.DataFrame = recs.select("profile_id", "title_id", "rank_position").toPandas()
    rows = rows.sort_values(["profile_id", "rank_position"])
    return rows.groupby("profile_id")["title_id"].agg(list).to_dict()


def evaluate(
    views: DataFrame,
    texts: DataFrame | None,
    s: RecommendSettings,
    scored: Collection[str] | None = None,
) -> EvaluationResult:
    """The leak-free protocol of :mod:`evaluation` over every model.

    The views are collected to the driver (the protocol's split and the numpy baselines
    run there: an evaluation corpus, not the lake's full history). The numpy baselines
    (:mod:`baselines`) get their hyper-parameters on the validation cut
    (:mod:`tuning`); the Spark models (item_cosine, ALS, content TF-IDF) keep the conf
    values. Every model trains on the rows before the test cut only; the content model's
    candidates are the catalogue texts of titles viewed before it.

    Args:
        views: profile_id, household, title_id, event_ts (one row per viewing, UTC).
        texts: catalogue text of matched titles, or None (no content model).
        s: settings (evaluation, models, list size).
        scored: households whose profiles are scored (None: all); all of them train.

    Returns:
        :class:`EvaluationResult`; facts name the cuts, profiles, households and the share
        of test titles never viewed before the cut; summary as :func:`summarize`.

    Raises:
        ValueError: no cut leaves a scorable profile (see :func:`evaluation.choose_cut`).
    """
    e, n = s.evaluation, s.lists.size
    pdv = views.select("profile_id", "household", "title_id", "event_ts").toPandas()
    validation, split = ev.protocol(pdv, e, scored)
    facts = {**tuning.split_facts(split), "validation_cut": str(validation.cut.date())}
    log.info("evaluation split: %s", facts)
    chosen = tuning.choose(validation, e, n)
    facts["chosen_hyper_parameters"] = chosen
    per, cov = tuning.score(split, chosen, e, n)
    frames, covs = [per], cov.to_dict("records")
    spark = views.sparkSession
    pairs = ev.training_pairs(split.train)
    train = spark.createDataFrame(
        pairs[["profile_id", "title_id", "first_ts", "views", "confidence"]]
    ).withColumnRenamed("first_ts", "last_ts")  # recency = first view, before the cut
    train = train.cache()
    ids = pd.DataFrame({"profile_id": sorted(split.test["profile_id"].unique())})
    profiles = spark.createDataFrame(ids).cache()
    if texts is not None:
        texts = ev.recommendable(texts, train)
    t0 = time.monotonic()
    for name, recs in model_lists(train, profiles, texts, s).items():
        if name in tuning.MODELS:
            continue  # popularity and random: the numpy ones above, same rule
        m, c = tuning.list_frame(_spark_lists(recs), split, name, n, e)
        frames.append(m)
        covs.append(c)
        log.info("evaluated %s (%.0f s)", name, time.monotonic() - t0)
    per = pd.concat(frames, ignore_index=True)
    return EvaluationResult(per, summarize(per, pd.DataFrame(covs), s), facts)


def summarize(per: pd.DataFrame, cov: pd.DataFrame, s: RecommendSettings) -> pd.DataFrame:
    """Mean metrics per model and the ratio to popularity with household bootstrap CIs.

    Args:
        per: model, profile_id, household and one column per metric (one row per model
            and profile; every model scores the same profiles); optional ``hits@N`` and
            `` rec`` columns (metrics on recommendable test titles, NaN where none).
        cov: model, ``coverage@N``.
        s: settings (metric cut-offs, bootstrap samples and seed).

    Returns:
        One row per model: the mean of each metric, ``<metric> vs pop`` (ratio of means to
        popularity) with ``<metric> vs pop low`` / ``high`` (95 % household-bootstrap
        interval, rough with few households; None for popularity itself), ``coverage@N``,
        ``profiles`` scored, ``hits@N`` summed and the `` rec`` metrics' means.
    """
    e = s.evaluation
    metrics = [f"precision@{e.k_precision}", f"recall@{e.k_recall}", f"ndcg@{e.k_ndcg}"]
    extra = [c for c in per.columns if c.endswith(" rec") and not c.startswith(("hits", "n_"))]
    base = per[per.model == BASELINE].sort_values("profile_id")
    out = []
    for name, g in per.groupby("model", sort=False):
        g = g.sort_values("profile_id")
        row = {"model": name, **{m: float(g[m].mean()) for m in metrics}}
        row["profiles"] = int(g["profile_id"].nunique())
        if f"hits@{e.k_recall}" in g:
            row[f"hits@{e.k_recall}"] = int(g[f"hits@{e.k_recall}"].sum())
        row.update({c: float(g[c].mean()) for c in extra})
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


def markdown_table(summary: pd.DataFrame, s: RecommendSettings, households: int = 0) -> str:
    """The summary as Markdown with the bootstrap caveat.

    Columns: means, coverage, hits, profiles, metrics on recommendable test titles
    (``rec``), ratio to popularity [95 % CI]; with ``households`` > 0 a last line says how
    rough the household-bootstrap intervals are.
    """
    e = s.evaluation
    metrics = [f"recall@{e.k_recall}", f"precision@{e.k_precision}", f"ndcg@{e.k_ndcg}"]
    cov = [c for c in summary.columns if c.startswith("coverage@")]
    more = [c for c in (f"hits@{e.k_recall}", "profiles") if c in summary.columns]
    rec = [f"{m} rec" for m in metrics if f"{m} rec" in summary.columns]
    head = ["model", *metrics, *cov, *more, *rec, *(f"{m} vs pop [95% CI]" for m in metrics)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in summary.to_dict("records"):
        cells = [r["model"], *(f"{r[m]:.4f}" for m in [*metrics, *cov])]
        cells += [str(r[m]) for m in more]
        cells += ["n/a" if r[m] is None else f"{r[m]:.4f}" for m in rec]
        for m in metrics:
            if r.get(f"{m} vs pop") is None:
                cells.append("1 (baseline)")
            else:
                cells.append(
                    f"{r[f'{m} vs pop']:.2f} [{r[f'{m} vs pop low']:.2f}, "
                    f"{r[f'{m} vs pop high']:.2f}]"
                )
        lines.append("| " + " | ".join(cells) + " |")
    if households:
        lines += ["", ev.BOOTSTRAP_CAVEAT.format(n=households) + "."]
    return "\n".join(lines)
