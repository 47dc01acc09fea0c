"""Catalogue side of recommendations: title matching, genres (multi-valued), seasons.

Genres follow Kimball's multi-valued dimension pattern (The Data Warehouse Toolkit, 3rd
ed., ch. 8 "bridge tables"): ``dim_genre`` holds one row per genre and
``title_genre_bridge`` one row per (title, genre) with a weighting factor 1/n so that
allocations over a title's genres sum to 1.

Titles match the public catalogue (English titles) by normalized name, and only when the
match is unique: a title in a member's language ("La casa de papel") matches nothing
unless the catalogue carries that name, so enrichment is best-effort and reported.
"""

from __future__ import annotations

import re
import unicodedata

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType

from jobs.core.ingest.netflix_export import normalize_name
from jobs.core.rules.ids import stable_id

# a lambda: Spark 4 tries to infer an Arrow UDF from the type hints of a named function
# and warns on every job start when they are strings (``from __future__ import annotations``)
normalize_udf = F.udf(lambda name: normalize_name(name), StringType())  # noqa: PLW0108


def slug(name: str) -> str:
    """``'International TV Shows'`` -> ``'international_tv_shows'`` (ASCII, for contexts)."""
    ascii_ = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "_", ascii_.lower()).strip("_")


def read_catalog_csv(spark: SparkSession, path: str) -> DataFrame:
    """netflix_titles.csv as ``catalog_title``-like columns plus ``cast``.

    Returns:
        show_id, catalog_type (Movie | TV Show), title, normalized_title, director, cast,
        genres (listed_in), description.
    """
    raw = (
        spark.read.option("header", True).option("multiLine", True).option("escape", '"').csv(path)
    )
    return raw.select(
        "show_id",
        F.col("type").alias("catalog_type"),
        "title",
        normalize_udf(F.col("title")).alias("normalized_title"),
        "director",
        "cast",
        F.col("listed_in").alias("genres"),
        "description",
    ).where(F.col("show_id").isNotNull() & F.col("title").isNotNull())


def match_titles(titles: DataFrame, catalog: DataFrame) -> DataFrame:
    """Unique catalogue match per title by normalized name (never a guess).

    Args:
        titles: title_id, normalized_title.
        catalog: show_id, normalized_title (``catalog_title`` or :func:`read_catalog_csv`).

    Returns:
        title_id, catalog_show_id for titles whose name matches exactly one catalogue row.
    """
    unique = (
        catalog.groupBy("normalized_title")
        .agg(F.count(F.lit(1)).alias("n"), F.first("show_id").alias("catalog_show_id"))
        .where("n = 1")
        .drop("n")
    )
    return titles.join(unique, "normalized_title").select("title_id", "catalog_show_id")


def _genres(catalog: DataFrame) -> DataFrame:
    return (
        catalog.select("show_id", F.explode(F.split(F.col("genres"), r",\s*")).alias("genre_name"))
        .where(F.length(F.trim("genre_name")) > 0)
        .withColumn("genre_name", F.trim("genre_name"))
    )


_slug_udf = F.udf(lambda name: slug(name), StringType())  # noqa: PLW0108 - see normalize_udf
_key_udf = F.udf(lambda s: stable_id("genre", s), LongType())


def genre_dimension(catalog: DataFrame) -> DataFrame:
    """``dim_genre``: one row per distinct listed_in genre of the catalogue.

    Returns:
        genre_key (stable hash of the slug), genre_name, genre_slug.
    """
    names = _genres(catalog).select("genre_name").distinct()
    with_slug = names.withColumn("genre_slug", _slug_udf("genre_name"))
    return with_slug.dropDuplicates(["genre_slug"]).select(
        _key_udf("genre_slug").alias("genre_key"), "genre_name", "genre_slug"
    )


def title_genre_bridge(matches: DataFrame, catalog: DataFrame) -> DataFrame:
    """``title_genre_bridge``: matched titles x their catalogue genres, weight 1/n.

    Args:
        matches: title_id, catalog_show_id (:func:`match_titles`).
        catalog: show_id, genres.

    Returns:
        title_id, genre_key, weight (sums to 1 per title), catalog_show_id.
    """
    g = _genres(catalog).withColumn("genre_key", _key_udf(_slug_udf("genre_name")))
    rows = (
        matches.join(g, matches.catalog_show_id == g.show_id)
        .select("title_id", "genre_key", "catalog_show_id")
        .dropDuplicates(["title_id", "genre_key"])
    )
    n = F.count(F.lit(1)).over(Window.partitionBy("title_id"))
    return rows.withColumn("weight", 1.0 / n).select(
        "title_id", "genre_key", "weight", "catalog_show_id"
    )


def primary_genre(bridge: DataFrame) -> DataFrame:
    """One genre per title for the diversity cap: the smallest genre_key (deterministic).

    Returns:
        title_id, genre_key.
    """
    return bridge.groupBy("title_id").agg(F.min("genre_key").alias("genre_key"))


def seasons(episodes: DataFrame) -> DataFrame:
    """``season`` rows from ``episode`` (title_id, season_number, season_label, episode_id).

    Returns:
        season_id (stable hash of title and season), title_id, season_number,
        season_label, episode_count (distinct episodes seen of that season).
    """
    key = F.coalesce(F.col("season_number").cast("string"), F.col("season_label"), F.lit(""))
    sid = F.udf(lambda t, k: stable_id("season", t, k), LongType())
    return (
        episodes.withColumn("_k", key)
        .groupBy("title_id", "_k")
        .agg(
            F.first("season_number", ignorenulls=True).alias("season_number"),
            F.first("season_label", ignorenulls=True).alias("season_label"),
            F.countDistinct("episode_id").alias("episode_count"),
        )
        .select(
            sid("title_id", "_k").alias("season_id"),
            "title_id",
            "season_number",
            "season_label",
            "episode_count",
        )
    )
