"""Shared fixtures: one session-scoped SparkSession, a private lake per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from jobs.core.config import Config, load_config

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "data" / "samples"
SHARED_DATA = ROOT.parent / "shared" / "data"

os.environ.setdefault("SPARK_LOG_LEVEL", "ERROR")


@pytest.fixture(scope="session")
def spark():
    """One local[2] SparkSession for the whole run (conf/test.yaml: UTC, 2 shuffle partitions, no UI)."""
    from jobs.core.spark import build_spark

    cfg = load_config("test", lake_root="/tmp/viewing-lakehouse-unused")
    session = build_spark("tests", cfg)
    yield session
    session.stop()


@pytest.fixture
def cfg(tmp_path) -> Config:
    """The test configuration with its lake under this test's tmp_path."""
    return load_config("test", lake_root=str(tmp_path / "lake"))


@pytest.fixture
def engine(spark, cfg):
    """The engine ``delta.engine: auto`` picks here (rust where the delta-spark jars are absent)."""
    from jobs.core.delta import get_engine

    return get_engine(spark, cfg)
