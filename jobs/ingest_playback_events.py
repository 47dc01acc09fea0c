"""The main job: stream landing JSON Lines into Delta, keep sessions and resume points current.

    landing/*.jsonl ──readStream.text──▶ parse (explicit schema) ──▶ validate
        ──▶ foreachBatch:  counts + in-stream rules (one pass over the cached batch)
                           dedupe: dropDuplicates in the batch, minus keys in playback_event
                           at once: quarantine ─▶ playback_event_quarantine
                                    append     ─▶ playback_event (partitioned by dt, country_code)
                                    append     ─▶ viewing_statement (WATCHED / ABANDONED + fields)
                                    append     ─▶ playback_session_change (or merge ─▶ playback_session)
                                    append     ─▶ resume_state_change (or merge ─▶ resume_state)
                                    counts     ─▶ dq_result

Exactly once: Spark's checkpoint replays an unfinished micro-batch with the same input;
every table write carries its own transaction marker (app id ``{query}:{query id}:{table}``,
version = batch id), so a batch that crashed between two commits redoes only the
missing ones. The exact dedupe ignores rows the replayed batch itself wrote
(``ingest_batch_id``), so it yields the same rows on replay and ``event_count`` is
never counted twice.

Dedupe on ``(session_id, event_time)`` is exact and stateless by default: within the
micro-batch, and against the keys already stored (``ingest.dedupe_against_table``; only
the batch's ``dt`` partitions and the files whose ``event_time`` statistics overlap it),
so a late event — hours or years old, as in a replay of an export — is never dropped as
late. ``ingest.dedupe_watermark`` optionally adds Spark's stateful
``dropDuplicatesWithinWatermark`` on *arrival* time (docs/architecture.md).

Operations (docs/operations.md, "When things go wrong"): one writer per checkpoint
(:mod:`jobs.core.storage.locks`); a checkpoint made for another landing dir is refused with the
way out, ``--rebase-checkpoint`` or ``--reset-checkpoint`` (:mod:`jobs.core.storage.checkpoints`);
every target table must load before a micro-batch writes (:mod:`jobs.core.storage.table_health`),
and a data file missing from one is named with its table (:class:`TableFileMissingError`);
a committed batch that a table lost (its damaged commit removed) is re-run from its landing
or archived files at the next start (:func:`recover`);
processed landing files are archived or deleted after their batch commits, and a file
that vanished before its read is logged and counted (:mod:`jobs.core.ingest.landing`).

Usage::

    python -m jobs.ingest_playback_events --once          # drain the landing dir, stop
    python -m jobs.ingest_playback_events                 # run continuously
    python -m jobs.ingest_playback_events --once --rebase-checkpoint   # after moving the lake
"""

from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from pyspark.errors import StreamingQueryException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.streaming import StreamingQuery

from jobs.core.changelog.compaction import compact, compact_if_due
from jobs.core.ingest.landing import (
    SOURCE_OPTIONS,
    archive_dir,
    clean,
    cleanup_mode,
    purge_archive,
    vanished,
)
from jobs.core.ingest.stream_expectations import (
    BatchCheck,
    breaks_drop_rule,
    check_batch,
    check_quarantine_ratio,
    load_quarantine_ratio,
    load_rules,
    validate_rules,
    violation_sums,
    violations_from,
    write_stream_results,
)
from jobs.core.rules.playback_state import apply_events
from jobs.core.runtime import cli
from jobs.core.runtime.cli import job_parser
from jobs.core.runtime.config import Config, IngestSettings
from jobs.core.runtime.errors import RunError
from jobs.core.runtime.spark import build_spark
from jobs.core.storage.checkpoints import (
    batch_files,
    batch_sources,
    batch_timestamp,
    check_location,
    committed_file_times,
    last_committed_batch,
    local_path,
    rebase,
    reset,
)
from jobs.core.storage.delta import DeltaEngine, get_engine
from jobs.core.storage.locks import LOCK_NAME, writer_lock
from jobs.core.storage.table_health import check_tables_files, check_tables_load
from jobs.core.tables.registry import (
    EVENT_TYPES,
    LANDING_EVENT_SCHEMA,
    PLAYBACK_EVENT,
    STATEMENT_FIELDS,
    STATEMENT_TYPES,
    VIEWING_STATEMENT,
)

