"""Personalized lists: candidate scoring, cold start, seen-title exclusion, diversity.

A list is scored by a model (neighbourhood scores over the profile's history, or ALS),
titles already seen are removed, a per-genre cap re-ranks for diversity (at most
``max_per_genre`` titles sharing a primary genre, the rest keep their order below), and
ranks 1..N are assigned. Profiles with fewer than ``min_history_titles`` titles get the
popularity list of their country in the recent window (cold start).
"""

from __future__ import annotations

import datetime as dt

from pyspark.ml.recommendation import ALSModel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def neighbour_scores(
    history: DataFrame, edges: DataFrame, n: int, seen: DataFrame | None = None
) -> DataFrame:
    """Score titles by similarity to the profile's history (item-based kNN).

    score(u, j) = sum over watched i of weight(u, i) * sim(i, j).

    Args:
        history: profile_id, title_id, weight (> 0; e.g. 1, or confidence).
        edges: src_title_id, dst_title_id, score (one model).
        n: candidates kept per profile.
        seen: profile_id, title_id never to recommend, removed *before* the top ``n`` are
            kept (a long history's neighbours are mostly titles it already watched, so
            removing them afterwards can leave far fewer than ``n``). None: keep them.

    Returns:
        profile_id, title_id, score, related_title_id (the watched title contributing most:
        the "because you watched" explanation).
    """
    contrib = history.join(edges, history.title_id == edges.src_title_id).select(
        "profile_id",
        F.col("dst_title_id").alias("title_id"),
        F.col("src_title_id").alias("related_title_id"),
        (F.col("weight") * F.col("score")).alias("c"),
    )
    agg = contrib.groupBy("profile_id", "title_id").agg(
        F.sum("c").alias("score"),
        F.max_by("related_title_id", "c").alias("related_title_id"),
    )
    if seen is not None:
        agg = exclude_seen(agg, seen)
    return top_n(agg, n)


def top_n(scored: DataFrame, n: int, by: str = "score") -> DataFrame:
    """Keep the ``n`` best rows per profile (ties broken by title_id)."""
    w = Window.partitionBy("profile_id").orderBy(F.desc(by), "title_id")
    return scored.withColumn("_r", F.row_number().over(w)).where(F.col("_r") <= n).drop("_r")


def als_scores(
    model: ALSModel, users: DataFrame, items: DataFrame, profiles: DataFrame, n: int
) -> DataFrame:
    """ALS top-``n`` per profile (seen titles may be included: exclude them after).

    Args:
        model: the fitted ALS model of :func:`jobs.core.recommend.similarity.fit_als`.
        users: its user index (profile_id, uidx), from the same call.
        items: its item index (title_id, iidx), from the same call.
        profiles: profile_id to score.
        n: titles per profile.

    Returns:
        profile_id, title_id, score (predicted preference), related_title_id NULL.
    """
    subset = profiles.join(users, "profile_id").select("uidx")
    recs = model.recommendForUserSubset(subset, n)
    flat = recs.select("uidx", F.explode("recommendations").alias("r")).select(
        "uidx", F.col("r.iidx").alias("iidx"), F.col("r.rating").alias("score")
    )
    return (
        flat.join(users, "uidx")
        .join(items, "iidx")
        .select(
            "profile_id",
            "title_id",
            F.col("score").cast("double").alias("score"),
            F.lit(None).cast("long").alias("related_title_id"),
        )
    )


def popularity(
    train: DataFrame,
    profiles: DataFrame,
    as_of: dt.datetime,
    window_days: int | None,
    min_profiles: int,
) -> DataFrame:
    """Popular titles per country in the recent window (cold start and baseline).

    Popularity = distinct profiles that watched the title in ``[as_of - window_days, as_of)``.
    A country with fewer than ``min_profiles`` viewers in the window uses the global list.

    Args:
        train: profile_id, title_id, last_ts.
        profiles: profile_id, country_code.
        as_of: window end (UTC, exclusive).
        window_days: window length in days (None = all history).
        min_profiles: viewers a country needs in the window to get its own list.

    Returns:
        country_code (NULL = global), title_id, score (share of the country's viewers, 0..1).
    """
    rows = train
    if window_days:
        rows = rows.where(F.col("last_ts") >= F.lit(as_of - dt.timedelta(days=window_days)))
    rows = rows.where(F.col("last_ts") < F.lit(as_of)).join(profiles, "profile_id", "left")
    glob = rows.groupBy("title_id").agg(F.countDistinct("profile_id").alias("v"))
    total = rows.select(F.countDistinct("profile_id").alias("t"))
    g = glob.crossJoin(total).select(
        F.lit(None).cast("string").alias("country_code"),
        "title_id",
        (F.col("v") / F.col("t")).alias("score"),
    )
    viewers = (
        rows.groupBy("country_code")
        .agg(F.countDistinct("profile_id").alias("t"))
        .where(F.col("t") >= min_profiles)
    )
    per = (
        rows.groupBy("country_code", "title_id")
        .agg(F.countDistinct("profile_id").alias("v"))
        .join(viewers, "country_code")
    )
    c = per.select("country_code", "title_id", (F.col("v") / F.col("t")).alias("score"))
    return g.unionByName(c)


