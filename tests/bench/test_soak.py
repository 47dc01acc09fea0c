"""The soak (``bench/soak.py``): its pieces, and CI's short run end to end (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.core.ingest.synthetic_events import (
    dimension_rows,
    generate,
    mean_utc_load,
    paced_rate,
    utc_load,
)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))

import soak  # noqa: E402


def test_the_compressed_clock_follows_the_evening_peak_and_keeps_the_mean():
    rates = [paced_rate(300, s, day_seconds=240)[0] for s in range(240)]
    assert sum(rates) / len(rates) == pytest.approx(300, rel=0.02)
    hours = {h: utc_load(h) for h in range(24)}
    # the US evening (UTC-5, 20-23 local) is the UTC night: the day's peak; KR's and IN's
    # nights overlap the UTC small hours' trough
    assert max(hours, key=hours.get) in (1, 2, 3)
    assert min(hours.values()) < 0.5 * mean_utc_load() < max(hours.values())
    assert paced_rate(300, 10, None) == (300, 0.0)


def test_the_dimensions_name_every_id_the_feed_carries(tmp_path):
    generate(str(tmp_path), events=4000, files=2, seed=5, accounts=15)
    rows = dimension_rows(5, 15)
    profiles = {r["profile_id"] for r in rows["profile"]}
    titles = {r["title_id"]: r["title_type"] for r in rows["title"]}
    episodes = {r["episode_id"] for r in rows["episode"]}
    devices = {r["device_id"] for r in rows["device"]}
    seen = 0
    for f in tmp_path.iterdir():
        for line in f.read_text().splitlines():
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue
            seen += 1
            assert e["profile_id"] in profiles and e["device_id"] in devices
            assert titles[e["title_id"]] == ("SERIES" if e["episode_id"] else "FILM")
            assert e["episode_id"] is None or e["episode_id"] in episodes
    assert seen >= 4000
    assert {r["device_type"] for r in rows["device"]} <= {
        "TV", "mobile", "web", "tablet", "streaming_stick", "console"
    }  # fmt: skip


def test_the_ingest_log_and_checkpoint_give_each_file_its_batch(tmp_path):
    log = tmp_path / "ingest.log"
    log.write_text(
        "2026-12-07T10:00:05 INFO ingest_playback_events: batch 0: rows_in=100 quarantined=1 "
        "duplicates_dropped=2 written=97 session(appended=3) resume(appended=4) 1.5s [read 0.1s]\n"
        "2026-12-07T10:00:20 INFO ingest_playback_events: batch 1: rows_in=50 quarantined=0 "
        "duplicates_dropped=0 written=50 session(-) resume(-) 0.5s [read 0.1s]\n"
        # a replay after kill -9 logs the batch again: the first line counts
        "2026-12-07T10:00:40 INFO ingest_playback_events: batch 1: rows_in=50 quarantined=0 "
        "duplicates_dropped=0 written=50 (replay: already committed) session(-) resume(-) 0.4s [read 0.1s]\n"
    )
    batches = soak.ingest_batches(log)
    assert [(b["batch"], b["rows_in"], b["written"]) for b in batches] == [
        (0, 100, 97),
        (1, 50, 50),
    ]
    src = tmp_path / "ck" / "sources" / "0"
    src.mkdir(parents=True)
    (src / "0").write_text(
        'v1\n{"path":"file:///l/landing/gen-7-000000.jsonl","timestamp":1,"batchId":0}\n'
    )
    (src / "1").write_text(
        'v1\n{"path":"file:///l/landing/gen-7-000001.jsonl","timestamp":2,"batchId":1}\n'
    )
    manifest = tmp_path / "feed.jsonl"
    t0 = batches[0]["wall"]
    manifest.write_text(
        json.dumps(
            {"file": "gen-7-000000.jsonl", "lines": 100, "wall": t0 - 4, "rate": 5, "sim_hour": 1}
        )
        + "\n"
        + json.dumps(
            {"file": "gen-7-000001.jsonl", "lines": 50, "wall": t0 + 10, "rate": 5, "sim_hour": 2}
        )
        + "\n"
    )
    lags = soak.landing_lag(manifest, tmp_path / "ck", batches)
    assert [(r["batch"], r["lag"]) for r in lags] == [(0, 4.0), (1, 5.0)]


def test_api_errors_are_explained_only_by_the_outage():
    calls = [soak.Call(5, "history", 3.0, 200), soak.Call(20, "history", 1.0, 0)]
    assert soak.check_api(calls, [], [True], [], down=[(19.0, 25.0)])["ok"]
    assert not soak.check_api(calls, [], [], [], down=[(40.0, 45.0)])["ok"]  # refused, API up
    assert not soak.check_api(calls, [], [False], [], down=[(19.0, 25.0)])["ok"]  # stored twice
    calls.append(soak.Call(30, "watched", 9.0, 500))
    assert soak.check_api(calls, [], [], [], down=[(19.0, 25.0)])["http_5xx"] == 1
    assert not soak.check_api(calls, [], [], [], down=[(19.0, 25.0)])["ok"]


@pytest.mark.slow
def test_the_short_soak_is_green(tmp_path):
    """CI's short soak, rust engine: every event once, resume_state right, DQ explained."""
    report = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), "--short", "--engine", "rust",
         "--lake-root", str(tmp_path / "lake"), "--report", str(report)],
        cwd=ROOT, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    verdict = json.loads((report / "verdict.json").read_text())
    failed = {k: v for k, v in verdict["checks"].items() if not v.get("ok")}
    assert proc.returncode == 0 and verdict["ok"], (
        failed,
        proc.stdout[-3000:],
        proc.stderr[-2000:],
    )
    checks = verdict["checks"]
    assert checks["exactly_once"]["generated_expected"] > 5000
    assert checks["exactly_once"]["missing"] == checks["exactly_once"]["doubled"] == 0
    assert checks["resume_state"]["rows"] > 0
    assert checks["erasure"]["http_status"] == 200
    assert checks["schedule"]["schedule_runs"] >= 2  # nightly beside the stream, hourly at the end
    assert "<img src='data:image/png;base64," in (report / "index.html").read_text()
