"""Train the recommenders: training_interactions, item/user graphs, embeddings, genres.

The step ``python -m jobs.train_recommenders`` runs. From ``user_content_interaction``
(window: ``recommend.training.window_days`` before the as-of) it writes
``training_interactions``, the ``item_item_edge`` graphs of item_cosine, als and
content_tfidf, ``user_user_edge``, ``content_embedding``, ``dim_genre``,
``title_genre_bridge`` and ``season``, and saves the ALS model under
``<lake>/models/als/<version>``. Each model's version is :func:`model_version`: a rerun on
the same data and settings finds its version already written and does nothing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from typing import Any

from pydantic import BaseModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.core.recommend import catalog as cat
from jobs.core.recommend import interactions as ri
from jobs.core.recommend import similarity as sim
from jobs.core.rules.as_of import newest, resolve_as_of
from jobs.core.runtime.config import RecommendSettings
from jobs.core.runtime.errors import RunError
from jobs.core.storage.delta import DeltaEngine

TABLES = [
    "training_interactions",
    "item_item_edge",
    "user_user_edge",
    "content_embedding",
    "dim_genre",
    "title_genre_bridge",
    "season",
]


def model_version(model: str, data_version: int, params: BaseModel) -> str:
    """The version label of a model: ``<model>-v<data version>-<8 hex of the parameters>``.

    Args:
        model: the model's name (``item_cosine``, ``als``, ``content_tfidf``).
        data_version: the Delta version (or size) of the data it is trained on.
        params: the model's settings (hashed as sorted JSON).

    Returns:
        For example ``als-v12-3f2a9c01``.
    """
    digest = hashlib.sha1(
        json.dumps(params.model_dump(mode="json"), sort_keys=True).encode()
    ).hexdigest()[:8]
    return f"{model}-v{data_version}-{digest}"


def training_as_of(engine: DeltaEngine, value: str | dt.datetime | None) -> dt.datetime:
    """The exclusive end of the training window, resolved once (aware, UTC).

    Args:
        engine: the Delta engine (``user_content_interaction``).
        value: ``latest`` (one second after the newest interaction, so it is inside
            the window), ``None``/``now``, ISO-8601 text (UTC without an offset) or a
            datetime (see :func:`jobs.core.rules.as_of.resolve_as_of`).

    Returns:
        An aware ``datetime`` in UTC.

    Raises:
        RunError: ``latest`` and ``user_content_interaction`` is empty.
        ValueError: ``value`` is text but not ISO-8601.
    """
    if value != "latest":
        return resolve_as_of(value)
    found = newest(engine.read("user_content_interaction"), "event_ts")
    if found is None:
        raise RunError(
            "user_content_interaction is empty: run python -m jobs.build_interactions first"
        )
    return found + dt.timedelta(seconds=1)


def catalog_frame(engine: DeltaEngine, path: str | None) -> DataFrame:
    """``catalog_title`` when loaded (and no ``path`` given), else the CSV at ``path``.

    Args:
        engine: the Delta engine.
        path: netflix_titles.csv; ``None`` = ``catalog_title``, or ``paths.catalog_csv``
            when that table does not exist.

    Returns:
        ``catalog_title`` columns (the CSV cast to them, plus ``cast``).
    """
    if engine.exists("catalog_title") and not path:
        return engine.read("catalog_title")
    return cat.read_catalog_csv(engine.spark, path or engine.cfg.paths.catalog_csv)


def _done(engine: DeltaEngine, version: str, model: str) -> bool:
    rows = engine.read("item_item_edge", partition_filters=[("model", "=", model)])
    return rows.where(F.col("model_version") == version).limit(1).count() > 0


def _edges(df: DataFrame, version: str, now: dt.datetime) -> DataFrame:
    return df.withColumn("model_version", F.lit(version)).withColumn(
        "computed_at", F.lit(now).cast("timestamp")
    )


def _catalog_tables(engine: DeltaEngine, catalog: DataFrame, report: dict[str, Any]) -> DataFrame:
    """Write dim_genre, title_genre_bridge and season; returns the catalogue matches."""
    titles = engine.read("title").where("title_type <> 'SUPPLEMENTAL'")
    norm = titles.select("title_id", cat.normalize_udf("title_name").alias("normalized_title"))
    matches = cat.match_titles(norm, catalog).cache()
    engine.overwrite("dim_genre", cat.genre_dimension(catalog))
    engine.overwrite("title_genre_bridge", cat.title_genre_bridge(matches, catalog))
    engine.overwrite("season", cat.seasons(engine.read("episode")))
    report["titles_matched_to_catalogue"] = f"{matches.count()} of {titles.count()}"
    return matches


def _train_als(
    engine: DeltaEngine, train_df: DataFrame, s: RecommendSettings, v: str, now: dt.datetime
) -> None:
    path = os.path.join(engine.cfg.paths.lake_root, "models", "als", v)
    if os.path.exists(path) and _done(engine, v, "als"):
        return
    model, users, items = sim.fit_als(train_df, s.als)
    model.write().overwrite().save(path)
    users.write.mode("overwrite").parquet(path + "-users")
    items.write.mode("overwrite").parquet(path + "-items")
    engine.overwrite(
        "item_item_edge",
        _edges(sim.als_item_edges(model, items, s.als), v, now),
        predicate="model = 'als'",
    )
    engine.overwrite("user_user_edge", _edges(sim.als_user_edges(model, users, s.als), v, now))


def _train_content(
    engine: DeltaEngine, texts: DataFrame, s: RecommendSettings, v: str, now: dt.datetime
) -> None:
    if _done(engine, v, "content_tfidf") or not texts.limit(1).count():
        return
    feats = sim.content_features(sim.content_text(texts), s.content).cache()
    engine.overwrite(
        "item_item_edge",
        _edges(sim.content_edges(feats, s.content), v, now),
        predicate="model = 'content_tfidf'",
    )
    emb = feats.select(
        "title_id",
        "embedding",
        F.lit(v).alias("model_version"),
        F.lit(now).cast("timestamp").alias("updated_at"),
    )
    engine.overwrite("content_embedding", emb)


def train(
    engine: DeltaEngine,
    s: RecommendSettings,
    as_of: str | dt.datetime | None = "latest",
    catalog_path: str | None = None,
) -> dict[str, Any]:
    """Run the training (each model only when its version is not written yet).

    Args:
        engine: the Delta engine.
        s: ``recommend`` settings.
        as_of: end of the training window (see :func:`training_as_of`).
        catalog_path: netflix_titles.csv when ``catalog_title`` is not loaded.

    Returns:
        ``as_of`` (naive ISO, UTC), ``training_rows``, ``titles_matched_to_catalogue``
        and the version of each model (``item_cosine``, ``als``, ``content_tfidf``).

    Raises:
        RunError: ``latest`` and no interaction yet.
        ValueError: ``as_of`` is text but not ISO-8601.
    """
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    engine.create_all(TABLES)
    data_version = engine.version("user_content_interaction")
    cut = training_as_of(engine, as_of)
    train_df = ri.training_interactions(
        engine.read("user_content_interaction"), cut, s.training.window_days
    ).cache()
    engine.overwrite("training_interactions", train_df)
    report: dict[str, Any] = {
        "as_of": cut.replace(tzinfo=None).isoformat(),
        "training_rows": train_df.count(),
    }
    catalog = catalog_frame(engine, catalog_path).cache()
    matches = _catalog_tables(engine, catalog, report)

    v = model_version("item_cosine", data_version, s.item_cosine)
    if not _done(engine, v, "item_cosine"):
        edges = sim.item_cosine_edges(train_df, s.item_cosine, s.training.max_titles_per_profile)
        engine.overwrite("item_item_edge", _edges(edges, v, now), predicate="model = 'item_cosine'")
    report["item_cosine"] = v

    v = model_version("als", data_version, s.als)
    _train_als(engine, train_df, s, v, now)
    report["als"] = v

    v = model_version("content_tfidf", catalog.count(), s.content)
    texts = matches.join(catalog.withColumnRenamed("show_id", "catalog_show_id"), "catalog_show_id")
    _train_content(engine, texts, s, v, now)
    report["content_tfidf"] = v
    return report
