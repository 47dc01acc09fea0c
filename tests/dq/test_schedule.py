"""The schedule files: the Airflow DAG compiles (Airflow is not installed), cron names dq.run."""

from __future__ import annotations

import py_compile
from pathlib import Path

SCHEDULE = Path(__file__).resolve().parents[2] / "dq" / "schedule"


def test_airflow_dag_compiles(tmp_path):
    py_compile.compile(
        str(SCHEDULE / "viewing_lakehouse_dq_dag.py"), cfile=str(tmp_path / "dag.pyc"), doraise=True
    )


def test_cron_line_runs_every_suite():
    lines = [
        line
        for line in (SCHEDULE / "cron.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#") and "=" not in line.split()[0]
    ]
    assert any("-m dq.run --suite all" in line for line in lines)
    assert all(len(line.split()) > 5 for line in lines)  # five time fields, then the command
