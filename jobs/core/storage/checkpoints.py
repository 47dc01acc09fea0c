"""Structured Streaming checkpoints of the file source: where they point, relocation.

Spark's file source records every landing file it has read in the checkpoint
(``sources/<n>/<batch id>``, and ``<batch id>.compact`` every 10 batches: one JSON line
per file, ``{"path": "file:///.../landing/a.jsonl", "timestamp": ..., "batchId": ...}``).
The paths are absolute, so a lake that is copied, moved or restored under another root
keeps a checkpoint that names the old landing dir, and Spark fails every micro-batch with
``Wrong basePath``. :func:`check_location` detects that before the query starts;
:func:`rebase` rewrites the recorded paths (nothing is re-read, the query id and with it
every table's transaction marker ``{query}:{query id}:{table}`` stay the same) and
:func:`reset` sets the checkpoint aside (a new query re-reads the landing dir; the exact
dedupe against ``playback_event`` skips every event already stored).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlparse

from jobs.core.runtime.errors import RunError

log = logging.getLogger(__name__)


class CheckpointRelocatedError(RunError):
    """The checkpoint was written for another landing dir (a moved or copied lake)."""


def _log_files(checkpoint: str) -> Iterator[Path]:
    """Every file-source log file (``sources/<n>/<batch id>[.compact]``) of ``checkpoint``."""
    sources = Path(checkpoint) / "sources"
    if not sources.is_dir():
        return
    for source in sorted(sources.iterdir()):
        entries = source.iterdir() if source.is_dir() else iter(())
        logs = [e for e in entries if not e.name.startswith(".") and e.name.split(".")[0].isdigit()]
        yield from sorted(logs, key=lambda e: (int(e.name.split(".")[0]), e.name))


def _entries(log_file: Path) -> list[dict]:
    """The JSON entries of one log file (its first line is the format version, ``v1``)."""
    lines = log_file.read_text(encoding="utf-8").splitlines()[1:]
    return [json.loads(line) for line in lines if line.strip()]


def local_path(uri: str) -> str:
    """``file:///a/b%20c`` -> ``/a/b c``; other schemes are returned unchanged."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return os.path.normpath(unquote(parsed.path))
    return uri


def recorded_landing_dir(checkpoint: str) -> str | None:
    """The landing dir the checkpoint's file source read from (local path), or None.

    None when the checkpoint has not recorded a file yet.
    """
    for log_file in _log_files(checkpoint):
        for entry in _entries(log_file):
            return os.path.dirname(local_path(entry["path"]))
    return None


def batch_sources(checkpoint: str, batch_id: int) -> list[str]:
    """The landing files of micro-batch ``batch_id`` as recorded (URIs, ``file:///...``).

    The recorded form is what the stream's ``_metadata.file_path`` gave the batch's rows
    (``source_file`` of ``playback_event_quarantine``).
    """
    out: list[str] = []
    for log_file in _log_files(checkpoint):
        if int(log_file.name.split(".")[0]) < batch_id:
            continue
        out += [e["path"] for e in _entries(log_file) if e["batchId"] == batch_id]
        if out:
            break
    return out


def batch_timestamp(checkpoint: str, batch_id: int) -> int | None:
    """When micro-batch ``batch_id`` was planned (``batchTimestampMs``: ms since the epoch, UTC).

    Read from the offset log (``offsets/<batch id>``: a version line, then the batch's
    metadata as JSON); None when the file is missing or unreadable.
    """
    path = Path(checkpoint) / "offsets" / str(batch_id)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        return int(json.loads(lines[1])["batchTimestampMs"])
    except (OSError, IndexError, KeyError, ValueError):
        return None


def batch_files(checkpoint: str, batch_id: int) -> list[str]:
    """The landing files (local paths or URIs) Spark planned for micro-batch ``batch_id``."""
    out: list[str] = []
    for log_file in _log_files(checkpoint):
        if int(log_file.name.split(".")[0]) < batch_id:
            continue
        out += [local_path(e["path"]) for e in _entries(log_file) if e["batchId"] == batch_id]
        if out:
            break
    return out


def last_committed_batch(checkpoint: str) -> int | None:
    """The id of the newest micro-batch whose commit record (``commits/<id>``) exists."""
    commits = Path(checkpoint) / "commits"
    ids = [int(p.name) for p in commits.iterdir() if p.name.isdigit()] if commits.is_dir() else []
    return max(ids, default=None)


