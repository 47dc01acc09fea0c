"""One writer per streaming checkpoint: a lock file with its owner, pid, host and start time.

Two queries on one checkpoint race for the same batch ids: the second redoes the first's
work and dies with ``CONCURRENT_STREAM_LOG_UPDATE``. The lock makes the second refuse at
start instead. The lock file (``<checkpoint>/_writer.lock``, JSON) is created atomically
(written to a temp file, then hard-linked into place, which fails when it exists) and
removed when the run ends. A lock left by a run that died (``kill -9``, OOM) is *stale*
and taken over with a warning when its pid no longer runs on this host (or is a zombie,
or was reused by another process: the lock keeps the process's start time), or when it
guards another checkpoint folder (a copied lake). A lock held from another host is
never taken over: the message says how to remove it once that run is known dead.

The holder is judged first (host, pid, start ticks); the checkpoint is compared by
identity, never by spelling: the lock records the folder's device and inode
(``checkpoint_id``) and its real path, so the same lake reached through a second mount
path, a symlink or a bind mount is recognised as the same one and its live holder is
never taken over. Only a folder that is provably another one (another device/inode, or
both paths exist and are not the same file) makes a live holder's lock a copy.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager

from jobs.core.runtime.errors import RunError

log = logging.getLogger(__name__)

LOCK_NAME = "_writer.lock"


class WriterLockedError(RunError):
    """Another run holds the checkpoint's writer lock."""


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of ``/proc/<pid>/stat`` after the command name, or None (no /proc, no pid)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def start_ticks(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, from /proc), to tell a reused pid."""
    fields = _proc_stat(pid)
    return fields[19] if fields and len(fields) > 19 else None


def _alive(pid: int, started: str | None = None) -> bool:
    """Whether ``pid`` runs (not a zombie) and, when ``started`` is given, is that process."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # runs, as another user
        pass
    fields = _proc_stat(pid)
    if fields is None:
        return True  # no /proc here: trust kill(0)
    if fields[0] == "Z":
        return False  # exited, not yet reaped by its parent
    return started is None or start_ticks(pid) == started


def _read(path: str) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


def folder_id(path: str) -> str | None:
    """``"<device>:<inode>"`` of the folder ``path`` (the same for every path spelling), or None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return f"{st.st_dev}:{st.st_ino}"


def _other_folder(holder: dict, checkpoint: str) -> bool:
    """Whether the lock ``holder`` was provably written for another folder than ``checkpoint``.

    Compared by identity: the recorded ``checkpoint_id`` (device:inode) when the lock has
    one, else whether the recorded path and ``checkpoint`` are the same file. A recorded
    path that no longer exists here, without an id, proves nothing (False).
    """
    recorded = holder.get("checkpoint_id")
    if recorded:
        return recorded != folder_id(checkpoint)
    path = holder.get("checkpoint")
    if not path or not os.path.exists(path) or not os.path.exists(checkpoint):
        return False
    return not os.path.samefile(path, checkpoint)


def stale_reason(holder: dict, checkpoint: str) -> str | None:
    """Why the lock ``holder`` (its JSON) no longer guards ``checkpoint``; None if it does.

    The holder's process is judged first: dead on this host (or its pid reused) makes the
    lock stale. A live holder, or one on another host, keeps it unless the lock provably
    belongs to another folder (a copied lake, :func:`_other_folder`); a second path to
    the same folder is never "another" one.
    """
    if not holder:
        return "unreadable lock file"
    pid = int(holder.get("pid", -1))
    if holder.get("host") == socket.gethostname() and not _alive(pid, holder.get("pid_start")):
        return f"pid {pid} on {holder.get('host')} is no longer running"
    if _other_folder(holder, checkpoint):
        return f"written for {holder.get('checkpoint')} (a copied or moved lake)"
    return None


def _try_create(path: str, info: dict) -> bool:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(info, fh)
    try:
        os.link(tmp, path)
        return True
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)


def acquire(checkpoint: str, owner: str) -> str:
    """Take the writer lock of ``checkpoint`` (created when missing).

    Args:
        checkpoint: the query's checkpoint folder (the lock file lives in it).
        owner: what holds it, e.g. the job name; shown to a second writer.

    Returns:
        The lock file's path.

    Raises:
        WriterLockedError: a live run holds it (owner, pid, host, start time named).
    """
    os.makedirs(checkpoint, exist_ok=True)
    path = os.path.join(checkpoint, LOCK_NAME)
    info = {
        "owner": owner,
        "pid": os.getpid(),
        "pid_start": start_ticks(os.getpid()),
        "host": socket.gethostname(),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "checkpoint": os.path.realpath(checkpoint),
        "checkpoint_id": folder_id(checkpoint),
    }
    for _ in range(3):
        if _try_create(path, info):
            return path
        holder = _read(path)
        if holder is None:  # released meanwhile
            continue
        reason = stale_reason(holder, checkpoint)
        if reason is None:
            raise WriterLockedError(
                f"another {holder.get('owner')} (pid {holder.get('pid')} on "
                f"{holder.get('host')}, since {holder.get('started_at')}) is writing checkpoint "
                f"{checkpoint}: wait for it to finish or stop it; if it is dead, delete {path}"
            )
        log.warning("taking over the stale writer lock %s: %s", path, reason)
        os.unlink(path)
    raise WriterLockedError(f"could not take the writer lock {path}: it keeps changing")


def release(path: str) -> None:
    """Remove the lock at ``path`` if this process holds it."""
    holder = _read(path)
    if holder and holder.get("pid") == os.getpid() and holder.get("host") == socket.gethostname():
        os.unlink(path)


@contextmanager
def writer_lock(checkpoint: str, owner: str) -> Iterator[str]:
    """Hold the writer lock of a checkpoint for a with-block (see :func:`acquire`)."""
    path = acquire(checkpoint, owner)
    try:
        yield path
    finally:
        release(path)