log = logging.getLogger("ingest_playback_events")

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
# the tables this job writes (created when missing)
WRITES = (
    "playback_event",
    "playback_event_quarantine",
    "playback_session",
    "playback_session_change",
    "resume_state",
    "resume_state_change",
    "viewing_statement",
    "dq_result",
)
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
        events: the batch's ``playback_event`` rows after dedupe (:meth:`BatchWriter.dedupe`),
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
    dts: list[str] | None = None,
    time_range: tuple | None = None,
) -> DataFrame:
    """Remove events whose key is already in ``playback_event`` from an earlier batch.

    Reads only the key columns of the ``dt`` partitions the batch touches (``dts``, ISO
    dates) and, within them, only the files whose ``event_time`` statistics overlap the
    batch's ``time_range`` (min, max; ISO-8601 UTC text): for a live stream that is the
    few newest files, not the whole day. The anti-join is a sort-merge join: its memory
    is bounded (sorts spill to disk) however many keys the overlapping files hold, where
    a hash or broadcast join would hold them all (bench/README.md compares the three).
    Rows written by this same batch of this same query (a replay) do not count, so a
    replay keeps its rows.

    Args:
        events: the micro-batch's ``playback_event`` rows.

    Returns:
        ``events`` without the stored keys (lazy).
    """
    if dts is None:
        dts = [r.dt.isoformat() for r in events.select("dt").distinct().collect()]
    if not dts:
        return events
    filters: list[tuple] = [("dt", "in", dts)]
    if time_range is not None:
        filters += [("event_time", ">=", time_range[0]), ("event_time", "<=", time_range[1])]
    own = (F.col("ingest_query_id") == query_id) & (F.col("ingest_batch_id") == batch_id)
    stored = (
        engine.read("playback_event", partition_filters=filters)
        .where(~F.coalesce(own, F.lit(False)))
        .select(*KEY)
    )
    # dt follows from event_time, so KEY alone decides
    return events.join(stored.hint("shuffle_merge"), KEY, "left_anti")


class BatchPlan(NamedTuple):
    """What one pass over a cached micro-batch tells before anything is written.

    Attributes:
        checked: the batch with the stream rules applied (``reject_reason`` set on rows a
            ``drop`` rule refused) and the violation counts.
        rows_in: rows read; ``quarantined``: rows to quarantine; ``valid``: rows to store
            before dedupe.
        dts: the ``dt`` partitions (ISO dates) of the rows to store.
        span: (min, max) ``event_time`` of those rows as UTC text, or None.
        statements: WATCHED / ABANDONED rows among the rows to store (before dedupe).
    """

    checked: BatchCheck
    rows_in: int
    quarantined: int
    valid: int
    dts: list[str]
    span: tuple[str, str] | None
    statements: int = 0


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
    return BatchPlan(checked, rows_in, rows_in - valid_n, valid_n, dts, span, statements)


