"""What archiving or deleting processed landing files costs the ingest.

Generates the same landing files (``jobs.generate_events``) into one fresh lake per
``ingest.landing_cleanup`` mode (off, archive, delete), ingests each with ``--once``
semantics in one SparkSession, and prints one JSON line per mode::

    {"mode": "archive", "files": 40, "events": 200000, "seconds": 41.2, "left_in_landing": 0, "archived": 40}

The first run of a session also pays the JVM's warm-up: list a mode twice (``--modes
off,off,archive,delete``) and ignore the first line.

Usage::

    python bench/landing_cleanup.py --files 40 --events 200000 --modes off,off,archive,delete
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path

from jobs.core.ingest.landing import archive_dir
from jobs.core.ingest.query import run as ingest
from jobs.core.ingest.synthetic_events import generate
from jobs.core.runtime.config import load_config
from jobs.core.runtime.spark import build_spark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--modes", default="off,off,archive,delete")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    base = Path(tempfile.mkdtemp(prefix="landing-cleanup-"))
    spark = None
    try:
        for i, mode in enumerate(args.modes.split(",")):
            cfg = load_config(
                "local",
                lake_root=str(base / f"{i}-{mode}"),
                overrides={"ingest": {"landing_cleanup": mode, "max_files_per_trigger": 5}},
            )
            spark = spark or build_spark("bench-landing-cleanup", cfg)
            generate(cfg.paths.landing_dir, events=args.events, files=args.files, seed=7)
            start = time.monotonic()
            totals = ingest(cfg, once=True, spark=spark)
            seconds = time.monotonic() - start
            archive = Path(archive_dir(cfg.ingest, cfg.paths.lake_root))
            print(json.dumps({
                "mode": mode,
                "files": args.files,
                "events": totals["written"],
                "seconds": round(seconds, 1),
                "left_in_landing": len(os.listdir(cfg.paths.landing_dir)),
                "archived": len(list(archive.rglob("*.jsonl"))) if archive.exists() else 0,
            }), flush=True)  # fmt: skip
    finally:
        if spark is not None:
            spark.stop()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
