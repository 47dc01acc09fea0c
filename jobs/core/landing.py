"""The landing dir's lifecycle: what happens to a file once its micro-batch has committed.

Spark's file source does it (``cleanSource``): after a micro-batch commits, the files it
read are moved under ``ingest.landing_archive_dir`` (``archive``, the default; Spark keeps
each file's absolute path below the archive dir) or deleted (``delete``); ``off`` keeps
them. Spark cleans only after the batch's commit record is written, so a batch replayed
after a crash still finds its files, which is what exactly-once needs; a step of our own
inside ``foreachBatch`` would run before that record and could not be as safe.
:func:`purge_archive` then deletes archived files older than
``ingest.landing_retention_days`` (by their landing time: Spark's move keeps the mtime).

A file that vanishes between Spark's listing and its read is skipped
(``ignoreMissingFiles``) instead of failing the query; the ingest logs and counts it
(:func:`vanished`).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from jobs.core.config import ConfigError, IngestSettings

log = logging.getLogger(__name__)

CLEANUP_MODES = ("archive", "delete", "off")


def archive_dir(settings: IngestSettings, lake_root: str) -> str:
    """``ingest.landing_archive_dir`` with ``{lake_root}`` filled in, absolute."""
    return str(Path(settings.landing_archive_dir.format(lake_root=lake_root)).resolve())


def source_options(settings: IngestSettings, lake_root: str, landing_dir: str) -> dict[str, str]:
    """Options of the landing ``readStream`` for cleanup and missing files.

    Raises:
        ConfigError: ``ingest.landing_cleanup`` is not one of :data:`CLEANUP_MODES`, or
            the archive dir lies inside the landing dir (Spark would read it back).
    """
    mode = settings.landing_cleanup
    if mode not in CLEANUP_MODES:
        raise ConfigError(
            f"ingest.landing_cleanup is {mode!r}; use one of {', '.join(CLEANUP_MODES)}"
        )
    options = {"ignoreMissingFiles": "true", "cleanSource": mode}
    if mode == "archive":
        folder = archive_dir(settings, lake_root)
        landing = str(Path(landing_dir).resolve())
        if folder == landing or folder.startswith(landing + os.sep):
            raise ConfigError(
                f"ingest.landing_archive_dir ({folder}) must be outside paths.landing_dir "
                f"({landing})"
            )
        os.makedirs(folder, exist_ok=True)
        options["sourceArchiveDir"] = folder
    return options


def vanished(files: list[str]) -> list[str]:
    """The local ``files`` that no longer exist (URIs of other file systems are skipped)."""
    return [f for f in files if "://" not in f and not os.path.exists(f)]


def purge_archive(folder: str, retention_days: float, now: float | None = None) -> int:
    """Delete files under ``folder`` whose mtime is more than ``retention_days`` before ``now``.

    Args:
        folder: the archive dir (missing: nothing to do).
        retention_days: days to keep an archived landing file, counted from its mtime
            (the time it landed; Spark's archive move keeps it).
        now: reference time, seconds since the epoch (default: the current time).

    Returns:
        How many files were deleted. Empty folders left behind are removed too.
    """
    cutoff = (now if now is not None else time.time()) - retention_days * 86_400
    deleted = 0
    for root, _dirs, files in os.walk(folder, topdown=False):
        for name in files:
            path = os.path.join(root, name)
            try:
                if os.stat(path).st_mtime < cutoff:
                    os.unlink(path)
                    deleted += 1
            except FileNotFoundError:
                continue
        if root != folder and not os.listdir(root):
            os.rmdir(root)
    if deleted:
        log.info("deleted %d archived landing files older than %s days", deleted, retention_days)
    return deleted
