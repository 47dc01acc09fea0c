"""Star schema and marts from the playback tables (issue #3, section 1).

    profile + account ──▶ dim_users   (SCD2 on country_code, maturity_setting, subscription_plan)
    title + episode + catalog_title ──▶ dim_movies (film or episode; catalogue by normalized title)
    device ──▶ dim_device          sessions' dates ──▶ dim_date
    playback_session + playback_event ──▶ fact_watch_history (one row per non-supplemental session)
    fact + dims ──▶ last_10_movies, history_90_days, content_type_preference,
                    region_login, daily_watch_minutes

Keys: every dimension has a deterministic surrogate key (a 63-bit ``xxhash64`` of the
natural key, and of ``valid_from`` for ``dim_users``) and an unknown member ``-1``, so a
fact never drops a row and a rebuild gives the same keys.

Incremental and idempotent: ``build_state`` records the version of every source table a
run has processed. A run reads ``playback_session`` at that version and now, and only
the sessions that differ (new, or with new events), plus the sessions of profiles that got
a new ``dim_users`` version and of items whose ``dim_movies`` row changed, are
recomputed and merged on ``session_id``. Every write goes through :func:`sync_table`,
which writes only rows that differ from the table, so a rerun with nothing new commits
nothing (no new Delta version). Marts are recomputed from the fact (small: one row per
session) and likewise written only where they changed.

watch_seconds is playback time from events, not wall time: the sum, over consecutive
events of a session, of the time from an event to the next one, counted when the first
is not ``PAUSE``, ``END`` or ``ERROR``. For the importer's sessions that is END time −
PLAY time, the export's Duration.

Thresholds (``activity:`` in ``conf/base.yaml``): an item is finished when its progress is at least
``watched_pct`` (90%) of the runtime, or its END lands within the last ``end_tail_pct``
(5%) of it.

Usage::

    python -m jobs.build_star_schema                       # as of now
    python -m jobs.build_star_schema --as-of latest  # old exports: as of the newest session
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import time
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.core.cli import job_parser, run
from jobs.core.config import ActivitySettings, Config
from jobs.core.delta import DeltaEngine, MergeSpec, TableNotFoundError, get_engine
from jobs.core.tables import get_spec
from jobs.core.tables_star import (
    ACTIVITY_TABLES,
    BUILD_STATE,
    CATALOG_TITLE,
    MART_TABLES,
    STAR_TABLES,
    UNKNOWN_KEY,
)

log = logging.getLogger("build_star_schema")

JOB = "build_star_schema"
MIN_TS = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
MAX_TS = dt.datetime(9999, 12, 31, tzinfo=dt.UTC)
_MASK = 0x7FFF_FFFF_FFFF_FFFF
NOT_PLAYING = ("PAUSE", "END", "ERROR")
SOURCES = ("playback_session", "profile", "account", "device", "title", "episode", "catalog_title")

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


# ======================================================================================
# shared helpers (also used by build_viewing_activity and query)
# ======================================================================================
def surrogate_key(kind: str, *cols: Column | str) -> Column:
    """Deterministic non-negative 63-bit surrogate key: ``xxhash64(kind, cols) & 2^63-1``."""
    return F.xxhash64(F.lit(kind), *cols).bitwiseAND(F.lit(_MASK))


def date_key(ts: Column | str) -> Column:
    """``yyyymmdd`` INT of a timestamp's UTC date; ``-1`` when NULL."""
    c = F.col(ts) if isinstance(ts, str) else ts
    return F.coalesce(F.date_format(c, "yyyyMMdd").cast("int"), F.lit(UNKNOWN_KEY))


def finished(
    progress_pct: Column, end_pos: Column, runtime: Column, has_end: Column, s: ActivitySettings
) -> Column:
    """The watched rule: progress >= ``watched_pct`` or END within the last ``end_tail_pct``.

    Both need a known runtime (> 0); with the default thresholds the second is implied by
    the first, but each stays configurable.
    """
    tail = has_end & (end_pos >= runtime * F.lit(1 - s.end_tail_pct / 100.0))
    return F.coalesce((runtime > 0) & ((progress_pct >= F.lit(s.watched_pct)) | tail), F.lit(False))


