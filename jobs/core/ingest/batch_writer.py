"""The ingest's ``foreachBatch``: one micro-batch written to every table, exactly once.

    foreachBatch:  counts + in-stream rules (one pass over the cached batch)
                   dedupe: dropDuplicates in the batch, minus keys in playback_event
                   at once: quarantine ─▶ playback_event_quarantine
                            append     ─▶ playback_event (partitioned by dt, country_code)
                            append     ─▶ viewing_statement (WATCHED / ABANDONED + fields)
                            append     ─▶ playback_session_change (or merge ─▶ playback_session)
                            append     ─▶ resume_state_change (or merge ─▶ resume_state)
                            counts     ─▶ dq_result
                   then (``REDIS_URL`` set): the batch's resume rows ─▶ Redis
                            (:mod:`jobs.core.ingest.hot_sync`; Redis down: a warning)

Every table write carries its own transaction marker (app id ``{query}:{query id}:{table}``,
version = batch id), so a batch that crashed between two commits redoes only the missing
ones; the tables each batch wrote are recorded in the checkpoint
(:mod:`jobs.core.ingest.table_writes`). Log lines go to the ``ingest_playback_events``
logger (one per micro-batch, :func:`log_batch`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor

from pyspark.sql import DataFrame

from jobs.core.changelog.compaction import compact_if_due
from jobs.core.ingest.hot_sync import HotSync
from jobs.core.ingest.landing import archive_dir, clean, cleanup_mode, vanished
from jobs.core.ingest.stream import (
    KEY,
    BatchPlan,
    drop_stored,
    plan_batch,
    to_events,
    to_quarantine,
    to_statements,
)
from jobs.core.ingest.stream_expectations import (
    check_quarantine_ratio,
    load_quarantine_ratio,
    load_rules,
    write_stream_results,
)
from jobs.core.ingest.table_writes import EMPTY_BATCHES, record_writes
from jobs.core.rules.playback_state import apply_events
from jobs.core.runtime.config import Config
from jobs.core.runtime.errors import RunError
from jobs.core.storage.checkpoints import batch_files, committed_file_times
from jobs.core.storage.delta import DeltaEngine
from jobs.core.storage.table_health import check_tables_load

log = logging.getLogger("ingest_playback_events")

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


class BatchWriter:
    """The ``foreachBatch`` function: writes one micro-batch to all tables, idempotently.

    Steps per micro-batch: every target table must load (else nothing is written), one
    counting pass (:func:`jobs.core.ingest.stream.plan_batch`), the landing files that vanished before the read
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
        self.hot = HotSync.from_config(cfg)  # None unless hot_store.url_env is set

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
        """The transaction app id of ``table``'s commits: ``{query}:{query id}:{table}``."""
        return f"{self.query}:{self.query_id}:{table}"

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        """Write micro-batch ``batch_id`` (the ``foreachBatch`` call of the live stream).

        Archives or deletes the previous batch's landing files first (committed by now),
        then writes this batch, counting its landing files that vanished before the read.

        Raises:
            RunError: the batch could not be written (kept in :attr:`failure` too).
        """
        self.clean_landing(batch_id - 1)  # committed before this batch was planned
        self._process(batch, batch_id, live=True)

    def replay(self, batch: DataFrame, batch_id: int) -> None:
        """Write a committed micro-batch again, for the tables that lost its commit.

        ``batch`` is the batch rebuilt from its landing files (:func:`jobs.core.ingest.recovery.batch_frame`); each
        table's transaction marker skips the tables that still hold the batch, so only the
        missing commits are made (see :func:`jobs.core.ingest.recovery.recover`). Landing files are neither cleaned
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
        """The batch's ``playback_event`` rows without duplicates (:func:`jobs.core.ingest.stream.drop_stored`)."""
        events = to_events(batch, self.query_id, batch_id)
        if not self.cfg.ingest.dedupe_watermark:
            # no stateful stream dedupe: duplicates within the micro-batch go here
            events = events.dropDuplicates(KEY)
        if self.cfg.ingest.dedupe_against_table:
            events = drop_stored(self.engine, events, self.query_id, batch_id, plan.spans)
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
        are recorded in the checkpoint (:func:`jobs.core.ingest.table_writes.record_writes`) for
        :func:`jobs.core.ingest.recovery.recover`.

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
            # the resume rows just committed, collected while the events are cached
            hot_rows = self.hot.rows(events) if self.hot else []
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
        if self.hot:  # after every commit; Redis trouble is logged, never raised
            self.hot.push(hot_rows, batch_id)
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
