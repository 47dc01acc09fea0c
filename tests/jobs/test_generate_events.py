"""The synthetic generator: deterministic, the contract's shape, the promised faults."""

from __future__ import annotations

import hashlib
import json

import pytest

from jobs.core.ingest.synthetic_events import generate


def digest(folder):
    h = hashlib.sha256()
    for p in sorted(folder.iterdir()):
        h.update(p.name.encode() + p.read_bytes())
    return h.hexdigest()


def test_same_seed_same_files_and_the_faults_it_promises(tmp_path):
    a = generate(str(tmp_path / "a"), events=30_000, files=6, seed=11, accounts=50)
    b = generate(str(tmp_path / "b"), events=30_000, files=6, seed=11, accounts=50)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    counts = lambda r: (r.events, r.lines, r.duplicates, r.late, r.malformed, r.files)  # noqa: E731
    assert counts(a) == counts(b)
    assert a.files == 6 and a.events >= 30_000
    assert a.lines == a.events + a.duplicates + a.malformed
    assert 0.002 < a.duplicates / a.events < 0.01
    assert 0.005 < a.late / a.events < 0.02
    parsed, bad, keys = 0, 0, set()
    kinds = set()
    for f in sorted((tmp_path / "a").iterdir()):
        for line in f.read_text().splitlines():
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                bad += 1
                continue
            parsed += 1
            keys.add((e["session_id"], e["event_time"]))
            kinds.add(e["event_type"])
    assert bad == a.malformed
    assert len(keys) == a.events  # every (session_id, event_time) once, besides duplicates
    assert {"PLAY", "HEARTBEAT", "END"} <= kinds
    generate(str(tmp_path / "c"), events=30_000, files=6, seed=12, accounts=50)
    assert digest(tmp_path / "c") != digest(tmp_path / "a")


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(ValueError, match="positive"):
        generate(str(tmp_path), events=0, files=1)
    with pytest.raises(ValueError, match="late-rate"):
        generate(str(tmp_path), events=10, files=1, late_rate=1.5)
