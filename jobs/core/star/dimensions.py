"""Dimension rows of the star schema: ``dim_users`` (SCD2), ``dim_movies``, ``dim_device``, ``dim_date``.

Pure transforms (``DataFrame -> DataFrame``); :mod:`jobs.core.star.build` reads the
sources and writes the results. Surrogate keys and the unknown member: :mod:`jobs.core.rules.keys`.

* ``dim_users``: one version per profile and period; a change of ``country_code``,
  ``maturity_setting`` or ``subscription_plan`` closes the current version and opens a new
  one (SCD type 2); a change of the other attributes updates the current version in place
  (SCD type 1).
* ``dim_movies``: every film and every episode, enriched from the public catalogue when
  the normalized title matches exactly one catalogue row of the same type (never a guess).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from jobs.core.ingest.netflix_export import normalize_name
from jobs.core.rules.keys import MAX_TS, MIN_TS, date_key, surrogate_key
from jobs.core.storage.delta import MergeSpec
from jobs.core.tables.registry import get_spec

# UN M49 continent of the ISO 3166 alpha-2 codes seen in the exports and their neighbours.
REGIONS = {
    **dict.fromkeys("US CA MX GT SV HN NI CR PA BZ CU DO HT JM PR TT BS BB".split(), "Americas"),
    **dict.fromkeys("AR BO BR CL CO EC GY PE PY SR UY VE".split(), "Americas"),
    **dict.fromkeys(
        "GB IE FR DE NL BE LU CH AT ES PT IT GR PL CZ SK HU RO BG HR SI RS BA ME MK AL "
        "DK NO SE FI IS EE LV LT UA BY MD RU MT CY".split(),
        "Europe",
    ),
    **dict.fromkeys(
        "KE NG ZA EG MA TN DZ GH ET UG TZ RW SN CI CM ZW ZM MW MZ BW NA AO".split(), "Africa"
    ),
    **dict.fromkeys(
        "KR JP CN HK TW MO SG MY TH VN PH ID IN PK BD LK NP AE SA QA KW BH OM IL JO LB TR "
        "KZ UZ".split(),
        "Asia",
    ),
    **dict.fromkeys("AU NZ FJ PG".split(), "Oceania"),
}


def region_of(country: Column) -> Column:
    """UN M49 continent of an ISO alpha-2 column (NULL when not in :data:`REGIONS`)."""
    mapping = F.create_map(*[F.lit(x) for kv in sorted(REGIONS.items()) for x in kv])
    return mapping[country]


def user_attributes(profiles: DataFrame, accounts: DataFrame) -> DataFrame:
    """Current attributes of every profile, as the source of ``dim_users``.

    Args:
        profiles: ``profile`` rows.
        accounts: ``account`` rows.

    Returns:
        profile_id, account_id, account_label, profile_name, maturity_setting,
        country_code, region, subscription_plan (NULL: no source has it yet).
    """
    return profiles.join(accounts, "account_id", "left").select(
        "profile_id",
        "account_id",
        "account_label",
        "profile_name",
        "maturity_setting",
        "country_code",
        region_of(F.col("country_code")).alias("region"),
        F.lit(None).cast("string").alias("subscription_plan"),
    )


SCD2_COLUMNS = ("country_code", "maturity_setting", "subscription_plan")
SCD1_COLUMNS = ("account_id", "account_label", "profile_name", "region")


def change_times(sessions: DataFrame) -> DataFrame:
    """When each profile was first seen in each country, among ``sessions``.

    Args:
        sessions: ``playback_session`` rows (the run's changed sessions).

    Returns:
        ``profile_id, country_code, effective_at`` (earliest ``started_at``, UTC): the
        ``effective`` input of :func:`scd2_changes`.
    """
    return (
        sessions.where(F.col("profile_id").isNotNull())
        .groupBy("profile_id", "country_code")
        .agg(F.min("started_at").alias("effective_at"))
    )


def _differs(columns: tuple[str, ...]) -> Column:
    """True when any of ``columns`` differs (NULL-safe) from its ``c_`` current value."""
    out = F.lit(False)
    for c in columns:
        out = out | ~F.col(c).eqNullSafe(F.col(f"c_{c}"))
    return out


def _against_current(current: DataFrame, source: DataFrame, effective: DataFrame) -> DataFrame:
    """Source rows beside their current version (``c_*``) and change times, with ``kind``.

    ``kind``: ``new`` (no current version), ``scd2`` (an SCD2 column differs), ``scd1``
    (only SCD1 columns differ); unchanged profiles are dropped. ``eff_c`` is the first
    changed session in the source's country, ``eff_any`` the first changed session.
    """
    cur = current.select(
        "profile_id",
        *[F.col(c).alias(f"c_{c}") for c in (*SCD2_COLUMNS, *SCD1_COLUMNS)],
        F.col("user_key").alias("c_user_key"),
        F.col("valid_from").alias("c_valid_from"),
    )
    eff_any = effective.groupBy("profile_id").agg(F.min("effective_at").alias("eff_any"))
    eff_country = effective.select(
        F.col("profile_id").alias("e_profile_id"),
        F.col("country_code").alias("e_country"),
        F.col("effective_at").alias("eff_c"),
    )
    j = (
        source.join(cur, "profile_id", "left")
        .join(eff_any, "profile_id", "left")
        .join(
            eff_country,
            (F.col("profile_id") == F.col("e_profile_id"))
            & (F.col("country_code") == F.col("e_country")),
            "left",
        )
    )
    kind = (
        F.when(F.col("c_user_key").isNull(), "new")
        .when(_differs(SCD2_COLUMNS), "scd2")
        .when(_differs(SCD1_COLUMNS), "scd1")
    )
    return j.withColumn("kind", kind).where(F.col("kind").isNotNull())


def scd2_changes(
    current: DataFrame, source: DataFrame, effective: DataFrame, as_of: dt.datetime
) -> DataFrame:
    """Merge source rows for ``dim_users`` (SCD2), with a ``merge_key`` column.

    Args:
        current: the current rows of ``dim_users`` (``is_current``, unknown member excluded).
        source: :func:`user_attributes`.
        effective: ``profile_id, country_code, effective_at``: the earliest start of the
            run's changed sessions per profile and country; a change is dated at the
            first new session in the new country, else the first new session, else
            ``as_of``; never before the version it replaces.
        as_of: the run's reference time (UTC).

    Returns:
        Rows with every ``dim_users`` column plus ``merge_key``: a new profile is one
        insert (``valid_from`` 1900-01-01); an SCD2 change closes the current row
        (``merge_key`` = its ``user_key``) and inserts a version (``merge_key`` NULL); an
        SCD1-only change updates the current row in place. Unchanged profiles give nothing.
    """
    j = _against_current(current, source, effective)
    when_eff = F.greatest(
        F.coalesce(F.col("eff_c"), F.col("eff_any"), F.lit(as_of)),
        F.col("c_valid_from") + F.expr("INTERVAL 1 SECOND"),
    )
    attrs = [F.col(c) for c in ("profile_id", *SCD1_COLUMNS, *SCD2_COLUMNS)]
    inserts_new = j.where(F.col("kind") == "new")
    inserts_new = inserts_new.select(
        F.lit(None).cast("long").alias("merge_key"),
        *attrs,
        F.lit(MIN_TS).alias("valid_from"),
        F.lit(MAX_TS).alias("valid_to"),
        F.lit(True).alias("is_current"),
    )
    changed = j.where(F.col("kind") == "scd2")
    inserts_v = changed.select(
        F.lit(None).cast("long").alias("merge_key"),
        *attrs,
        when_eff.alias("valid_from"),
        F.lit(MAX_TS).alias("valid_to"),
        F.lit(True).alias("is_current"),
    )
    closes = changed.select(
        F.col("c_user_key").alias("merge_key"),
        F.col("profile_id"),
        *[F.col(f"c_{c}").alias(c) for c in (*SCD1_COLUMNS, *SCD2_COLUMNS)],
        F.col("c_valid_from").alias("valid_from"),
        when_eff.alias("valid_to"),
        F.lit(False).alias("is_current"),
    )
    scd1 = j.where(F.col("kind") == "scd1").select(
        F.col("c_user_key").alias("merge_key"),
        *attrs,
        F.col("c_valid_from").alias("valid_from"),
        F.lit(MAX_TS).alias("valid_to"),
        F.lit(True).alias("is_current"),
    )
    out = inserts_new.unionByName(inserts_v).unionByName(closes).unionByName(scd1)
    return out.withColumn(
        "user_key",
        F.coalesce(F.col("merge_key"), surrogate_key("user", "profile_id", "valid_from")),
    )


USERS_MERGE = MergeSpec(
    on="t.user_key = s.merge_key",
    update={
        "valid_to": "s.valid_to",
        "is_current": "s.is_current",
        "account_id": "s.account_id",
        "account_label": "s.account_label",
        "profile_name": "s.profile_name",
        "region": "s.region",
    },
    insert={c: f"s.{c}" for c in get_spec("dim_users").columns},
)


def normalized_titles(spark: SparkSession, titles: DataFrame) -> DataFrame:
    """``title_id, normalized_title`` with :func:`normalize_name` (Python, on the driver)."""
    rows = [(r.title_id, normalize_name(r.title_name)) for r in titles.collect()]
    schema = StructType(
        [StructField("title_id", LongType()), StructField("normalized_title", StringType())]
    )
    return spark.createDataFrame(rows, schema)


def catalog_matches(titles: DataFrame, normalized: DataFrame, catalog: DataFrame) -> DataFrame:
    """One catalogue row per film/series title when the match is unique, never a guess.

    Args:
        titles: ``title`` rows (title_id, title_type).
        normalized: ``title_id, normalized_title``.
        catalog: ``catalog_title`` rows.

    Returns:
        ``title_id, catalog_match`` (matched / ambiguous / unmatched) and the catalogue
        columns ``catalog_show_id, genres, release_year, rating, catalog_runtime_sec,
        number_of_seasons`` (NULL unless matched). A film matches a ``Movie``, a series a
        ``TV Show`` with the same normalized title; two such rows make it ambiguous.
    """
    cat = catalog.select(
        F.when(F.col("catalog_type") == "Movie", "FILM").otherwise("SERIES").alias("title_type"),
        "normalized_title",
        F.col("show_id").alias("catalog_show_id"),
        "genres",
        "release_year",
        "rating",
        F.col("runtime_sec").alias("catalog_runtime_sec"),
        "number_of_seasons",
    )
    counts = cat.groupBy("title_type", "normalized_title").agg(F.count(F.lit(1)).alias("n"))
    unique = cat.join(counts.where("n = 1"), ["title_type", "normalized_title"]).drop("n")
    base = (
        titles.where(F.col("title_type").isin("FILM", "SERIES"))
        .select("title_id", "title_type")
        .join(normalized, "title_id")
    )
    out = base.join(unique, ["title_type", "normalized_title"], "left").join(
        counts.where("n > 1").select("title_type", "normalized_title", F.lit(True).alias("amb")),
        ["title_type", "normalized_title"],
        "left",
    )
    return out.select(
        "title_id",
        F.when(F.col("catalog_show_id").isNotNull(), "matched")
        .when(F.col("amb"), "ambiguous")
        .otherwise("unmatched")
        .alias("catalog_match"),
        "catalog_show_id",
        "genres",
        "release_year",
        "rating",
        "catalog_runtime_sec",
        "number_of_seasons",
    )


def observed_runtimes(sessions: DataFrame, episodes: DataFrame, min_episodes: int) -> DataFrame:
    """An estimate of each item's length from the positions seen, for unknown runtimes.

    Args:
        sessions: ``playback_session`` rows.
        episodes: ``episode`` rows.
        min_episodes: series with at least this many observed episodes lend their median
            episode length to each episode (so one partial viewing is not taken for the
            whole episode).

    Returns:
        ``content_key, observed_runtime_sec``: the highest end position seen for the item
        (all profiles), for episodes at least the series' median.
    """
    per_item = (
        sessions.where(~F.coalesce(F.col("is_supplemental"), F.lit(False)))
        .groupBy(F.coalesce("episode_id", "title_id").alias("content_key"))
        .agg(F.max("last_position_sec").alias("max_pos"))
        .where(F.col("max_pos") > 0)
    )
    ep = episodes.select(F.col("episode_id").alias("content_key"), "title_id")
    series = (
        per_item.join(ep, "content_key")
        .groupBy("title_id")
        .agg(
            F.percentile_approx("max_pos", 0.5).alias("median_pos"),
            F.count(F.lit(1)).alias("n"),
        )
        .where(F.col("n") >= min_episodes)
    )
    return (
        per_item.join(ep, "content_key", "left")
        .join(series, "title_id", "left")
        .select(
            "content_key",
            F.greatest("max_pos", F.coalesce("median_pos", "max_pos"))
            .cast("int")
            .alias("observed_runtime_sec"),
        )
    )


def movie_rows(
    titles: DataFrame,
    episodes: DataFrame,
    matches: DataFrame,
    observed: DataFrame,
) -> DataFrame:
    """``dim_movies`` rows: every film and every episode, enriched.

    Runtime: the source's (title/episode ``runtime_sec``), else the catalogue's (films),
    else the observed estimate (:func:`observed_runtimes`); ``runtime_source`` says which.
    """
    t = titles.join(matches, "title_id", "left")
    films = t.where(F.col("title_type") == "FILM").select(
        F.col("title_id").alias("content_key"),
        "title_id",
        F.lit(None).cast("long").alias("episode_id"),
        F.lit("MOVIE").alias("content_type"),
        "title_name",
        F.lit(None).cast("int").alias("season_number"),
        F.lit(None).cast("int").alias("episode_number"),
        F.lit(None).cast("string").alias("episode_title"),
        "genres",
        "release_year",
        "rating",
        "number_of_seasons",
        F.col("runtime_sec").alias("src_runtime"),
        "catalog_runtime_sec",
        "catalog_show_id",
        "catalog_match",
    )
    eps = (
        episodes.alias("e")
        .join(t.alias("t"), "title_id", "left")
        .select(
            F.col("e.episode_id").alias("content_key"),
            "title_id",
            F.col("e.episode_id").alias("episode_id"),
            F.lit("EPISODE").alias("content_type"),
            F.col("t.title_name").alias("title_name"),
            "e.season_number",
            "e.episode_number",
            "e.episode_title",
            "t.genres",
            "t.release_year",
            "t.rating",
            "t.number_of_seasons",
            F.col("e.runtime_sec").alias("src_runtime"),
            F.lit(None).cast("int").alias("catalog_runtime_sec"),
            "t.catalog_show_id",
            F.coalesce(F.col("t.catalog_match"), F.lit("unmatched")).alias("catalog_match"),
        )
    )
    items = films.unionByName(eps).join(observed, "content_key", "left")
    return items.select(
        surrogate_key("movie", "content_key").alias("movie_key"),
        "content_key",
        "title_id",
        "episode_id",
        "content_type",
        "title_name",
        "season_number",
        "episode_number",
        "episode_title",
        "genres",
        "release_year",
        "rating",
        "number_of_seasons",
        F.coalesce("src_runtime", "catalog_runtime_sec", "observed_runtime_sec").alias(
            "runtime_sec"
        ),
        F.when(F.col("src_runtime").isNotNull(), "source")
        .when(F.col("catalog_runtime_sec").isNotNull(), "catalog")
        .when(F.col("observed_runtime_sec").isNotNull(), "observed")
        .alias("runtime_source"),
        "catalog_show_id",
        F.coalesce(F.col("catalog_match"), F.lit("unmatched")).alias("catalog_match"),
    )


def match_report(matches: DataFrame) -> dict[str, Any]:
    """Counts of matched / ambiguous / unmatched titles and the match rate."""
    counts = {
        r.catalog_match: r.n
        for r in matches.groupBy("catalog_match").agg(F.count(F.lit(1)).alias("n")).collect()
    }
    total = sum(counts.values())
    return {
        **counts,
        "titles": total,
        "match_rate": round(counts.get("matched", 0) / total, 4) if total else None,
    }


def device_rows(devices: DataFrame) -> DataFrame:
    """``dim_device`` rows from ``device``."""
    return devices.select(
        surrogate_key("device", "device_id").alias("device_key"),
        "device_id",
        "account_id",
        "device_type",
        "device_model",
    )


def date_rows(sessions: DataFrame) -> DataFrame:
    """``dim_date`` rows: every UTC day from the first to the last session start."""
    bounds = sessions.agg(
        F.to_date(F.min("started_at")).alias("lo"), F.to_date(F.max("started_at")).alias("hi")
    ).where(F.col("lo").isNotNull())
    days = bounds.select(F.explode(F.sequence("lo", "hi")).alias("date"))
    return days.select(
        date_key("date").alias("date_key"),
        "date",
        F.dayofmonth("date").alias("day"),
        F.weekofyear("date").alias("week"),
        F.month("date").alias("month"),
        F.year("date").alias("year"),
        F.date_format("date", "EEE").alias("weekday"),
        F.dayofweek("date").isin(1, 7).alias("is_weekend"),
    )
