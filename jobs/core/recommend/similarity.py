"""Similarity models: item-item cosine over co-viewing, content TF-IDF, implicit ALS.

* ``item_cosine``: item-based collaborative filtering (Sarwar et al., WWW 2001) on the
  binary profile x title matrix: cos(i, j) = |U_i ∩ U_j| / sqrt(|U_i| |U_j|), shrunk by
  n / (n + shrink) for pairs seen by few profiles (Koren, KDD 2008).
* ``content_tfidf``: TF-IDF of the catalogue text (genres, director, cast, description)
  with ``pyspark.ml.feature`` (RegexTokenizer, StopWordsRemover, HashingTF, IDF,
  Normalizer), neighbours by ``BucketedRandomProjectionLSH`` on unit vectors, where
  cosine = 1 - d²/2. Gives neighbours to titles nobody co-viewed yet (cold items).
* ``als``: ``pyspark.ml.recommendation.ALS`` with ``implicitPrefs`` (Hu, Koren & Volinsky,
  ICDM 2008); item and user neighbours by cosine of the factors (LSH as above).

Inputs are ``training_interactions`` rows (profile_id, title_id, confidence); outputs are
``item_item_edge`` / ``user_user_edge`` / ``content_embedding`` columns without the
version columns, which the job adds.
"""

from __future__ import annotations

from pyspark.ml import Estimator, Pipeline, Transformer
from pyspark.ml.feature import (
    IDF,
    BucketedRandomProjectionLSH,
    HashingTF,
    Normalizer,
    RegexTokenizer,
    StopWordsRemover,
    Word2Vec,
)
from pyspark.ml.functions import array_to_vector, vector_to_array
from pyspark.ml.recommendation import ALS, ALSModel
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.core.runtime.config import AlsSettings, ContentSettings, ItemCosineSettings


def top_k(edges: DataFrame, src: str, k: int) -> DataFrame:
    """Keep the ``k`` highest-``score`` rows per ``src`` (ties by destination id)."""
    dst = "dst_title_id" if src == "src_title_id" else "dst_profile_id"
    w = Window.partitionBy(src).orderBy(F.desc("score"), dst)
    return edges.withColumn("_r", F.row_number().over(w)).where(F.col("_r") <= k).drop("_r")


def item_cosine_edges(train: DataFrame, s: ItemCosineSettings, max_titles: int) -> DataFrame:
    """Co-viewing cosine between titles.

    Args:
        train: profile_id, title_id, last_ts (one row per pair; binary: watched or not).
        s: k (neighbours kept), min_coviews, shrink.
        max_titles: newest titles per profile used for pairs (bounds the n² self-join).

    Returns:
        src_title_id, dst_title_id, score in (0, 1], model = 'item_cosine'; both directions.
    """
    w = Window.partitionBy("profile_id").orderBy(F.desc("last_ts"), "title_id")
    rows = (
        train.select("profile_id", "title_id", "last_ts")
        .withColumn("_r", F.row_number().over(w))
        .where(F.col("_r") <= max_titles)
        .select("profile_id", "title_id")
    )
    counts = rows.groupBy("title_id").agg(F.count(F.lit(1)).alias("n"))
    a, b = rows.alias("a"), rows.alias("b")
    pairs = (
        a.join(
            b,
            (F.col("a.profile_id") == F.col("b.profile_id"))
            & (F.col("a.title_id") != F.col("b.title_id")),
        )
        .groupBy(
            F.col("a.title_id").alias("src_title_id"), F.col("b.title_id").alias("dst_title_id")
        )
        .agg(F.count(F.lit(1)).alias("co"))
        .where(F.col("co") >= s.min_coviews)
    )
    ni = counts.select(F.col("title_id").alias("src_title_id"), F.col("n").alias("ni"))
    nj = counts.select(F.col("title_id").alias("dst_title_id"), F.col("n").alias("nj"))
    scored = (
        pairs.join(ni, "src_title_id")
        .join(nj, "dst_title_id")
        .select(
            "src_title_id",
            "dst_title_id",
            (
                F.col("co")
                / F.sqrt(F.col("ni") * F.col("nj"))
                * F.col("co")
                / (F.col("co") + F.lit(s.shrink))
            ).alias("score"),
        )
    )
    return top_k(scored, "src_title_id", s.k).withColumn("model", F.lit("item_cosine"))


def dense_index(df: DataFrame, column: str, index: str) -> DataFrame:
    """Distinct ``column`` values with a dense 0-based int ``index`` (ALS needs int ids)."""
    w = Window.orderBy(column)
    return df.select(column).distinct().withColumn(index, (F.row_number().over(w) - 1).cast("int"))


def fit_als(train: DataFrame, s: AlsSettings) -> tuple[ALSModel, DataFrame, DataFrame]:
    """Implicit-feedback ALS on ``confidence``.

    Args:
        train: profile_id, title_id, confidence (> 0).
        s: rank, reg_param, alpha, max_iter, seed.

    Returns:
        ``(model, users, items)`` where users = profile_id, uidx and items = title_id, iidx
        map the long ids to ALS's int ids.
    """
    users = dense_index(train, "profile_id", "uidx")
    items = dense_index(train, "title_id", "iidx")
    data = train.join(users, "profile_id").join(items, "title_id")
    als = ALS(
        rank=s.rank,
        regParam=s.reg_param,
        alpha=s.alpha,
        maxIter=s.max_iter,
        seed=s.seed,
        implicitPrefs=True,
        userCol="uidx",
        itemCol="iidx",
        ratingCol="confidence",
        coldStartStrategy="drop",
        nonnegative=False,
    )
    return als.fit(data), users.cache(), items.cache()


