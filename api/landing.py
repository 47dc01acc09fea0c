"""Explicit WATCHED / ABANDONED statements as landing events, written exactly once.

An app's POST becomes one JSON line in the landing zone, in the contract of
:data:`jobs.core.tables.registry.LANDING_EVENT_SCHEMA` (the statement's fields under the names of
:data:`jobs.core.tables.registry.STATEMENT_FIELDS`), in a file of its own named by the
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

from jobs.core.rules.as_of import to_utc


def record_id(profile_id: int, event_type: str, item_id: int, idempotency_key: str) -> str:
    """Deterministic id of a statement: 32 hex chars of SHA-256."""
    text = f"{profile_id}|{event_type}|{item_id}|{idempotency_key}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def landing_file(landing_dir: str, rid: str) -> Path:
    """The landing file of record ``rid`` (``*.jsonl``: the ingest's glob)."""
    return Path(landing_dir) / f"api-{rid}.jsonl"


def utc_text(t: dt.datetime) -> str:
    """ISO-8601 UTC with microseconds and a ``Z``: the landing contract's format.

    The year always has 4 digits (``strftime("%Y")`` writes year 1 as ``1``).
    """
    return to_utc(t).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


class IdempotencyConflict(ValueError):
    """An Idempotency-Key already accepted with another body."""


def body_digest(body: dict[str, Any]) -> str:
    """SHA-256 of a request's validated body (keys sorted): what a retry must repeat."""
    text = json.dumps(body, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _create_exclusive(target: Path, text: str) -> bool:
    """Create ``target`` holding ``text`` unless it exists (atomic, fsynced); True if created."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, target)  # atomic and exclusive
        except FileExistsError:
            return False
    finally:
        os.unlink(tmp)
    return True


def accept_once(
    ledger_dir: str, landing_dir: str, rid: str, digest: str, event: dict[str, Any]
) -> tuple[dict[str, Any], bool]:
    """Land ``event`` for record ``rid`` once, remembering the answer in the ledger.

    The ledger (``api.idempotency_dir``: one small file per record id holding the body
    digest, ``session_id`` and ``event_time``, no personal data) outlives the landing file,
    which the ingest archives or deletes: a retry after that still gets the first answer.
    A record id whose ledger entry exists but whose landing never completed (a crash in
    between) is landed on the retry, with the first event time.

    Returns:
        (``session_id`` and ``event_time`` of the record, True for a retry).

    Raises:
        IdempotencyConflict: the record id was accepted with a different body digest.
    """
    entry = Path(ledger_dir) / f"{rid}.json"
    first = {"digest": digest, "session_id": event["session_id"], "event_time": event["event_time"]}
    created = _create_exclusive(entry, json.dumps(first))
    stored = first if created else json.loads(entry.read_text(encoding="utf-8"))
    if stored["digest"] != digest:
        raise IdempotencyConflict(rid)
    landed = Path(ledger_dir) / f"{rid}.landed"
    if created or not landed.exists():
        event = {**event, "session_id": stored["session_id"], "event_time": stored["event_time"]}
        write_once(landing_dir, rid, event)
        landed.touch()
    return {"session_id": stored["session_id"], "event_time": stored["event_time"]}, not created


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