def conform(df: DataFrame, table: str) -> DataFrame:
    """``df`` with exactly the declared columns of ``table``, cast to their types.

    Raises:
        ValueError: ``df`` lacks a declared column.
    """
    spec = get_spec(table)
    missing = [c for c in spec.columns if c not in df.columns]
    if missing:
        raise ValueError(f"rows for {table!r} lack columns {missing}")
    return df.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in spec.schema.fields])


def sync_table(
    engine: DeltaEngine,
    table: str,
    rows: DataFrame,
    complete: bool = True,
    collect_changed: str | None = None,
) -> dict[str, Any]:
    """Make ``table`` hold ``rows``, writing only what differs (nothing when equal).

    Rows new or changed (by value) are merged on the table's key; when ``complete`` the
    table's rows whose key is absent from ``rows`` are removed (the table is then
    overwritten in one commit, which stays cheap for marts and dimensions).

    Args:
        engine: the Delta engine.
        table: a registered table; its key columns must be non-NULL in ``rows``.
        rows: the desired rows (all of them when ``complete``, else a subset to upsert).
        complete: whether ``rows`` is the whole table.
        collect_changed: a column whose values among the upserted rows are returned
            under ``"changed"`` (for small tables: the keys that changed).

    Returns:
        ``{"upserted": n, "deleted": n, "version": v}`` (plus ``"changed"``); no commit
        when both counts are 0.
    """
    start = time.monotonic()
    spec = get_spec(table)
    new = conform(rows, table).persist()
    old = engine.read(table)
    changed = new.exceptAll(old).persist()
    # one Spark job counts both the changed rows and the keys that disappeared
    marks = changed.select(
        F.lit(1).alias("u"), F.lit(0).alias("d"), F.col(collect_changed or spec.key[0]).alias("k")
    )
    if complete:
        gone = old.select(*spec.key).exceptAll(new.select(*spec.key))
        marks = marks.unionByName(
            gone.select(F.lit(0).alias("u"), F.lit(1).alias("d"), F.col(spec.key[0]).alias("k"))
        )
    if collect_changed:
        found = marks.collect()
        changed_values = [r.k for r in found if r.u]
        upserted, deleted = len(changed_values), sum(r.d for r in found)
    else:
        changed_values = None
        counts = marks.agg(F.sum("u").alias("u"), F.sum("d").alias("d")).first()
        upserted, deleted = int(counts.u or 0), int(counts.d or 0)
    if deleted:
        engine.overwrite(table, new)
    elif upserted:
        on = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
        engine.merge(table, changed, MergeSpec(on=on))
    changed.unpersist()
    new.unpersist()
    out: dict[str, Any] = {
        "upserted": upserted,
        "deleted": deleted,
        "version": engine.version(table),
    }
    log.info("%s: %s (%.1fs)", table, out, time.monotonic() - start)
    if changed_values is not None:
        out["changed"] = changed_values
    return out


def row_counts(engine: DeltaEngine, tables: list[str]) -> dict[str, int]:
    """Row count of each table, in one Spark job."""
    parts = [engine.read(t).select(F.lit(t).alias("t")) for t in tables]
    union = parts[0]
    for part in parts[1:]:
        union = union.unionByName(part)
    found = {r.t: r.n for r in union.groupBy("t").agg(F.count(F.lit(1)).alias("n")).collect()}
    return {t: int(found.get(t, 0)) for t in tables}


def read_marks(engine: DeltaEngine, job: str) -> dict[str, tuple[int, dt.date | None]]:
    """``{source_table: (version, as_of_date)}`` processed by ``job`` (empty on a first run)."""
    engine.create(BUILD_STATE)
    rows = engine.read("build_state").where(F.col("job") == job).collect()
    return {r.source_table: (int(r.source_version), r.as_of_date) for r in rows}


def write_marks(
    engine: DeltaEngine,
    job: str,
    versions: dict[str, int],
    as_of: dt.date,
    old: dict[str, tuple[int, dt.date | None]] | None = None,
) -> None:
    """Record the processed source versions of ``job`` (one merge; none when unchanged).

    ``old`` is what :func:`read_marks` returned at the start of the run (read again when
    not given).
    """
    old = read_marks(engine, job) if old is None else old
    now = dt.datetime.now(dt.UTC)
    rows = [(job, t, v, as_of, now) for t, v in versions.items() if old.get(t) != (v, as_of)]
    if rows:
        df = engine.spark.createDataFrame(rows, BUILD_STATE.schema)
        engine.merge(
            "build_state", df, MergeSpec(on="t.job = s.job AND t.source_table = s.source_table")
        )


