"""Benchmark: does ``resume_state`` agree with Netflix's own ``Latest Bookmark``?

For each Netflix ``ViewingActivity.csv`` export given, in a fresh temporary lake:

1. import it in-process with :func:`jobs.core.ingest.export_import.import_files` (account
   label = file stem; the dimension upsert is skipped, the ingest does not need it);
2. run the streaming ingest in-process, ``run(cfg, once=True, spark=spark)`` (one
   SparkSession for all files);
3. read ``resume_state`` and compare, per (profile, title or episode), our
   ``last_position_sec`` with Netflix's ``Latest Bookmark``.

Ground truth, per group of non-supplemental rows keyed ``(profile_id, content_key)``
(``content_key`` = ``episode_id`` if any, else ``title_id``; both from the importer's
own :func:`~jobs.core.ingest.viewings.parse_row`, so keys match the table): the
``Latest Bookmark`` of the rows whose value is not ``Not latest view``. When several rows
carry one, the value of the row with the latest Start Time wins; if several rows share
that Start Time, any of their values counts as a match. Groups without any such row are
counted as ``no_ground_truth`` and left out of ``groups``.

A mismatch is *explained* when it is one of the two exceptions the data's README names:

* ``tie``: another row of the group starts in the same minute as, or ends within 60 s
  of, the row whose END we took (the session named by ``resume_state.session_id``), and
  that row's ``Bookmark`` equals the ground truth;
* ``overlap``: the ground-truth row's viewing ``[start, start + duration]`` overlaps our
  row's viewing and the two are on different devices.

A mismatch that is a tie is not counted again as an overlap. Every other mismatch is
``unexplained``; the first few are printed on stderr.

``--shuffle`` splits the events into at least ``--shuffle-files`` landing files (via
``importer.events_per_file``), gives those files random modification times (Spark's
file source feeds the oldest first) and sets ``ingest.max_files_per_trigger`` to 1, so
the ingest sees the events in random order over several micro-batches. The resume
points must not change.

Output: one JSON object per file on stdout (one line each), keys ``file, groups,
agreement, unexplained, explained_ties, explained_overlaps, no_ground_truth, events,
import_seconds, import_rows_per_sec, ingest_seconds, ingest_events_per_sec, shuffled``.
Exit code 0; 1 when any file has ``unexplained > 0`` (a CI gate); 2 on usage errors.

Usage::

    .venv/bin/python bench/resume_accuracy.py ../shared/data/viewing-activity/*.csv
    .venv/bin/python bench/resume_accuracy.py data/samples/viewing-activity/household-ke.csv \\
        --shuffle --seed 7
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import logging
import math
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.core.ingest.export_import import Viewing, import_files, parse_row, with_ordinal
from jobs.core.ingest.netflix_export import ParseError, parse_hms
from jobs.core.runtime.config import Config, ConfigError, load_config
from jobs.core.runtime.logs import setup_logging

log = logging.getLogger("bench.resume_accuracy")

NOT_LATEST = "Not latest view"
TIE_WINDOW_SEC = 60
DEFAULT_SHUFFLE_FILES = 8
DEFAULT_MASTER = "local[2]"
SHOW_UNEXPLAINED = 5
OUTPUT_KEYS = (
    "file",
    "groups",
    "agreement",
    "unexplained",
    "explained_ties",
    "explained_overlaps",
    "no_ground_truth",
    "events",
    "import_seconds",
    "import_rows_per_sec",
    "ingest_seconds",
    "ingest_events_per_sec",
    "shuffled",
)

GroupKey = tuple[int, int]


# ======================================================================================
# Ground truth from the export
# ======================================================================================
@dataclass(frozen=True)
class ExportRow:
    """One parsed export row and its ``Latest Bookmark``.

    Attributes:
        viewing: the row as the importer parses it (ids, UTC start, seconds).
        latest_bookmark_sec: ``Latest Bookmark`` in seconds; ``None`` for
            ``Not latest view`` or an empty cell.
    """

    viewing: Viewing
    latest_bookmark_sec: int | None

    @property
    def start(self) -> dt.datetime:
        return self.viewing.start

    @property
    def end(self) -> dt.datetime:
        """Start + Duration: the time of the session's END event (UTC)."""
        return self.viewing.start + dt.timedelta(seconds=self.viewing.duration_sec)


