"""Checks that tables can be loaded before a job writes to any of them.

A job that writes several tables per run (the ingest writes five per micro-batch) must
not commit to some and then fail on a table whose log is corrupt or unreadable: that
leaves a partial result. Loading every target's Delta log first turns such a failure
into one clear error before any commit. When the table's newest commit file is the
damaged one (a truncated ``_delta_log/<version>.json``), the error names that file: the
ingest's recovery (``jobs.core.ingest.recovery.recover``) re-runs the micro-batches it
held once it is removed, so removing it loses nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from jobs.core.runtime.errors import RunError
from jobs.core.storage.delta import DeltaEngine, TableFileMissingError, missing_file_message


class TableUnreadableError(RunError):
    """A Delta table exists but its log cannot be loaded (corrupt, truncated, unreadable)."""


def damaged_last_commit(table_path: str) -> str | None:
    """The table's newest commit file (``_delta_log/<version>.json``) when it does not parse.

    Args:
        table_path: the table's folder (local).

    Returns:
        The file's path when one of its lines is not JSON (a truncated or garbled write),
        else None (the damage is elsewhere, or the log is unreadable as a whole).
    """
    log_dir = Path(table_path) / "_delta_log"
    try:
        commits = sorted(
            (p for p in log_dir.glob("*.json") if p.stem.isdigit()), key=lambda p: int(p.stem)
        )
    except OSError:
        return None
    if not commits:
        return None
    last = commits[-1]
    try:
        for line in last.read_text(encoding="utf-8").splitlines():
            if line.strip():
                json.loads(line)
    except (OSError, ValueError):
        return str(last)
    return None


def check_tables_load(engine: DeltaEngine, names: list[str] | tuple[str, ...]) -> dict[str, int]:
    """Load the Delta log of every table in ``names``.

    Returns:
        Each table's current version.

    Raises:
        TableUnreadableError: the first table that does not load, named with its path,
            the reason (first line) and what to do; when its newest commit file is the
            damaged one, that file is named with the command that removes it.
    """
    versions: dict[str, int] = {}
    for name in names:
        try:
            versions[name] = engine.version(name)
        except Exception as exc:  # noqa: BLE001 - any failure to load is reported the same way
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            damaged = damaged_last_commit(engine.path(name))
            if damaged is None:
                fix = "Restore its _delta_log from a backup, then rerun"
            else:
                # delta-spark's checksum of that version, and Hadoop's of the file
                crcs = [damaged[:-5] + ".crc", os.path.join(
                    os.path.dirname(damaged), f".{os.path.basename(damaged)}.crc"
                )]  # fmt: skip
                extra = "".join(f" {c}" for c in crcs if os.path.exists(c))
                fix = (
                    f"Its last commit {damaged} is damaged: restore it from a backup, or "
                    f"remove it (rm {damaged}{extra}) and rerun the ingest, which re-runs the "
                    f"micro-batches that commit held from their landing files (landing dir or "
                    f"archive)"
                )
            raise TableUnreadableError(
                f"table {name} at {engine.path(name)} cannot be loaded ({reason}); nothing "
                f"was written. {fix}"
            ) from exc
    return versions


def check_tables_files(engine: DeltaEngine, names: list[str] | tuple[str, ...]) -> None:
    """Check that every data file the tables' current snapshots reference exists (local files).

    One stat per file, so a job runs it once at start, not per micro-batch: a file deleted
    under a table fails here, before anything is written, instead of half-way through.

    Raises:
        TableFileMissingError: the first table with a missing file, naming the file and
            the ways out (restore it, or drop its entry with ``FSCK REPAIR TABLE``).
    """
    for name in names:
        gone = engine.missing_files(name)
        if gone:
            raise TableFileMissingError(missing_file_message(name, engine.path(name), gone[0]))
