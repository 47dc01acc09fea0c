"""Explanations: why each title of a list is there.

* ``because_you_watched``: the watched title contributing most to a neighbourhood score
  (or, for ALS, the watched title most similar to it in the ALS item graph);
* ``similar_to``: the seed title of a "because you watched X" row;
* ``popular``: popularity lists (cold start, or no related title found).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def related_titles(lists: DataFrame, history: DataFrame, edges: DataFrame) -> DataFrame:
    """Fill a missing related_title_id with the most similar watched title.

    Args:
        lists: profile_id, title_id, related_title_id (may be NULL), ...
        history: profile_id, title_id (watched).
        edges: src_title_id, dst_title_id, score (any model's item graph).

    Returns:
        lists with related_title_id set where a watched title links to the recommended one.
    """
    h = history.select("profile_id", F.col("title_id").alias("src_title_id"))
    best = (
        h.join(edges, "src_title_id")
        .groupBy("profile_id", F.col("dst_title_id").alias("title_id"))
        .agg(F.max_by("src_title_id", "score").alias("_rel"))
    )
    return (
        lists.join(best, ["profile_id", "title_id"], "left")
        .withColumn("related_title_id", F.coalesce("related_title_id", "_rel"))
        .drop("_rel")
    )


def explain(lists: DataFrame, titles: DataFrame) -> DataFrame:
    """``recommendation_explanation`` rows for generated lists.

    Args:
        lists: profile_id, context, generated_at, title_id, model, related_title_id,
            country_code (may be NULL).
        titles: title_id, title_name.

    Returns:
        profile_id, context, generated_at, title_id, explanation_type, text,
        related_title_id. Text examples: 'Because you watched Narcos',
        'Similar to Narcos', 'Popular in GT right now', 'Popular right now'.
    """
    names = titles.select(
        F.col("title_id").alias("related_title_id"), F.col("title_name").alias("_rel_name")
    )
    x = lists.join(names, "related_title_id", "left")
    popular = (
        (F.col("model") == "popularity")
        | F.col("related_title_id").isNull()
        | F.col("_rel_name").isNull()
    )
    kind = (
        F.when(popular, "popular")
        .when(F.col("context") == "because_you_watched", "similar_to")
        .otherwise("because_you_watched")
    )
    where = F.when(
        F.col("country_code").isNotNull(), F.concat(F.lit(" in "), F.col("country_code"))
    ).otherwise("")
    text = (
        F.when(kind == "popular", F.concat(F.lit("Popular"), where, F.lit(" right now")))
        .when(kind == "similar_to", F.concat(F.lit("Similar to "), F.col("_rel_name")))
        .otherwise(F.concat(F.lit("Because you watched "), F.col("_rel_name")))
    )
    return x.select(
        "profile_id",
        "context",
        "generated_at",
        "title_id",
        kind.alias("explanation_type"),
        text.alias("text"),
        F.when(kind == "popular", F.lit(None).cast("long"))
        .otherwise(F.col("related_title_id"))
        .alias("related_title_id"),
    )
