"""Viewing statistics: ``viewing_statistics`` per profile, period and breakdown."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

ALL_START = dt.date(1970, 1, 1)


def viewing_statistics(sessions: DataFrame) -> DataFrame:
    """``viewing_statistics``: per profile, period and breakdown value.

    Periods by the UTC date of session start: ``week`` (starting Monday), ``month``,
    ``year`` and ``all`` (period_start 1970-01-01). Breakdowns: ``total`` ('all'),
    ``content_type``, ``genre`` (each genre of a title; 'unknown' when unmatched) and
    ``device_type``.
    """
    d = F.to_date("started_at")

    def pair(k1: str, v1: Column, k2: str, v2: Column) -> Column:
        return F.named_struct(F.lit(k1), v1, F.lit(k2), v2)

    periods = F.array(
        pair("period", F.lit("week"), "ps", F.date_trunc("week", d).cast("date")),
        pair("period", F.lit("month"), "ps", F.trunc(d, "month")),
        pair("period", F.lit("year"), "ps", F.trunc(d, "year")),
        pair("period", F.lit("all"), "ps", F.lit(ALL_START)),
    )
    genres = F.when(F.col("genres").isNull(), F.array(F.lit("unknown"))).otherwise(
        F.split(F.col("genres"), r"\s*,\s*")
    )
    breakdowns = F.concat(
        F.array(pair("b", F.lit("total"), "v", F.lit("all"))),
        F.array(pair("b", F.lit("content_type"), "v", F.col("content_type"))),
        F.transform(genres, lambda g: pair("b", F.lit("genre"), "v", g)),
        F.array(pair("b", F.lit("device_type"), "v", F.coalesce("device_type", F.lit("other")))),
    )
    rows = sessions.select(
        "profile_id",
        "content_key",
        "is_finished",
        "watch_seconds",
        breakdowns.alias("xs"),
        F.explode(periods).alias("p"),
    ).select("*", F.explode("xs").alias("x"))
    return rows.groupBy(
        "profile_id",
        F.col("p.period").alias("period"),
        F.col("p.ps").alias("period_start"),
        F.col("x.b").alias("breakdown"),
        F.col("x.v").alias("breakdown_value"),
    ).agg(
        F.countDistinct("content_key").alias("items_watched"),
        F.countDistinct(F.when(F.col("is_finished"), F.col("content_key"))).alias(
            "items_completed"
        ),
        F.round(F.sum("watch_seconds") / 3600.0, 2).alias("watch_hours"),
    )
