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
``--reset`` is given.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from jobs.core.rules.as_of import collected_utc, newest, resolve_as_of
from jobs.core.runtime.cli import UsageError, job_parser, run
from jobs.core.runtime.config import Config

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "data" / "samples" / "viewing-activity" / "household-ke.csv"
# written into the lake root by the demo: a lake holding it is the demo's own, safe to wipe
MARKER = ".viewing-lakehouse-demo"


def count_tables(lake_root: Path) -> int:
    """Delta tables (folders holding a ``_delta_log``) anywhere under ``lake_root``."""
    return sum(1 for _ in lake_root.rglob("_delta_log")) if lake_root.is_dir() else 0


def check_wipe(lake_root: Path, reset: bool) -> None:
    """Refuse to wipe a lake root the demo did not write, unless ``reset``.

    Args:
        lake_root: the demo's lake root.
        reset: ``--reset`` was given: wipe whatever is there.

    Raises:
        UsageError: ``lake_root`` exists, is not empty and holds no demo marker; the
            message names the path and its count of Delta tables.
    """
    if reset or not lake_root.exists() or (lake_root / MARKER).is_file():
        return
    if lake_root.is_dir() and not any(lake_root.iterdir()):
        return
    raise UsageError(
        f"{lake_root} holds {count_tables(lake_root)} Delta tables and is not a demo lake "
        f"(no {MARKER} marker): the demo wipes its lake root first; pass another "
        "--lake-root, or --reset to wipe this one"
    )


def main(argv: list[str] | None = None) -> int:
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
    return run(_run, parser, argv, lake_root="lakehouse/demo")


def _run(args: argparse.Namespace, cfg: Config) -> int:
    root = Path(cfg.paths.lake_root)
    check_wipe(root, args.reset)
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text("written by python -m jobs.demo: this lake may be wiped\n")
    start = time.monotonic()

    from jobs import continue_watching as cw
    from jobs import import_viewing_activity as imp
    from jobs import ingest_playback_events as ingest
    from jobs.core.changelog.resume import current_resume
    from jobs.core.runtime.spark import build_spark
    from jobs.core.storage.delta import get_engine
    from jobs.core.tables.registry import TABLES

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
