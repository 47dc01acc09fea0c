"""Deterministic synthetic playback events in the landing contract, at the design's shape.

The generator is :mod:`jobs.core.ingest.synthetic_events`; this job is its command line.

The same ``--seed`` gives byte-identical files. The shape follows the design's load
model: accounts with profiles and devices, a catalogue of films and series with
runtimes, sessions that average about 2 h of viewing a day per active viewer, a
HEARTBEAT every 30 s, an evening peak by country (local 20:00–23:00), device switching
mid-title, concurrent sessions on one profile, and the faults a real feed has:

* ~0.5% duplicate events (``--duplicate-rate``), re-sent in the same or a later file;
* ~1% late events (``--late-rate``), delivered minutes to hours after their time;
* ~0.1% malformed lines (``--malformed-rate``), which the ingest must quarantine.

Usage::

    python -m jobs.generate_events --events 1000000 --files 100 --seed 7
    python -m jobs.generate_events --events 200000 --rate 20000      # a live feed: 20 K events/s

``--rate`` writes files on a clock so the ingest sees a steady stream; each file name
carries its sequence number, and each line its ``event_time``.

A day on a compressed clock (``bench/soak.py``)::

    python -m jobs.generate_events --events 300000 --files 300 --rate 500 \
        --day-seconds 600 --start 2026-12-01 --manifest feed.jsonl --dimensions

``--day-seconds S`` makes the feed's rate follow the evening peak: one simulated UTC day
lasts ``S`` wall seconds, and the rate at simulated hour ``h`` is ``--rate`` times the
design's load at ``h`` (the sum over countries of their local hour weights) over the
day's mean load, so the mean stays ``--rate``. ``--manifest`` appends one JSON line per
file as it lands (name, lines, wall time, rate, simulated hour); ``--dimensions``
upserts the generated accounts, profiles, devices, films, series and episodes into
their tables (delta-rs), so the API and the star schema know them. ``--start`` is the
first simulated day of the events' ``event_time`` (UTC).
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import logging
import sys

from jobs.core.ingest.synthetic_events import dimension_rows, generate, write_dimensions
from jobs.core.runtime.cli import Job, job_parser, run_job

log = logging.getLogger("generate_events")


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.generate_events`` (see the module docstring)."""
    parser = job_parser(
        "python -m jobs.generate_events",
        "Write deterministic synthetic playback events (landing contract) with duplicates, late and malformed lines.",
    )
    parser.add_argument(
        "--events", type=int, default=100_000, help="events to generate (default 100000)"
    )
    parser.add_argument("--files", type=int, default=10, help="landing files (default 10)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument("--accounts", type=int, default=2000, help="accounts (default 2000)")
    parser.add_argument(
        "--rate",
        type=float,
        default=None,
        help="events/s for a live feed (default: as fast as possible)",
    )
    parser.add_argument(
        "--day-seconds",
        type=float,
        default=None,
        help="with --rate: one simulated UTC day per this many wall seconds, the rate "
        "following the evening peak (default: a flat rate)",
    )
    parser.add_argument(
        "--start",
        type=_utc_day,
        default=dt.datetime(2026, 1, 1),
        help="first simulated day of the events, UTC, YYYY-MM-DD (default 2026-01-01)",
    )
    parser.add_argument(
        "--manifest", default=None, help="append one JSON line per landed file to this file"
    )
    parser.add_argument(
        "--dimensions",
        action="store_true",
        help="also upsert the generated accounts, profiles, devices, titles and episodes "
        "into their tables under --lake-root (before the first file lands)",
    )
    parser.add_argument("--landing-dir", default=None, help="default: paths.landing_dir")
    parser.add_argument("--duplicate-rate", type=float, default=0.005)
    parser.add_argument("--late-rate", type=float, default=0.01)
    parser.add_argument("--malformed-rate", type=float, default=0.001)
    return run_job("generate_events", parser, _run, argv, usage_errors=(ValueError,))


def _utc_day(text: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a UTC day YYYY-MM-DD, got {text!r}") from None


def _run(job: Job) -> int:
    args, cfg = job.args, job.cfg
    if args.dimensions:
        written = write_dimensions(cfg.paths.tables_dir, dimension_rows(args.seed, args.accounts))
        log.info("dimensions upserted: %s", written)
    report = generate(
        args.landing_dir or cfg.paths.landing_dir,
        args.events,
        args.files,
        seed=args.seed,
        accounts=args.accounts,
        duplicate_rate=args.duplicate_rate,
        late_rate=args.late_rate,
        malformed_rate=args.malformed_rate,
        rate=args.rate,
        start=args.start,
        day_seconds=args.day_seconds,
        manifest=args.manifest,
    )
    print(json.dumps(dataclasses.asdict(report)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