@dataclass
class Group:
    """The non-supplemental rows of one (profile, title or episode).

    Attributes:
        key: ``(profile_id, content_key)`` as in ``resume_state``.
        rows: every row of the group, in file order.
        truth: the accepted ``Latest Bookmark`` values (seconds; several only when the
            latest carrying rows share their Start Time); empty when no row carries one.
        truth_rows: the rows the ground truth comes from.
    """

    key: GroupKey
    rows: list[ExportRow] = field(default_factory=list)
    truth: set[int] = field(default_factory=set)
    truth_rows: list[ExportRow] = field(default_factory=list)


def content_key_of(v: Viewing) -> int:
    """``episode_id`` if not None, else ``title_id``: the ``resume_state.content_key``."""
    return v.episode_id if v.episode_id is not None else v.title_id


def read_export(csv_path: str, account: str) -> tuple[list[ExportRow], int]:
    """Parse every row of an export with the importer's own :func:`parse_row`.

    Rows the importer rejects (unparseable time, empty title...) are skipped here too,
    as they never become events.

    Args:
        csv_path: a Netflix ``ViewingActivity.csv``.
        account: the account label given to the importer (ids depend on it).

    Returns:
        The parsed rows and the number of rows skipped.

    Raises:
        FileNotFoundError: ``csv_path`` does not exist.
    """
    rows: list[ExportRow] = []
    skipped = 0
    ordinals: dict[str, int] = {}  # same-minute twins: the importer's ordinal, same ids
    with open(csv_path, encoding="utf-8-sig", newline="") as fh:
        for line, raw in enumerate(csv.DictReader(fh), start=2):
            try:
                viewing = parse_row(raw, line, account)
            except (ParseError, ValueError):
                skipped += 1
                continue
            n = ordinals.get(viewing.identity, 0)
            ordinals[viewing.identity] = n + 1
            viewing = with_ordinal(viewing, account, n)
            latest = (raw.get("Latest Bookmark") or "").strip()
            latest_sec: int | None = None
            if latest and latest != NOT_LATEST:
                try:
                    latest_sec = parse_hms(latest)
                except ParseError:
                    log.warning("%s:%d: Latest Bookmark %r ignored", csv_path, line, latest)
            rows.append(ExportRow(viewing, latest_sec))
    return rows, skipped


def ground_truth(rows: Iterable[ExportRow]) -> dict[GroupKey, Group]:
    """Group the non-supplemental rows and set each group's ground truth.

    Args:
        rows: parsed export rows (supplemental ones are dropped here, as the ingest
            never makes resume points of them).

    Returns:
        Every group by ``(profile_id, content_key)``; ``truth`` is empty for a group
        without any ``Latest Bookmark`` value (``no_ground_truth``).
    """
    groups: dict[GroupKey, Group] = {}
    for row in rows:
        v = row.viewing
        if v.supplemental_type is not None:
            continue
        key = (v.profile_id, content_key_of(v))
        groups.setdefault(key, Group(key)).rows.append(row)
    for group in groups.values():
        carrying = [r for r in group.rows if r.latest_bookmark_sec is not None]
        if not carrying:
            continue
        newest = max(r.start for r in carrying)
        group.truth_rows = [r for r in carrying if r.start == newest]
        group.truth = {r.latest_bookmark_sec for r in group.truth_rows}  # type: ignore[misc]
    return groups


# ======================================================================================
# Comparison with resume_state
# ======================================================================================
@dataclass(frozen=True)
class ResumePoint:
    """The part of a ``resume_state`` row the comparison needs."""

    last_position_sec: int | None
    session_id: str | None
    last_update: dt.datetime | None


