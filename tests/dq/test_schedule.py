"""The schedule: the pipeline's order, the Airflow DAGs built from it, the generated cron file.

Airflow is not installed (it is not a dependency): the DAG file runs against a stand-in
of the three Airflow names it uses (``DAG``, ``BashOperator``, ``>>``) that records the
tasks and their upstreams, so the test checks the wiring the file really builds.
"""

from __future__ import annotations

import importlib.util
import runpy
import sys
import types
from pathlib import Path

import pytest

from dq.schedule import pipeline
from dq.schedule.pipeline import DAILY, HOURLY, NIGHTLY, PipelineError, Schedule, Step

SCHEDULE = Path(__file__).resolve().parents[2] / "dq" / "schedule"
DAG_FILE = SCHEDULE / "viewing_lakehouse_dag.py"


def ancestors(edges: set[tuple[str, str]], task: str) -> set[str]:
    """Every task that must finish before ``task`` (transitively)."""
    direct = {u for u, d in edges if d == task}
    return direct.union(*(ancestors(edges, u) for u in direct)) if direct else set()


def test_hourly_order_is_ingest_cleanup_builds_then_dq():
    edges = pipeline.edges(HOURLY)
    assert ancestors(edges, "close_abandoned_sessions") == {"ingest_playback_events"}
    assert ancestors(edges, "build_star_schema") == {
        "ingest_playback_events",
        "close_abandoned_sessions",
        "load_catalog",
    }
    assert "build_star_schema" in ancestors(edges, "build_viewing_activity")
    # DQ checks what every other step wrote
    others = {s.task_id for s in HOURLY.steps} - {"dq_run_all"}
    assert ancestors(edges, "dq_run_all") == others


def test_nightly_maintenance_runs_ttl_optimize_vacuum_in_that_order():
    from jobs.core.changelog.maintenance import STEPS

    edges = pipeline.edges(NIGHTLY)
    assert ancestors(edges, "vacuum_tables") == {
        "compact_change_logs", "expire_resume_state", "optimize_tables",
    }  # fmt: skip
    assert ancestors(edges, "optimize_tables") == {"compact_change_logs", "expire_resume_state"}
    assert {s.args[1] for s in NIGHTLY.steps} == set(STEPS)  # --only covers every step
    assert NIGHTLY.cron.split()[:2] == ["40", "2"]


def test_daily_recommendations_run_interactions_train_generate_then_their_suites():
    edges = pipeline.edges(DAILY)
    assert ancestors(edges, "generate_recommendations") == {
        "build_interactions", "train_recommenders",
    }  # fmt: skip
    assert ancestors(edges, "dq_run_recommendations") == {
        s.task_id for s in DAILY.steps if s.task_id != "dq_run_recommendations"
    }
    # after the hourly run of that hour (minute 5) has built the activity: it waits for the lock
    assert DAILY.cron.split()[0] == "30" and "-w " in pipeline.cron_line(DAILY)
    suites = DAILY.steps[-1].args[1].split(",")
    assert "current_recommendations" in suites
    assert all((SCHEDULE.parent / "suites" / f"{name}.yaml").is_file() for name in suites)


def test_every_step_is_a_runnable_module():
    for schedule in pipeline.SCHEDULES:
        pipeline.check(schedule)
        for step in schedule.steps:
            assert importlib.util.find_spec(step.module), step.module
            assert step.command("py", "cluster").endswith("--env cluster")


def test_check_refuses_an_upstream_listed_later_or_unknown():
    later = Schedule("x", "* * * * *", "", (Step("b", "m", upstream=("a",)), Step("a", "m")))
    with pytest.raises(PipelineError, match="'b' waits for \\['a'\\]"):
        pipeline.check(later)
    twice = Schedule("x", "* * * * *", "", (Step("a", "m"), Step("a", "m")))
    with pytest.raises(PipelineError, match="listed twice"):
        pipeline.check(twice)


