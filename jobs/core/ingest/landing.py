"""The landing dir's lifecycle: what happens to a file once its micro-batch has committed.

``ingest.landing_cleanup`` chooses: ``archive`` (default) moves each processed file to
``<ingest.landing_archive_dir>/<UTC date>/<name>``, ``delete`` removes it, ``off`` keeps
it (the landing dir then grows forever). A file is cleaned only once the commit record
of its micro-batch (``<checkpoint>/commits/<batch id>``) exists, so a batch replayed
after a crash still finds every file it read, and only when it is the file that batch
read: same path and the modification time Spark's log recorded (a later file given a
processed file's name is left in place, unread, with a warning). The ingest cleans the previous batch's
files at the start of each micro-batch and sweeps every committed batch's files when a
run starts and ends (files left by a crash, the last batch of ``--once``).
:func:`purge_archive` deletes archive days older than ``ingest.landing_retention_days``.

Spark's own ``cleanSource`` option was measured and not kept: it cleans a batch's files
only when the *next* batch with new data is planned, so ``--once`` leaves the last
batch's files and a quiet stream keeps its last batch; it moves files on a background
thread and archives each under its full absolute path, which a moved lake breaks.

A file that vanishes between Spark's listing and its read is skipped
(``ignoreMissingFiles``) instead of failing the query; the ingest logs and counts it
(:func:`vanished`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from jobs.core.runtime.config import ConfigError, IngestSettings

log = logging.getLogger(__name__)

CLEANUP_MODES = ("archive", "delete", "off")
# read options of the landing readStream: a vanished file is skipped, not fatal
SOURCE_OPTIONS = {"ignoreMissingFiles": "true"}


def archive_dir(settings: IngestSettings, lake_root: str) -> str:
    """``ingest.landing_archive_dir`` with ``{lake_root}`` filled in, absolute."""
    return str(Path(settings.landing_archive_dir.format(lake_root=lake_root)).resolve())


def cleanup_mode(settings: IngestSettings, lake_root: str, landing_dir: str) -> str:
    """``ingest.landing_cleanup``, checked.

    Raises:
        ConfigError: not one of :data:`CLEANUP_MODES`, or the archive dir lies inside the
            landing dir (the ingest would read archived files back).
    """
    mode = settings.landing_cleanup
    if mode not in CLEANUP_MODES:
        raise ConfigError(
            f"ingest.landing_cleanup is {mode!r}; use one of {', '.join(CLEANUP_MODES)}"
        )
    folder, landing = archive_dir(settings, lake_root), str(Path(landing_dir).resolve())
    if mode == "archive" and (folder == landing or folder.startswith(landing + os.sep)):
        raise ConfigError(
            f"ingest.landing_archive_dir ({folder}) must be outside paths.landing_dir ({landing})"
        )
    return mode


def clean(
    files: Mapping[str, int | None] | Iterable[str], landing_dir: str, mode: str, archive: str
) -> int:
    """Archive or delete the processed ``files`` still in ``landing_dir``.

    A file is cleaned only when it is the file the stream read: same path and, when
    ``files`` gives one, the same modification time (ms, as Spark's file-source log
    records it). A file found under a processed file's name with another modification
    time was written after the stream read that name; Spark's file source never reads
    a path twice, so it is left in place, unread, with a warning that says to give it a
    new name.

    Args:
        files: local paths of landing files whose micro-batch has committed, or a
            mapping of such paths to the modification time (ms since the epoch) Spark
            recorded for them (:func:`jobs.core.storage.checkpoints.committed_file_times`).
        landing_dir: the landing folder the files were read from.
        mode: one of :data:`CLEANUP_MODES`.
        archive: the archive dir; a file goes to ``<archive>/<UTC date>/<name>`` (a
            numeric suffix is added when a file of that name is already there).

    Returns:
        How many files were moved or deleted (files already gone, or not the file
        that was read, are skipped).
    """
    if mode == "off":
        return 0
    recorded: Mapping[str, int | None] = (
        files if isinstance(files, Mapping) else dict.fromkeys(files)
    )
    landing = os.path.normpath(landing_dir)
    day = os.path.join(archive, dt.datetime.now(dt.UTC).date().isoformat())
    done = 0
    for path, read_ms in recorded.items():
        if os.path.dirname(path) != landing or not os.path.exists(path):
            continue
        if read_ms is not None and not same_file(path, read_ms):
            log.warning(
                "landing file %s is not the file the ingest read under that name (modified "
                "after it was read); left in place, unread: the file source never reads a "
                "path twice, so give it a new name to have it ingested",
                path,
            )
            continue
        try:
            if mode == "delete":
                os.unlink(path)
            else:
                os.makedirs(day, exist_ok=True)
                os.replace(path, _free_name(os.path.join(day, os.path.basename(path))))
            done += 1
        except FileNotFoundError:  # removed meanwhile by someone else
            continue
    if done:
        log.info(
            "%s %d processed landing file(s)", "archived" if mode == "archive" else "deleted", done
        )
    return done


def same_file(path: str, recorded_ms: int) -> bool:
    """Whether ``path``'s modification time is ``recorded_ms`` (ms since the epoch).

    Compared at whole milliseconds, the precision of Spark's file-source log (the
    local file system's ``lastModified``); a missing file is not the same file.
    """
    try:
        return os.stat(path).st_mtime_ns // 1_000_000 == recorded_ms
    except FileNotFoundError:
        return False


def _free_name(path: str) -> str:
    n, candidate = 1, path
    while os.path.exists(candidate):
        candidate, n = f"{path}.{n}", n + 1
    return candidate


def vanished(files: list[str]) -> list[str]:
    """The local ``files`` that no longer exist (URIs of other file systems are skipped)."""
    return [f for f in files if "://" not in f and not os.path.exists(f)]


def purge_archive(folder: str, retention_days: int, today: dt.date | None = None) -> int:
    """Delete the archive days (``<folder>/<YYYY-MM-DD>/``) older than ``retention_days``.

    Args:
        folder: the archive dir (missing: nothing to do).
        retention_days: whole days an archived landing file is kept after its archiving.
        today: reference UTC date (default: today).

    Returns:
        How many files were deleted.
    """
    if not os.path.isdir(folder):
        return 0
    cutoff = (today or dt.datetime.now(dt.UTC).date()) - dt.timedelta(days=retention_days)
    deleted = 0
    for entry in sorted(os.listdir(folder)):
        try:
            day = dt.date.fromisoformat(entry)
        except ValueError:
            continue  # not an archive day: never ours to delete
        if day < cutoff:
            path = os.path.join(folder, entry)
            deleted += sum(len(files) for _, _, files in os.walk(path))
            shutil.rmtree(path, ignore_errors=True)
    if deleted:
        log.info("deleted %d archived landing files older than %d days", deleted, retention_days)
    return deleted
