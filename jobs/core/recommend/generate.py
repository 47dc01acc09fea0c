"""Assemble the lists of one generation: home (A/B model), because_you_watched, genre_<slug>.

Shared by ``jobs.generate_recommendations`` and the bench; pure DataFrame functions except
that the ALS scores need the fitted model.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.core.recommend import evaluation as ev
from jobs.core.recommend import lists
from jobs.core.runtime.config import RecommendSettings

LIST_COLUMNS = (
    "profile_id",
    "context",
    "rank_position",
    "title_id",
    "score",
    "model",
    "model_version",
    "variant",
    "generated_at",
    "expires_at",
)


def home_lists(
    profiles: DataFrame,
    train: DataFrame,
    seen: DataFrame,
    edges: DataFrame,
    als: DataFrame | None,
    popular: DataFrame,
    genres: DataFrame,
    versions: dict[str, str],
    s: RecommendSettings,
    now: dt.datetime,
) -> DataFrame:
    """The home list of every profile by its A/B variant's model, or popularity (cold start).

    Args:
        profiles: profile_id, country_code, variant.
        train: training_interactions (profile_id, title_id, last_ts).
        seen: profile_id, title_id never to recommend on home.
        edges: item_item_edge (all models).
        als: ALS scores (profile_id, title_id, score, related_title_id) or None.
        popular: :func:`lists.popularity` rows.
        genres: title_id, genre_key (the primary genre; diversity cap).
        versions: model -> model_version.
        s: the ``recommend:`` settings (lists, training).
        now: generation time (UTC); generated_at, and expires_at = now + TTL.

    Returns:
        ``recommendation_list`` columns plus related_title_id and country_code.
    """
    n, cand_n = s.lists.size, s.lists.candidates
    hist_n = train.groupBy("profile_id").agg(F.countDistinct("title_id").alias("h"))
    p = profiles.join(hist_n, "profile_id", "left").fillna(0, ["h"])
    cold = p.where(F.col("h") < s.training.min_history_titles)
    warm = p.where(F.col("h") >= s.training.min_history_titles)
    history = lists.history_weights(train, s.training.recency_tau_titles)
    pop = lists.exclude_seen(lists.cold_start_scores(p, popular, cand_n), seen)
    parts = []
    for model in ("item_cosine", "content_tfidf", "als"):
        who = warm.where(F.col("variant") == model).select("profile_id")
        if model == "als":
            if als is None:
                continue
            cand = als.join(who, "profile_id")
        else:
            cand = lists.neighbour_scores(
                history.join(who, "profile_id"),
                edges.where(F.col("model") == model),
                cand_n,
                seen,
            )
        cand = lists.exclude_seen(cand, seen).withColumn("model", F.lit(model))
        filled = ev.fill_with(
            cand.select("profile_id", "title_id", "score"), pop.join(who, "profile_id"), cand_n
        )
        # rank-based score keeps the primary-then-fallback order through the diversity step
        filled = filled.withColumn("score", 1.0 - (F.col("rank_position") - 1) / cand_n).drop(
            "rank_position"
        )
        filled = filled.join(
            cand.select("profile_id", "title_id", "related_title_id", "model"),
            ["profile_id", "title_id"],
            "left",
        )
        parts.append(filled.withColumn("model", F.coalesce("model", F.lit("popularity"))))
    coldl = pop.join(cold.select("profile_id"), "profile_id").withColumn(
        "model", F.lit("popularity")
    )
    parts.append(coldl.select("profile_id", "title_id", "score", "related_title_id", "model"))
    allc = parts[0].select("profile_id", "title_id", "score", "related_title_id", "model")
    for x in parts[1:]:
        allc = allc.unionByName(
            x.select("profile_id", "title_id", "score", "related_title_id", "model")
        )
    ranked = lists.diversify(allc, genres, s.lists.max_per_genre, n)
    return _finish(ranked, p, "home", versions, s, now)


def _finish(ranked: DataFrame, profiles: DataFrame, context, versions, s, now) -> DataFrame:
    vmap = F.create_map(
        *[
            x
            for k, v in {**versions, "popularity": "popularity"}.items()
            for x in (F.lit(k), F.lit(v))
        ]
    )
    out = ranked.join(profiles.select("profile_id", "variant", "country_code"), "profile_id")
    return _cols(out, context, vmap, now, s)


def _cols(out: DataFrame, context, vmap, now, s) -> DataFrame:
    ctx = context if isinstance(context, F.Column) else F.lit(context)
    return out.select(
        "profile_id",
        ctx.alias("context"),
        "rank_position",
        "title_id",
        "score",
        "model",
        vmap[F.col("model")].alias("model_version"),
        "variant",
        F.lit(now).cast("timestamp").alias("generated_at"),
        F.lit(now + dt.timedelta(minutes=s.lists.ttl_minutes))
        .cast("timestamp")
        .alias("expires_at"),
        "related_title_id",
        "country_code",
    )


def because_you_watched(
    profiles: DataFrame,
    train: DataFrame,
    seen: DataFrame,
    edges: DataFrame,
    versions: dict[str, str],
    s: RecommendSettings,
    now: dt.datetime,
) -> DataFrame:
    """Neighbours of each profile's newest title (item_cosine, content_tfidf where none).

    Returns:
        ``recommendation_list`` columns plus related_title_id (the seed title) and
        country_code; context 'because_you_watched'.
    """
    w = Window.partitionBy("profile_id").orderBy(F.desc("last_ts"), "title_id")
    seed = train.withColumn("_r", F.row_number().over(w)).where(
        F.col("_r") <= s.lists.because_you_watched
    )
    seed = seed.select("profile_id", F.col("title_id").alias("src_title_id")).join(
        profiles.select("profile_id"), "profile_id"
    )
    e = edges.where(F.col("model").isin("item_cosine", "content_tfidf"))
    # item_cosine first; content only for seeds without co-viewing neighbours (cold items)
    has_cf = (
        e.where(F.col("model") == "item_cosine")
        .select("src_title_id")
        .distinct()
        .withColumn("_cf", F.lit(True))
    )
    e = e.join(has_cf, "src_title_id", "left").where(
        (F.col("model") == "item_cosine") | F.col("_cf").isNull()
    )
    cand = seed.join(e, "src_title_id").select(
        "profile_id",
        F.col("dst_title_id").alias("title_id"),
        "score",
        "model",
        F.col("src_title_id").alias("related_title_id"),
    )
    cand = lists.exclude_seen(cand, seen)
    ranked = ev.rank(cand, s.lists.size).withColumn(
        "rank_position", F.col("rank_position").cast("int")
    )
    best = F.max("score").over(Window.partitionBy("profile_id"))
    ranked = ranked.withColumn("score", F.when(best > 0, F.col("score") / best).otherwise(0.0))
    vmap = F.create_map(*[x for k, v in versions.items() for x in (F.lit(k), F.lit(v))])
    out = ranked.join(profiles.select("profile_id", "variant", "country_code"), "profile_id")
    return _cols(out, "because_you_watched", vmap, now, s)


def genre_lists(
    profiles: DataFrame,
    train: DataFrame,
    seen: DataFrame,
    popular: DataFrame,
    bridge: DataFrame,
    dim_genre: DataFrame,
    s: RecommendSettings,
    now: dt.datetime,
) -> DataFrame:
    """Popular unseen titles of each profile's top genres (bridge-weighted history).

    Returns:
        ``recommendation_list`` columns plus related_title_id (NULL) and country_code;
        context 'genre_<slug>'.
    """
    top = (
        train.join(bridge, "title_id")
        .groupBy("profile_id", "genre_key")
        .agg(F.sum("weight").alias("w"))
        .withColumn(
            "_r",
            F.row_number().over(Window.partitionBy("profile_id").orderBy(F.desc("w"), "genre_key")),
        )
        .where(F.col("_r") <= s.lists.genre_contexts)
        .select("profile_id", "genre_key")
    )
    glob = popular.where(F.col("country_code").isNull()).select("title_id", "score")
    cand = top.join(bridge.select("genre_key", "title_id"), "genre_key").join(glob, "title_id")
    cand = lists.exclude_seen(cand, seen).join(
        dim_genre.select("genre_key", "genre_slug"), "genre_key"
    )
    w = Window.partitionBy("profile_id", "genre_key").orderBy(F.desc("score"), "title_id")
    ranked = cand.withColumn("rank_position", F.row_number().over(w).cast("int")).where(
        F.col("rank_position") <= s.lists.size
    )
    ranked = ranked.withColumn("model", F.lit("popularity")).withColumn(
        "related_title_id", F.lit(None).cast("long")
    )
    vmap = F.create_map(F.lit("popularity"), F.lit("popularity"))
    out = ranked.join(profiles.select("profile_id", "variant", "country_code"), "profile_id")
    return _cols(out, F.concat(F.lit("genre_"), F.col("genre_slug")), vmap, now, s)