class BatchWriter:
    """The ``foreachBatch`` function: writes one micro-batch to all tables, idempotently.

    Steps per micro-batch: every target table must load (else nothing is written), one
    counting pass (:func:`plan_batch`), the landing files that vanished before the read
    are logged and counted, then the writes (:meth:`write`), each table's commit with its
    own transaction marker.
    """

    def __init__(self, engine: DeltaEngine, cfg: Config):
        self.engine = engine
        self.cfg = cfg
        self.query = cfg.ingest.query_name
        self.checkpoint = cfg.checkpoint_path(self.query)
        self.totals = {
            "rows_in": 0, "quarantined": 0, "duplicates": 0, "written": 0, "missing_files": 0,
        }  # fmt: skip
        self.failure: RunError | None = None
        self._query_id: str | None = None
        self.rules = load_rules(cfg)
        self.quarantine_ratio = load_quarantine_ratio(cfg)

    @property
    def query_id(self) -> str:
        """The streaming query's id, kept in its checkpoint for the query's whole life.

        Part of every transaction app id: a new checkpoint (a new query) restarts batch ids
        at 0 and must not be mistaken for a replay of the old query's batches.
        """
        if self._query_id is None:
            meta = os.path.join(self.checkpoint, "metadata")
            with open(meta, encoding="utf-8") as fh:
                self._query_id = json.loads(fh.readline())["id"]
        return self._query_id

    def app_id(self, table: str) -> str:
        return f"{self.query}:{self.query_id}:{table}"

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        self.clean_landing(batch_id - 1)  # committed before this batch was planned
        self._process(batch, batch_id, live=True)

    def replay(self, batch: DataFrame, batch_id: int) -> None:
        """Write a committed micro-batch again, for the tables that lost its commit.

        ``batch`` is the batch rebuilt from its landing files (:func:`batch_frame`); each
        table's transaction marker skips the tables that still hold the batch, so only the
        missing commits are made (see :func:`recover`). Landing files are neither cleaned
        nor counted as vanished here.
        """
        self._process(batch, batch_id, live=False)

    def _process(self, batch: DataFrame, batch_id: int, live: bool) -> None:
        start = time.monotonic()
        raw = batch.persist()
        try:
            # a corrupt or unreadable table stops the batch before any commit
            check_tables_load(self.engine, WRITES)
            plan = plan_batch(raw, self.rules, batch_id)
            if live:
                self.count_vanished(batch_id)
            if plan.rows_in == 0:  # no table written (every file vanished): not lost later
                record_writes(self.checkpoint, batch_id, [EMPTY_BATCHES])
                return
            # the batch-level threshold (quarantine_ratio): 'fail' raises before any write
            ratio = check_quarantine_ratio(
                self.quarantine_ratio, plan.quarantined, plan.rows_in, batch_id
            )
            plan = plan._replace(checked=plan.checked._replace(ratio=ratio))
            self.write(plan, batch_id, start)
            compact_if_due(self.engine, self.cfg.resume.compact_every_batches, batch_id)
        except RunError as exc:
            self.failure = exc  # run() raises it again instead of Spark's wrapper
            raise
        finally:
            raw.unpersist()

    def clean_landing(self, batch_id: int | None = None) -> int:
        """Archive or delete the landing files of committed micro-batches.

        A file is cleaned only when its path and modification time are the ones the
        checkpoint's file-source log recorded (a later file under a processed name is
        left in place and logged; see :func:`jobs.core.ingest.landing.clean`).

        Args:
            batch_id: only this batch's files (skipped unless it has committed); None:
                every committed batch's files still in the landing dir.
        """
        paths = self.cfg.paths
        mode = cleanup_mode(self.cfg.ingest, paths.lake_root, paths.landing_dir)
        files = committed_file_times(self.checkpoint, batch_id)
        return clean(files, paths.landing_dir, mode, archive_dir(self.cfg.ingest, paths.lake_root))

    def count_vanished(self, batch_id: int) -> None:
        """Log and count the batch's landing files that were gone when it was read."""
        gone = vanished(batch_files(self.checkpoint, batch_id))
        if gone:
            self.totals["missing_files"] += len(gone)
            log.warning(
                "batch %d: %d landing file(s) vanished before they were read, skipped: %s",
                batch_id, len(gone), ", ".join(gone[:5]) + (" ..." if len(gone) > 5 else ""),
            )  # fmt: skip

    def dedupe(self, batch: DataFrame, plan: BatchPlan, batch_id: int) -> DataFrame:
        """The batch's ``playback_event`` rows without duplicates (see :func:`drop_stored`)."""
        events = to_events(batch, self.query_id, batch_id)
        if not self.cfg.ingest.dedupe_watermark:
            # no stateful stream dedupe: duplicates within the micro-batch go here
            events = events.dropDuplicates(KEY)
        if self.cfg.ingest.dedupe_against_table:
            events = drop_stored(self.engine, events, self.query_id, batch_id, plan.dts, plan.span)
        return events

    def write(self, plan: BatchPlan, batch_id: int, start: float) -> None:
        """Commit the batch to every table and log what each got.

        Every table gets its own commit with its own txn marker, so the writes may run at
        once (Spark jobs and delta-rs commits overlap) for batches up to
        ``ingest.concurrent_writes_max_rows``; all are done (or the batch fails, to be
        replayed) before the next micro-batch starts. ``dq_result`` is written last, once
        every data table has committed the batch: a batch that fails (a data file
        missing, a crash) leaves no check results behind, and its replay writes them once
        (marker ``{query}:{query id}:dq_result`` at the batch id). The tables written
        are recorded in the checkpoint (:func:`record_writes`) for :func:`recover`.

        Raises:
            TableFileMissingError: a data file of a table the batch reads or writes is
                gone (named with its table); nothing more of the batch is committed.
        """
        t_read = time.monotonic() - start
        batch = plan.checked.batch
        at_once = plan.rows_in <= self.cfg.ingest.concurrent_writes_max_rows
        pool = ThreadPoolExecutor(max_workers=4 if at_once else 1, thread_name_prefix="batch-write")
        events = None
        try:
            # the dedupe reads playback_event: a file missing there fails before any commit
            t0 = time.monotonic()
            events = self.dedupe(batch, plan, batch_id).persist()
            written = self.engine.explain_missing_files(events.count)
            t_dedupe = time.monotonic() - t0
            pending = []
            if plan.quarantined:
                pending.append(pool.submit(
                    self.engine.append, "playback_event_quarantine",
                    to_quarantine(batch, batch_id), self.app_id("playback_event_quarantine"),
                    batch_id,
                ))  # fmt: skip
            appended = pool.submit(
                self.engine.append, "playback_event", events, self.app_id("playback_event"),
                batch_id,
            )  # fmt: skip
            if plan.statements:
                # its own commit and marker, like the quarantine: a replay redoes it only if missing
                pending.append(pool.submit(
                    self.engine.append, "viewing_statement", to_statements(batch, events),
                    self.app_id("viewing_statement"), batch_id,
                ))  # fmt: skip
            merges = apply_events(
                self.engine, events, self.cfg.resume.finish_ratio,
                f"{self.query}:{self.query_id}", batch_id, pool=pool,
                write_path=self.cfg.resume.write_path,
            )  # fmt: skip
            result = appended.result()
            for future in pending:
                future.result()
        finally:
            pool.shutdown(wait=True)
            if events is not None:
                events.unpersist()
        dq = self._write_dq(plan, batch_id)  # last: only a committed batch has results
        written_to = ["playback_event", *self.state_tables()]
        written_to += ["playback_event_quarantine"] if plan.quarantined else []
        written_to += ["viewing_statement"] if plan.statements else []
        written_to += ["dq_result"] if dq is not None else []
        record_writes(self.checkpoint, batch_id, written_to)
        counts = {
            "rows_in": plan.rows_in, "quarantined": plan.quarantined,
            "duplicates": plan.valid - written, "written": written,
        }  # fmt: skip
        for key, value in counts.items():
            self.totals[key] += value
        timings = (time.monotonic() - start, t_read, t_dedupe)
        log_batch(batch_id, counts, result, merges, timings)

    def state_tables(self) -> list[str]:
        """The session and resume tables each batch writes (per ``resume.write_path``)."""
        if self.cfg.resume.write_path == "merge":
            return ["playback_session", "resume_state"]
        return ["playback_session_change", "resume_state_change"]

    def _write_dq(self, plan: BatchPlan, batch_id: int):
        return write_stream_results(
            self.engine,
            self.rules,
            plan.checked,
            run_id=f"{self.query}:{self.query_id}:{batch_id}",
            suite=self.query,
            batch_id=batch_id,
            env=self.cfg.env,
            app_id=self.app_id("dq_result"),
        )


