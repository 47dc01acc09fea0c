"""One generation of recommendation lists, explanations, current lists and the cache.

The step ``python -m jobs.generate_recommendations`` runs (and the API's refresh, the
tests, the daily schedule). Regenerates only the profiles touched since the last
generation (new or changed interactions, by ``ingested_at``), profiles whose lists expire
before the next run, and every profile when a model version changed (or ``everything``).
Each profile's home list comes from its A/B variant's model (``recommend.ab``); profiles
with too little history get a popularity list of their country. ``recommendation_list``
and ``recommendation_explanation`` are append-only history; ``current_recommendations``
and ``recommendation_cache`` are rewritten for the regenerated profiles.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Any

from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.core.recommend import ab, catalog, explanations, generate, lists, state
from jobs.core.rules.as_of import newest
from jobs.core.rules.ids import stable_id
from jobs.core.runtime.config import RecommendSettings
from jobs.core.runtime.errors import RunError
from jobs.core.storage.delta import DeltaEngine, MergeSpec

log = logging.getLogger("generate_recommendations")
JOB = "generate_recommendations"
OUT = [
    "recommendation_list",
    "recommendation_explanation",
    "current_recommendations",
    "recommendation_cache",
    "ab_assignment",
    "build_state",
]


def generate_all(
    engine: DeltaEngine, s: RecommendSettings, everything: bool = False
) -> dict[str, Any]:
    """One generation for the target profiles (see the module docstring).

    The frames it caches are released when it returns (or fails): one long-lived
    SparkSession runs many generations (the API's refresh, the test suite).

    Args:
        engine: the Delta engine.
        s: ``recommend`` settings.
        everything: regenerate every profile.

    Returns:
        ``profiles`` (regenerated; 0 = nothing to do), ``list_rows``,
        ``home_intra_list_diversity`` and the model ``versions`` used.

    Raises:
        RunError: ``item_item_edge`` is empty (train the recommenders first).
    """
    cached: list[DataFrame] = []
    try:
        return _generate(engine, s, everything, cached)
    finally:
        for df in cached:
            df.unpersist()


def _als_scores(
    engine: DeltaEngine, versions: dict[str, str], profiles: DataFrame, n: int
) -> DataFrame | None:
    path = os.path.join(engine.cfg.paths.lake_root, "models", "als", versions.get("als", "-"))
    if not os.path.exists(path):
        return None
    model = ALSModel.load(path)
    users = engine.spark.read.parquet(path + "-users")
    items = engine.spark.read.parquet(path + "-items")
    return lists.als_scores(model, users, items, profiles, n)


def _targets(
    engine: DeltaEngine,
    marks: dict[str, tuple[int, dt.datetime | None]],
    everything: bool,
    now: dt.datetime,
) -> DataFrame:
    inter = engine.read("user_content_interaction")
    profiles = engine.read("profile").select("profile_id", "country_code")
    last = marks.get("item_item_edge", (None, None))[1]
    if everything or last is None:
        return profiles
    touched = inter.where(F.col("ingested_at") > F.lit(last)).select("profile_id")
    expired = (
        engine.read("current_recommendations")
        .where(F.col("expires_at") <= F.lit(now))
        .select("profile_id")
    )
    have = engine.read("current_recommendations").select("profile_id")
    new = profiles.select("profile_id").join(have, "profile_id", "left_anti")
    return profiles.join(touched.unionByName(expired).unionByName(new).distinct(), "profile_id")


def _popular(engine: DeltaEngine, s: RecommendSettings, now: dt.datetime) -> DataFrame:
    """Recent popularity per country, all-time popularity ranked below every recent title."""
    alltrain = engine.read("training_interactions")
    as_of = newest(alltrain, "window_end") or now.replace(tzinfo=dt.UTC)
    people = engine.read("profile").select("profile_id", "country_code")
    recent = lists.popularity(
        alltrain, people, as_of, s.lists.popularity_window_days, s.lists.popularity_min_profiles
    )
    # all-time popularity ranks below every recent title: lists stay full when the recent
    # window holds only titles the profile has seen
    history = engine.read("user_content_interaction").select(
        "profile_id", "title_id", F.col("event_ts").alias("last_ts")
    )
    ever = lists.popularity(history, people, as_of, None, s.lists.popularity_min_profiles)
    return (
        recent.unionByName(ever.withColumn("score", F.col("score") * 1e-3))
        .groupBy("country_code", "title_id")
        .agg(F.max("score").alias("score"))
    )


def _profiles(
    engine: DeltaEngine, targets: DataFrame, s: RecommendSettings, now: dt.datetime
) -> DataFrame:
    """The targets with their A/B variant (new profiles are assigned one, once)."""
    assign = ab.assign_variants(targets, s.ab.experiment, s.ab.split, now)
    on = "t.experiment = s.experiment AND t.profile_id = s.profile_id"
    engine.merge("ab_assignment", assign, MergeSpec(on=on, update={}))  # insert only
    variants = (
        engine.read("ab_assignment")
        .where(F.col("experiment") == s.ab.experiment)
        .select("profile_id", "variant")
    )
    return targets.join(variants, "profile_id")


def _generate(
    engine: DeltaEngine, s: RecommendSettings, everything: bool, cached: list[DataFrame]
) -> dict[str, Any]:
    def keep(df: DataFrame) -> DataFrame:
        cached.append(df.cache())
        return cached[-1]

    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    engine.create_all(OUT)
    edges = keep(engine.read("item_item_edge"))
    versions = {
        r.model: r.model_version
        for r in edges.select("model", "model_version").distinct().collect()
    }
    if not versions:
        raise RunError("item_item_edge is empty: run python -m jobs.train_recommenders first")
    marks = state.read_marks(engine, JOB)
    known = {k.removeprefix("model:"): v for k, (v, _) in marks.items() if k.startswith("model:")}
    vkeys = {m: stable_id("model_version", v) for m, v in versions.items()}
    # lists expiring before the next scheduled run are renewed now (recommend.lists)
    renew_before = now + dt.timedelta(minutes=s.lists.renew_ahead_minutes)
    targets = keep(_targets(engine, marks, everything or known != vkeys, renew_before))
    n_targets = targets.count()
    if n_targets == 0:
        log.info("no profile touched or expired since the last generation: nothing to do")
        return {"profiles": 0}
    profiles = keep(_profiles(engine, targets, s, now))
    train = keep(
        engine.read("training_interactions").join(profiles.select("profile_id"), "profile_id")
    )
    seen = (
        engine.read("user_content_interaction")
        .join(profiles.select("profile_id"), "profile_id")
        .select("profile_id", "title_id")
        .distinct()
    )
    popular = keep(_popular(engine, s, now))
    bridge = engine.read("title_genre_bridge")
    genres = catalog.primary_genre(bridge)
    als = _als_scores(
        engine, versions, profiles.where(F.col("variant") == "als"), s.lists.candidates
    )
    parts = [
        generate.home_lists(profiles, train, seen, edges, als, popular, genres, versions, s, now),
        generate.because_you_watched(profiles, train, seen, edges, versions, s, now),
        generate.genre_lists(
            profiles, train, seen, popular, bridge, engine.read("dim_genre"), s, now
        ),
    ]
    new = parts[0].unionByName(parts[1]).unionByName(parts[2])
    with_rel = keep(explanations.related_titles(new, train, edges.where(F.col("model") == "als")))
    why = explanations.explain(with_rel, engine.read("title"))
    engine.append("recommendation_list", with_rel)
    engine.append("recommendation_explanation", why)
    _current_and_cache(engine, with_rel, why, profiles, s, now)
    state.write_marks(
        engine,
        JOB,
        {
            "item_item_edge": engine.version("item_item_edge"),
            **{f"model:{m}": vkeys[m] for m in versions},
        },
        now.replace(tzinfo=dt.UTC),
    )
    ild_row = (
        lists.intra_list_diversity(with_rel.where("context = 'home'"), bridge)
        .agg(F.avg("ild").alias("ild"))
        .first()
    )
    ild = ild_row.ild if ild_row is not None else None
    return {
        "profiles": n_targets,
        "list_rows": with_rel.count(),
        "home_intra_list_diversity": ild,
        "versions": versions,
    }


def _cache_rows(new: DataFrame, why: DataFrame, titles: DataFrame) -> DataFrame:
    """One JSON payload per (profile, context, generated_at): rank, title, score, why."""
    items = new.join(
        why.select("profile_id", "context", "title_id", F.col("text").alias("why")),
        ["profile_id", "context", "title_id"],
        "left",
    ).join(titles.select("title_id", F.col("title_name").alias("title")), "title_id", "left")
    return items.groupBy("profile_id", "context", "generated_at").agg(
        F.to_json(
            F.array_sort(
                F.collect_list(
                    F.struct(
                        F.col("rank_position").alias("rank"),
                        "title_id",
                        "title",
                        F.round("score", 4).alias("score"),
                        "why",
                    )
                )
            )
        ).alias("payload")
    )


def _current_and_cache(
    engine: DeltaEngine,
    new: DataFrame,
    why: DataFrame,
    profiles: DataFrame,
    s: RecommendSettings,
    now: dt.datetime,
) -> None:
    """Rewrite current_recommendations and the cache for the regenerated profiles."""
    keep = engine.read("current_recommendations").join(
        profiles.select("profile_id"), "profile_id", "left_anti"
    )
    keep = keep.where(F.col("expires_at") > F.lit(now))
    current = keep.unionByName(new.select(*keep.columns)).cache()
    current.count()
    engine.overwrite("current_recommendations", current)
    current.unpersist()
    payload = _cache_rows(new, why, engine.read("title"))
    old = engine.read("recommendation_cache").join(
        profiles.select("profile_id"), "profile_id", "left_anti"
    )
    cache = payload.select(
        "profile_id",
        "context",
        "payload",
        "generated_at",
        F.lit(None).cast("timestamp").alias("last_accessed"),
        F.lit(s.lists.ttl_minutes).alias("ttl_minutes"),
    )
    rows = old.unionByName(cache).cache()
    engine.overwrite("recommendation_cache", rows)
    rows.unpersist()
