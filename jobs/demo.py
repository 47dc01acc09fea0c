"""``make demo``: the main pipeline on the bundled sample, in one Spark session.

Runs what these commands would run, one after the other, and prints them as it goes:

    python -m jobs.import_viewing_activity data/samples/viewing-activity/household-ke.csv --account household-ke
    python -m jobs.ingest_playback_events --once
    python -m jobs.continue_watching --profile "Profile 1" --account household-ke --as-of latest

then a row count per table. The demo lake (``--lake-root``, default ``lakehouse/demo``)
is wiped first so every run starts from nothing.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from jobs.core.as_of import collected_utc, newest, resolve_as_of
from jobs.core.cli import job_parser, run
from jobs.core.config import Config

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "viewing-activity" / "household-ke.csv"


def main(argv: list[str] | None = None) -> int:
    parser = job_parser("python -m jobs.demo", __doc__.split("\n")[0])
    parser.add_argument(
        "--csv", default=str(SAMPLE), help="export to import (default: the bundled sample)"
    )
    parser.add_argument("--account", default="household-ke", help="account label")
    parser.add_argument(
        "--profile", default="Profile 1", help="profile whose Continue Watching to show"
    )
    return run(_run, parser, argv, lake_root="lakehouse/demo")


def _run(args: argparse.Namespace, cfg: Config) -> int:
    shutil.rmtree(cfg.paths.lake_root, ignore_errors=True)
    start = time.monotonic()

    from jobs import continue_watching as cw
    from jobs import import_viewing_activity as imp
    from jobs import ingest_playback_events as ingest
    from jobs.core.delta import get_engine
    from jobs.core.resume_log import current_resume
    from jobs.core.spark import build_spark
    from jobs.core.tables import TABLES

    print(f"\n$ python -m jobs.import_viewing_activity {args.csv} --account {args.account}")
    report, viewings, runtimes = imp.import_files(
        [args.csv],
        args.account,
        cfg.paths.landing_dir,
        cfg.paths.rejects_dir,
        cfg.importer.heartbeat_sec,
        cfg.importer.events_per_file,
        cfg.paths.catalog_csv,
    )
    print(report.summary())
    spark = build_spark("demo", cfg)
    try:
        imp.upsert_dimensions(spark, cfg, imp.dimension_rows(viewings, args.account, runtimes))

        print("\n$ python -m jobs.ingest_playback_events --once")
        totals = ingest.run(cfg, once=True, spark=spark)
        print(totals)

        engine = get_engine(spark, cfg)
        print(f"\nDelta engine: {engine.name} (DELTA_ENGINE=spark|rust picks one)")
        print("\nrows per table:")
        for name in TABLES:
            if engine.exists(name):
                print(f"  {name:<28} {engine.read(name).count():>8,}")

        print(
            f'\n$ python -m jobs.continue_watching --profile "{args.profile}" '
            f"--account {args.account} --as-of latest"
        )
        resume = current_resume(engine)  # resume_state with its pending change-log rows
        profile_id = cw.resolve_profile(
            engine.read("profile"), engine.read("account"), args.profile, args.account
        )
        as_of = resolve_as_of(
            "latest", lambda: newest(resume.where(resume.profile_id == profile_id), "last_update")
        )
        rows = [
            {**r.asDict(), "last_update": collected_utc(r.last_update)}
            for r in cw.continue_watching(
                resume,
                engine.read("title"),
                engine.read("episode"),
                profile_id,
                as_of,
                cfg.continue_watching.window_days,
                cfg.continue_watching.limit,
            ).collect()
        ]
        print(
            f"Continue Watching for {args.profile} of {args.account} (as of {as_of:%Y-%m-%d %H:%M} UTC)"
        )
        print(cw.format_table(rows))
        print(f"\ndemo finished in {time.monotonic() - start:.0f}s; lake at {cfg.paths.lake_root}")
    finally:
        spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
