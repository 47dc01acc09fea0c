"""The recommendation steps on a lake (rust engine): what they refuse, and the evaluation rows."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from jobs.core.recommend.build import build
from jobs.core.recommend.generation import generate_all
from jobs.core.recommend.performance import performance_rows, settings_version
from jobs.core.recommend.training import training_as_of
from jobs.core.runtime.errors import RunError


def test_build_needs_playback_session(engine):
    with pytest.raises(RunError, match="playback_session not found"):
        build(engine, engine.cfg.recommend)


def test_generation_needs_trained_models(engine):
    engine.create_all(["item_item_edge"])
    with pytest.raises(RunError, match="train_recommenders"):
        generate_all(engine, engine.cfg.recommend)


def test_latest_as_of_needs_interactions_then_is_one_second_after_the_newest(engine, spark):
    engine.create_all(["user_content_interaction"])
    with pytest.raises(RunError, match="build_interactions"):
        training_as_of(engine, "latest")
    newest = dt.datetime(2024, 3, 1, 20, 0, 0, 123456, tzinfo=dt.UTC)
    schema = engine.read("user_content_interaction").schema
    row = {f.name: None for f in schema.fields}
    row.update(profile_id=1, title_id=2, interaction_type="VIEW", event_ts=newest)
    engine.append("user_content_interaction", spark.createDataFrame([row], schema))
    assert training_as_of(engine, "latest") == newest + dt.timedelta(seconds=1)


def test_performance_rows_one_per_model_and_finite_metric(spark):
    summary = pd.DataFrame(
        [
            {"model": "als", "precision_at_10": 0.25, "ratio_low": math.nan, "n": 3},
            {"model": "popularity", "precision_at_10": 0.1, "ratio_low": 0.9, "n": 3},
        ]
    )
    day = dt.date(2026, 12, 7)
    rows = performance_rows(spark, summary, "v1", "lake", day).collect()
    got = sorted((r.model_name, r.metric_name, r.metric_value) for r in rows)
    assert got == [
        ("als", "precision_at_10", 0.25),
        ("popularity", "precision_at_10", 0.1),
        ("popularity", "ratio_low", 0.9),
    ]
    assert {(r.model_version, r.evaluation_date, r.dataset) for r in rows} == {("v1", day, "lake")}


def test_settings_version_is_stable(cfg):
    v = settings_version(cfg.recommend)
    assert len(v) == 10 and v == settings_version(cfg.recommend)