def source_versions(engine: DeltaEngine, tables: tuple[str, ...]) -> dict[str, int]:
    """Current version of each existing table in ``tables`` (missing tables left out)."""
    return {t: engine.version(t) for t in tables if engine.exists(t)}


def latest_start(df: DataFrame) -> dt.datetime | None:
    """Newest ``started_at`` of ``df`` as an aware UTC datetime (None when empty).

    Formatted by Spark in its session time zone (UTC), so the Python process's own time
    zone does not shift it.
    """
    text = df.agg(F.date_format(F.max("started_at"), "yyyy-MM-dd'T'HH:mm:ss")).first()[0]
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC) if text else None


def resolve_as_of(value: str | None, latest: Any) -> dt.datetime:
    """The run's reference time from ``--as-of`` (``None``/``now``, ``latest`` or ISO).

    Args:
        value: the option.
        latest: newest session start in the data, used for ``latest`` (falls back to now).

    Raises:
        ValueError: not ISO-8601.
    """
    if value in (None, "now"):
        return dt.datetime.now(dt.UTC)
    if value == "latest":
        return latest or dt.datetime.now(dt.UTC)
    out = dt.datetime.fromisoformat(value)
    return out if out.tzinfo else out.replace(tzinfo=dt.UTC)


# ======================================================================================
# dimensions
# ======================================================================================
def region_of(country: Column) -> Column:
    """UN M49 continent of an ISO alpha-2 column (NULL when not in :data:`REGIONS`)."""
    mapping = F.create_map(*[F.lit(x) for kv in sorted(REGIONS.items()) for x in kv])
    return mapping[country]


