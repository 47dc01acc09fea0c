"""Landing files written safely: hidden while written, renamed into place when complete.

The importer's file primitives: JSON Lines text as the ingest reads it, the file mode
``open()`` gives under the process umask (so an ingest running as another user of the
group can read the files), and :class:`StagedLanding`, the landing files of one import
held under hidden names until every file of it is checked.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path


def dumps(record: dict) -> str:
    """``record`` as one compact JSON line (no newline; non-ASCII kept as is)."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def file_mode() -> int:
    """0666 less the process umask: what ``open()`` would give (0644 under umask 022)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


class StagedLanding:
    """Landing files of one import, staged under hidden names until :meth:`publish`.

    Lines are written as they come (no list of events is held); a new file starts
    every ``events_per_file`` lines. Staged names start with ``.staged-``, which the
    streaming ingest (Spark's file source skips names starting with ``.`` or ``_``)
    never reads; :meth:`publish` renames each into place, :meth:`discard` deletes them.

    A published name ends with a hash of the file's bytes
    (``{prefix}-{part:05d}-{blake2b-64 hex}.jsonl``), so a name is never reused for other
    content: Spark's file source never reads a path twice, and the ingest's landing
    sweep archives a file by its recorded path, so a reused name would be skipped
    unread. The same content gets the same name (re-publishing it is harmless).
    """

    def __init__(self, landing_dir: str, events_per_file: int):
        self.dir = Path(landing_dir)
        self.events_per_file = events_per_file
        self.mode = file_mode()
        self.staged: list[tuple[Path, Path]] = []
        self._fh: io.TextIOWrapper | None = None
        self._current: Path | None = None
        self._hash = hashlib.blake2b(digest_size=8)
        self._in_file = 0
        self._prefix = ""
        self._part = 0
        self._next_part: dict[str, int] = {}

    def start(self, prefix: str) -> None:
        """Begin the files of one export: ``{prefix}-00000-{hash}.jsonl``, ``-00001-``...

        Two exports of one run with the same prefix (two ``ViewingActivity.csv`` from
        different folders) continue its part numbers.
        """
        self._close()
        if prefix not in self._next_part:
            for old in self.dir.glob(f".staged-{prefix}-*.jsonl"):  # left by a crashed run
                old.unlink()
        self._prefix, self._part = prefix, self._next_part.get(prefix, 0)

    def write(self, lines: list[str]) -> int:
        """Append event lines; returns how many were written."""
        done = 0
        while done < len(lines):
            if self._fh is None or self._in_file >= self.events_per_file:
                self._open_next()
            assert self._fh is not None
            part = lines[done : done + self.events_per_file - self._in_file]
            text = "\n".join(part) + "\n"
            self._fh.write(text)
            self._hash.update(text.encode("utf-8"))
            self._in_file += len(part)
            done += len(part)
        return done

    def _open_next(self) -> None:
        self._close()
        staged = self.dir / f".staged-{self._prefix}-{self._part:05d}.jsonl"
        self._fh = open(staged, "w", encoding="utf-8")  # noqa: SIM115 - closed in _close
        os.chmod(staged, self.mode)
        self._current = staged
        self._hash = hashlib.blake2b(digest_size=8)
        self._part += 1
        self._next_part[self._prefix] = self._part
        self._in_file = 0

    def _close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            assert self._current is not None
            final = f"{self._current.name[len('.staged-') : -len('.jsonl')]}"
            self.staged.append(
                (self._current, self.dir / f"{final}-{self._hash.hexdigest()}.jsonl")
            )
            self._current = None

    def publish(self) -> int:
        """Rename every staged file into place; returns the number of files."""
        self._close()
        for staged, final in self.staged:
            if final.exists():  # same name, same bytes: keep the file (and its mtime)
                staged.unlink()
            else:
                os.replace(staged, final)
        n = len(self.staged)
        self.staged = []
        return n

    def discard(self) -> None:
        """Delete every staged file (the import failed)."""
        self._close()
        for staged, _ in self.staged:
            staged.unlink(missing_ok=True)
        self.staged = []
