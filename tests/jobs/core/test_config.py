"""Typed configuration: base + overlay, env selection, errors that say what to do."""

from __future__ import annotations

import pytest

from jobs.core.config import ConfigError, EngineChoice, available_envs, load_config


def test_overlay_changes_only_its_values(tmp_path):
    local = load_config("local", lake_root=str(tmp_path))
    test = load_config("test", lake_root=str(tmp_path))
    assert (
        test.spark.master == "local[2]" and test.spark.conf["spark.sql.shuffle.partitions"] == "2"
    )
    assert local.ingest.trigger_interval == test.ingest.trigger_interval == "5 seconds"
    assert local.ingest.dedupe_watermark is None  # base.yaml: off (the table dedupe is exact)
    assert test.spark.conf["spark.sql.session.timeZone"] == "UTC"
    assert local.delta.engine is EngineChoice.AUTO


def test_paths_follow_the_lake_root_and_env_vars(tmp_path, monkeypatch):
    cfg = load_config("test", lake_root=str(tmp_path / "lake"))
    assert cfg.paths.landing_dir == str(tmp_path / "lake" / "landing")
    assert cfg.table_path("resume_state") == str(tmp_path / "lake" / "tables" / "resume_state")
    monkeypatch.setenv("LAKEHOUSE_ROOT", str(tmp_path / "other"))
    monkeypatch.setenv("LAKEHOUSE_ENV", "cluster")
    cfg = load_config()
    assert cfg.env == "cluster" and cfg.paths.checkpoint_dir == str(
        tmp_path / "other" / "_checkpoints"
    )
    assert cfg.delta.engine is EngineChoice.SPARK


def test_default_paths_are_under_lakehouse(monkeypatch, tmp_path):
    monkeypatch.delenv("LAKEHOUSE_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_config("local").paths.lake_root == str(tmp_path / "lakehouse")


def test_unknown_env_and_bad_values_raise_config_error(tmp_path):
    with pytest.raises(ConfigError, match="unknown environment 'prod'.*local"):
        load_config("prod")
    with pytest.raises(ConfigError, match="invalid configuration value"):
        load_config("test", overrides={"delta": {"engine": "duckdb"}})
    assert {"local", "cluster", "test"} <= set(available_envs())