class _Recorder:
    """Stand-in for ``airflow``: records DAGs, tasks and ``>>`` edges."""

    def __init__(self):
        self.dags: dict[str, dict] = {}
        self.current: dict | None = None
        recorder = self

        class DAG:
            def __init__(self, dag_id, **kwargs):
                self.info = {"kwargs": kwargs, "tasks": {}, "edges": set()}
                recorder.dags[dag_id] = self.info

            def __enter__(self):
                recorder.current = self.info
                return self

            def __exit__(self, *exc):
                recorder.current = None

        class BashOperator:
            def __init__(self, task_id, bash_command, **kwargs):
                assert recorder.current is not None, "task created outside a DAG"
                self.task_id, self.dag = task_id, recorder.current
                self.dag["tasks"][task_id] = {"bash_command": bash_command, **kwargs}

            def __rshift__(self, other):
                self.dag["edges"].add((self.task_id, other.task_id))
                return other

        self.airflow = types.ModuleType("airflow")
        self.airflow.DAG = DAG
        self.operators = types.ModuleType("airflow.operators")
        self.bash = types.ModuleType("airflow.operators.bash")
        self.bash.BashOperator = BashOperator

    def modules(self) -> dict[str, types.ModuleType]:
        return {
            "airflow": self.airflow,
            "airflow.operators": self.operators,
            "airflow.operators.bash": self.bash,
        }


def test_airflow_dags_have_the_pipeline_tasks_and_order(monkeypatch):
    recorder = _Recorder()
    for name, module in recorder.modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setenv("VIEWING_LAKEHOUSE_HOME", "/srv/vl")
    runpy.run_path(str(DAG_FILE))
    assert sorted(recorder.dags) == [
        "viewing_lakehouse_daily", "viewing_lakehouse_hourly", "viewing_lakehouse_nightly",
    ]  # fmt: skip
    for schedule in (HOURLY, NIGHTLY, DAILY):
        dag = recorder.dags[f"viewing_lakehouse_{schedule.name}"]
        assert dag["kwargs"]["schedule"] == schedule.cron
        assert dag["kwargs"]["max_active_runs"] == 1
        assert list(dag["tasks"]) == [s.task_id for s in schedule.steps]
        assert dag["edges"] == pipeline.edges(schedule)
        for step in schedule.steps:
            cmd = dag["tasks"][step.task_id]["bash_command"]
            assert cmd.startswith("cd /srv/vl && /srv/vl/.venv/bin/python -m " + step.module)
    hourly = recorder.dags["viewing_lakehouse_hourly"]
    assert hourly["tasks"]["dq_run_all"]["retries"] == 0  # a failed check is not transient


def test_airflow_dagbag_when_airflow_is_installed(monkeypatch, tmp_path):
    """The real thing, where Airflow happens to be installed (not in CI: 130 wheels, 55 MB).

    Passed with apache-airflow 3.3.2 in a separate venv.
    """
    pytest.importorskip("airflow")
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    try:
        from airflow.dag_processing.dagbag import DagBag  # Airflow 3
    except ImportError:
        from airflow.models.dagbag import DagBag  # Airflow 2

    bag = DagBag(dag_folder=str(DAG_FILE))
    assert not bag.import_errors
    for schedule in (HOURLY, NIGHTLY, DAILY):
        dag = bag.dags[f"viewing_lakehouse_{schedule.name}"]
        found = {(u, t.task_id) for t in dag.tasks for u in t.upstream_task_ids}
        assert found == pipeline.edges(schedule)


def test_cron_file_is_the_generated_one_and_runs_steps_in_order():
    text = (SCHEDULE / "cron.txt").read_text(encoding="utf-8")
    assert text == pipeline.cron_text(), (
        "regenerate: python -m dq.schedule.pipeline cron > dq/schedule/cron.txt"
    )
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#") and "=" not in ln]
    assert len(lines) == 3
    for line, schedule in zip(lines, (HOURLY, NIGHTLY, DAILY), strict=True):
        assert line.split()[:5] == schedule.cron.split()
        positions = [line.index(s.command(".venv/bin/python", "local")) for s in schedule.steps]
        assert positions == sorted(positions)
        assert " && ".join(s.command(".venv/bin/python", "local") for s in schedule.steps) in line
    assert "-m dq.run --suite all" in lines[0] and "%" not in lines[0].replace("\\%", "")


def test_cli_prints_cron_and_steps(capsys):
    assert pipeline.main(["cron", "--env", "cluster"]) == 0
    assert "--env cluster" in capsys.readouterr().out
    assert pipeline.main(["show"]) == 0
    assert "dq_run_all" in capsys.readouterr().out
