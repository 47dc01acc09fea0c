"""The ingest stream's rows: parse, validate, dedupe and plan one micro-batch.

    landing/*.jsonl ──readStream.text──▶ parse (explicit schema) ──▶ validate
        ──▶ (optional) dropDuplicatesWithinWatermark on arrival time ──▶ foreachBatch

The streaming DataFrame (:func:`build_stream`) and the pure transformations the
``foreachBatch`` writer (:mod:`jobs.core.ingest.batch_writer`) applies: the landing
contract's rules (:func:`validate`), the rows of each target table (:func:`to_events`,
:func:`to_statements`, :func:`to_quarantine`), the exact dedupe against the stored keys
(:func:`drop_stored`) and the one counting pass over a cached micro-batch
(:func:`plan_batch`). Times are UTC throughout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.core.ingest.landing import SOURCE_OPTIONS
from jobs.core.ingest.stream_expectations import (
    BatchCheck,
    breaks_drop_rule,
    check_batch,
    load_rules,
    validate_rules,
    violation_sums,
    violations_from,
)
from jobs.core.runtime.config import Config, IngestSettings
from jobs.core.storage.delta import DeltaEngine
from jobs.core.tables.registry import (
    EVENT_TYPES,
    LANDING_EVENT_SCHEMA,
    PLAYBACK_EVENT,
    STATEMENT_FIELDS,
    STATEMENT_TYPES,
    VIEWING_STATEMENT,
)

CORRUPT = "_corrupt_record"
REQUIRED_FIELDS = (
    "session_id",
    "event_time",
    "event_type",
    "position_sec",
    "profile_id",
    "title_id",
)
KEY = ["session_id", "event_time"]
UTC_MICROS = "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"
_PARSE_SCHEMA = T.StructType(LANDING_EVENT_SCHEMA.fields + [T.StructField(CORRUPT, T.StringType())])


def parse_landing_lines(lines: DataFrame) -> DataFrame:
    """Parse raw JSON lines with the landing contract's explicit schema.

    Args:
        lines: ``raw_record`` (one JSON line) and ``source_file``.

    Returns:
        ``raw_record``, ``source_file``, every field of
        :data:`jobs.core.tables.registry.LANDING_EVENT_SCHEMA` and ``_corrupt_record`` (the raw
        line when it is not JSON or a field has the wrong type, else NULL). Times UTC.
    """
    parsed = F.from_json(
        "raw_record",
        _PARSE_SCHEMA,
        {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT},
    )
    return lines.withColumn("e", parsed).select("raw_record", "source_file", "e.*")


def validate(
    settings: IngestSettings, now: Column | None = None
) -> Callable[[DataFrame], DataFrame]:
    """Add ``reject_reason``: NULL for a valid event, else the ';'-joined reasons.

    Rules (the landing contract, docs/architecture.md): parseable JSON with the right types; required fields present
    (:data:`REQUIRED_FIELDS`); ``event_type`` in :data:`EVENT_TYPES`; ``0 <= position_sec
    <= ingest.max_position_sec`` (86 400 s); ``country_code`` matches ``^[A-Z]{2}$``;
    ``event_time`` at most ``ingest.max_future_sec`` (300 s) after ``now``; the statement
    fields (:func:`statement_checks`) only on WATCHED / ABANDONED and within their ranges.

    Args:
        settings: the ``ingest`` section of the config.
        now: the reference time (default ``current_timestamp()``, which Structured
            Streaming fixes per micro-batch, so a replay decides the same).
    """
    now_col = now if now is not None else F.current_timestamp()

    def transform(df: DataFrame) -> DataFrame:
        checks = [F.when(F.col(CORRUPT).isNotNull(), F.lit("malformed JSON or wrong field type"))]
        checks += [F.when(F.col(c).isNull(), F.lit(f"missing {c}")) for c in REQUIRED_FIELDS]
        checks += [
            F.when(
                F.col("event_type").isNotNull() & ~F.col("event_type").isin(*EVENT_TYPES),
                F.concat(F.lit("unknown event_type "), F.col("event_type")),
            ),
            F.when(F.col("position_sec") < 0, F.lit("negative position_sec")),
            F.when(
                F.col("position_sec") > settings.max_position_sec,
                F.lit(f"position_sec over {settings.max_position_sec}"),
            ),
            F.when(
                F.col("country_code").isNull() | ~F.col("country_code").rlike("^[A-Z]{2}$"),
                F.lit("country_code not ISO 3166 alpha-2"),
            ),
            F.when(
                F.col("event_time")
                > now_col + F.expr(f"INTERVAL {settings.max_future_sec} SECONDS"),
                F.lit("event_time in the future"),
            ),
            *statement_checks(settings),
        ]
        reason = F.concat_ws("; ", F.array_compact(F.array(*checks)))
        return df.withColumn("reject_reason", F.when(reason != "", reason))

    return transform


def statement_checks(settings: IngestSettings) -> list[Column]:
    """The landing contract's rules for the statement fields (one reason column each).

    A field of :data:`jobs.core.tables.registry.STATEMENT_FIELDS` on an event other than WATCHED /
    ABANDONED; an ABANDONED without ``progress_pct``; ``progress_pct`` outside 0-100,
    ``quality_rating`` outside 1-5, ``viewing_duration_sec`` outside 0 to
    ``ingest.max_position_sec``; free text (and each companion) over 2 000 characters
    (the API caps it well below); more than 50 companions. These mirror the API's body
    validation (api/models.py), so a line from another producer is held to the same
    contract. Each NULL field passes.
    """
    statement = F.col("event_type").isin(*STATEMENT_TYPES)
    present = [F.col(f.name).isNotNull() for f in STATEMENT_FIELDS.fields]
    text = ("viewing_location", "viewing_platform", "viewing_context", "binge_session_id",
            "abandon_reason")  # fmt: skip
    too_long = F.exists(F.col("watched_with"), lambda c: F.length(c) > 2000)
    for name in text:
        too_long = too_long | (F.length(F.col(name)) > 2000)
    return [
        F.when(
            F.col("event_type").isNotNull() & ~statement & F.greatest(*present),
            F.lit("statement fields on a non-statement event"),
        ),
        F.when(
            (F.col("event_type") == "ABANDONED") & F.col("progress_pct").isNull(),
            F.lit("ABANDONED without progress_pct"),
        ),
        F.when(~F.col("progress_pct").between(0, 100), F.lit("progress_pct outside 0-100")),
        F.when(~F.col("quality_rating").between(1, 5), F.lit("quality_rating outside 1-5")),
        F.when(
            ~F.col("viewing_duration_sec").between(0, settings.max_position_sec),
            F.lit(f"viewing_duration_sec outside 0-{settings.max_position_sec}"),
        ),
        F.when(too_long, F.lit("statement text over 2000 characters")),
        F.when(F.size("watched_with") > 50, F.lit("more than 50 watched_with names")),
    ]


def keep_raw_for_quarantine(rules: list) -> Callable[[DataFrame], DataFrame]:
    """Set ``raw_record`` and ``source_file`` to NULL on rows that will be stored.

    Only quarantined rows need the raw line (validation rejects, and rows that break a
    ``drop`` stream rule, see :func:`jobs.core.ingest.stream_expectations.breaks_drop_rule`);
    ``playback_event`` stores the parsed fields. Dropping the ~400-byte line from the
    other rows before the stateful dedupe halves the bytes the micro-batch shuffles
    and caches (bench/README.md, ingest_throughput).
    """

    def transform(df: DataFrame) -> DataFrame:
        keep = F.col("reject_reason").isNotNull() | breaks_drop_rule(rules)
        return df.withColumn("raw_record", F.when(keep, F.col("raw_record"))).withColumn(
            "source_file", F.when(keep, F.col("source_file"))
        )

    return transform


def dedupe_within_watermark(delay: str) -> Callable[[DataFrame], DataFrame]:
    """Streaming dedupe on ``(session_id, event_time)`` within ``delay`` of arrival.

    Needs ``arrived_at`` (the micro-batch time) and ``reject_reason``. Rejected rows get a
    unique nonce in the key, so two identical bad lines are both quarantined.
    """

    def transform(df: DataFrame) -> DataFrame:
        nonce = F.when(F.col("reject_reason").isNotNull(), F.expr("uuid()"))
        return (
            df.withColumn("_nonce", nonce)
            .withWatermark("arrived_at", delay)
            .dropDuplicatesWithinWatermark([*KEY, "_nonce"])
            .drop("_nonce")
        )

    return transform


def to_events(df: DataFrame, query_id: str, batch_id: int) -> DataFrame:
    """Valid rows as ``playback_event`` rows.

    Adds ``dt`` (UTC date of event_time), ``ingest_query_id`` and ``ingest_batch_id``.
    """
    return (
        df.where(F.col("reject_reason").isNull())
        .withColumn("dt", F.to_date("event_time"))
        .withColumn("ingest_query_id", F.lit(query_id))
        .withColumn("ingest_batch_id", F.lit(batch_id).cast("long"))
        .select(PLAYBACK_EVENT.columns)
    )


def to_statements(batch: DataFrame, events: DataFrame) -> DataFrame:
    """``viewing_statement`` rows: the WATCHED / ABANDONED rows among ``events``.

    Args:
        batch: the validated micro-batch (every landing field, ``reject_reason``).
        events: the batch's ``playback_event`` rows after dedupe (:meth:`jobs.core.ingest.batch_writer.BatchWriter.dedupe`),
            so a statement is stored exactly when its ``playback_event`` row is (a
            duplicate, a retried POST or a replayed file adds nothing).

    Returns:
        The ``viewing_statement`` columns; ``statement_id`` is ``session_id`` without
        its ``api-`` prefix.
    """
    fields = [f.name for f in STATEMENT_FIELDS.fields]
    facts = (
        batch.where(F.col("reject_reason").isNull() & F.col("event_type").isin(*STATEMENT_TYPES))
        .select(*KEY, *fields)
        .dropDuplicates(KEY)
    )
    return (
        events.where(F.col("event_type").isin(*STATEMENT_TYPES))
        .join(facts, KEY)
        .withColumn("statement_id", F.regexp_replace("session_id", "^api-", ""))
        .select(VIEWING_STATEMENT.columns)
    )


def to_quarantine(df: DataFrame, batch_id: int) -> DataFrame:
    """Rejected rows as ``playback_event_quarantine`` rows (raw line and reason kept)."""
    return df.where(F.col("reject_reason").isNotNull()).select(
        "raw_record",
        F.col("reject_reason").alias("reason"),
        "source_file",
        F.lit(batch_id).cast("long").alias("ingest_batch_id"),
        F.col("arrived_at").alias("quarantined_at"),
    )


def drop_stored(
    engine: DeltaEngine,
    events: DataFrame,
    query_id: str,
    batch_id: int,
    spans: dict[str, tuple[str, str]] | None = None,
) -> DataFrame:
    """Remove events whose key is already in ``playback_event`` from an earlier batch.

    The cost follows the batch, not the table: for each ``dt`` partition the batch
    touches, only the files whose ``event_time`` statistics overlap that ``dt``'s own
    (min, max) ``event_time`` in the batch are read (``spans``; Delta's file statistics
    on both engines), and of them only the rows inside that span, which Parquet's
    row-group statistics skip too. A live batch's current ``dt`` then reads the few
    newest files; a late row's old ``dt`` reads only the files (and rows) around its
    own time, never the whole day. Exact: a stored row with a batch row's key has the
    same ``event_time``, hence the same ``dt`` and a time inside that ``dt``'s span.
    The anti-join is a sort-merge join: its memory is bounded (sorts spill to disk)
    however many keys the overlapping files hold, where a hash or broadcast join would
    hold them all (bench/README.md compares the three). Rows written by this same batch
    of this same query (a replay) do not count, so a replay keeps its rows.

    Args:
        engine: the Delta engine.
        events: the micro-batch's ``playback_event`` rows.
        query_id: the streaming query's id (its rows in ``ingest_query_id``).
        batch_id: the micro-batch id (its rows in ``ingest_batch_id``).
        spans: ``{dt: (min, max)}`` of the batch's ``event_time`` per ``dt`` (ISO date;
            ISO-8601 UTC text, :func:`plan_batch`); default: computed from ``events``
            (one extra action).

    Returns:
        ``events`` without the stored keys (lazy).

    Raises:
        TableFileMissingError: a data file of ``playback_event`` is gone (on the read).
    """
    if spans is None:
        spans = event_spans(events)
    if not spans:
        return events
    own = (F.col("ingest_query_id") == query_id) & (F.col("ingest_batch_id") == batch_id)
    parts = []
    for dt, (t0, t1) in sorted(spans.items()):
        filters: list[tuple] = [("dt", "=", dt), ("event_time", ">=", t0), ("event_time", "<=", t1)]
        parts.append(
            engine.read("playback_event", partition_filters=filters)
            .where(
                F.col("event_time").between(
                    F.lit(t0).cast("timestamp"), F.lit(t1).cast("timestamp")
                )
            )
            .where(~F.coalesce(own, F.lit(False)))
            .select(*KEY)
        )
    stored = parts[0]
    for part in parts[1:]:
        stored = stored.unionAll(part)
    # dt follows from event_time, so KEY alone decides
    return events.join(stored.hint("shuffle_merge"), KEY, "left_anti")


def event_spans(events: DataFrame) -> dict[str, tuple[str, str]]:
    """``{dt: (min, max)}`` of ``events``' ``event_time`` per ``dt`` (one action).

    Columns in: ``dt``, ``event_time``. Out: ISO dates to ISO-8601 UTC text with
    microseconds (the session time zone is UTC).
    """
    rows = (
        events.groupBy("dt")
        .agg(
            F.date_format(F.min("event_time"), UTC_MICROS).alias("t0"),
            F.date_format(F.max("event_time"), UTC_MICROS).alias("t1"),
        )
        .collect()
    )
    return {r["dt"].isoformat(): (r["t0"], r["t1"]) for r in rows if r["dt"] is not None}


class BatchPlan(NamedTuple):
    """What one pass over a cached micro-batch tells before anything is written.

    Attributes:
        checked: the batch with the stream rules applied (``reject_reason`` set on rows a
            ``drop`` rule refused) and the violation counts.
        rows_in: rows read; ``quarantined``: rows to quarantine; ``valid``: rows to store
            before dedupe.
        dts: the ``dt`` partitions (ISO dates) of the rows to store.
        span: (min, max) ``event_time`` of those rows as UTC text, or None.
        spans: ``{dt: (min, max)}`` of those rows' ``event_time`` per ``dt`` (UTC
            text), which bounds the exact dedupe's read (:func:`drop_stored`).
        statements: WATCHED / ABANDONED rows among the rows to store (before dedupe).
    """

    checked: BatchCheck
    rows_in: int
    quarantined: int
    valid: int
    dts: list[str]
    span: tuple[str, str] | None
    statements: int = 0
    spans: dict[str, tuple[str, str]] = {}


def plan_batch(raw: DataFrame, rules: list, batch_id: int) -> BatchPlan:
    """Count a validated micro-batch in one pass and apply the stream rules.

    One aggregation over the cached batch gives the counts (valid, refused by a ``drop``
    stream rule, rejected), the ``dt`` partitions and time span of the events to store,
    and the violations of every stream rule (stream_expectations in conf).

    Raises:
        StreamExpectationError: a ``fail`` rule broke; nothing of the batch is written.
    """
    validate_rules(raw, rules)
    valid = F.col("reject_reason").isNull()
    dropped = valid & breaks_drop_rule(rules)
    keep = valid & ~dropped
    groups = (
        raw.groupBy(
            valid.alias("valid"),
            dropped.alias("dropped"),
            F.when(keep, F.to_date("event_time")).alias("dt"),
        )
        .agg(
            F.count(F.lit(1)).alias("n"),
            # UTC text (the session time zone), whatever the Python process's zone
            F.date_format(F.min("event_time"), UTC_MICROS).alias("t0"),
            F.date_format(F.max("event_time"), UTC_MICROS).alias("t1"),
            F.count(F.when(F.col("event_type").isin(*STATEMENT_TYPES), 1)).alias("statements"),
            *violation_sums(rules),
        )
        .collect()
    )
    checked_rows = [r for r in groups if r["valid"]]
    checked = check_batch(
        raw,
        rules,
        batch_id=batch_id,
        precounted=(sum(r["n"] for r in checked_rows), violations_from(checked_rows, rules)),
    )
    stored = [r for r in groups if r["valid"] and not r["dropped"]]
    dts = sorted({r["dt"].isoformat() for r in stored if r["dt"] is not None})
    times = [t for r in stored if r["dt"] is not None for t in (r["t0"], r["t1"])]
    rows_in = sum(r["n"] for r in groups)
    valid_n = sum(r["n"] for r in stored)
    span = (min(times), max(times)) if times else None
    statements = sum(r["statements"] for r in stored)
    spans: dict[str, tuple[str, str]] = {}
    for r in stored:
        if r["dt"] is not None:
            dt = r["dt"].isoformat()
            t0, t1 = spans.get(dt, (r["t0"], r["t1"]))
            spans[dt] = (min(t0, r["t0"]), max(t1, r["t1"]))
    return BatchPlan(checked, rows_in, rows_in - valid_n, valid_n, dts, span, statements, spans)


def build_stream(spark: SparkSession, cfg: Config, rules: list | None = None) -> DataFrame:
    """The streaming DataFrame up to (not including) ``foreachBatch``.

    Args:
        spark: the session.
        cfg: the validated configuration (``paths.landing_dir``, ``ingest``).
        rules: the in-stream rules the ``foreachBatch`` applies (default: loaded for
            ``cfg.env``); the stream keeps the raw line of the rows a ``drop`` rule refuses.
    """
    if rules is None:
        rules = load_rules(cfg)
    lines = (
        spark.readStream.option("maxFilesPerTrigger", cfg.ingest.max_files_per_trigger)
        .option("pathGlobFilter", "*.jsonl")
        .options(**SOURCE_OPTIONS)
        .text(cfg.paths.landing_dir)
        .select(
            F.col("value").alias("raw_record"),
            F.col("_metadata.file_path").alias("source_file"),
        )
    )
    return prepare_lines(lines, cfg, rules)


def prepare_lines(
    lines: DataFrame, cfg: Config, rules: list, now: Column | None = None
) -> DataFrame:
    """Parse, stamp, validate and (optionally) stream-dedupe landing lines.

    Shared by the stream (:func:`build_stream`) and the re-run of a lost batch
    (:func:`jobs.core.ingest.recovery.batch_frame`, where ``now`` is the batch's original time; on a static frame
    ``dropDuplicatesWithinWatermark`` simply drops duplicates).
    """
    stamped = lines.transform(parse_landing_lines).withColumn(
        "arrived_at", now if now is not None else F.current_timestamp()
    )
    stream = stamped.transform(validate(cfg.ingest, now)).transform(keep_raw_for_quarantine(rules))
    if cfg.ingest.dedupe_watermark:
        stream = stream.transform(dedupe_within_watermark(cfg.ingest.dedupe_watermark))
    return stream