@dataclass
class Comparison:
    """Outcome of comparing ``resume_state`` with the ground truth of one export."""

    groups: int = 0
    matches: int = 0
    explained_ties: int = 0
    explained_overlaps: int = 0
    no_ground_truth: int = 0
    unexplained: list[dict[str, Any]] = field(default_factory=list)

    @property
    def agreement(self) -> float | None:
        """``matches / groups``; None when no group has a ground truth."""
        return self.matches / self.groups if self.groups else None


def _minute(t: dt.datetime) -> dt.datetime:
    return t.replace(second=0, microsecond=0)


def is_tie(group: Group, ours: ExportRow) -> bool:
    """Whether a mismatch is a tie: a near-simultaneous row carries the ground truth.

    True when another row of ``group`` starts in the same minute as ``ours`` or ends
    within :data:`TIE_WINDOW_SEC` (60 s) of it, and its ``Bookmark`` is in the truth.
    """
    for other in group.rows:
        if other.viewing.session_id == ours.viewing.session_id:
            continue
        close = _minute(other.start) == _minute(ours.start) or (
            abs((other.end - ours.end).total_seconds()) <= TIE_WINDOW_SEC
        )
        if close and other.viewing.bookmark_sec in group.truth:
            return True
    return False


def is_overlap(group: Group, ours: ExportRow) -> bool:
    """Whether a mismatch is an overlap: the truth was watched at the same time elsewhere.

    True when a ground-truth row's ``[start, start + duration]`` intersects that of
    ``ours`` (bounds included) and its ``Device Type`` differs.
    """
    return any(
        truth.viewing.device_model != ours.viewing.device_model
        and truth.start <= ours.end
        and ours.start <= truth.end
        for truth in group.truth_rows
    )


def _describe(row: ExportRow | None) -> dict[str, Any] | None:
    if row is None:
        return None
    v = row.viewing
    return {
        "line": v.line,
        "start": v.start.isoformat(),
        "end": row.end.isoformat(),
        "duration_sec": v.duration_sec,
        "bookmark_sec": v.bookmark_sec,
        "latest_bookmark_sec": row.latest_bookmark_sec,
        "device": v.device_model,
    }


def compare(groups: dict[GroupKey, Group], resume: dict[GroupKey, ResumePoint]) -> Comparison:
    """Compare each group's ground truth with its ``resume_state`` row.

    Args:
        groups: from :func:`ground_truth`.
        resume: ``resume_state`` by ``(profile_id, content_key)``.

    Returns:
        The counts; ``unexplained`` lists each unexplained mismatch with its rows.
    """
    result = Comparison()
    for key, group in groups.items():
        if not group.truth:
            result.no_ground_truth += 1
            continue
        result.groups += 1
        point = resume.get(key)
        if point is not None and point.last_position_sec in group.truth:
            result.matches += 1
            continue
        ours = None
        if point is not None:
            ours = next((r for r in group.rows if r.viewing.session_id == point.session_id), None)
        if ours is not None and is_tie(group, ours):
            result.explained_ties += 1
        elif ours is not None and is_overlap(group, ours):
            result.explained_overlaps += 1
        else:
            result.unexplained.append(
                {
                    "profile_id": key[0],
                    "content_key": key[1],
                    "title": group.rows[0].viewing.title.raw,
                    "truth": sorted(group.truth),
                    "ours": None if point is None else point.last_position_sec,
                    "our_row": _describe(ours),
                    "truth_rows": [_describe(r) for r in group.truth_rows],
                    "rows": len(group.rows),
                }
            )
    return result


def read_resume_state(spark, cfg: Config) -> dict[GroupKey, ResumePoint]:
    """The current resume points of the lake in ``cfg`` as ``{(profile_id, content_key): point}``.

    ``resume_state`` with its pending change-log rows
    (:func:`jobs.core.changelog.resume.current_resume`).
    """
    from jobs.core.changelog.resume import current_resume
    from jobs.core.storage.delta import get_engine

    rows = (
        current_resume(get_engine(spark, cfg))
        .select("profile_id", "content_key", "last_position_sec", "session_id", "last_update")
        .collect()
    )
    return {
        (r.profile_id, r.content_key): ResumePoint(r.last_position_sec, r.session_id, r.last_update)
        for r in rows
    }


