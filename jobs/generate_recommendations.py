"""Generate recommendation lists, explanations, current_recommendations and the cache.

    python -m jobs.generate_recommendations --lake-root lakehouse/demo [--all]

Regenerates only the profiles touched since the last generation (new or changed
interactions, by ``ingested_at``), profiles whose lists expired, and every profile when a
model version changed (or with ``--all``). Each profile's home list comes from its A/B
variant's model (conf recommend.ab); profiles with too little history get a popularity list
of their country. ``recommendation_list`` and ``recommendation_explanation`` are
append-only history; ``current_recommendations`` and ``recommendation_cache`` are rewritten
for the regenerated profiles. Rerunning with nothing new does nothing.
Exit codes: 0 done, 1 run failure, 2 usage or configuration error.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys

from pyspark.sql import functions as F

from jobs.core.recommend import ab, catalog, explanations, generate, lists, state
from jobs.core.rules.ids import stable_id
from jobs.core.runtime.cli import JobError, job_parser, run

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


def _parser():
    p = job_parser(f"python -m jobs.{JOB}", __doc__.splitlines()[0])
    p.add_argument("--all", action="store_true", help="regenerate every profile")
    return p


def _als_scores(engine, versions, profiles, n):
    from pyspark.ml.recommendation import ALSModel

    path = os.path.join(engine.cfg.paths.lake_root, "models", "als", versions.get("als", "-"))
    if not os.path.exists(path):
        return None
    model = ALSModel.load(path)
    users = engine.spark.read.parquet(path + "-users")
    items = engine.spark.read.parquet(path + "-items")
    return lists.als_scores(model, users, items, profiles, n)


def _targets(engine, marks, everything, now):
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


def generate_all(engine, s, everything: bool = False) -> dict:
    """One generation for the target profiles; returns counts.

    The frames it caches are released when it returns (or fails): one long-lived
    SparkSession runs many generations (the API's refresh, the test suite).
    """
    cached: list = []
    try:
        return _generate(engine, s, everything, cached)
    finally:
        for df in cached:
            df.unpersist()


def _generate(engine, s, everything: bool, cached: list) -> dict:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    engine.create_all(OUT)
    edges = engine.read("item_item_edge").cache()
    cached.append(edges)
    versions = {
        r.model: r.model_version
        for r in edges.select("model", "model_version").distinct().collect()
    }
    if not versions:
        raise JobError("item_item_edge is empty: run python -m jobs.train_recommenders first")
    marks = state.read_marks(engine, JOB)
    known = {k.removeprefix("model:"): v for k, (v, _) in marks.items() if k.startswith("model:")}
    vkeys = {m: stable_id("model_version", v) for m, v in versions.items()}
    models_changed = known != vkeys
    # lists expiring before the next scheduled run are renewed now (recommend.lists)
    renew_before = now + dt.timedelta(minutes=s.lists.renew_ahead_minutes)
    targets = _targets(engine, marks, everything or models_changed, renew_before).cache()
    cached.append(targets)
    n_targets = targets.count()
    if n_targets == 0:
        log.info("no profile touched or expired since the last generation: nothing to do")
        return {"profiles": 0}
    assign = ab.assign_variants(targets, s.ab.experiment, s.ab.split, now)
    engine.merge(
        "ab_assignment",
        assign,
        _insert_only("t.experiment = s.experiment AND t.profile_id = s.profile_id"),
    )
    variants = (
        engine.read("ab_assignment")
        .where(F.col("experiment") == s.ab.experiment)
        .select("profile_id", "variant")
    )
    profiles = targets.join(variants, "profile_id").cache()
    cached.append(profiles)
    train = (
        engine.read("training_interactions")
        .join(profiles.select("profile_id"), "profile_id")
        .cache()
    )
    cached.append(train)
    seen = (
        engine.read("user_content_interaction")
        .join(profiles.select("profile_id"), "profile_id")
        .select("profile_id", "title_id")
        .distinct()
    )
    alltrain = engine.read("training_interactions")
    as_of = alltrain.agg(F.max("window_end")).first()[0] or now
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
    popular = (
        recent.unionByName(ever.withColumn("score", F.col("score") * 1e-3))
        .groupBy("country_code", "title_id")
        .agg(F.max("score").alias("score"))
        .cache()
    )
    cached.append(popular)
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
    with_rel = explanations.related_titles(new, train, edges.where(F.col("model") == "als")).cache()
    cached.append(with_rel)
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
    ild = (
        lists.intra_list_diversity(with_rel.where("context = 'home'"), bridge)
        .agg(F.avg("ild"))
        .first()[0]
    )
    return {
        "profiles": n_targets,
        "list_rows": with_rel.count(),
        "home_intra_list_diversity": ild,
        "versions": versions,
    }


def _insert_only(on: str):
    from jobs.core.storage.delta import MergeSpec

    return MergeSpec(on=on, update={})


def _current_and_cache(engine, new, why, profiles, s, now):
    """Rewrite current_recommendations and the cache for the regenerated profiles."""
    keep = engine.read("current_recommendations").join(
        profiles.select("profile_id"), "profile_id", "left_anti"
    )
    keep = keep.where(F.col("expires_at") > F.lit(now))
    current = keep.unionByName(new.select(*keep.columns)).cache()
    current.count()
    engine.overwrite("current_recommendations", current)
    current.unpersist()
    titles = engine.read("title").select("title_id", F.col("title_name").alias("title"))
    items = new.join(
        why.select("profile_id", "context", "title_id", F.col("text").alias("why")),
        ["profile_id", "context", "title_id"],
        "left",
    ).join(titles, "title_id", "left")
    payload = items.groupBy("profile_id", "context", "generated_at").agg(
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


def _main(args, cfg) -> int:
    from jobs.core.runtime.spark import build_spark
    from jobs.core.storage.delta import get_engine

    spark = build_spark(JOB, cfg)
    report = generate_all(get_engine(spark, cfg), cfg.recommend, args.all)
    print(json.dumps(report, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.generate_recommendations`` (see the module docstring)."""
    return run(_main, _parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
