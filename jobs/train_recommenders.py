"""Train the recommenders: training_interactions, item/user graphs, embeddings, genres.

    python -m jobs.train_recommenders --lake-root lakehouse/demo [--as-of latest|ISO]

From ``user_content_interaction`` (window: conf recommend.training.window_days before the
as-of; default as-of = newest interaction) it writes ``training_interactions``, the
``item_item_edge`` graphs of item_cosine, als and content_tfidf, ``user_user_edge``,
``content_embedding``, ``dim_genre``, ``title_genre_bridge`` and ``season``, and saves the
ALS model under ``<lake>/models/als/<version>``. Each model's version is
``<model>-v<interactions version>-<hash of its hyperparameters>``: a rerun on the same data
and settings finds its version already written and does nothing.
Exit codes: 0 done, 1 run failure, 2 usage or configuration error.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import sys

from pyspark.sql import functions as F

from jobs.core.recommend import catalog as cat
from jobs.core.recommend import interactions as ri
from jobs.core.recommend import similarity as sim
from jobs.core.runtime.cli import JobError, UsageError, job_parser, run

log = logging.getLogger("train_recommenders")
JOB = "train_recommenders"
TABLES = [
    "training_interactions",
    "item_item_edge",
    "user_user_edge",
    "content_embedding",
    "dim_genre",
    "title_genre_bridge",
    "season",
]


def _parser():
    p = job_parser(f"python -m jobs.{JOB}", __doc__.splitlines()[0])
    p.add_argument(
        "--as-of", default="latest", help="'latest' (newest interaction) or UTC ISO time"
    )
    p.add_argument("--catalog", help="netflix_titles.csv when catalog_title is not loaded")
    return p


def model_version(model: str, data_version: int, params: object) -> str:
    """``<model>-v<data version>-<8 hex of the parameters>``."""
    digest = hashlib.sha1(
        json.dumps(params.model_dump(mode="json"), sort_keys=True).encode()
    ).hexdigest()[:8]
    return f"{model}-v{data_version}-{digest}"


def _parse_as_of(value: str) -> dt.datetime | None:
    """``--as-of`` as a naive UTC datetime; None for ``latest``. Raises UsageError."""
    if value == "latest":
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(
            f"--as-of {value!r}: pass 'latest' or a UTC ISO time (2026-11-23T00:00:00)"
        ) from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC)
    return parsed.replace(tzinfo=None)


def _as_of(engine, value: str) -> dt.datetime:
    parsed = _parse_as_of(value)
    if parsed is not None:
        return parsed
    newest = engine.read("user_content_interaction").agg(F.max("event_ts")).first()[0]
    if newest is None:
        raise JobError(
            "user_content_interaction is empty: run python -m jobs.build_interactions first"
        )
    return newest + dt.timedelta(seconds=1)


def catalog_frame(engine, path: str | None):
    """catalog_title when loaded, else the CSV (cast only in the CSV)."""
    if engine.exists("catalog_title") and not path:
        return engine.read("catalog_title")
    return cat.read_catalog_csv(engine.spark, path or engine.cfg.paths.catalog_csv)


def _done(engine, version: str, model: str) -> bool:
    rows = engine.read("item_item_edge", partition_filters=[("model", "=", model)])
    return rows.where(F.col("model_version") == version).limit(1).count() > 0


def _edges(df, version: str, now: dt.datetime):
    return df.withColumn("model_version", F.lit(version)).withColumn(
        "computed_at", F.lit(now).cast("timestamp")
    )


def train(engine, s, as_of: str = "latest", catalog_path: str | None = None) -> dict:
    """Run the training; returns versions and row counts per output."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    engine.create_all(TABLES)
    data_version = engine.version("user_content_interaction")
    cut = _as_of(engine, as_of)
    train_df = ri.training_interactions(
        engine.read("user_content_interaction"), cut, s.training.window_days
    ).cache()
    engine.overwrite("training_interactions", train_df)
    report: dict = {"as_of": cut.isoformat(), "training_rows": train_df.count()}
    catalog = catalog_frame(engine, catalog_path).cache()
    titles = engine.read("title").where("title_type <> 'SUPPLEMENTAL'")
    norm = titles.select("title_id", cat.normalize_udf("title_name").alias("normalized_title"))
    matches = cat.match_titles(norm, catalog).cache()
    engine.overwrite("dim_genre", cat.genre_dimension(catalog))
    engine.overwrite("title_genre_bridge", cat.title_genre_bridge(matches, catalog))
    engine.overwrite("season", cat.seasons(engine.read("episode")))
    report["titles_matched_to_catalogue"] = f"{matches.count()} of {titles.count()}"

    v = model_version("item_cosine", data_version, s.item_cosine)
    if not _done(engine, v, "item_cosine"):
        edges = sim.item_cosine_edges(train_df, s.item_cosine, s.training.max_titles_per_profile)
        engine.overwrite("item_item_edge", _edges(edges, v, now), predicate="model = 'item_cosine'")
    report["item_cosine"] = v

    v = model_version("als", data_version, s.als)
    path = os.path.join(engine.cfg.paths.lake_root, "models", "als", v)
    if not os.path.exists(path) or not _done(engine, v, "als"):
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
    report["als"] = v

    v = model_version("content_tfidf", catalog.count(), s.content)
    texts = matches.join(catalog.withColumnRenamed("show_id", "catalog_show_id"), "catalog_show_id")
    if not _done(engine, v, "content_tfidf") and texts.limit(1).count():
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
    report["content_tfidf"] = v
    return report


def _main(args, cfg) -> int:
    from jobs.core.runtime.spark import build_spark
    from jobs.core.storage.delta import get_engine

    _parse_as_of(args.as_of)  # a bad --as-of fails before Spark starts
    if args.catalog and not os.path.exists(args.catalog):
        raise UsageError(f"--catalog {args.catalog}: no such file; pass netflix_titles.csv")
    spark = build_spark(JOB, cfg)
    report = train(get_engine(spark, cfg), cfg.recommend, args.as_of, args.catalog)
    print(json.dumps(report, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.train_recommenders`` (see the module docstring)."""
    return run(_main, _parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