# ======================================================================================
# Shuffled arrival
# ======================================================================================
def count_events(viewings: Iterable[Viewing], heartbeat_sec: int) -> int:
    """Events :func:`~jobs.core.ingest.viewings.viewing_to_events` makes of ``viewings``.

    A zero-length viewing has its END only; others PLAY, one HEARTBEAT per
    ``heartbeat_sec`` strictly inside the viewing, and END.
    """
    return sum(
        1 if v.duration_sec == 0 else 2 + len(range(heartbeat_sec, v.duration_sec, heartbeat_sec))
        for v in viewings
    )


def shuffle_landing(landing_dir: str, seed: int) -> list[str]:
    """Give the landing files distinct modification times in a random order.

    Spark's file source takes the oldest files first, so with
    ``maxFilesPerTrigger = 1`` the ingest reads them in this order. Times are one
    minute apart within the last few hours, so ``maxFileAge`` (7 days) drops none.

    Args:
        landing_dir: folder of ``*.jsonl`` landing files.
        seed: seed of the permutation.

    Returns:
        File names, oldest (first read) first.
    """
    names = sorted(p.name for p in Path(landing_dir).glob("*.jsonl"))
    random.Random(seed).shuffle(names)
    base = time.time() - 60 * (len(names) + 10)
    for rank, name in enumerate(names):
        t = base + 60 * rank
        os.utime(Path(landing_dir) / name, (t, t))
    return names


def batch_order(spark, cfg: Config) -> list[str]:
    """Landing file names in the order the ingest read them.

    ``playback_event`` does not keep the source file, so each file is identified by the
    key ``(session_id, event_time)`` of its first line, and ordered by the
    ``ingest_batch_id`` that stored that event. Files are looked up in the landing dir
    and in the ingest's landing archive.
    """
    from pyspark.sql import functions as F

    from jobs.core.ingest.landing import archive_dir
    from jobs.core.storage.delta import get_engine

    first_keys: dict[tuple[str, str], str] = {}
    # processed files are archived after their micro-batch (ingest.landing_cleanup)
    archived = Path(archive_dir(cfg.ingest, cfg.paths.lake_root)).rglob("*.jsonl")
    for path in sorted([*Path(cfg.paths.landing_dir).glob("*.jsonl"), *archived]):
        with path.open(encoding="utf-8") as fh:
            first = json.loads(fh.readline())
        first_keys[(first["session_id"], first["event_time"])] = path.name
    events = get_engine(spark, cfg).read("playback_event")
    rows = (
        events.where(F.col("session_id").isin(sorted({s for s, _ in first_keys})))
        .select(
            "session_id",
            F.date_format("event_time", "yyyy-MM-dd'T'HH:mm:ss'Z'").alias("event_time"),
            "ingest_batch_id",
        )
        .collect()
    )
    batch = {
        first_keys[(r.session_id, r.event_time)]: r.ingest_batch_id
        for r in rows
        if (r.session_id, r.event_time) in first_keys
    }
    return sorted(batch, key=lambda name: (batch[name], name))


def shuffle_config(cfg: Config, events_per_file: int) -> Config:
    """``cfg`` reloaded with ``max_files_per_trigger = 1`` and the given ``events_per_file``."""
    return load_config(
        cfg.env,
        lake_root=cfg.paths.lake_root,
        overrides={
            "ingest": {"max_files_per_trigger": 1},
            "importer": {"events_per_file": events_per_file},
        },
    )


