"""Explicit WATCHED / ABANDONED statements as landing events, written exactly once.

An app's POST becomes one JSON line in the landing zone, in the contract of
:data:`jobs.core.tables.LANDING_EVENT_SCHEMA` (the statement's fields under the names of
:data:`jobs.core.tables.STATEMENT_FIELDS`), in a file of its own named by the
request's deterministic record id. The record id, the ``session_id`` (``api-`` + id)
and hence the ingest's dedupe key ``(session_id, event_time)`` all derive from
(profile, statement, item, idempotency key); the file is created with an exclusive
hard link from a hidden temp file, so a retried or concurrent duplicate POST finds the
file and writes nothing (and the ingest would drop a second copy anyway).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any


def record_id(profile_id: int, event_type: str, item_id: int, idempotency_key: str) -> str:
    """Deterministic id of a statement: 32 hex chars of SHA-256."""
    text = f"{profile_id}|{event_type}|{item_id}|{idempotency_key}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def landing_file(landing_dir: str, rid: str) -> Path:
    """The landing file of record ``rid`` (``*.jsonl``: the ingest's glob)."""
    return Path(landing_dir) / f"api-{rid}.jsonl"


def utc_text(t: dt.datetime) -> str:
    """ISO-8601 UTC with microseconds and a ``Z``: the landing contract's format."""
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_once(landing_dir: str, rid: str, event: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Create the landing file of ``rid`` with ``event`` unless it exists.

    Returns:
        (the event stored under ``rid``, True when it already existed: a retry).
    """
    target = landing_file(landing_dir, rid)
    if target.exists():
        return json.loads(target.read_text().splitlines()[0]), True
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-api-", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(event, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, target)  # atomic and exclusive: a concurrent twin gets FileExistsError
        except FileExistsError:
            return json.loads(target.read_text().splitlines()[0]), True
    finally:
        os.unlink(tmp)
    return event, False
