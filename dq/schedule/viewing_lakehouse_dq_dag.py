"""Airflow DAG: close abandoned sessions, then run every data-quality suite, hourly.

Copy (or symlink) this file into Airflow's ``dags/`` folder on a host where the
repository is checked out at ``VIEWING_LAKEHOUSE_HOME`` with its ``.venv``. Airflow is
not a dependency of the project; this file only needs Airflow where it is scheduled
(tests only ``py_compile`` it).

A task fails when its command exits non-zero: ``dq.run`` exits 1 when a ``fail`` check
fails and 2 on a configuration error, so Airflow's retries, alerts and the task log
(which holds the summary table) take over. The Data Docs are under
``{lake_root}/_dq/data_docs/index.html`` and the history in the Delta table ``dq_result``.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow import DAG
from airflow.operators.bash import BashOperator

HOME = os.environ.get("VIEWING_LAKEHOUSE_HOME", "/opt/viewing-lakehouse")
ENV = os.environ.get("LAKEHOUSE_ENV", "cluster")
PY = f"{HOME}/.venv/bin/python"

with DAG(
    dag_id="viewing_lakehouse_dq",
    description="Close abandoned sessions, then run the Great Expectations suites (dq.run).",
    schedule="15 * * * *",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=5)},
    tags=["viewing-lakehouse", "data-quality"],
) as dag:
    close_abandoned = BashOperator(
        task_id="close_abandoned_sessions",
        bash_command=f"cd {HOME} && {PY} -m jobs.close_abandoned_sessions --env {ENV}",
    )
    run_dq = BashOperator(
        task_id="dq_run_all",
        bash_command=f"cd {HOME} && {PY} -m dq.run --suite all --env {ENV}",
        retries=0,  # a failed check is not transient
    )
    close_abandoned >> run_dq
