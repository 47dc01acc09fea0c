"""Check fact_watch_history.watch_seconds against the export's own Durations.

For each export: import it into a fresh lake (synthetic events with heartbeats), ingest
it, build the star schema, then compare the sum of ``fact_watch_history.watch_seconds``
with the sum of the export's ``Duration`` over its non-supplemental rows (the rows whose
``Supplemental Video Type`` is empty). Prints one JSON line per export::

    {"file": "household-ke.csv", "export_seconds": N, "fact_seconds": M, "ratio": M/N}

Exit status 1 when a ratio is further than ``--tolerance`` (1%) from 1.

Usage::

    python bench/watch_seconds_check.py ../shared/data/viewing-activity/*.csv --heartbeat-sec 300
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import shutil
import sys
import tempfile
import time
from pathlib import Path

from pyspark.sql import functions as F

from jobs.core.ingest.export_import import dimension_rows, import_files, upsert_dimensions
from jobs.core.ingest.netflix_export import ParseError, parse_hms
from jobs.core.ingest.query import run as ingest
from jobs.core.runtime.config import load_config
from jobs.core.runtime.spark import build_spark
from jobs.core.star.build import build
from jobs.core.storage.delta import get_engine


def export_seconds(csv_path: str) -> int:
    """Sum of ``Duration`` (seconds) over the rows without a Supplemental Video Type.

    Rows whose Duration does not parse are skipped (the importer rejects them too).
    """
    total = 0
    with open(csv_path, encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            if (row.get("Supplemental Video Type") or "").strip():
                continue
            try:
                total += parse_hms(row.get("Duration") or "")
            except (ParseError, ValueError):
                continue
    return total


def check(spark, csv_path: str, lake_root: str, heartbeat_sec: int, env: str) -> dict:
    """Import, ingest and build one export in ``lake_root``; returns the JSON record."""
    cfg = load_config(env, lake_root=lake_root)
    account = Path(csv_path).stem
    start = time.monotonic()
    _, viewings, runtimes = import_files(
        [csv_path],
        account,
        cfg.paths.landing_dir,
        cfg.paths.rejects_dir,
        heartbeat_sec,
        cfg.importer.events_per_file,
        cfg.paths.catalog_csv,
    )
    upsert_dimensions(spark, cfg, dimension_rows(viewings, account, runtimes))
    ingest(cfg, once=True, spark=spark)
    engine = get_engine(spark, cfg)
    build(engine, as_of="latest")
    fact = engine.read("fact_watch_history").agg(F.sum("watch_seconds")).first()[0] or 0
    expected = export_seconds(csv_path)
    return {
        "file": Path(csv_path).name,
        "export_seconds": expected,
        "fact_seconds": int(fact),
        "ratio": round(fact / expected, 6) if expected else None,
        "heartbeat_sec": heartbeat_sec,
        "seconds": round(time.monotonic() - start, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", nargs="+", help="ViewingActivity.csv exports")
    parser.add_argument("--heartbeat-sec", type=int, default=30)
    parser.add_argument("--tolerance", type=float, default=0.01)
    parser.add_argument("--env", default="local")
    parser.add_argument("--keep", default=None, help="keep the lakes under this folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    spark = build_spark("watch_seconds_check", load_config(args.env))
    ok = True
    for csv_path in args.csv:
        root = args.keep or tempfile.mkdtemp(prefix="watch-seconds-")
        lake = str(Path(root) / Path(csv_path).stem)
        try:
            record = check(spark, csv_path, lake, args.heartbeat_sec, args.env)
        finally:
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
        ok = ok and record["ratio"] is not None and abs(record["ratio"] - 1) <= args.tolerance
        print(json.dumps(record), flush=True)
    spark.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
