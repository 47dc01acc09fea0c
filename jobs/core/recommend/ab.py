"""A/B tests of recommendation models: stable assignment and a CTR report.

Assignment is deterministic: bucket = first 32 bits of SHA-256("experiment|profile_id") /
2³², mapped to variants by the cumulative split in conf ``recommend.ab.split``, so a
profile keeps its variant across runs and machines, and experiments are independent.

Report: an impression is a title shown in a generated list (one row of
``recommendation_list``); a conversion is a VIEW of that title by that profile in
``[generated_at, expires_at)``. CTR = conversions / impressions per variant, model and
version, with a Wilson 95 % interval (``scipy.stats.binomtest``), and the difference of
the two largest variants tested with Fisher's exact test (``scipy.stats.fisher_exact``).
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from scipy import stats


def bucket(profile_id: F.Column | str, experiment: str) -> F.Column:
    """Hash position in [0, 1) of a profile in an experiment (SHA-256, first 8 hex digits)."""
    key = F.concat_ws(
        "|", F.lit(experiment), F.col(profile_id) if isinstance(profile_id, str) else profile_id
    )
    return F.conv(F.substring(F.sha2(key, 256), 1, 8), 16, 10).cast("double") / float(2**32)


def assign_variants(
    profiles: DataFrame, experiment: str, split: dict[str, float], now: dt.datetime
) -> DataFrame:
    """Variant of every profile.

    Args:
        profiles: profile_id.
        experiment: experiment name (conf).
        split: ``{variant: share}`` summing to 1, in the order given.
        now: assignment time (UTC).

    Returns:
        ``ab_assignment`` columns: experiment, profile_id, variant, bucket, assigned_at.

    Raises:
        ValueError: the split is empty or does not sum to 1.
    """
    if not split or abs(sum(split.values()) - 1.0) > 1e-9:
        raise ValueError(f"A/B split must be non-empty and sum to 1, got {split}")
    b = bucket("profile_id", experiment)
    names = list(split)
    edge, expr = 0.0, None
    for name in names[:-1]:
        edge += split[name]
        expr = (
            F.when(F.col("bucket") < edge, name)
            if expr is None
            else expr.when(F.col("bucket") < edge, name)
        )
    variant = F.lit(names[-1]) if expr is None else expr.otherwise(names[-1])
    return (
        profiles.select("profile_id")
        .distinct()
        .withColumn("bucket", b)
        .select(
            F.lit(experiment).alias("experiment"),
            "profile_id",
            variant.alias("variant"),
            "bucket",
            F.lit(now).cast("timestamp").alias("assigned_at"),
        )
    )


def conversions(lists: DataFrame, interactions: DataFrame) -> DataFrame:
    """Impressions with a ``converted`` flag.

    Args:
        lists: ``recommendation_list`` rows (profile_id, title_id, variant, model,
            model_version, generated_at, expires_at, context).
        interactions: ``user_content_interaction`` rows; only VIEW counts.

    Returns:
        lists' columns plus converted (boolean): a VIEW of the title by the profile with
        generated_at <= event_ts < expires_at.
    """
    views = interactions.where(F.col("interaction_type") == "VIEW").select(
        "profile_id", "title_id", F.col("event_ts").alias("_ts")
    )
    imp = lists.withColumn("_imp", F.monotonically_increasing_id())
    hit = (
        imp.join(views, ["profile_id", "title_id"])
        .where((F.col("_ts") >= F.col("generated_at")) & (F.col("_ts") < F.col("expires_at")))
        .select("_imp")
        .distinct()
        .withColumn("converted", F.lit(True))
    )
    return imp.join(hit, "_imp", "left").fillna(False, ["converted"]).drop("_imp")


def ctr_table(impressions: DataFrame) -> DataFrame:
    """Impressions, conversions and CTR per variant, model and version.

    Returns:
        variant, model, model_version, impressions, conversions, ctr (0..1).
    """
    return (
        impressions.groupBy("variant", "model", "model_version")
        .agg(
            F.count(F.lit(1)).alias("impressions"),
            F.sum(F.col("converted").cast("long")).alias("conversions"),
        )
        .withColumn("ctr", F.col("conversions") / F.col("impressions"))
    )


def ab_report(ctr: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Add Wilson 95 % intervals and test the difference of the two largest variants.

    Args:
        ctr: rows of :func:`ctr_table` (pandas).

    Returns:
        (table with ci_low, ci_high, test dict: variants compared, odds ratio, Fisher p-value;
        empty dict when fewer than two variants have impressions).
    """
    t = ctr.copy()
    lo, hi = [], []
    for n, k in zip(t["impressions"], t["conversions"], strict=True):
        ci = stats.binomtest(int(k), int(n)).proportion_ci(0.95, method="wilson")
        lo.append(ci.low)
        hi.append(ci.high)
    t["ci_low"], t["ci_high"] = lo, hi
    by_variant = (
        t.groupby("variant")[["impressions", "conversions"]]
        .sum()
        .sort_values("impressions", ascending=False)
    )
    if len(by_variant) < 2:
        return t, {}
    (a, ra), (b, rb) = list(by_variant.iterrows())[:2]
    table = [
        [ra.conversions, ra.impressions - ra.conversions],
        [rb.conversions, rb.impressions - rb.conversions],
    ]
    odds, p = stats.fisher_exact(table)
    return t, {
        "variants": [a, b],
        "odds_ratio": float(odds),
        "p_value": float(p),
        "test": "Fisher exact, two-sided",
    }
