"""Inputs and output of the offline evaluation (``python -m jobs.evaluate_recommenders``).

The views to evaluate come from a folder of Netflix exports (:func:`corpus_views`) or
from the lake (:func:`lake_views`); the figures of
:func:`jobs.core.recommend.offline.evaluate` are written to ``model_performance``
(:func:`write_performance`: merge on model, version, date and metric, so a rerun
replaces the day's figures).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
from typing import Any

import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType

from jobs.core.recommend import catalog as cat
from jobs.core.recommend.corpus import read_corpus
from jobs.core.rules.ids import stable_id
from jobs.core.runtime.config import RecommendSettings
from jobs.core.storage.delta import DeltaEngine, MergeSpec

log = logging.getLogger("evaluate_recommenders")
_title_id = F.udf(lambda s: stable_id("title", s), LongType())
PERFORMANCE_SCHEMA = (
    "model_name string, model_version string, evaluation_date date, metric_name string, "
    "metric_value double, dataset string"
)
PERFORMANCE_KEY = ("model_name", "model_version", "evaluation_date", "metric_name")

Views = tuple[DataFrame, DataFrame, dict[str, Any]]


def corpus_views(
    spark: SparkSession, folder: str, catalog: DataFrame, households: int | None = None
) -> Views:
    """The views of a folder of exports; ``title_id`` = hash of the normalized name.

    Args:
        spark: the session.
        folder: folder of ViewingActivity exports (one file = one household).
        catalog: ``catalog_title``-like rows (netflix_titles.csv).
        households: only the first N exports by file name.

    Returns:
        (views: profile_id, household, title_id, event_ts (UTC); texts: the catalogue
        rows of the matched titles; facts: rows, titles, matched titles and rows).
    """
    raw = (
        read_corpus(spark, folder, households)
        .withColumn("title_id", _title_id("normalized_title"))
        .cache()
    )
    titles = raw.select("title_id", "normalized_title").distinct()
    matches = cat.match_titles(titles, catalog)
    texts = matches.join(
        catalog.withColumnRenamed("show_id", "catalog_show_id"), "catalog_show_id"
    ).cache()
    n_titles, n_matched = titles.count(), matches.count()
    rows_matched = raw.join(matches, "title_id").count()
    facts = {
        "rows": raw.count(),
        "titles": n_titles,
        "titles_matched_to_catalogue": n_matched,
        "view_rows_on_matched_titles": rows_matched,
    }
    return raw.select("profile_id", "household", "title_id", "event_ts"), texts, facts


def lake_views(engine: DeltaEngine, catalog: DataFrame) -> Views:
    """The lake's VIEW interactions, household = account label.

    Args:
        engine: the Delta engine (``user_content_interaction``, ``profile``, ``account``,
            ``title``).
        catalog: ``catalog_title``-like rows (netflix_titles.csv).

    Returns:
        (views: profile_id, household, title_id, event_ts (UTC); texts: the catalogue
        rows of the matched titles; facts: empty).
    """
    inter = engine.read("user_content_interaction").where("interaction_type = 'VIEW'")
    prof = engine.read("profile").select("profile_id", "account_id")
    acc = engine.read("account").select("account_id", F.col("account_label").alias("household"))
    views = inter.join(prof, "profile_id").join(acc, "account_id")
    titles = engine.read("title").select(
        "title_id", cat.normalize_udf("title_name").alias("normalized_title")
    )
    matches = cat.match_titles(titles, catalog)
    texts = matches.join(catalog.withColumnRenamed("show_id", "catalog_show_id"), "catalog_show_id")
    return views.select("profile_id", "household", "title_id", "event_ts"), texts, {}


def settings_version(s: RecommendSettings) -> str:
    """The evaluation's version: 10 hex of the SHA-1 of the settings as sorted JSON."""
    settings_json = json.dumps(s.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha1(settings_json.encode()).hexdigest()[:10]


def performance_rows(
    spark: SparkSession, summary: pd.DataFrame, version: str, dataset: str, today: dt.date
) -> DataFrame:
    """``model_performance`` rows: one per model and numeric metric (CI bounds too).

    Args:
        spark: the session.
        summary: the evaluation summary (one row per model; NaN = no interval, skipped).
        version: :func:`settings_version`.
        dataset: what was evaluated (the corpus folder, or ``lake``).
        today: the evaluation date (UTC).

    Returns:
        :data:`PERFORMANCE_SCHEMA` rows.
    """
    rows = []
    for r in summary.to_dict("records"):
        for k, v in r.items():
            if k != "model" and isinstance(v, float) and v == v:  # NaN: no interval
                rows.append((r["model"], version, today, k, float(v), dataset))
    return spark.createDataFrame(rows, PERFORMANCE_SCHEMA)


def write_performance(
    engine: DeltaEngine, summary: pd.DataFrame, version: str, dataset: str
) -> int:
    """Merge today's (UTC) figures into ``model_performance``; a rerun replaces them.

    Args:
        engine: the Delta engine.
        summary: the evaluation summary.
        version: :func:`settings_version`.
        dataset: what was evaluated.

    Returns:
        The number of rows merged.
    """
    engine.create_all(["model_performance"])
    today = dt.datetime.now(dt.UTC).date()
    df = performance_rows(engine.spark, summary, version, dataset, today)
    on = " AND ".join(f"t.{c} = s.{c}" for c in PERFORMANCE_KEY)
    engine.merge("model_performance", df, MergeSpec(on=on))
    n = df.count()
    log.info("model_performance: %d rows (version %s)", n, version)
    return n