# ======================================================================================
# One measurement
# ======================================================================================
def measure(
    csv_path: str,
    spark,
    cfg: Config,
    shuffle: bool = False,
    seed: int = 0,
    heartbeat_sec: int | None = None,
    shuffle_files: int = DEFAULT_SHUFFLE_FILES,
) -> dict[str, Any]:
    """Import one export into the (empty) lake of ``cfg``, ingest it, score ``resume_state``.

    The lake is left in place (the caller owns it): ``resume_state`` and
    ``playback_event`` can be inspected afterwards.

    Args:
        csv_path: a Netflix ``ViewingActivity.csv``; its stem is the account label.
        spark: the SparkSession the ingest runs in.
        cfg: configuration whose ``paths`` point at a fresh lake.
        shuffle: feed the landing files in random order, one per micro-batch (the
            config is reloaded with ``ingest.max_files_per_trigger = 1`` and an
            ``importer.events_per_file`` giving at least ``shuffle_files`` files).
        seed: seed of the shuffle.
        heartbeat_sec: seconds between HEARTBEATs (default ``importer.heartbeat_sec``).
        shuffle_files: minimum number of landing files in shuffle mode (>= 2).

    Returns:
        The report: the keys of :data:`OUTPUT_KEYS` (times in seconds, rates per
        second, ``agreement`` a share in 0..1 or None) plus ``unexplained_groups``, the
        list of unexplained mismatches, and ``landing_order``, the landing file names in
        the order they were handed to the ingest (empty without ``shuffle``).

    Raises:
        FileNotFoundError: ``csv_path`` does not exist.
        ValueError: ``heartbeat_sec`` or ``shuffle_files`` out of range.
    """
    from jobs.core.ingest.query import run

    if not os.path.exists(csv_path):
        raise FileNotFoundError(f"{csv_path}: no such export file")
    heartbeat = heartbeat_sec if heartbeat_sec is not None else cfg.importer.heartbeat_sec
    if heartbeat <= 0:
        raise ValueError(f"heartbeat_sec must be > 0 seconds, got {heartbeat}")
    if shuffle and shuffle_files < 2:
        raise ValueError(f"shuffle_files must be >= 2 to shuffle anything, got {shuffle_files}")
    account = Path(csv_path).stem
    rows, skipped = read_export(csv_path, account)
    groups = ground_truth(rows)
    if shuffle:
        expected = count_events((r.viewing for r in rows), heartbeat)
        per_file = max(1, min(cfg.importer.events_per_file, math.ceil(expected / shuffle_files)))
        cfg = shuffle_config(cfg, per_file)

    start = time.monotonic()
    report, _, _ = import_files(
        [csv_path],
        account,
        cfg.paths.landing_dir,
        cfg.paths.rejects_dir,
        heartbeat,
        cfg.importer.events_per_file,
        cfg.paths.catalog_csv,
    )
    import_seconds = time.monotonic() - start
    log.info(
        "%s: %d rows (%d rejected) -> %d events in %d landing files, %.1fs",
        csv_path,
        report.rows,
        report.rejected,
        report.events,
        report.landing_files,
        import_seconds,
    )
    order = shuffle_landing(cfg.paths.landing_dir, seed) if shuffle else []

    start = time.monotonic()
    totals = run(cfg, once=True, spark=spark)
    ingest_seconds = time.monotonic() - start
    if totals["written"] != report.events:
        log.warning(
            "%s: %d events imported but %d written (%s)",
            csv_path,
            report.events,
            totals["written"],
            totals,
        )
    if shuffle:
        read_order = batch_order(spark, cfg)
        log.info("%s: shuffled landing files read in order %s", csv_path, read_order)
        if read_order != order:
            log.warning("%s: files were read in order %s, not %s", csv_path, read_order, order)

    result = compare(groups, read_resume_state(spark, cfg))
    agreement = result.agreement
    return {
        "file": Path(csv_path).name,
        "groups": result.groups,
        "agreement": round(agreement, 6) if agreement is not None else None,
        "unexplained": len(result.unexplained),
        "explained_ties": result.explained_ties,
        "explained_overlaps": result.explained_overlaps,
        "no_ground_truth": result.no_ground_truth,
        "events": report.events,
        "import_seconds": round(import_seconds, 2),
        "import_rows_per_sec": round(report.rows / import_seconds) if import_seconds else None,
        "ingest_seconds": round(ingest_seconds, 2),
        "ingest_events_per_sec": (
            round(totals["written"] / ingest_seconds) if ingest_seconds else None
        ),
        "shuffled": shuffle,
        "unexplained_groups": result.unexplained,
        "landing_order": order,
    }


