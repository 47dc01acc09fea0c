"""The ingest's streaming query: start it, run it as the checkpoint's one writer, report.

:func:`run` is the whole streaming ingest (``python -m jobs.ingest_playback_events``):
the checkpoint's writer lock (:mod:`jobs.core.storage.locks`), the checkpoint check, rebase
or reset (:func:`prepare_checkpoint`, :mod:`jobs.core.storage.checkpoints`), the archive
purge, the tables created and checked (:mod:`jobs.core.storage.table_health`), the lost
batches re-run (:func:`jobs.core.ingest.recovery.recover`), then the query
(:func:`start_ingest`) until it drains the landing dir (``once``) or is stopped (SIGINT /
SIGTERM stop it cleanly between two polls). Its progress is logged by polling
(:class:`ProgressLog`) to the ``ingest_playback_events`` logger.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable

from pyspark.errors import StreamingQueryException
from pyspark.sql import SparkSession
from pyspark.sql.streaming import StreamingQuery

from jobs.core.changelog.compaction import compact
from jobs.core.ingest.batch_writer import WRITES, BatchWriter
from jobs.core.ingest.landing import archive_dir, cleanup_mode, purge_archive
from jobs.core.ingest.recovery import recover
from jobs.core.ingest.stream import build_stream
from jobs.core.runtime import cli
from jobs.core.runtime.config import Config
from jobs.core.runtime.spark import build_spark
from jobs.core.storage.checkpoints import check_location, rebase, reset
from jobs.core.storage.delta import get_engine
from jobs.core.storage.locks import LOCK_NAME, writer_lock
from jobs.core.storage.table_health import check_tables_files, check_tables_load

log = logging.getLogger("ingest_playback_events")


class ProgressLog:
    """Logs Spark's own per-batch figures (input rate, stream-dedupe drops) by polling.

    Polling ``query.recentProgress`` avoids a Python ``StreamingQueryListener``, whose
    callbacks can outlive the Python process at shutdown.
    """

    def __init__(self) -> None:
        self.seen: set[int] = set()
        self.stream_duplicates = 0

    def poll(self, query: StreamingQuery) -> None:
        """Log each micro-batch of ``query.recentProgress`` not seen yet, once."""
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


def start_ingest(
    spark: SparkSession, cfg: Config, once: bool
) -> tuple[StreamingQuery, BatchWriter]:
    """Create the tables if needed and start the streaming query.

    Checks every target table loads and has its data files, re-runs the batches a table
    lost (:func:`jobs.core.ingest.recovery.recover`) and cleans the landing files of
    committed batches before the query starts.

    Args:
        spark: the session.
        cfg: the validated configuration.
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
        cfg: the validated configuration (``ingest.query_name``, ``paths.landing_dir``).
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
    session: Callable[[], SparkSession] | None = None,
) -> dict[str, int]:
    """Run the ingest, as the checkpoint's one writer.

    Takes the checkpoint's writer lock, checks the checkpoint (:func:`prepare_checkpoint`),
    purges archived landing files past ``ingest.landing_retention_days``, then streams;
    processed landing files are archived or deleted as their batches commit
    (:mod:`jobs.core.ingest.landing`).

    Args:
        cfg: the validated configuration (``paths``, ``ingest``, ``resume``).
        once: drain the landing dir and stop (``availableNow``), else run until stopped.
        spark: the session to use (it is left running).
        checkpoint_action: see :func:`prepare_checkpoint`.
        session: without ``spark``, how to build the session once the lock is held and
            the checkpoint checked (default: ``build_spark("ingest_playback_events",
            cfg)``); a session started here is stopped at the end, one that was already
            active in the process (``getOrCreate`` returned it) is left running.

    Returns:
        The totals: rows_in, quarantined, duplicates, written, missing_files.

    Raises:
        LakeRootMissingError: ``paths.lake_root`` does not exist (exit 2 from the CLI).
        RunError: the lake root cannot be written, another writer holds the lock, the
            checkpoint belongs to another landing dir, a target table cannot be loaded or
            has a missing data file (nothing of the batch written), or a batch a table
            lost cannot be re-run (:func:`jobs.core.ingest.recovery.recover`).
    """
    cli.check_lake_root(cfg)  # never make a mistyped root into a new, empty lake
    checkpoint = cfg.checkpoint_path(cfg.ingest.query_name)
    with writer_lock(checkpoint, owner="ingest_playback_events"):
        prepare_checkpoint(cfg, checkpoint_action)
        cleanup_mode(cfg.ingest, cfg.paths.lake_root, cfg.paths.landing_dir)  # fail early
        purge_archive(
            archive_dir(cfg.ingest, cfg.paths.lake_root), cfg.ingest.landing_retention_days
        )
        # a session that was already running (a notebook, a test suite calling the job's
        # main) is the caller's: only a session this run started is stopped at the end
        own = spark is None and SparkSession.getActiveSession() is None
        if spark is None:
            spark = session() if session is not None else build_spark("ingest_playback_events", cfg)
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
