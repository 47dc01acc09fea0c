"""Airflow DAGs of the lakehouse: the hourly pipeline, the nightly maintenance, the daily recommendations.

Built from :mod:`dq.schedule.pipeline` (the steps and their upstreams as data; the cron
file is generated from the same module), one BashOperator per step:

* ``viewing_lakehouse_hourly`` (minute 5): ingest -> close abandoned sessions -> star
  schema (after the catalogue load) -> viewing activity -> ``dq.run --suite all``;
* ``viewing_lakehouse_nightly`` (02:40 UTC): change-log compaction -> resume_state TTL -> OPTIMIZE -> VACUUM.
* ``viewing_lakehouse_daily`` (03:30 UTC): build_interactions -> train_recommenders ->
  generate_recommendations -> the recommendation suites (lists renewed before they
  expire, so the hourly ``current_recommendations`` check stays green).

Copy (or symlink) this file into Airflow's ``dags/`` folder on a host where the
repository is checked out at ``VIEWING_LAKEHOUSE_HOME`` with its ``.venv``. Airflow is
not a dependency of the project (``tests/dq/test_schedule.py`` runs this file against a
stand-in of the few Airflow classes it uses and checks the task order). Create the
``viewing_lakehouse`` pool with one slot so the maintenance never runs beside an hourly
run.

A task fails when its command exits non-zero: ``dq.run`` exits 1 when a ``fail`` check
fails and 2 on a configuration error or an unreadable table, so Airflow's retries,
alerts and the task log (which holds the summary table) take over; the tasks after a
failed one do not run.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

from airflow import DAG
from airflow.operators.bash import BashOperator

HOME = os.environ.get("VIEWING_LAKEHOUSE_HOME", "/opt/viewing-lakehouse")
ENV = os.environ.get("LAKEHOUSE_ENV", "cluster")
PY = f"{HOME}/.venv/bin/python"
POOL = "viewing_lakehouse"


def _pipeline():
    """``dq/schedule/pipeline.py`` beside this file (symlinked) or under ``HOME``."""
    here = Path(__file__).resolve().with_name("pipeline.py")
    path = here if here.exists() else Path(HOME) / "dq" / "schedule" / "pipeline.py"
    spec = importlib.util.spec_from_file_location("viewing_lakehouse_pipeline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


pipeline = _pipeline()


def build_dag(schedule) -> DAG:
    """One DAG with a task per step and an edge per upstream."""
    with DAG(
        dag_id=f"viewing_lakehouse_{schedule.name}",
        description=schedule.description,
        schedule=schedule.cron,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        default_args={"retries": 1, "retry_delay": timedelta(minutes=5), "pool": POOL},
        tags=["viewing-lakehouse"],
    ) as dag:
        tasks = {
            step.task_id: BashOperator(
                task_id=step.task_id,
                bash_command=f"cd {HOME} && {step.command(PY, ENV)}",
                retries=step.retries,
                doc_md=step.description,
            )
            for step in schedule.steps
        }
        for step in schedule.steps:
            for upstream in step.upstream:
                tasks[upstream] >> tasks[step.task_id]
    return dag


for _schedule in pipeline.SCHEDULES:
    pipeline.check(_schedule)
    globals()[f"dag_{_schedule.name}"] = build_dag(_schedule)
