"""Re-run the committed micro-batches that a table lost, before the stream starts.

A table whose last commit was removed (a damaged ``_delta_log/<v>.json``) no longer holds
a batch the checkpoint calls done; :func:`missing_batches` finds them from the tables'
transaction markers and the checkpoint's record (:mod:`jobs.core.ingest.table_writes`),
:func:`recover` rebuilds each from its landing or archived files (:func:`batch_frame`)
and writes it again through :meth:`jobs.core.ingest.batch_writer.BatchWriter.replay`.
"""

from __future__ import annotations

import glob
import logging
import os

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs.core.ingest.batch_writer import WRITES, BatchWriter
from jobs.core.ingest.landing import archive_dir
from jobs.core.ingest.stream import prepare_lines
from jobs.core.ingest.table_writes import EMPTY_BATCHES, read_writes
from jobs.core.runtime.config import Config
from jobs.core.runtime.errors import RunError
from jobs.core.storage.checkpoints import (
    batch_sources,
    batch_timestamp,
    last_committed_batch,
    local_path,
)
from jobs.core.storage.delta import DeltaEngine

log = logging.getLogger("ingest_playback_events")


class RecoveryError(RunError):
    """Committed micro-batches are missing from a table and cannot be re-run."""


def missing_batches(engine: DeltaEngine, writer: BatchWriter) -> dict[int, list[str]]:
    """The committed micro-batches some table no longer holds: ``{batch id: [tables]}``.

    A batch is committed when the checkpoint has its commit record (``commits/<id>``).
    A table holds batch ``b`` when its transaction marker ``{query}:{query id}:{table}``
    is at ``b`` or later (Delta's ``SetTransaction``; :meth:`DeltaEngine.transaction_version`).
    ``playback_event`` is written by every batch that read rows, so every committed batch
    after its marker is missing from it (except the batches noted as empty, whose files
    all vanished before the read); the other tables are checked against the batches
    :func:`jobs.core.ingest.table_writes.record_writes` noted for them.
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
        spark: the session.
        cfg: the validated configuration (the ``ingest`` rules of :func:`prepare_lines`).
        rules: the in-stream rules (the writer's, :attr:`BatchWriter.rules`).
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
    return prepare_lines(lines, cfg, rules, now)


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