WRITES_RECORD = "_table_writes.json"
WRITES_KEPT = 20  # batch ids kept per table in the record
EMPTY_BATCHES = "_empty"  # the record's key for batches that read no row


class RecoveryError(RunError):
    """Committed micro-batches are missing from a table and cannot be re-run."""


def record_writes(checkpoint: str, batch_id: int, written: list[str]) -> None:
    """Note in the checkpoint that micro-batch ``batch_id`` committed to the ``written`` tables.

    ``<checkpoint>/_table_writes.json`` keeps, per table, the last :data:`WRITES_KEPT`
    batch ids that wrote it (replaced atomically). :func:`recover` compares them with each
    table's transaction marker: a table whose marker is behind a recorded batch lost that
    commit (a damaged commit file removed, a log restored from an older backup).
    """
    path = os.path.join(checkpoint, WRITES_RECORD)
    record = read_writes(checkpoint)
    for table in written:
        ids = [b for b in record.get(table, []) if b != batch_id] + [batch_id]
        record[table] = sorted(ids)[-WRITES_KEPT:]
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(record, fh, sort_keys=True)
    os.replace(tmp, path)


def read_writes(checkpoint: str) -> dict[str, list[int]]:
    """The record of :func:`record_writes` (empty when missing or unreadable)."""
    try:
        with open(os.path.join(checkpoint, WRITES_RECORD), encoding="utf-8") as fh:
            return {k: [int(b) for b in v] for k, v in json.load(fh).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def missing_batches(engine: DeltaEngine, writer: BatchWriter) -> dict[int, list[str]]:
    """The committed micro-batches some table no longer holds: ``{batch id: [tables]}``.

    A batch is committed when the checkpoint has its commit record (``commits/<id>``).
    A table holds batch ``b`` when its transaction marker ``{query}:{query id}:{table}``
    is at ``b`` or later (Delta's ``SetTransaction``; :meth:`DeltaEngine.transaction_version`).
    ``playback_event`` is written by every batch that read rows, so every committed batch
    after its marker is missing from it (except the batches noted as empty, whose files
    all vanished before the read); the other tables are checked against the batches
    :func:`record_writes` noted for them.
    """
    last = last_committed_batch(writer.checkpoint)
    if last is None or not os.path.exists(os.path.join(writer.checkpoint, "metadata")):
        return {}
    record = read_writes(writer.checkpoint)
    missing: dict[int, list[str]] = {}
    for table in sorted({"playback_event", *record}):
        if table not in WRITES or not engine.exists(table):
            continue
        marker = engine.transaction_version(table, writer.app_id(table))
        done = -1 if marker is None else marker
        wanted = {b for b in record.get(table, []) if done < b <= last}
        if table == "playback_event":
            wanted |= set(range(done + 1, last + 1)) - set(record.get(EMPTY_BATCHES, []))
        for b in wanted:
            missing.setdefault(b, []).append(table)
    return dict(sorted(missing.items()))


def locate_landing_file(path: str, archive: str) -> str | None:
    """Where a processed landing file is now: ``path`` itself, or its archived copy.

    Archived files are ``<archive>/<UTC date>/<name>`` (``<name>.<n>`` when that name was
    taken): the exact name is preferred, the newest day first.
    """
    if os.path.exists(path):
        return path
    name = glob.escape(os.path.basename(path))
    days = sorted(glob.glob(os.path.join(glob.escape(archive), "*")), reverse=True)
    for pattern in (name, f"{name}.*"):
        for day in days:
            found = sorted(glob.glob(os.path.join(glob.escape(day), pattern)))
            if found:
                return found[0]
    return None


def batch_frame(
    spark: SparkSession, cfg: Config, rules: list, files: dict[str, str], timestamp_ms: int | None
) -> DataFrame:
    """Micro-batch rows rebuilt from its landing files, as the stream gave them to the writer.

    Args:
        files: ``{recorded URI: where the file is now}``; ``source_file`` is the URI.
        timestamp_ms: the batch's planning time (:func:`jobs.core.storage.checkpoints.batch_timestamp`,
            ms since the epoch, UTC): ``arrived_at`` and the "event_time in the future"
            rule use it, so the rebuilt batch decides as the original did.
    """
    parts = [
        spark.read.text(where).select(
            F.col("value").alias("raw_record"), F.lit(uri).alias("source_file")
        )
        for uri, where in files.items()
    ]
    lines = parts[0]
    for part in parts[1:]:
        lines = lines.unionByName(part)
    now = (
        F.lit(timestamp_ms / 1000).cast("timestamp")
        if timestamp_ms is not None
        else F.current_timestamp()
    )
    return _prepare(lines, cfg, rules, now)


def recover(spark: SparkSession, cfg: Config, writer: BatchWriter) -> list[int]:
    """Re-run the committed micro-batches that a table lost, before the stream starts.

    When a table's commit is removed (the damaged last ``_delta_log/<v>.json`` of a crash
    or a bad disk, as the load error advises) the checkpoint still says its batch is done,
    and the stream would never write it again. Each such batch (:func:`missing_batches`)
    is rebuilt from its landing files — still in the landing dir, or archived — and
    written again through :meth:`BatchWriter.replay`: the tables that hold it skip it by
    their marker, the others get exactly the missing commit, so every event is stored
    once and no session or resume point counts a batch twice.

    Returns:
        The batch ids re-run (oldest first).

    Raises:
        RecoveryError: a missing batch's landing file is neither in the landing dir nor
            in the archive (``ingest.landing_cleanup: delete``, or purged): names the
            table, the batch, the files and the way out.
    """
    missing = missing_batches(writer.engine, writer)
    archive = archive_dir(cfg.ingest, cfg.paths.lake_root)
    for batch_id, tables in missing.items():
        files: dict[str, str] = {}
        gone: list[str] = []
        for uri in batch_sources(writer.checkpoint, batch_id):
            where = locate_landing_file(local_path(uri), archive)
            if where is None:
                gone.append(local_path(uri))
            else:
                files[uri] = where
        if gone:
            raise RecoveryError(
                f"table(s) {', '.join(tables)} lost committed micro-batch {batch_id} (a commit "
                f"removed from _delta_log) and its landing file(s) {', '.join(gone[:3])}"
                f"{' ...' if len(gone) > 3 else ''} are neither in {cfg.paths.landing_dir} nor "
                f"in {archive}: put them back into {cfg.paths.landing_dir} (same names) and "
                "rerun, or restore the tables' _delta_log from a backup"
            )
        log.warning(
            "recovery: micro-batch %d is committed in the checkpoint but missing from %s; "
            "re-running it from %d landing file(s)",
            batch_id, ", ".join(tables), len(files),
        )  # fmt: skip
        if files:
            frame = batch_frame(
                spark, cfg, writer.rules, files, batch_timestamp(writer.checkpoint, batch_id)
            )
            writer.replay(frame, batch_id)
    return list(missing)


def _write_counts(result) -> str:
    """``ins=.. upd=..`` for a merge, ``appended=..`` for an append (the change-log path)."""
    m = result.metrics
    if "rows_inserted" in m or "rows_updated" in m:
        return f"ins={m.get('rows_inserted', '-')} upd={m.get('rows_updated', '-')}"
    if "rows_written" in m:
        return f"appended={m['rows_written']}"
    return "-"


def log_batch(batch_id: int, counts: dict, result, merges: dict, timings: tuple) -> None:
    """One log line per micro-batch: counts, what each merge did, and where time went."""
    sess, res = merges["playback_session"], merges["resume_state"]
    total, t_read, t_dedupe = timings
    log.info(
        "batch %d: rows_in=%d quarantined=%d duplicates_dropped=%d written=%d%s "
        "session(%s%s) resume(%s%s) %.1fs "
        "[read %.1fs, dedupe %.1fs, events %.1fs, session %.1fs, resume %.1fs]",
        batch_id,
        counts["rows_in"],
        counts["quarantined"],
        counts["duplicates"],
        counts["written"],
        " (replay: already committed)" if result.skipped else "",
        _write_counts(sess),
        " skipped" if sess.skipped else "",
        _write_counts(res),
        " skipped" if res.skipped else "",
        total,
        t_read,
        t_dedupe,
        result.seconds,
        sess.seconds,
        res.seconds,
    )


class ProgressLog:
    """Logs Spark's own per-batch figures (input rate, stream-dedupe drops) by polling.

    Polling ``query.recentProgress`` avoids a Python ``StreamingQueryListener``, whose
    callbacks can outlive the Python process at shutdown.
    """

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.stream_duplicates = 0

    def poll(self, query: StreamingQuery) -> None:
        for p in query.recentProgress:
            batch_id = p["batchId"]
            if batch_id in self.seen:
                continue
            self.seen.add(batch_id)
            dropped = sum(
                int((s.get("customMetrics") or {}).get("numDroppedDuplicateRows", 0))
                for s in p.get("stateOperators", [])
            )
            self.stream_duplicates += dropped
            if p.get("numInputRows"):
                log.info(
                    "progress batch %d: input=%d rows at %.0f rows/s, stream-dedupe dropped=%d",
                    batch_id,
                    p["numInputRows"],
                    p.get("processedRowsPerSecond") or 0.0,
                    dropped,
                )


def build_stream(spark: SparkSession, cfg: Config, rules: list | None = None) -> DataFrame:
    """The streaming DataFrame up to (not including) ``foreachBatch``.

    Args:
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
    return _prepare(lines, cfg, rules)


def _prepare(lines: DataFrame, cfg: Config, rules: list, now: Column | None = None) -> DataFrame:
    """Parse, stamp, validate and (optionally) stream-dedupe landing lines.

    Shared by the stream (:func:`build_stream`) and the re-run of a lost batch
    (:func:`batch_frame`, where ``now`` is the batch's original time; on a static frame
    ``dropDuplicatesWithinWatermark`` simply drops duplicates).
    """
    stamped = lines.transform(parse_landing_lines).withColumn(
        "arrived_at", now if now is not None else F.current_timestamp()
    )
    stream = stamped.transform(validate(cfg.ingest, now)).transform(keep_raw_for_quarantine(rules))
    if cfg.ingest.dedupe_watermark:
        stream = stream.transform(dedupe_within_watermark(cfg.ingest.dedupe_watermark))
    return stream


def start_ingest(
    spark: SparkSession, cfg: Config, once: bool
) -> tuple[StreamingQuery, BatchWriter]:
    """Create the tables if needed and start the streaming query.

    Args:
        once: drain what is in the landing dir (``availableNow``) and stop; otherwise run
            with the processing-time trigger ``ingest.trigger_interval``.
    """
    engine = get_engine(spark, cfg)
    engine.create_all(list(WRITES))
    check_tables_load(engine, WRITES)
    check_tables_files(engine, WRITES)
    os.makedirs(cfg.paths.landing_dir, exist_ok=True)
    writer = BatchWriter(engine, cfg)
    recover(spark, cfg, writer)  # committed batches a table lost (a removed commit)
    writer.clean_landing()  # files of batches committed before a crash
    # one rule list for both halves: the stream narrows rows by it, the writer applies it
    stream = build_stream(spark, cfg, writer.rules).writeStream.queryName(cfg.ingest.query_name)
    stream = stream.option("checkpointLocation", cfg.checkpoint_path(cfg.ingest.query_name))
    stream = (
        stream.trigger(availableNow=True)
        if once
        else stream.trigger(processingTime=cfg.ingest.trigger_interval)
    )
    return stream.foreachBatch(writer).start(), writer


def prepare_checkpoint(cfg: Config, action: str | None = None) -> None:
    """Check (and on request rebase or reset) the ingest's checkpoint before it starts.

    Args:
        action: None (check only), ``"rebase"`` (point the checkpoint's recorded landing
            files at ``paths.landing_dir``) or ``"reset"`` (move it aside; the landing dir
            is read anew and the exact dedupe skips every stored event).

    Raises:
        CheckpointRelocatedError: without an action, when the checkpoint was made for
            another landing dir (a moved, copied or restored lake).
    """
    checkpoint = cfg.checkpoint_path(cfg.ingest.query_name)
    if action == "reset":
        reset(checkpoint, keep=(LOCK_NAME,))
    elif action == "rebase":
        rebase(checkpoint, cfg.paths.landing_dir)
    check_location(checkpoint, cfg.paths.landing_dir)


def run(
    cfg: Config,
    once: bool,
    spark: SparkSession | None = None,
    checkpoint_action: str | None = None,
) -> dict[str, int]:
    """Run the ingest, as the checkpoint's one writer.

    Takes the checkpoint's writer lock, checks the checkpoint (:func:`prepare_checkpoint`),
    purges archived landing files past ``ingest.landing_retention_days``, then streams;
    processed landing files are archived or deleted as their batches commit
    (:mod:`jobs.core.ingest.landing`).

    Args:
        spark: the session to use (default: one built here and stopped at the end).
        checkpoint_action: see :func:`prepare_checkpoint`.

    Returns:
        The totals: rows_in, quarantined, duplicates, written, missing_files.

    Raises:
        LakeRootMissingError: ``paths.lake_root`` does not exist (exit 2 from the CLI).
        RunError: the lake root cannot be written, another writer holds the lock, the
            checkpoint belongs to another landing dir, a target table cannot be loaded or
            has a missing data file (nothing of the batch written), or a batch a table
            lost cannot be re-run (:func:`recover`).
    """
    cli.check_lake_root(cfg)  # never make a mistyped root into a new, empty lake
    checkpoint = cfg.checkpoint_path(cfg.ingest.query_name)
    with writer_lock(checkpoint, owner="ingest_playback_events"):
        prepare_checkpoint(cfg, checkpoint_action)
        cleanup_mode(cfg.ingest, cfg.paths.lake_root, cfg.paths.landing_dir)  # fail early
        purge_archive(
            archive_dir(cfg.ingest, cfg.paths.lake_root), cfg.ingest.landing_retention_days
        )
        own = spark is None
        spark = spark or build_spark("ingest_playback_events", cfg)
        try:
            return _stream(spark, cfg, once)
        finally:
            if own:
                spark.stop()


def _await(query: StreamingQuery, progress: ProgressLog) -> None:
    """Wait for the query to end, polling its progress; SIGINT/SIGTERM stop it cleanly."""
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        # PySpark's own SIGINT handler makes a py4j call while the main thread is blocked
        # in one; stop the query from this loop instead, between two polls
        previous = {
            sig: signal.signal(sig, lambda *_: stop.set())
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
    try:
        while not query.awaitTermination(1):
            progress.poll(query)
            if stop.is_set():
                log.info("stopping on signal; the checkpoint keeps the progress")
                query.stop()
                break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    progress.poll(query)


def _stream(spark: SparkSession, cfg: Config, once: bool) -> dict[str, int]:
    start = time.monotonic()
    query, writer = start_ingest(spark, cfg, once)
    log.info(
        "ingesting %s -> %s (%s)",
        cfg.paths.landing_dir,
        cfg.paths.tables_dir,
        "availableNow" if once else f"every {cfg.ingest.trigger_interval}",
    )
    progress = ProgressLog()
    try:
        _await(query, progress)
    except StreamingQueryException as exc:
        if writer.failure is not None:  # our own clear error, not Spark's wrapper
            raise writer.failure from exc
        raise
    writer.clean_landing()  # the last batch's files, and any a crash left behind
    if once:  # a bounded run leaves resume_state and playback_session themselves current
        compact(writer.engine)
    seconds = time.monotonic() - start
    totals = dict(writer.totals)
    totals["duplicates"] += progress.stream_duplicates
    log.info(
        "done in %.1fs: %s (%.0f events/s written)",
        seconds,
        totals,
        totals["written"] / seconds if seconds else 0.0,
    )
    return totals


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(
        "python -m jobs.ingest_playback_events",
        "Stream landing JSON Lines into playback_event, playback_session and "
        "resume_state (Delta), quarantining bad records.",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="process everything in the landing dir (trigger availableNow) and stop",
    )
    parser.add_argument(
        "--max-files-per-trigger",
        type=int,
        default=None,
        help="override ingest.max_files_per_trigger",
    )
    moved = parser.add_mutually_exclusive_group()
    moved.add_argument(
        "--rebase-checkpoint",
        dest="checkpoint_action",
        action="store_const",
        const="rebase",
        help="after moving, copying or restoring the lake: point the checkpoint at this "
        "lake's landing dir (nothing is re-read)",
    )
    moved.add_argument(
        "--reset-checkpoint",
        dest="checkpoint_action",
        action="store_const",
        const="reset",
        help="move the checkpoint aside and read the landing dir anew (events already "
        "stored are skipped by the exact dedupe)",
    )
    return cli.run(_run, parser, argv, overrides=_overrides)


def _run(args: argparse.Namespace, cfg: Config) -> int:
    run(cfg, once=args.once, checkpoint_action=args.checkpoint_action)
    return 0


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    if args.max_files_per_trigger is None:
        return {}
    return {"ingest": {"max_files_per_trigger": args.max_files_per_trigger}}


if __name__ == "__main__":
    sys.exit(main())