def committed_files(checkpoint: str) -> list[str]:
    """Every landing file (local path) read by a micro-batch that has committed."""
    last = last_committed_batch(checkpoint)
    if last is None:
        return []
    seen: dict[str, None] = {}
    for log_file in _log_files(checkpoint):
        for entry in _entries(log_file):
            if entry["batchId"] <= last:
                seen[local_path(entry["path"])] = None
    return list(seen)


def check_location(checkpoint: str, landing_dir: str) -> None:
    """Raise when ``checkpoint`` was made for another landing dir than ``landing_dir``.

    Raises:
        CheckpointRelocatedError: names both dirs and the two ways out.
    """
    recorded = recorded_landing_dir(checkpoint)
    if recorded is None or recorded == os.path.normpath(landing_dir):
        return
    raise CheckpointRelocatedError(
        f"checkpoint {checkpoint} was made for landing dir {recorded}, not {landing_dir} "
        "(the lake was moved, copied or restored): rerun with --rebase-checkpoint to point it "
        "at the new landing dir (nothing is re-read), or --reset-checkpoint to set it aside "
        "and re-read the landing dir (stored events are skipped)"
    )


def rebase(checkpoint: str, landing_dir: str) -> int:
    """Rewrite the file-source log of ``checkpoint`` so its paths are under ``landing_dir``.

    Each recorded path keeps its file name; only its folder changes. Files are rewritten
    whole (temp file + rename) and Hadoop's ``.<name>.crc`` checksums beside them removed.

    Returns:
        How many recorded paths changed.
    """
    target = Path(landing_dir).resolve().as_uri()
    changed = 0
    for log_file in _log_files(checkpoint):
        lines = log_file.read_text(encoding="utf-8").splitlines()
        out = lines[:1]
        for line in lines[1:]:
            entry = json.loads(line)
            new = f"{target}/{os.path.basename(local_path(entry['path']))}"
            changed += new != entry["path"]
            entry["path"] = new
            out.append(json.dumps(entry, separators=(",", ":")))
        tmp = log_file.with_name(f".{log_file.name}.rebase")
        tmp.write_text("\n".join(out) + "\n", encoding="utf-8")
        os.replace(tmp, log_file)
        log_file.with_name(f".{log_file.name}.crc").unlink(missing_ok=True)
    log.warning(
        "rebased checkpoint %s onto %s (%d recorded paths)", checkpoint, landing_dir, changed
    )
    return changed


def reset(checkpoint: str, keep: tuple[str, ...] = ()) -> str | None:
    """Move ``checkpoint`` aside to ``<checkpoint>.reset-<UTC time>``; the next run starts anew.

    Args:
        checkpoint: the query's checkpoint folder.
        keep: names of files inside the checkpoint that stay (e.g. the writer lock).

    Returns:
        Where the old checkpoint went, or None when there was none.
    """
    if not os.path.isdir(checkpoint):
        return None
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = f"{checkpoint}.reset-{stamp}"
    os.rename(checkpoint, aside)
    os.makedirs(checkpoint)
    for name in keep:
        if os.path.exists(os.path.join(aside, name)):
            shutil.move(os.path.join(aside, name), os.path.join(checkpoint, name))
    log.warning("checkpoint %s moved aside to %s; the landing dir is read anew", checkpoint, aside)
    return aside


def committed_file_times(checkpoint: str, batch_id: int | None = None) -> dict[str, int]:
    """The landing files of committed micro-batches with the modification time Spark saw.

    Each file-source log entry records the file's path and ``timestamp``, its
    modification time (ms since the epoch, UTC) when Spark listed it. A file now at that
    path with another modification time is not the file the stream read (a later file
    given the same name): the landing sweep leaves it alone.

    Args:
        checkpoint: the query's checkpoint folder.
        batch_id: only this micro-batch's files (empty unless it has committed); None:
            every committed batch's files.

    Returns:
        Local path (or URI of another file system) -> recorded modification time in ms;
        the newest entry wins for a path recorded twice.
    """
    last = last_committed_batch(checkpoint)
    if last is None or (batch_id is not None and not 0 <= batch_id <= last):
        return {}
    out: dict[str, int] = {}
    for log_file in _log_files(checkpoint):
        if batch_id is not None and int(log_file.name.split(".")[0]) < batch_id:
            continue
        for entry in _entries(log_file):
            if (entry["batchId"] == batch_id) if batch_id is not None else entry["batchId"] <= last:
                out[local_path(entry["path"])] = int(entry["timestamp"])
    return out