def cold_start_scores(profiles: DataFrame, popular: DataFrame, n: int) -> DataFrame:
    """The popularity list for each profile: its country's when there is one, else global.

    Args:
        profiles: profile_id, country_code.
        popular: :func:`popularity` rows.
        n: titles per profile.

    Returns:
        profile_id, title_id, score, related_title_id NULL.
    """
    countries = (
        popular.where(F.col("country_code").isNotNull())
        .select("country_code")
        .distinct()
        .withColumn("_has", F.lit(True))
    )
    p = profiles.join(countries, "country_code", "left").select(
        "profile_id", F.when(F.col("_has"), F.col("country_code")).alias("key")
    )
    joined = p.join(popular, p.key.eqNullSafe(popular.country_code)).select(
        "profile_id", "title_id", "score", F.lit(None).cast("long").alias("related_title_id")
    )
    return top_n(joined, n)


def exclude_seen(candidates: DataFrame, seen: DataFrame) -> DataFrame:
    """Drop candidates the profile has already seen (finished, or in Continue Watching).

    Args:
        candidates: profile_id, title_id, ...
        seen: profile_id, title_id.
    """
    return candidates.join(
        seen.select("profile_id", "title_id").distinct(), ["profile_id", "title_id"], "left_anti"
    )


def diversify(candidates: DataFrame, genres: DataFrame, max_per_genre: int, n: int) -> DataFrame:
    """Per-genre cap re-ranking, then ranks 1..n.

    Titles beyond the ``max_per_genre``-th of their primary genre move below every title
    within its cap (keeping their relative order); titles without a genre are never capped.
    ``max_per_genre = 0`` turns the cap off.

    Args:
        candidates: profile_id, title_id, score, ... (higher is better).
        genres: title_id, genre_key (primary genre, :func:`catalog.primary_genre`).
        max_per_genre: titles of one primary genre kept before the rest (0 = no cap).
        n: list length.

    Returns:
        The candidates' columns plus rank_position (1..n, no gaps) and score normalized to
        [0, 1] by the profile's best score.
    """
    g = candidates.join(genres, "title_id", "left")
    wg = Window.partitionBy("profile_id", "genre_key").orderBy(F.desc("score"), "title_id")
    capped = F.when(
        F.lit(max_per_genre > 0)
        & F.col("genre_key").isNotNull()
        & (F.row_number().over(wg) > max_per_genre),
        1,
    ).otherwise(0)
    g = g.withColumn("_over", capped)
    w = Window.partitionBy("profile_id").orderBy("_over", F.desc("score"), "title_id")
    ranked = g.withColumn("rank_position", F.row_number().over(w).cast("int")).where(
        F.col("rank_position") <= n
    )
    best = F.max(F.abs("score")).over(Window.partitionBy("profile_id"))
    norm = F.when(best > 0, F.greatest(F.lit(0.0), F.col("score") / best)).otherwise(F.lit(0.0))
    return ranked.withColumn("score", norm).drop("_over", "genre_key")


def intra_list_diversity(lists: DataFrame, bridge: DataFrame) -> DataFrame:
    """Intra-list diversity (Ziegler et al., WWW 2005): mean pairwise genre distance.

    Distance of two titles = 1 - Jaccard of their genre sets; pairs with an unknown genre
    set are skipped.

    Args:
        lists: profile_id, context, title_id.
        bridge: title_id, genre_key.

    Returns:
        profile_id, context, ild (0..1), pairs (pairs measured).
    """
    sets = bridge.groupBy("title_id").agg(F.collect_set("genre_key").alias("g"))
    x = lists.select("profile_id", "context", "title_id").join(sets, "title_id")
    a, b = x.alias("a"), x.alias("b")
    pairs = a.join(
        b,
        (F.col("a.profile_id") == F.col("b.profile_id"))
        & (F.col("a.context") == F.col("b.context"))
        & (F.col("a.title_id") < F.col("b.title_id")),
    )
    inter = F.size(F.array_intersect("a.g", "b.g"))
    union = F.size(F.array_union("a.g", "b.g"))
    return pairs.groupBy(
        F.col("a.profile_id").alias("profile_id"), F.col("a.context").alias("context")
    ).agg(F.avg(1.0 - inter / union).alias("ild"), F.count(F.lit(1)).alias("pairs"))


def current_lists(lists: DataFrame, now: dt.datetime) -> DataFrame:
    """``current_recommendations``: the newest unexpired generation per profile and context.

    Args:
        lists: ``recommendation_list`` rows.
        now: reference time (UTC); a generation with expires_at <= now is not current.
    """
    live = lists.where(F.col("expires_at") > F.lit(now))
    newest = F.max("generated_at").over(Window.partitionBy("profile_id", "context"))
    return live.withColumn("_g", newest).where(F.col("generated_at") == F.col("_g")).drop("_g")


def history_weights(train: DataFrame, tau: float) -> DataFrame:
    """Recency weights of a profile's titles: exp(-(n - 1) / tau) for the n-th newest.

    The next titles a member starts follow the recent ones far more than old ones
    (session-based item-kNN, Ludewig & Jannach, UMUAI 2018); tau = conf
    ``recommend.training.recency_tau_titles`` (0 = every title weighs 1).

    Args:
        train: profile_id, title_id, last_ts.
        tau: decay in titles (0 = every title weighs 1).

    Returns:
        profile_id, title_id, weight in (0, 1].
    """
    w = Window.partitionBy("profile_id").orderBy(F.desc("last_ts"), "title_id")
    n = F.row_number().over(w) - 1
    weight = F.exp(-n / F.lit(float(tau))) if tau > 0 else F.lit(1.0)
    return train.select("profile_id", "title_id", weight.alias("weight"))
