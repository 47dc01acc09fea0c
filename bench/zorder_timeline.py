"""Session-timeline query before and after OPTIMIZE Z-order by session_id.

Generates events, ingests them with one landing file per micro-batch (many small files,
as a stream leaves them), then for a sample of sessions reads one session's events (the
design's session reconstruction) and reports the files the read keeps after min/max
pruning on ``session_id`` and the seconds the Spark read takes; then runs
``jobs.maintain_tables --only optimize --table playback_event`` (Z-order by session_id)
and measures the same sessions again.

Usage::

    python bench/zorder_timeline.py --events 1000000 --sessions 20
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def run(args: list[str], lake: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", *args, "--env", "local", "--lake-root", str(lake)],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip


def measure(spark, engine, sessions: list[str]) -> dict:
    """Files kept after pruning and seconds per one-session read (medians over sessions)."""
    from deltalake import DeltaTable
    from pyspark.sql import functions as F

    table = DeltaTable(engine.path("playback_event"))
    total = len(table.file_uris())
    files, seconds = [], []
    for sid in sessions:
        files.append(len(table.file_uris(file_pruning_predicate=[("session_id", "=", sid)])))
        start = time.monotonic()
        rows = (
            engine.read("playback_event", partition_filters=[("session_id", "=", sid)])
            .where(F.col("session_id") == sid)
            .orderBy("event_time")
            .collect()
        )
        seconds.append(time.monotonic() - start)
        assert rows, f"session {sid} has no events"
    return {
        "files_total": total,
        "files_scanned_median": statistics.median(files),
        "seconds_median": round(statistics.median(seconds), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=40, help="landing files = micro-batches")
    parser.add_argument("--sessions", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--work-dir", default=str(Path(tempfile.gettempdir()) / "viewing-lakehouse-zorder")
    )
    args = parser.parse_args(argv)
    lake = Path(args.work_dir) / f"lake-{args.events}"
    shutil.rmtree(lake, ignore_errors=True)
    subprocess.run(
        [sys.executable, "-m", "jobs.generate_events", "--events", str(args.events), "--files", str(args.files),
         "--seed", str(args.seed), "--lake-root", str(lake), "--env", "local"],
        cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    run(["jobs.ingest_playback_events", "--once", "--max-files-per-trigger", "1"], lake)

    from jobs.core.runtime.config import load_config
    from jobs.core.runtime.spark import build_spark
    from jobs.core.storage.delta import get_engine

    cfg = load_config("local", lake_root=str(lake))
    spark = build_spark("zorder_timeline", cfg)
    engine = get_engine(spark, cfg)
    ids = sorted(
        r.session_id for r in engine.read("playback_session").select("session_id").collect()
    )
    sessions = random.Random(args.seed).sample(ids, min(args.sessions, len(ids)))
    before = measure(spark, engine, sessions)
    start = time.monotonic()
    run(["jobs.maintain_tables", "--only", "optimize", "--table", "playback_event"], lake)
    optimize_s = round(time.monotonic() - start, 1)
    engine = get_engine(spark, cfg)
    after = measure(spark, engine, sessions)
    spark.stop()
    result = {
        "events": args.events,
        "sessions": len(sessions),
        "before": before,
        "after": after,
        "optimize_s": optimize_s,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"zorder_timeline-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
        json.dumps(result, indent=2)
    )
    print(
        "| layout | files in table | files scanned (median) | seconds per session read (median) |"
    )
    print("|---|---|---|---|")
    for name, m in (("after streaming", before), ("after Z-order by session_id", after)):
        print(
            f"| {name} | {m['files_total']} | {m['files_scanned_median']} | {m['seconds_median']} |"
        )
    print(f"\nOPTIMIZE Z-order: {optimize_s} s (wall, incl. JVM start)")
    shutil.rmtree(lake, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
