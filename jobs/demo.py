"""``make demo``: the main pipeline on the bundled sample, in one Spark session.

Runs what these commands would run, one after the other, and prints them as it goes:

    python -m jobs.import_viewing_activity data/samples/viewing-activity/household-ke.csv --account household-ke
    python -m jobs.ingest_playback_events --once
    python -m jobs.continue_watching --profile "Profile 1" --account household-ke --as-of latest

then a row count per table. The demo lake (``--lake-root``, default ``lakehouse/demo``)
is wiped first so every run starts from nothing — but only a lake the demo itself wrote
(it leaves a ``.viewing-lakehouse-demo`` marker file in the lake root) or an empty
folder: any other lake root that holds something (e.g. a production lake of 33 tables)
is refused with exit 2 and one line naming the path and its table count, unless
``--reset`` is given (:mod:`jobs.core.ingest.demo_lake`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from jobs.core.ingest.demo_lake import fresh_demo_lake
from jobs.core.ingest.export_import import dimension_rows, import_files, upsert_dimensions
from jobs.core.ingest.query import run as ingest
from jobs.core.runtime.cli import Job, job_parser, run_job
from jobs.core.serving.continue_watching import format_table, profile_list
from jobs.core.storage.delta import get_engine
from jobs.core.tables.registry import TABLES

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "viewing-activity" / "household-ke.csv"


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.demo`` (see the module docstring)."""
    parser = job_parser("python -m jobs.demo", __doc__.split("\n")[0])
    parser.add_argument(
        "--csv", default=str(SAMPLE), help="export to import (default: the bundled sample)"
    )
    parser.add_argument("--account", default="household-ke", help="account label")
    parser.add_argument(
        "--profile", default="Profile 1", help="profile whose Continue Watching to show"
    )
    parser.add_argument(
        "--reset",
        "--force",
        action="store_true",
        help="wipe --lake-root even when it is not a lake the demo wrote",
    )
    return run_job("demo", parser, _run, argv, engine=get_engine, lake_root="lakehouse/demo")


def _run(job: Job) -> int:
    args, cfg = job.args, job.cfg
    fresh_demo_lake(Path(cfg.paths.lake_root), args.reset)
    start = time.monotonic()

    print(f"\n$ python -m jobs.import_viewing_activity {args.csv} --account {args.account}")
    report, viewings, runtimes = import_files(
        [args.csv],
        args.account,
        cfg.paths.landing_dir,
        cfg.paths.rejects_dir,
        cfg.importer.heartbeat_sec,
        cfg.importer.events_per_file,
        cfg.paths.catalog_csv,
    )
    print(report.summary())
    try:
        upsert_dimensions(job.spark, cfg, dimension_rows(viewings, args.account, runtimes))

        print("\n$ python -m jobs.ingest_playback_events --once")
        print(ingest(cfg, once=True, spark=job.spark))

        engine = job.engine
        print(f"\nDelta engine: {engine.name} (DELTA_ENGINE=spark|rust picks one)")
        print("\nrows per table:")
        for name in TABLES:
            if engine.exists(name):
                print(f"  {name:<28} {engine.read(name).count():>8,}")

        print(
            f'\n$ python -m jobs.continue_watching --profile "{args.profile}" '
            f"--account {args.account} --as-of latest"
        )
        found = profile_list(engine, args.profile, args.account, "latest")
        if found.as_of is None:
            print(found.hint)
        else:
            print(
                f"Continue Watching for {args.profile} of {args.account} "
                f"(as of {found.as_of:%Y-%m-%d %H:%M} UTC)"
            )
            print(format_table(found.rows))
        print(f"\ndemo finished in {time.monotonic() - start:.0f}s; lake at {cfg.paths.lake_root}")
    finally:
        job.spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
