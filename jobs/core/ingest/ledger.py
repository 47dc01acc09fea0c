"""Import identity: which viewings and which exports a lake already holds, per account label.

Two ledgers keep an import from counting a viewing twice:

* the identity ledger (``importer.ledger_dir``, :class:`IdentityLedger`): the content
  identity (:func:`jobs.core.ingest.netflix_export.viewing_identity`) of every viewing
  imported, per account label. A monthly re-download imports only the viewings not
  imported yet, a re-save under the same label imports nothing, and viewings already
  imported under another label make the import fail unless ``force``;
* the ``import_ledger`` table: each export's fingerprint (of those identities) and the
  account label it was imported under, checked the same way (:func:`check_labels`).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import io
import itertools
import logging
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

from jobs.core.ingest.netflix_export import identity_conflicts, normalize_name
from jobs.core.ingest.staging import file_mode
from jobs.core.ingest.viewings import account_id_for
from jobs.core.runtime.cli import JobError
from jobs.core.storage.delta import DeltaEngine, MergeSpec
from jobs.core.tables.registry import get_spec

log = logging.getLogger("import_viewing_activity")


class ImportFailedError(JobError):
    """The import read its input but must not publish it (exit 1); nothing was published."""


class ImportCounts(Protocol):
    """What the ledgers read and count on an import's report (:class:`~jobs.core.ingest.export_import.ImportReport`).

    Attributes:
        sessions: viewings to import.
        already_imported: viewings skipped as already imported under this label.
        other_labels: viewings already imported, per other account label.
        fingerprints: export file name to its fingerprint.
    """

    sessions: int
    already_imported: int
    other_labels: Counter
    fingerprints: dict


class IdentitySets:
    """Which viewing identities the lake already holds, and under which account label.

    Built from the :class:`IdentityLedger` at the start of an import; :meth:`admit`
    decides per viewing of the import (see
    :func:`jobs.core.ingest.export_import.import_files`).
    """

    def __init__(self, own: set[str], others: dict[str, str]):
        self.own = own
        self.others = others
        self.this_run: set[str] = set()

    def admit(self, identity: str, report: ImportCounts) -> bool:
        """Whether a viewing is new; counts the skipped ones in ``report``.

        A viewing already imported under this account, or met earlier in this run (two
        overlapping exports in one import), is skipped (``report.already_imported``).
        One imported under another label is admitted but counted in
        ``report.other_labels`` (the import then refuses unless ``force``).
        """
        if identity in self.own or identity in self.this_run:
            report.already_imported += 1
            return False
        self.this_run.add(identity)
        label = self.others.get(identity)
        if label is not None:
            report.other_labels[label] += 1
        return True


class IdentityLedger:
    """The content identities of every viewing imported, one file per account label.

    ``{folder}/{account_id}.ids``: first line ``# account: <label>``, then one
    :func:`viewing_identity` (32 hex characters) per line. An import reads it before
    its first row (viewings already there are skipped, so a re-download or re-save adds
    only what is new) and appends the viewings it published right after publishing
    them; each file is rewritten whole (temp file + rename). A lock file
    (``{folder}/.lock``, ``flock``) makes concurrent imports of one lake take turns.
    Memory: ~100 bytes per viewing of the lake while an import runs.
    """

    def __init__(self, folder: str):
        self.folder = Path(folder)
        self._lock_fh: io.TextIOWrapper | None = None

    def __enter__(self) -> IdentityLedger:
        """Take the ledger's lock (waiting, with a warning, while another import holds it)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock_fh = open(self.folder / ".lock", "a")  # noqa: SIM115 - closed in __exit__
        try:
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("%s: another import is running; waiting for it to finish", self.folder)
            fcntl.flock(self._lock_fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        """Release the lock."""
        if self._lock_fh is not None:
            self._lock_fh.close()  # releases the lock
            self._lock_fh = None

    def _path(self, account: str) -> Path:
        return self.folder / f"{account_id_for(account)}.ids"

    def has(self, account: str) -> bool:
        """Whether any viewing was ever recorded under ``account`` (no lock needed)."""
        return self._path(account).exists()

    def load(self, account: str) -> IdentitySets:
        """The identities imported under ``account`` and, apart, under every other label."""
        own: set[str] = set()
        others: dict[str, str] = {}
        mine = self._path(account)
        for path in sorted(self.folder.glob("*.ids")):
            with path.open(encoding="utf-8") as fh:
                header = fh.readline()
                label = header.removeprefix("# account:").strip()
                if path == mine:
                    own.update(line.rstrip("\n") for line in fh)
                else:
                    for line in fh:
                        others.setdefault(line.rstrip("\n"), label)
        own.discard("")
        return IdentitySets(own, others)

    def record(self, account: str, identities: Iterable[str]) -> int:
        """Append ``identities`` to ``account``'s file; returns how many were new."""
        path = self._path(account)
        old: list[str] = []
        if path.exists():
            old = path.read_text(encoding="utf-8").splitlines()[1:]
        have = set(old)
        new = [i for i in identities if i not in have]
        if not new:
            return 0
        tmp = path.with_name(f".tmp-{path.name}")
        with tmp.open("w", encoding="utf-8") as fh:
            fh.write(f"# account: {account}\n")
            for line in itertools.chain(old, new):
                fh.write(line + "\n")
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
        return len(new)


LEDGER_TABLE = "import_ledger"


def read_ledger(engine: DeltaEngine) -> list[tuple[str, str]]:
    """``(fingerprint, account_label)`` of every earlier import (empty for a new lake)."""
    if not engine.exists(LEDGER_TABLE):
        return []
    return [(r.fingerprint, r.account_label) for r in engine.read(LEDGER_TABLE).collect()]


def record_imports(
    engine: DeltaEngine, report: ImportCounts, account: str, sources: list[str]
) -> None:
    """Upsert this import's ``(fingerprint, account)`` rows into ``import_ledger``."""
    spec = get_spec(LEDGER_TABLE)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    rows = [
        (fp, account, account_id_for(account), name, int(fp.split("-")[0]), now)
        for name, fp in report.fingerprints.items()
        if fp
    ]
    if not rows:
        return
    engine.create(spec)
    df = engine.spark.createDataFrame(rows, spec.schema)
    on = " AND ".join(f"t.{k} = s.{k}" for k in spec.key)
    engine.merge(LEDGER_TABLE, df, MergeSpec(on=on))
    log.info("%s: recorded %s as %r", LEDGER_TABLE, sorted(report.fingerprints), account)


def check_legacy_imports(
    ledger: Iterable[tuple[str, str]], account: str, ledger_dir: str, record_only: bool
) -> None:
    """Refuse to import for an account imported before the identity ledger existed.

    Such a lake holds the account's viewings under session ids built from the raw
    cells, and the identity ledger does not know them: importing any export of that
    account again would count its viewings twice. ``--record-only`` on the exports
    already imported records their viewings first.

    Raises:
        ImportFailedError: ``import_ledger`` names ``account`` but ``ledger_dir`` has no
            viewing of it, and ``record_only`` is not set.
    """
    earlier = [fp for fp, label in ledger if normalize_name(label) == normalize_name(account)]
    if earlier and not record_only and not IdentityLedger(ledger_dir).has(account):
        raise ImportFailedError(
            f"account {account!r} was imported before the identity ledger existed "
            f"({len(earlier)} export(s) in import_ledger, none in {ledger_dir}): importing "
            "again would count its viewings twice. Re-run once with --record-only on the "
            "export(s) already imported, then import new ones as usual"
        )


def check_labels(
    ledger: Iterable[tuple[str, str]], report: ImportCounts, account: str, force: bool
) -> None:
    """Refuse an export (or viewings) already imported under another account label.

    Raises:
        ImportFailedError: without ``force``, when a file's fingerprint is in ``ledger``
            under another label, or viewings of this import are in the identity ledger
            under another label.
    """
    if force:
        return
    conflicts = identity_conflicts(ledger, report.fingerprints, account)
    if conflicts:
        raise ImportFailedError(
            f"{'; '.join(conflicts)}, not {account!r}: importing it again under another "
            "label would count every viewing twice. Use that label, or --force if these "
            "really are two accounts"
        )
    if report.other_labels:
        shared = sum(report.other_labels.values())
        labels = ", ".join(map(repr, sorted(report.other_labels)))
        raise ImportFailedError(
            f"{shared} of the {report.sessions} viewings to import were already imported as account "
            f"{labels}, not {account!r}: importing them under another label would count them "
            "twice. Use that label, or --force if these really are two accounts"
        )
