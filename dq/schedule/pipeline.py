"""The scheduled pipeline as data: which job runs when, after which.

One list of steps per schedule, each with the jobs it waits for. The Airflow DAGs
(``dq/schedule/viewing_lakehouse_dag.py``) are built from it and the cron file
(``dq/schedule/cron.txt``) is generated from it, so the two never disagree
(``tests/dq/test_schedule.py`` checks both).

* ``hourly`` (minute 5): ingest what landed -> close abandoned sessions -> star schema
  (after the catalogue load) -> viewing activity -> every data-quality suite. A step
  runs only when its upstreams succeeded; the DQ run comes last so it checks what the
  builds just wrote.
* ``nightly`` (02:40 UTC): maintenance through ``jobs.maintain_tables``: the
  resume-log compaction, the resume_state TTL, then OPTIMIZE (Z-order, compaction), then VACUUM (after OPTIMIZE,
  so the files it replaced are the ones removed once past the retention).
* ``daily`` (03:30 UTC, after that hour's activity build: it waits for the lock):
  ``build_interactions`` -> ``train_recommenders`` -> ``generate_recommendations`` -> the
  recommendation suites. A list lives ``recommend.lists.ttl_minutes`` (1,440) and every
  generation renews the lists expiring within ``recommend.lists.renew_ahead_minutes``
  (180), so with this schedule no current list is ever past its ``expires_at`` and the
  hourly ``current_recommendations`` check stays green; it fails when the daily run has
  not run for a day.

All schedules take the same lock file in cron (``flock``), so maintenance never runs
beside an hourly run; in Airflow, ``max_active_runs=1`` per DAG and the
``viewing_lakehouse`` pool (create it with one slot) do the same.

Regenerate the cron file after a change here::

    python -m dq.schedule.pipeline cron > dq/schedule/cron.txt
    python -m dq.schedule.pipeline show            # the steps in run order

Standard library only: the Airflow scheduler imports it without the project's
dependencies.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass

ENV_DEFAULT = "local"
# the suites of the recommendation tables, run after the daily generation
RECOMMENDATION_SUITES = (
    "user_content_interaction", "item_item_edge", "recommendation_list",
    "current_recommendations", "recommendation_cache",
)  # fmt: skip


@dataclass(frozen=True)
class Step:
    """One scheduled job run.

    Attributes:
        task_id: the Airflow task id (unique within its schedule).
        module: ``python -m`` module of the job.
        args: its arguments (``--env`` is added per deployment).
        upstream: task ids that must succeed first.
        retries: Airflow retries (0 where a failure is not transient: DQ checks).
        description: what it does, shown in the DAG docs and ``show``.
    """

    task_id: str
    module: str
    args: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    retries: int = 1
    description: str = ""

    def command(self, python: str, env: str) -> str:
        """The shell command, e.g. ``.venv/bin/python -m dq.run --suite all --env local``."""
        return " ".join([python, "-m", self.module, *self.args, "--env", env])


@dataclass(frozen=True)
class Schedule:
    """A DAG: its cron expression and its steps (listed in a valid run order)."""

    name: str
    cron: str
    description: str
    steps: tuple[Step, ...]


HOURLY = Schedule(
    name="hourly",
    cron="5 * * * *",
    description="Ingest, close abandoned sessions, build the star schema and the viewing "
    "activity, then run every data-quality suite.",
    steps=(
        Step(
            "ingest_playback_events",
            "jobs.ingest_playback_events",
            ("--once",),
            description="stream what landed since the last run into Delta (trigger availableNow)",
        ),
        Step(
            "load_catalog",
            "jobs.load_catalog",
            description="merge netflix_titles.csv into catalog_title (commits nothing when unchanged)",
        ),
        Step(
            "close_abandoned_sessions",
            "jobs.close_abandoned_sessions",
            upstream=("ingest_playback_events",),
            description="close sessions idle for abandoned_sessions.idle_hours",
        ),
        Step(
            "build_star_schema",
            "jobs.build_star_schema",
            upstream=("close_abandoned_sessions", "load_catalog"),
            description="dimensions, fact_watch_history and the marts, incrementally",
        ),
        Step(
            "build_viewing_activity",
            "jobs.build_viewing_activity",
            upstream=("build_star_schema",),
            description="viewing records, show progress, binges, abandonment, statistics, "
            "domain events",
        ),
        Step(
            "dq_run_all",
            "dq.run",
            ("--suite", "all"),
            upstream=("build_viewing_activity",),
            retries=0,
            description="every data-quality suite; exit 1 = a 'fail' check failed",
        ),
    ),
)

NIGHTLY = Schedule(
    name="nightly",
    cron="40 2 * * *",
    description="Table maintenance: change-log compaction, resume_state TTL, OPTIMIZE, "
    "VACUUM (jobs.maintain_tables).",
    steps=(
        Step(
            "compact_change_logs",
            "jobs.maintain_tables",
            ("--only", "compact"),
            description="fold resume_state_change and playback_session_change into their tables "
            "(also every few minutes "
            "beside a continuous ingest: docs/operations.md)",
        ),
        Step(
            "expire_resume_state",
            "jobs.maintain_tables",
            ("--only", "expire"),
            upstream=("compact_change_logs",),
            description="delete resume_state (and change-log) rows older than "
            "maintenance.resume_ttl_days",
        ),
        Step(
            "optimize_tables",
            "jobs.maintain_tables",
            ("--only", "optimize"),
            upstream=("expire_resume_state",),
            description="Z-order playback_event by session_id, compact the other tables",
        ),
        Step(
            "vacuum_tables",
            "jobs.maintain_tables",
            ("--only", "vacuum"),
            upstream=("optimize_tables",),
            description="remove files unreferenced for maintenance.vacuum_retention_hours",
        ),
    ),
)

DAILY = Schedule(
    name="daily",
    cron="30 3 * * *",
    description="Recommendations: interactions, models, lists (after that hour's activity "
    "build), then their data-quality suites.",
    steps=(
        Step(
            "build_interactions",
            "jobs.build_interactions",
            description="user_content_interaction from the sessions the hourly builds wrote "
            "(skips when nothing changed)",
        ),
        Step(
            "train_recommenders",
            "jobs.train_recommenders",
            ("--as-of", "latest"),
            upstream=("build_interactions",),
            description="item-item cosine, ALS and content neighbours",
        ),
        Step(
            "generate_recommendations",
            "jobs.generate_recommendations",
            upstream=("train_recommenders",),
            description="lists of new, touched and expiring profiles (expiring within "
            "recommend.lists.renew_ahead_minutes: none lapses before tomorrow's run)",
        ),
        Step(
            "dq_run_recommendations",
            "dq.run",
            ("--suite", ",".join(RECOMMENDATION_SUITES)),
            upstream=("generate_recommendations",),
            retries=0,
            description="the recommendation suites; exit 1 = a 'fail' check failed",
        ),
    ),
)

SCHEDULES = (HOURLY, NIGHTLY, DAILY)


class PipelineError(ValueError):
    """A schedule whose steps do not form a DAG in the listed order."""


def check(schedule: Schedule) -> None:
    """Check that task ids are unique and every upstream is listed before its step.

    Raises:
        PipelineError: a duplicate id, an unknown upstream, or an upstream listed later
            (the listed order is the cron run order, so it must be topological).
    """
    seen: set[str] = set()
    for step in schedule.steps:
        if step.task_id in seen:
            raise PipelineError(f"{schedule.name}: task {step.task_id!r} is listed twice")
        later = [u for u in step.upstream if u not in seen]
        if later:
            raise PipelineError(
                f"{schedule.name}: {step.task_id!r} waits for {later}, which are unknown or "
                "listed after it; list every step after its upstreams"
            )
        seen.add(step.task_id)


def edges(schedule: Schedule) -> set[tuple[str, str]]:
    """``(upstream, downstream)`` task-id pairs."""
    return {(u, s.task_id) for s in schedule.steps for u in s.upstream}


CRON_HEADER = """\
# GENERATED by `python -m dq.schedule.pipeline cron > dq/schedule/cron.txt` from
# dq/schedule/pipeline.py (the Airflow DAGs use the same steps): edit that file.
# Install with `crontab -e` on the host with the repository at REPO and its .venv.
# Each line runs its steps in dependency order and stops at the first failure (&&);
# flock keeps runs from overlapping: an hourly run skips while the previous one or the
# maintenance still runs (-n), the maintenance waits up to 50 minutes for an hourly run.
# A non-zero exit (dq.run: 1 = a 'fail' check failed, 2 = configuration error or an
# unreadable table) makes cron mail the tail of the day's log to MAILTO.
MAILTO=data-eng@example.org
REPO=/opt/viewing-lakehouse
LOCK=/tmp/viewing-lakehouse-schedule.lock
"""


def cron_line(schedule: Schedule, env: str = ENV_DEFAULT) -> str:
    """One crontab line running the schedule's steps in order, logged per day."""
    check(schedule)
    log = f"lakehouse/_logs/{schedule.name}-$(date +\\%F).log"
    chain = " && ".join(s.command(".venv/bin/python", env) for s in schedule.steps)
    wait = "-n" if schedule is HOURLY else "-w 3000"  # nightly, daily: wait for an hourly run
    return (
        f"{schedule.cron} cd $REPO && mkdir -p lakehouse/_logs && "
        f"flock {wait} $LOCK sh -c '{chain}' >> {log} 2>&1 || tail -n 80 {log}"
    )