# ======================================================================================
# CLI
# ======================================================================================
def build_parser() -> argparse.ArgumentParser:
    """The command line of ``bench/resume_accuracy.py``."""
    parser = argparse.ArgumentParser(
        prog="python bench/resume_accuracy.py",
        description="Import each Netflix ViewingActivity.csv into a fresh temporary lake, "
        "run the streaming ingest (--once) and compare resume_state with Netflix's "
        "'Latest Bookmark'. Prints one JSON line per file; exits 1 if any mismatch is "
        "neither a tie nor an overlap on two devices, 2 on usage errors.",
    )
    parser.add_argument("csv", nargs="+", help="one or more ViewingActivity.csv exports")
    parser.add_argument(
        "--shuffle",
        action="store_true",
        help="split the events into several landing files and feed them in random order, "
        "one file per micro-batch (the resume points must not change)",
    )
    parser.add_argument(
        "--shuffle-files",
        type=int,
        default=DEFAULT_SHUFFLE_FILES,
        help=f"with --shuffle: at least this many landing files (default {DEFAULT_SHUFFLE_FILES})",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the --shuffle order (default 0)"
    )
    parser.add_argument(
        "--heartbeat-sec",
        type=int,
        default=None,
        help="seconds of playback between synthetic HEARTBEATs (default importer.heartbeat_sec, "
        "30); larger means fewer events and a faster run",
    )
    parser.add_argument(
        "--env",
        default=None,
        help="configuration overlay in conf/ (default: $LAKEHOUSE_ENV or 'local')",
    )
    parser.add_argument(
        "--master",
        default=DEFAULT_MASTER,
        help=f"Spark master (default {DEFAULT_MASTER}; the overlay's value is not used)",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep each temporary lake and print its path on stderr",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="log the jobs' INFO messages (per micro-batch)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark over the given exports.

    Returns:
        0 when every file is fully explained, 1 when any has unexplained mismatches, 2 on
        usage errors (missing file, bad option or configuration).
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    missing = [p for p in args.csv if not os.path.isfile(p)]
    if missing:
        print(f"error: no such export file: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.heartbeat_sec is not None and args.heartbeat_sec <= 0:
        print("error: --heartbeat-sec must be a positive number of seconds", file=sys.stderr)
        return 2
    if args.shuffle_files < 2:
        print("error: --shuffle-files must be at least 2", file=sys.stderr)
        return 2
    setup_logging("INFO" if args.verbose else "WARNING")
    log.setLevel(logging.INFO)
    overrides = {"spark": {"master": args.master}}
    try:
        spark_cfg = load_config(args.env, lake_root=tempfile.gettempdir(), overrides=overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from jobs.core.runtime.spark import build_spark

    spark = build_spark("bench_resume_accuracy", spark_cfg)
    status = 0
    try:
        for csv_path in args.csv:
            lake = tempfile.mkdtemp(prefix=f"resume-accuracy-{Path(csv_path).stem}-")
            try:
                cfg = load_config(args.env, lake_root=lake, overrides=overrides)
                out = measure(
                    csv_path,
                    spark,
                    cfg,
                    shuffle=args.shuffle,
                    seed=args.seed,
                    heartbeat_sec=args.heartbeat_sec,
                    shuffle_files=args.shuffle_files,
                )
            finally:
                if args.keep:
                    print(f"{csv_path}: lake kept at {lake}", file=sys.stderr)
                else:
                    shutil.rmtree(lake, ignore_errors=True)
            bad = out["unexplained_groups"]
            for item in bad[:SHOW_UNEXPLAINED]:
                print(
                    f"unexplained {out['file']}: {json.dumps(item, ensure_ascii=False)}",
                    file=sys.stderr,
                )
            if len(bad) > SHOW_UNEXPLAINED:
                print(f"... and {len(bad) - SHOW_UNEXPLAINED} more", file=sys.stderr)
            if bad:
                status = 1
            print(json.dumps({k: out[k] for k in OUTPUT_KEYS}, ensure_ascii=False), flush=True)
    except ParseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        spark.stop()
    return status


if __name__ == "__main__":
    sys.exit(main())
