"""The writer lock's rules (jobs/core/storage/locks.py) on lock files written by hand.

The take-over scenarios (dead pid, reused pid, copied lake, symlinked lake, another host)
are in tests/jobs/test_ingest_operations.py; these pin the rules under them.
"""

from __future__ import annotations

import json
import os
import socket

import pytest

from jobs.core.storage import locks
from jobs.core.storage.locks import LOCK_NAME, WriterLockedError


def holder(checkpoint: str, **extra) -> dict:
    """A lock held by this very process, as acquire() writes it."""
    info = {
        "owner": "ingest",
        "pid": os.getpid(),
        "pid_start": locks.start_ticks(os.getpid()),
        "host": socket.gethostname(),
        "started_at": "2026-11-23T10:00:00+00:00",
        "checkpoint": checkpoint,
        "checkpoint_id": locks.folder_id(checkpoint),
    }
    info.update(extra)
    return info


def test_stale_reason_judges_the_holder_then_the_folder(tmp_path):
    cp = str(tmp_path)
    assert locks.stale_reason(holder(cp), cp) is None  # alive, same folder
    assert locks.stale_reason({}, cp) == "unreadable lock file"
    assert "no longer running" in locks.stale_reason(holder(cp, pid_start="0"), cp)
    # a live holder on another host keeps it, unless the lock is provably another folder's
    assert locks.stale_reason(holder(cp, host="other-node", pid=1), cp) is None
    moved = holder(cp, checkpoint_id="0:1")
    assert "a copied or moved lake" in locks.stale_reason(moved, cp)
    # without an id, a recorded path that does not exist here proves nothing
    gone = {**holder(cp), "checkpoint": str(tmp_path / "gone"), "checkpoint_id": None}
    assert locks.stale_reason(gone, cp) is None


def test_folder_id_is_the_same_for_every_spelling(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").symlink_to(tmp_path / "a", target_is_directory=True)
    assert locks.folder_id(str(tmp_path / "a")) == locks.folder_id(str(tmp_path / "b" / "."))
    assert locks.folder_id(str(tmp_path / "none")) is None


def test_one_process_holds_the_lock_once_and_releases_only_its_own(tmp_path):
    cp = str(tmp_path / "cp")
    path = locks.acquire(cp, "ingest")  # the folder is created
    assert path == os.path.join(cp, LOCK_NAME)
    with pytest.raises(WriterLockedError, match=rf"another ingest \(pid {os.getpid()} "):
        locks.acquire(cp, "ingest")  # a second query in this same (live) process
    assert sorted(os.listdir(cp)) == [LOCK_NAME]  # no temp file left
    locks.release(path)
    assert not os.path.exists(path)
    # a lock that another process holds is not released by this one
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(holder(cp, pid=os.getppid()), fh)
    locks.release(path)
    assert os.path.exists(path)
    locks.release(str(tmp_path / "none" / LOCK_NAME))  # nothing there: nothing to do
