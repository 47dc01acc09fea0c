"""The main job: stream landing JSON Lines into Delta, keep sessions and resume points current.

    landing/*.jsonl ──readStream.text──▶ parse (explicit schema) ──▶ validate
        ──▶ foreachBatch:  counts + in-stream rules (one pass over the cached batch)
                           dedupe: dropDuplicates in the batch, minus keys in playback_event
                           at once: quarantine ─▶ playback_event_quarantine
                                    append     ─▶ playback_event (partitioned by dt, country_code)
                                    append     ─▶ viewing_statement (WATCHED / ABANDONED + fields)
                                    append     ─▶ playback_session_change (or merge ─▶ playback_session)
                                    append     ─▶ resume_state_change (or merge ─▶ resume_state)
                                    counts     ─▶ dq_result

Exactly once: Spark's checkpoint replays an unfinished micro-batch with the same input;
every table write carries its own transaction marker (app id ``{query}:{query id}:{table}``,
version = batch id), so a batch that crashed between two commits redoes only the
missing ones. The exact dedupe ignores rows the replayed batch itself wrote
(``ingest_batch_id``), so it yields the same rows on replay and ``event_count`` is
never counted twice.

Dedupe on ``(session_id, event_time)`` is exact and stateless by default: within the
micro-batch, and against the keys already stored (``ingest.dedupe_against_table``; only
the batch's ``dt`` partitions and the files whose ``event_time`` statistics overlap it),
so a late event — hours or years old, as in a replay of an export — is never dropped as
late. ``ingest.dedupe_watermark`` optionally adds Spark's stateful
``dropDuplicatesWithinWatermark`` on *arrival* time (docs/architecture.md).

Operations (docs/operations.md, "When things go wrong"): one writer per checkpoint
(:mod:`jobs.core.storage.locks`); a checkpoint made for another landing dir is refused with the
way out, ``--rebase-checkpoint`` or ``--reset-checkpoint`` (:mod:`jobs.core.storage.checkpoints`);
every target table must load before a micro-batch writes (:mod:`jobs.core.storage.table_health`),
and a data file missing from one is named with its table (``TableFileMissingError``);
a committed batch that a table lost (its damaged commit removed) is re-run from its landing
or archived files at the next start (:func:`jobs.core.ingest.recovery.recover`);
processed landing files are archived or deleted after their batch commits, and a file
that vanished before its read is logged and counted (:mod:`jobs.core.ingest.landing`).

The code lives in :mod:`jobs.core.ingest`: :mod:`~jobs.core.ingest.stream` (parse, validate,
dedupe, plan a batch), :mod:`~jobs.core.ingest.batch_writer` (the ``foreachBatch`` writes),
:mod:`~jobs.core.ingest.table_writes` and :mod:`~jobs.core.ingest.recovery` (batches a table
lost), :mod:`~jobs.core.ingest.query` (the query, :func:`~jobs.core.ingest.query.run`).
This job only parses the options and runs it.

Usage::

    python -m jobs.ingest_playback_events --once          # drain the landing dir, stop
    python -m jobs.ingest_playback_events                 # run continuously
    python -m jobs.ingest_playback_events --once --rebase-checkpoint   # after moving the lake
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from jobs.core.ingest.query import run
from jobs.core.runtime.cli import Job, job_parser, run_job
from jobs.core.storage.delta import get_engine


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(
        "python -m jobs.ingest_playback_events",
        "Stream landing JSON Lines into playback_event, playback_session and "
        "resume_state (Delta), quarantining bad records.",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="process everything in the landing dir (trigger availableNow) and stop",
    )
    parser.add_argument(
        "--max-files-per-trigger",
        type=int,
        default=None,
        help="override ingest.max_files_per_trigger",
    )
    moved = parser.add_mutually_exclusive_group()
    moved.add_argument(
        "--rebase-checkpoint",
        dest="checkpoint_action",
        action="store_const",
        const="rebase",
        help="after moving, copying or restoring the lake: point the checkpoint at this "
        "lake's landing dir (nothing is re-read)",
    )
    moved.add_argument(
        "--reset-checkpoint",
        dest="checkpoint_action",
        action="store_const",
        const="reset",
        help="move the checkpoint aside and read the landing dir anew (events already "
        "stored are skipped by the exact dedupe)",
    )
    return run_job(
        "ingest_playback_events", parser, _run, argv, engine=get_engine, overrides=_overrides
    )


def _run(job: Job) -> int:
    # the session is built on first use, once the writer lock is held and the checkpoint
    # checked; the totals are logged (nothing printed: the job's output is its log)
    args = job.args
    run(
        job.cfg, once=args.once, checkpoint_action=args.checkpoint_action, session=lambda: job.spark
    )
    return 0


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    if args.max_files_per_trigger is None:
        return {}
    return {"ingest": {"max_files_per_trigger": args.max_files_per_trigger}}


if __name__ == "__main__":
    sys.exit(main())
