"""The identity ledger: a viewing is imported once per label; another label is refused."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest

from jobs.core.ingest.ledger import (
    IdentityLedger,
    ImportFailedError,
    check_labels,
    check_legacy_imports,
)


@dataclass
class Counts:
    sessions: int = 0
    already_imported: int = 0
    other_labels: Counter = field(default_factory=Counter)
    fingerprints: dict = field(default_factory=dict)


def test_recorded_viewings_are_skipped_under_their_label_and_counted_under_another(tmp_path):
    with IdentityLedger(str(tmp_path)) as ledger:
        assert ledger.record("hh", ["a", "b"]) == 2
        assert ledger.record("hh", ["b", "c"]) == 1
        mine, theirs = ledger.load("hh"), ledger.load("other")
    counts = Counts()
    assert not mine.admit("a", counts) and mine.admit("d", counts)
    assert not mine.admit("d", counts)  # met earlier in this run
    assert counts.already_imported == 2
    assert theirs.admit("a", counts) and counts.other_labels == Counter({"hh": 1})
    assert IdentityLedger(str(tmp_path)).has("hh")
    assert not IdentityLedger(str(tmp_path)).has("other")


def test_viewings_of_another_label_fail_the_import_unless_forced():
    counts = Counts(sessions=3, other_labels=Counter({"hh": 2}))
    with pytest.raises(ImportFailedError, match="2 of the 3 viewings .* as account 'hh'"):
        check_labels([], counts, "other", force=False)
    check_labels([], counts, "other", force=True)


def test_an_account_imported_before_the_ledger_needs_record_only(tmp_path):
    ledger = [("fp-1", "hh")]
    with pytest.raises(ImportFailedError, match="--record-only"):
        check_legacy_imports(ledger, "hh", str(tmp_path), record_only=False)
    check_legacy_imports(ledger, "hh", str(tmp_path), record_only=True)
    check_legacy_imports(ledger, "someone-else", str(tmp_path), record_only=False)
