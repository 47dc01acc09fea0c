"""The checkpoint's record of the tables each micro-batch of the ingest wrote.

``<checkpoint>/_table_writes.json`` keeps, per table, the last batch ids that committed
to it; the writer (:mod:`jobs.core.ingest.batch_writer`) adds to it after each batch and
the recovery (:mod:`jobs.core.ingest.recovery`) compares it with each table's
transaction marker to find the commits a table lost.
"""

from __future__ import annotations

import json
import os

WRITES_RECORD = "_table_writes.json"
WRITES_KEPT = 20  # batch ids kept per table in the record
EMPTY_BATCHES = "_empty"  # the record's key for batches that read no row


def record_writes(checkpoint: str, batch_id: int, written: list[str]) -> None:
    """Note in the checkpoint that micro-batch ``batch_id`` committed to the ``written`` tables.

    ``<checkpoint>/_table_writes.json`` keeps, per table, the last :data:`WRITES_KEPT`
    batch ids that wrote it (replaced atomically). :func:`jobs.core.ingest.recovery.recover` compares them with each
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