def _unit(df: DataFrame, id_col: str) -> DataFrame:
    vec = array_to_vector(F.col("features"))
    out = df.select(F.col(id_col).alias("id"), vec.alias("raw"))
    return Normalizer(inputCol="raw", outputCol="unit", p=2.0).transform(out).select("id", "unit")


def lsh_cosine_edges(
    vectors: DataFrame, k: int, bucket_length: float, max_distance: float
) -> DataFrame:
    """Approximate cosine neighbours of unit vectors with ``BucketedRandomProjectionLSH``.

    Args:
        vectors: id, unit (pyspark.ml Vector of L2 norm 1).
        k: neighbours kept per id.
        bucket_length: LSH bucket width.
        max_distance: Euclidean threshold; cosine = 1 - d²/2 (1.0 keeps cosine >= 0.5).

    Returns:
        src, dst, score (cosine), top ``k`` per src, src != dst.
    """
    lsh = BucketedRandomProjectionLSH(
        inputCol="unit", outputCol="h", bucketLength=bucket_length, numHashTables=3, seed=11
    )
    model = lsh.fit(vectors)
    joined = model.approxSimilarityJoin(vectors, vectors, max_distance, distCol="d")
    edges = joined.select(
        F.col("datasetA.id").alias("src_title_id"),
        F.col("datasetB.id").alias("dst_title_id"),
        (1.0 - F.col("d") * F.col("d") / 2.0).alias("score"),
    ).where(F.col("src_title_id") != F.col("dst_title_id"))
    return top_k(edges, "src_title_id", k)


def als_item_edges(model: ALSModel, items: DataFrame, s: AlsSettings) -> DataFrame:
    """Title neighbours by cosine of ALS item factors.

    Returns:
        src_title_id, dst_title_id, score in [-1, 1], model = 'als'.
    """
    f = model.itemFactors.join(items, model.itemFactors.id == items.iidx).select(
        "title_id", "features"
    )
    edges = lsh_cosine_edges(_unit(f, "title_id"), s.k, s.bucket_length, 1.0)
    return edges.withColumn("model", F.lit("als"))


def als_user_edges(model: ALSModel, users: DataFrame, s: AlsSettings) -> DataFrame:
    """Profile neighbours by cosine of ALS user factors.

    Returns:
        src_profile_id, dst_profile_id, score in [-1, 1], model = 'als'.
    """
    f = model.userFactors.join(users, model.userFactors.id == users.uidx).select(
        "profile_id", "features"
    )
    edges = lsh_cosine_edges(_unit(f, "profile_id"), s.k, s.bucket_length, 1.0)
    return edges.select(
        F.col("src_title_id").alias("src_profile_id"),
        F.col("dst_title_id").alias("dst_profile_id"),
        "score",
        F.lit("als").alias("model"),
    )


def content_text(titles: DataFrame) -> DataFrame:
    """One text per title: genres, director and cast names as single tokens, description.

    Args:
        titles: title_id, genres, director, cast (may be absent), description.

    Returns:
        title_id, text (lower case).
    """

    def names(c: str) -> F.Column:  # 'Bryan Cranston, Aaron Paul' -> 'bryan_cranston aaron_paul'
        if c not in titles.columns:
            return F.lit("")
        return F.regexp_replace(
            F.regexp_replace(F.coalesce(F.col(c), F.lit("")), r"\s+", "_"), r",_*", " "
        )

    text = F.concat_ws(
        " ", names("genres"), names("director"), names("cast"), F.coalesce("description", F.lit(""))
    )
    return titles.select("title_id", F.lower(text).alias("text"))


def content_features(texts: DataFrame, s: ContentSettings, embeddings: bool = True) -> DataFrame:
    """TF-IDF (HashingTF + IDF) unit vectors and Word2Vec embeddings of the titles' text.

    Args:
        texts: title_id, text (:func:`content_text`).
        s: num_features, embedding_size.
        embeddings: also fit Word2Vec (the ``content_embedding`` table); the neighbours
            need only the TF-IDF vectors, so the offline evaluation skips it.

    Returns:
        title_id, unit (L2-normalized TF-IDF vector) and, with ``embeddings``, embedding
        (array<float>, size ``s.embedding_size``).
    """
    stages: list[Estimator | Transformer] = [
        RegexTokenizer(inputCol="text", outputCol="tok", pattern=r"[^\w]+", minTokenLength=2),
        StopWordsRemover(inputCol="tok", outputCol="words"),
        HashingTF(inputCol="words", outputCol="tf", numFeatures=s.num_features),
        IDF(inputCol="tf", outputCol="tfidf", minDocFreq=1),
        Normalizer(inputCol="tfidf", outputCol="unit", p=2.0),
    ]
    if not embeddings:
        return Pipeline(stages=stages).fit(texts).transform(texts).select("title_id", "unit")
    w2v = Word2Vec(
        inputCol="words",
        outputCol="w2v",
        vectorSize=s.embedding_size,
        minCount=1,
        seed=5,
        maxIter=1,
    )
    out = Pipeline(stages=[*stages, w2v]).fit(texts).transform(texts)
    return out.select(
        "title_id", "unit", vector_to_array(F.col("w2v"), "float32").alias("embedding")
    )


def content_edges(features: DataFrame, s: ContentSettings) -> DataFrame:
    """Content neighbours (cosine of TF-IDF vectors, LSH join).

    Returns:
        src_title_id, dst_title_id, score in [0, 1], model = 'content_tfidf'.
    """
    vectors = features.select(F.col("title_id").alias("id"), "unit")
    return lsh_cosine_edges(vectors, s.k, 1.0, s.max_distance).withColumn(
        "model", F.lit("content_tfidf")
    )
