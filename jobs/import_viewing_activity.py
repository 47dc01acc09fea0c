"""Import Netflix viewing-activity exports into the landing zone as playback events.

Each CSV row is one viewing; it becomes one playback session of synthetic events (PLAY,
a HEARTBEAT every ``--heartbeat-sec`` seconds of playback, END) in JSON Lines files of
the landing dir, published only once every file of the run is read and checked. The
identity ledger imports a viewing once per account label (a monthly re-download adds
only new viewings; a re-save adds nothing; another label fails unless ``--force``). The
job also upserts ``account``, ``profile``, ``device``, ``title`` and ``episode`` and
records the exports in ``import_ledger``. Encoding, separator and date order are
detected per file; rejected rows go to ``{rejects_dir}/{file}.rejects.jsonl``.

The rules are in :mod:`jobs.core.ingest.export_import` (and the modules it names); this
job parses the command line and composes them.

Usage::

    python -m jobs.import_viewing_activity data/samples/viewing-activity/household-ke.csv \\
        --account household-ke
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading

from jobs.core.ingest.export_import import (
    ImportOptions,
    ImportReport,
    check_lake_dirs,
    check_legacy_imports,
    import_files,
    load_catalog_runtimes,
    read_ledger,
    record_imports,
    upsert_dimensions,
)
from jobs.core.ingest.netflix_export import DATE_ORDERS, ParseError
from jobs.core.runtime.cli import Job, UsageError, job_parser, run_job
from jobs.core.storage.delta import get_engine

log = logging.getLogger("import_viewing_activity")


def _parser() -> argparse.ArgumentParser:
    parser = job_parser(
        "python -m jobs.import_viewing_activity",
        "Turn Netflix ViewingActivity.csv exports into playback events (JSON Lines) "
        "in the landing dir, and upsert account/profile/device/title/episode. Encoding "
        "(UTF-8, UTF-16, Latin-1) and separator (comma, tab, semicolon) are detected.",
    )
    parser.add_argument("csv", nargs="+", help="one or more ViewingActivity.csv exports")
    parser.add_argument("--account", default=None, help="account label (default: importer.account)")
    parser.add_argument("--landing-dir", default=None, help="default: paths.landing_dir")
    parser.add_argument("--rejects-dir", default=None, help="default: paths.rejects_dir")
    parser.add_argument(
        "--heartbeat-sec", type=int, default=None, help="seconds between HEARTBEATs (default 30)"
    )
    parser.add_argument("--catalog", default=None, help="netflix_titles.csv for film runtimes")
    parser.add_argument(
        "--force",
        action="store_true",
        help="import even if an export was already imported under another --account label",
    )
    parser.add_argument(
        "--no-dimensions",
        action="store_true",
        help="only write landing files; skip the Spark step (dimension upsert and the "
        "import_ledger check of the account label)",
    )
    parser.add_argument(
        "--date-order",
        choices=DATE_ORDERS,
        default=None,
        help="day/month order of non-ISO Start Time dates (default importer.date_order: auto, "
        "decided per file; an all-ambiguous file is read month-first with a warning)",
    )
    parser.add_argument(
        "--record-only",
        action="store_true",
        help="record the exports' viewings in the identity ledger as already imported, "
        "without writing events (once, for exports imported before the ledger existed)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.import_viewing_activity`` (see the module docstring)."""
    # a stopped import (kill, scheduler timeout) unwinds: its staged files are deleted
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        return run_job(
            "import_viewing_activity",
            _parser(),
            _run,
            argv,
            engine=get_engine,
            usage_errors=(FileNotFoundError, IsADirectoryError, ParseError),
        )
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def _run(job: Job) -> int:
    args, cfg = job.args, job.cfg
    account = args.account or cfg.importer.account
    heartbeat = args.heartbeat_sec if args.heartbeat_sec is not None else cfg.importer.heartbeat_sec
    if heartbeat <= 0:
        raise UsageError("--heartbeat-sec must be a positive number of seconds")
    landing_dir = args.landing_dir or cfg.paths.landing_dir
    rejects_dir = args.rejects_dir or cfg.paths.rejects_dir
    for path in args.csv:  # usage mistakes before anything starts
        if os.path.isdir(path):
            raise IsADirectoryError(f"{path} is a folder; give the ViewingActivity.csv file(s)")
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such export file")
    ledger_dir = cfg.importer.ledger_dir.format(lake_root=cfg.paths.lake_root)
    check_lake_dirs(cfg.paths.lake_root, landing_dir, rejects_dir, ledger_dir)
    options = ImportOptions(
        heartbeat_sec=heartbeat,
        events_per_file=cfg.importer.events_per_file,
        max_duration_sec=cfg.importer.max_duration_sec,
        max_reject_ratio=cfg.importer.max_reject_ratio,
        progress=not args.quiet and sys.stderr.isatty(),
        date_order=args.date_order or cfg.importer.date_order,
    )
    engine = None
    ledger: list[tuple[str, str]] = []
    if args.no_dimensions:
        log.warning("--no-dimensions: the account label is not checked against import_ledger")
    else:
        engine = job.engine
        ledger = read_ledger(engine)
        check_legacy_imports(ledger, account, ledger_dir, args.record_only)
    runtimes = load_catalog_runtimes(args.catalog or cfg.paths.catalog_csv)

    def commit(report: ImportReport) -> None:
        if engine is not None:
            upsert_dimensions(engine.spark, cfg, report.dimensions.rows(account, runtimes))
            record_imports(engine, report, account, args.csv)

    report, _, _ = import_files(
        args.csv, account, landing_dir, rejects_dir,
        catalog_csv=args.catalog or cfg.paths.catalog_csv, options=options,
        keep_viewings=False, ledger=ledger, force=args.force, before_publish=commit,
        identity_ledger=ledger_dir, record_only=args.record_only,
    )  # fmt: skip
    log.info("import: %s", json.dumps(report.summary(), ensure_ascii=False))
    print(json.dumps(report.summary(), ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
