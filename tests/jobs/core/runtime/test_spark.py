"""Which engine a run asks for and where the delta-spark jars come from (jobs/core/runtime/spark.py).

No SparkSession: the session itself is built once for the run by tests/conftest.py, and
``delta_spark_available`` is exercised by tests/jobs/core/storage/test_delta.py.
"""

from __future__ import annotations

import logging

import pytest

from jobs.core.runtime.config import EngineChoice
from jobs.core.runtime.spark import ENGINE_ENV_VARS, delta_jars_from_env, engine_choice


@pytest.fixture
def no_engine_env(monkeypatch):
    for var in ENGINE_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_the_config_decides_without_a_variable(cfg, no_engine_env):
    assert engine_choice(cfg) is cfg.delta.engine
    delta = cfg.delta.model_copy(update={"engine": EngineChoice.SPARK})
    assert engine_choice(cfg.model_copy(update={"delta": delta})) is EngineChoice.SPARK


def test_the_project_variable_wins_over_the_generic_one_and_the_config(cfg, no_engine_env):
    no_engine_env.setenv("DELTA_ENGINE", " Spark ")
    assert engine_choice(cfg) is EngineChoice.SPARK
    no_engine_env.setenv("LAKEHOUSE_DELTA_ENGINE", "rust")
    assert engine_choice(cfg) is EngineChoice.RUST
    no_engine_env.setenv("LAKEHOUSE_DELTA_ENGINE", "")  # empty: the next one decides
    assert engine_choice(cfg) is EngineChoice.SPARK
    no_engine_env.setenv("DELTA_ENGINE", "duckdb")
    with pytest.raises(
        ValueError, match="DELTA_ENGINE='duckdb': expected one of auto, spark, rust"
    ):
        engine_choice(cfg)


def test_jars_come_sorted_from_delta_jars_dir_or_not_at_all(tmp_path, monkeypatch, caplog):
    monkeypatch.delenv("DELTA_JARS_DIR", raising=False)
    assert delta_jars_from_env() == []
    for name in ("delta-storage-4.0.jar", "delta-spark_2.13-4.0.jar", "README.txt"):
        (tmp_path / name).write_text("")
    monkeypatch.setenv("DELTA_JARS_DIR", str(tmp_path))
    assert delta_jars_from_env() == [
        str(tmp_path / "delta-spark_2.13-4.0.jar"), str(tmp_path / "delta-storage-4.0.jar"),
    ]  # fmt: skip
    monkeypatch.setenv("DELTA_JARS_DIR", str(tmp_path / "empty"))
    with caplog.at_level(logging.WARNING):
        assert delta_jars_from_env() == []
    assert "holds no .jar files" in caplog.text
