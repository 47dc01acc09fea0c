"""Build viewing_session, user_content_interaction and user_content_rating from the lake.

    python -m jobs.build_interactions --lake-root lakehouse/demo [--feedback FILE.jsonl]

VIEW rows come from non-supplemental playback sessions (value = completion 0..1, see
jobs.core.recommend.interactions); ``--feedback`` adds explicit LIKE / DISLIKE / RATING /
SHARE rows from JSON lines (profile_id, title_id, interaction_type, interaction_value,
event_ts), rejecting bad ones with a reason. Incremental and safe to rerun: nothing happens
when playback_session has not moved since the last run (build_state); otherwise rows are
merged on their keys and only new or changed rows are written, with ``ingested_at`` = now,
so generation can regenerate just the profiles they touch.
Exit codes: 0 done, 1 run failure, 2 usage or configuration error.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys

from jobs.core.changelog.session import current_sessions
from jobs.core.recommend import interactions as ri
from jobs.core.recommend import state
from jobs.core.runtime.cli import JobError, UsageError, job_parser, run

log = logging.getLogger("build_interactions")
JOB = "build_interactions"
SOURCES = ("playback_session", "playback_session_change", "title", "episode")
TABLES = ["viewing_session", "user_content_interaction", "user_content_rating", "build_state"]


def _parser():
    p = job_parser("python -m jobs.build_interactions", __doc__.splitlines()[0])
    p.add_argument("--feedback", help="JSON lines of explicit feedback to add")
    p.add_argument("--force", action="store_true", help="rebuild even if the sources did not move")
    return p


def build(engine, settings, feedback: str | None = None, force: bool = False) -> dict:
    """Run the build; returns row counts (``skipped`` when the sources did not move)."""
    from jobs.core.storage.delta import MergeSpec

    now = dt.datetime.now(dt.UTC)
    engine.create_all(TABLES)
    current = state.versions(engine, SOURCES)
    if "playback_session" not in current:
        raise JobError("playback_session not found: import and ingest an export first")
    marks = {k: v for k, (v, _) in state.read_marks(engine, JOB).items()}
    if not force and not feedback and marks == current:
        log.info("sources unchanged since the last run (%s): nothing to do", current)
        return {"skipped": True}
    viewing = ri.viewing_sessions(
        current_sessions(engine),
        engine.read("title"),
        engine.read("episode"),
        settings.interactions.typical_length_sec,
    ).cache()
    changed = "t.completion_rate <> s.completion_rate OR t.watch_duration_sec <> s.watch_duration_sec OR t.ended_at <> s.ended_at"
    r1 = engine.merge(
        "viewing_session",
        viewing,
        MergeSpec(on="t.session_id = s.session_id", update_condition=changed),
    )
    views = ri.view_interactions(viewing, now)
    key = "t.profile_id = s.profile_id AND t.title_id = s.title_id AND t.event_ts = s.event_ts"
    cond = "t.interaction_value <> s.interaction_value OR t.session_id <> s.session_id"
    r2 = engine.merge("user_content_interaction", views, MergeSpec(on=key, update_condition=cond))
    report = {"viewing_session": r1.metrics, "view_interactions": r2.metrics}
    if feedback:
        raw = engine.spark.read.schema(
            "profile_id long, title_id long, interaction_type string, interaction_value double, event_ts timestamp"
        ).json(feedback)
        good, bad = ri.explicit_interactions(raw, now)
        report["feedback_rejected"] = bad.count()
        for r in bad.limit(5).collect():
            log.warning("feedback rejected: %s", r.asDict())
        report["feedback"] = engine.merge(
            "user_content_interaction", good, MergeSpec(on=key, update_condition=cond)
        ).metrics
    ratings = ri.current_ratings(engine.read("user_content_interaction"))
    engine.overwrite("user_content_rating", ratings)
    state.write_marks(engine, JOB, current, now)
    viewing.unpersist()
    return report


def _main(args, cfg) -> int:
    from jobs.core.runtime.spark import build_spark
    from jobs.core.storage.delta import get_engine

    if args.feedback and not os.path.exists(args.feedback):
        raise UsageError(f"--feedback {args.feedback}: no such file; pass a JSON lines file")
    spark = build_spark(JOB, cfg)
    report = build(get_engine(spark, cfg), cfg.recommend, args.feedback, args.force)
    print(json.dumps(report, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.build_interactions`` (see the module docstring)."""
    return run(_main, _parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
