"""bench/freshness.py: the feed's shape and how lags are attributed (no Spark here)."""

from __future__ import annotations

import datetime as dt
import json
import os

from bench import freshness

NOW = dt.datetime(2026, 1, 1, 20, 0, tzinfo=dt.UTC)


def test_feed_sends_one_growing_heartbeat_per_session_per_cycle():
    feed = freshness.HeartbeatFeed(rate=2, heartbeat_sec=3)  # 6 sessions
    first, probes = feed.lines(6, NOW)
    second, _ = feed.lines(6, NOW)
    a = [json.loads(x) for x in first]
    b = [json.loads(x) for x in second]
    assert len({e["profile_id"] for e in a}) == 6
    for x, y in zip(a, b, strict=True):
        assert x["profile_id"] == y["profile_id"]
        assert y["position_sec"] - x["position_sec"] == 3
        assert x["event_type"] == "HEARTBEAT" and x["event_time"] == "2026-01-01T20:00:00Z"
    assert probes == [
        (a[0]["profile_id"], a[0]["position_sec"]),
        (a[-1]["profile_id"], a[-1]["position_sec"]),
    ]


def test_weighted_percentile_counts_each_file_by_its_events():
    assert freshness.weighted_percentile([1.0, 10.0], [99, 1], 50) == 1.0
    assert freshness.weighted_percentile([1.0, 10.0], [1, 99], 50) == 10.0


def _touch(path, text, mtime):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.utime(path, (mtime, mtime))


def test_baseline_commits_maps_each_file_to_its_batch_commit(tmp_path):
    src = tmp_path / "_checkpoint" / "sources" / "0"
    entry = '{{"path":"file:///l/{}","timestamp":1,"batchId":{}}}'
    _touch(src / "0", "v1\n" + entry.format("warmup-000000.jsonl", 0), 100)
    _touch(src / "1", "v1\n" + "\n".join(entry.format(f"feed-{i}.jsonl", 1) for i in (1, 2)), 100)
    _touch(src / "2", "v1\n" + entry.format("feed-3.jsonl", 2), 100)  # read, not committed
    meta = tmp_path / "parquet" / "_spark_metadata"
    _touch(meta / "0", "v1\n", 1000.0)
    _touch(meta / "1", "v1\n", 1005.5)
    assert freshness.baseline_commits(tmp_path) == {
        "warmup-000000.jsonl": 1000.0,
        "feed-1.jsonl": 1005.5,
        "feed-2.jsonl": 1005.5,
    }


def test_markdown_puts_the_baseline_beside_the_ingest():
    row = {
        "target_rate": 20000.0, "fed_events_per_sec": 19990, "events": 900000, "files": 90,
        "trigger_interval": "1 second", "lag_p50": 5.6, "lag_p99": 9.9, "lag_max": 9.9,
        "censored_files": 0, "batches": 14, "batch_median_seconds": 3.2,
        "batch_median_rows": 70000, "base_lag_p50": 1.5, "base_lag_p99": 2.5,
        "base_censored_files": 0, "p99_ratio": 3.96,
    }  # fmt: skip
    line = freshness.markdown([row]).splitlines()[-1]
    assert line.endswith("| 1.5 | 2.5 | 3.96× |")