def cron_text(env: str = ENV_DEFAULT) -> str:
    """The whole ``cron.txt``."""
    body = []
    for schedule in SCHEDULES:
        body.append(f"# {schedule.name}: {schedule.description}")
        body.append(cron_line(schedule, env))
    return CRON_HEADER + "\n".join(body) + "\n"


def main(argv: list[str] | None = None) -> int:
    """``cron`` prints cron.txt; ``show`` prints each schedule's steps in run order."""
    parser = argparse.ArgumentParser(
        prog="python -m dq.schedule.pipeline",
        description="The scheduled pipeline (hourly jobs, nightly maintenance) as data: "
        "print the cron file or the steps.",
    )
    parser.add_argument("what", choices=("cron", "show"))
    parser.add_argument("--env", default=ENV_DEFAULT, help="--env of every job (default local)")
    args = parser.parse_args(argv)
    if args.what == "cron":
        sys.stdout.write(cron_text(args.env))
        return 0
    for schedule in SCHEDULES:
        check(schedule)
        print(f"{schedule.name} ({schedule.cron}): {schedule.description}")
        for step in schedule.steps:
            after = f"  after {', '.join(step.upstream)}" if step.upstream else ""
            print(f"  {step.task_id:26} {step.command('python', args.env)}{after}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