def user_attributes(profiles: DataFrame, accounts: DataFrame) -> DataFrame:
    """Current attributes of every profile, as the source of ``dim_users``.

    Args:
        profiles: ``profile`` rows; accounts: ``account`` rows.

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
    scd2_diff = F.lit(False)
    for c in SCD2_COLUMNS:
        scd2_diff = scd2_diff | ~F.col(c).eqNullSafe(F.col(f"c_{c}"))
    scd1_diff = F.lit(False)
    for c in SCD1_COLUMNS:
        scd1_diff = scd1_diff | ~F.col(c).eqNullSafe(F.col(f"c_{c}"))
    is_new = F.col("c_user_key").isNull()
    when_eff = F.greatest(
        F.coalesce(F.col("eff_c"), F.col("eff_any"), F.lit(as_of)),
        F.col("c_valid_from") + F.expr("INTERVAL 1 SECOND"),
    )
    j = j.withColumn(
        "kind",
        F.when(is_new, "new").when(scd2_diff, "scd2").when(scd1_diff, "scd1"),
    ).where(F.col("kind").isNotNull())
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


def unknown_rows(spark: SparkSession, table: str) -> DataFrame:
    """The unknown member (key ``-1``) of a dimension, as one row of its schema."""
    spec = get_spec(table)
    values: dict[str, Any] = {f.name: None for f in spec.schema.fields}
    key = spec.key[0]
    values[key] = UNKNOWN_KEY
    text = {
        "dim_users": {
            "profile_name": "unknown",
            "valid_from": MIN_TS,
            "valid_to": MAX_TS,
            "is_current": True,
        },
        "dim_movies": {
            "content_type": "UNKNOWN",
            "title_name": "unknown",
            "catalog_match": "unmatched",
        },
        "dim_device": {"device_type": "other", "device_model": "unknown"},
        "dim_date": {"weekday": "unknown", "is_weekend": False},
    }[table]
    values.update(text)
    return spark.createDataFrame([tuple(values[c] for c in spec.columns)], spec.schema)


def ensure_unknown_members(engine: DeltaEngine) -> None:
    """Append the ``-1`` member to each dimension just created (still at version 0).

    Later syncs keep it: ``dim_movies`` and ``dim_device`` are synced with it included,
    ``dim_users`` and ``dim_date`` only receive upserts.
    """
    for table in ("dim_users", "dim_movies", "dim_device", "dim_date"):
        if engine.version(table) == 0:
            engine.append(table, unknown_rows(engine.spark, table))


def build_dim_users(engine: DeltaEngine, effective: DataFrame, as_of: dt.datetime) -> list[int]:
    """Apply profile changes to ``dim_users`` (SCD2); returns the changed profile ids."""
    source = user_attributes(engine.read("profile"), engine.read("account"))
    current = engine.read("dim_users").where(
        F.col("is_current") & (F.col("user_key") != UNKNOWN_KEY)
    )
    changes = scd2_changes(current, source, effective, as_of).persist()
    merge_rows = [r.profile_id for r in changes.select("profile_id").collect()]
    profiles = sorted(set(merge_rows))
    if profiles:
        engine.merge("dim_users", changes, USERS_MERGE)
    log.info("dim_users: %d profiles changed (%d merge rows)", len(profiles), len(merge_rows))
    changes.unpersist()
    return profiles


def normalized_titles(spark: SparkSession, titles: DataFrame) -> DataFrame:
    """``title_id, normalized_title`` with :func:`normalize_name` (Python, on the driver)."""
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    from jobs.viewing_activity_parsing import normalize_name

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


# ======================================================================================
# fact
# ======================================================================================
def session_playback(events: DataFrame) -> DataFrame:
    """Playback time and start position per session, from its events.

    Args:
        events: ``playback_event`` rows (session_id, event_time, event_type, position_sec).

    Returns:
        ``session_id, watch_seconds`` (sum of the time from each event to the next, when
        the first is not PAUSE/END/ERROR; seconds) and ``start_position_sec`` (position of
        the first event).
    """
    w = Window.partitionBy("session_id").orderBy("event_time")
    gap = F.unix_seconds(F.lead("event_time").over(w)) - F.unix_seconds(F.col("event_time"))
    playing = ~F.col("event_type").isin(*NOT_PLAYING)
    return (
        events.select(
            "session_id",
            "event_time",
            "position_sec",
            F.when(playing, F.coalesce(gap, F.lit(0))).otherwise(0).alias("gap"),
        )
        .groupBy("session_id")
        .agg(
            F.sum("gap").cast("long").alias("watch_seconds"),
            F.min_by("position_sec", "event_time").alias("start_position_sec"),
        )
    )


def fact_rows(
    sessions: DataFrame,
    playback: DataFrame,
    users: DataFrame,
    movies: DataFrame,
    devices: DataFrame,
    s: ActivitySettings,
) -> DataFrame:
    """``fact_watch_history`` rows for ``sessions`` (supplemental ones dropped).

    Args:
        sessions: ``playback_session`` rows to (re)compute.
        playback: :func:`session_playback` of their events.
        users, movies, devices: ``dim_users``, ``dim_movies``, ``dim_device``.
        s: thresholds.

    Returns:
        The fact's columns. ``user_key`` is the ``dim_users`` version with
        ``valid_from <= started_at < valid_to``; a missing dimension row gives ``-1``.
    """
    sess = sessions.where(~F.coalesce(F.col("is_supplemental"), F.lit(False))).withColumn(
        "content_key", F.coalesce("episode_id", "title_id")
    )
    u = users.where(F.col("user_key") != UNKNOWN_KEY).select(
        F.col("profile_id").alias("u_profile_id"), "user_key", "valid_from", "valid_to"
    )
    m = movies.select("content_key", "movie_key", "runtime_sec")
    d = devices.select("device_id", "device_key")
    j = (
        sess.join(playback, "session_id", "left")
        .join(
            u,
            (F.col("profile_id") == F.col("u_profile_id"))
            & (F.col("started_at") >= F.col("valid_from"))
            & (F.col("started_at") < F.col("valid_to")),
            "left",
        )
        .join(m, "content_key", "left")
        .join(d, "device_id", "left")
    )
    runtime = F.col("runtime_sec")
    end_pos = F.col("last_position_sec")
    progress = F.when(runtime > 0, F.round(F.least(F.lit(100.0), 100.0 * end_pos / runtime), 1))
    return j.select(
        "session_id",
        F.coalesce("user_key", F.lit(UNKNOWN_KEY)).alias("user_key"),
        F.coalesce("movie_key", F.lit(UNKNOWN_KEY)).alias("movie_key"),
        F.coalesce("device_key", F.lit(UNKNOWN_KEY)).alias("device_key"),
        date_key("started_at").alias("date_key"),
        "profile_id",
        "content_key",
        "started_at",
        "ended_at",
        F.coalesce("watch_seconds", F.lit(0)).alias("watch_seconds"),
        F.coalesce("start_position_sec", end_pos).alias("start_position_sec"),
        end_pos.alias("end_position_sec"),
        progress.alias("progress_pct"),
        finished(progress, end_pos, runtime, F.col("ended_at").isNotNull(), s).alias("is_finished"),
        F.coalesce("is_autoplay", F.lit(False)).alias("is_autoplay"),
        "country_code",
        "event_count",
        "last_event_at",
    )


def changed_sessions(engine: DeltaEngine, since_version: int | None) -> DataFrame | None:
    """``playback_session`` rows that differ from ``since_version`` (None = all rows).

    Returns None when nothing changed. Falls back to every row when the old version can
    no longer be read (vacuumed).
    """
    current = engine.read("playback_session")
    if since_version is None:
        return current
    if since_version == engine.version("playback_session"):
        return None
    try:
        old = engine.read("playback_session", version=since_version)
        return current.exceptAll(old)
    except Exception as exc:  # noqa: BLE001 - vacuumed history: recompute everything
        log.warning(
            "playback_session v%s unreadable (%s); recomputing all sessions", since_version, exc
        )
        return current


def events_of(engine: DeltaEngine, sessions: DataFrame, everything: bool) -> DataFrame:
    """Events of ``sessions``, reading only the ``dt`` partitions they span."""
    if everything:
        return engine.read("playback_event")
    spans = sessions.select(
        F.explode(
            F.sequence(
                F.to_date("started_at"), F.to_date(F.greatest("last_event_at", "started_at"))
            )
        ).alias("d")
    ).distinct()
    days = [r.d.isoformat() for r in spans.collect()]
    if not days:
        return engine.read("playback_event").limit(0)
    events = engine.read("playback_event", partition_filters=[("dt", "in", days)])
    return events.join(F.broadcast(sessions.select("session_id")), "session_id", "left_semi")


# ======================================================================================
# marts
# ======================================================================================
def _items(fact: DataFrame, movies: DataFrame) -> DataFrame:
    m = movies.select(
        "movie_key",
        "content_type",
        "title_name",
        "season_number",
        "episode_number",
        "episode_title",
        "genres",
    )
    return fact.join(m, "movie_key", "left")


def last_n_movies(fact: DataFrame, movies: DataFrame, n: int) -> DataFrame:
    """``last_10_movies``: per profile, the ``n`` items with the newest session, newest first."""
    newest = Window.partitionBy("profile_id", "movie_key").orderBy(
        F.col("started_at").desc(), F.col("session_id").desc()
    )
    per_item = _items(fact, movies).withColumn("_r", F.row_number().over(newest)).where("_r = 1")
    rank = Window.partitionBy("profile_id").orderBy(F.col("started_at").desc(), "movie_key")
    return (
        per_item.withColumn("rank", F.row_number().over(rank))
        .where(F.col("rank") <= n)
        .select(
            "profile_id",
            "rank",
            "movie_key",
            "content_type",
            "title_name",
            "season_number",
            "episode_number",
            "episode_title",
            F.col("started_at").alias("last_watched_at"),
            F.col("end_position_sec").alias("last_position_sec"),
        )
    )


def history_window(fact: DataFrame, movies: DataFrame, as_of: dt.date, days: int) -> DataFrame:
    """``history_90_days``: items with a session whose UTC date is in ``(as_of - days, as_of]``."""
    lo = as_of - dt.timedelta(days=days)
    recent = _items(fact, movies).where(
        (F.to_date("started_at") > F.lit(lo)) & (F.to_date("started_at") <= F.lit(as_of))
    )
    newest = F.max_by(F.struct("end_position_sec"), F.struct("started_at", "session_id"))
    return recent.groupBy("profile_id", "movie_key").agg(
        F.first("title_name").alias("title_name"),
        F.first("content_type").alias("content_type"),
        F.first("season_number").alias("season_number"),
        F.first("episode_number").alias("episode_number"),
        F.count(F.lit(1)).alias("sessions"),
        F.sum("watch_seconds").alias("total_seconds"),
        F.max("started_at").alias("last_watched_at"),
        newest["end_position_sec"].alias("last_position_sec"),
    )


def content_preference(fact: DataFrame, movies: DataFrame) -> DataFrame:
    """``content_type_preference``: share of each profile's watch time per content type and genre.

    A title with several genres counts fully in each, so genre shares may sum over 1;
    items without a catalogue match count under genre ``unknown``.
    """
    items = _items(fact, movies)
    total = fact.groupBy("profile_id").agg(F.sum("watch_seconds").alias("total"))
    by_type = items.groupBy(
        "profile_id",
        F.lit("content_type").alias("dimension"),
        F.coalesce("content_type", F.lit("UNKNOWN")).alias("value"),
    ).agg(F.sum("watch_seconds").alias("watch_seconds"))
    genre = F.explode(
        F.when(F.col("genres").isNull(), F.array(F.lit("unknown"))).otherwise(
            F.split(F.col("genres"), r"\s*,\s*")
        )
    )
    by_genre = (
        items.select("profile_id", genre.alias("value"), "watch_seconds")
        .groupBy("profile_id", F.lit("genre").alias("dimension"), "value")
        .agg(F.sum("watch_seconds").alias("watch_seconds"))
    )
    return (
        by_type.unionByName(by_genre)
        .join(total, "profile_id")
        .withColumn(
            "share",
            F.when(
                F.col("total") > 0, F.round(F.col("watch_seconds") / F.col("total"), 4)
            ).otherwise(0.0),
        )
    )


def region_activity(fact: DataFrame) -> DataFrame:
    """``region_login``: per country and UTC day, active profiles, sessions and watch time."""
    return fact.groupBy(
        F.coalesce("country_code", F.lit("ZZ")).alias("country_code"), "date_key"
    ).agg(
        F.countDistinct("profile_id").alias("active_profiles"),
        F.count(F.lit(1)).alias("sessions"),
        F.sum("watch_seconds").alias("watch_seconds"),
    )


def daily_minutes(fact: DataFrame) -> DataFrame:
    """``daily_watch_minutes``: per profile and UTC day of session start, minutes watched."""
    return fact.groupBy("profile_id", "date_key").agg(
        F.count(F.lit(1)).alias("sessions"),
        F.round(F.sum("watch_seconds") / 60.0, 1).alias("watch_minutes"),
    )


# ======================================================================================
# the build
# ======================================================================================
def build(
    engine: DeltaEngine,
    as_of: str | dt.datetime | None = None,
    settings: ActivitySettings | None = None,
) -> dict[str, Any]:
    """Run the star build once (incremental; see module docstring).

    Args:
        engine: the Delta engine.
        as_of: reference time (UTC) for the windowed mart and SCD2 fallback dating:
            a datetime, ``None``/``"now"``, ``"latest"`` (newest session start) or ISO text.
        settings: thresholds; default ``cfg.activity`` of the engine's config.

    Returns:
        A report: ``status`` (``built`` or ``up-to-date``), per-table counts, match rate,
        sessions recomputed, seconds.

    Raises:
        TableNotFoundError: ``playback_session`` does not exist (run the ingest first).
    """
    start = time.monotonic()
    s = settings or engine.cfg.activity
    for spec in (*STAR_TABLES, *MART_TABLES, BUILD_STATE, CATALOG_TITLE):
        engine.create(spec)
    if not engine.exists("playback_session"):
        raise TableNotFoundError("playback_session missing: run jobs.ingest_playback_events first")
    sessions_all = engine.read("playback_session")
    if isinstance(as_of, dt.datetime):
        as_of_ts = as_of if as_of.tzinfo else as_of.replace(tzinfo=dt.UTC)
    else:
        latest = latest_start(sessions_all) if as_of == "latest" else None
        as_of_ts = resolve_as_of(as_of, latest)
    as_of_date = as_of_ts.astimezone(dt.UTC).date()

    marks = read_marks(engine, JOB)
    versions = source_versions(engine, SOURCES)
    if (
        marks
        and all(marks.get(t, (None,))[0] == v for t, v in versions.items())
        and all(m[1] == as_of_date for m in marks.values())
    ):
        log.info("star schema up to date with %s (as of %s): nothing to do", versions, as_of_date)
        return {"status": "up-to-date", "seconds": round(time.monotonic() - start, 2)}

    report: dict[str, Any] = {"status": "built", "as_of": as_of_date.isoformat()}
    ensure_unknown_members(engine)
    spark = engine.spark
    since = marks.get("playback_session", (None,))[0]
    changed = changed_sessions(engine, since)
    first_run = since is None
    changed = (changed if changed is not None else sessions_all.limit(0)).persist()
    report["sessions_changed"] = changed.count()

    # -- dimensions ---------------------------------------------------------------
    effective = (
        changed.where(F.col("profile_id").isNotNull())
        .groupBy("profile_id", "country_code")
        .agg(F.min("started_at").alias("effective_at"))
    )
    changed_profiles = build_dim_users(engine, effective, as_of_ts)

    titles = engine.read("title")
    matches = catalog_matches(
        titles, normalized_titles(spark, titles), engine.read("catalog_title")
    )
    matches = matches.persist()
    report["catalog"] = match_report(matches)
    log.info("catalogue match: %s", json.dumps(report["catalog"]))
    observed = observed_runtimes(
        sessions_all, engine.read("episode"), s.observed_runtime_min_episodes
    )
    movies_new = movie_rows(titles, engine.read("episode"), matches, observed).persist()
    report["dim_movies"] = sync_table(
        engine,
        "dim_movies",
        movies_new.unionByName(unknown_rows(spark, "dim_movies")),
        collect_changed="content_key",
    )
    movie_changes = [k for k in report["dim_movies"].pop("changed") if k is not None]
    report["dim_device"] = sync_table(
        engine,
        "dim_device",
        device_rows(engine.read("device")).unionByName(unknown_rows(spark, "dim_device")),
    )
    matches.unpersist()
    movies_new.unpersist()

    # -- fact ---------------------------------------------------------------------
    affected = changed.select("session_id")
    extra = (
        sessions_all.where(
            F.col("profile_id").isin(changed_profiles)
            | F.coalesce("episode_id", "title_id").isin(movie_changes)
        ).select("session_id")
        if (changed_profiles or movie_changes) and not first_run
        else None
    )
    if extra is not None:
        affected = affected.unionByName(extra).distinct()
    todo = sessions_all.join(affected, "session_id", "left_semi").persist()
    n_todo = todo.count()
    report["sessions_recomputed"] = n_todo
    if n_todo:
        report["dim_date"] = sync_table(engine, "dim_date", date_rows(todo), complete=False)
        playback = session_playback(events_of(engine, todo, first_run))
        facts = fact_rows(
            todo,
            playback,
            engine.read("dim_users"),
            engine.read("dim_movies"),
            engine.read("dim_device"),
            s,
        )
        report["fact_watch_history"] = sync_table(
            engine, "fact_watch_history", facts, complete=False
        )
    todo.unpersist()
    changed.unpersist()

    # -- marts --------------------------------------------------------------------
    fact = engine.read("fact_watch_history").persist()
    movies = engine.read("dim_movies").persist()
    marts = {
        "last_10_movies": last_n_movies(fact, movies, s.last_n_items),
        "history_90_days": history_window(fact, movies, as_of_date, s.history_window_days),
        "content_type_preference": content_preference(fact, movies),
        "region_login": region_activity(fact),
        "daily_watch_minutes": daily_minutes(fact),
    }
    for name, rows in marts.items():
        report[name] = sync_table(engine, name, rows)
    fact.unpersist()
    movies.unpersist()
    write_marks(engine, JOB, source_versions(engine, SOURCES), as_of_date, marks)
    report["rows"] = row_counts(engine, [t.name for t in (*STAR_TABLES, *MART_TABLES)])
    report["seconds"] = round(time.monotonic() - start, 2)
    log.info("star build: %s", json.dumps(report, default=str))
    return report


def _run(args: argparse.Namespace, cfg: Config) -> int:
    from jobs.core.spark import build_spark

    spark = build_spark(JOB, cfg)
    report = build(get_engine(spark, cfg), args.as_of, cfg.activity)
    print(json.dumps(report, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(
        "python -m jobs.build_star_schema",
        "Build dim_users (SCD2), dim_movies, dim_device, dim_date, "
        "fact_watch_history and the marts, incrementally.",
    )
    parser.add_argument(
        "--as-of",
        default=None,
        help="reference time (UTC ISO, 'now' or 'latest' = newest session; default now)",
    )
    return run(_run, parser, argv, usage_errors=(ValueError,))


__all__ = ["ACTIVITY_TABLES", "ActivitySettings", "build", "main"]

if __name__ == "__main__":
    sys.exit(main())
