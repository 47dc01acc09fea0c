"""A day of the daily schedule keeps the hourly current_recommendations check green.

Before: lists lived ``ttl_minutes`` (1,440) and a generation renewed only lists already
expired, so a daily run a few minutes earlier than the day before left yesterday's
lists to lapse minutes later, and every hourly ``dq.run`` failed until the next day.
"""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from dq.run import main as dq_main
from dq.schedule.pipeline import DAILY
from jobs.core.recommend.build import build
from jobs.core.recommend.generation import generate_all
from jobs.core.recommend.training import train
from tests.jobs.test_recommend_jobs import _lake

# what each daily step runs, in-process (the CLIs would stop the shared session)
RUN = {
    "jobs.build_interactions": lambda engine, s: build(engine, s),
    "jobs.train_recommenders": lambda engine, s: train(engine, s, "latest"),
    "jobs.generate_recommendations": lambda engine, s: generate_all(engine, s),
}


def run_day(engine, skip: tuple[str, ...] = ()) -> None:
    for step in DAILY.steps:
        if step.module != "dq.run" and step.module not in skip:
            RUN[step.module](engine, engine.cfg.recommend)


@pytest.mark.slow
def test_a_daily_run_renews_lists_before_they_lapse_and_dq_stays_green(spark, engine, cfg):
    _lake(spark, engine)
    run_day(engine)  # day 1
    lists = cfg.recommend.lists
    # day 2, 20 minutes earlier in the day than day 1's run: day 1's lists expire in 20 min
    soon = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(minutes=20)
    current = engine.read("current_recommendations")
    shift = F.lit(soon) - F.col("expires_at")
    yesterday = current.withColumn("generated_at", F.col("generated_at") + shift).withColumn(
        "expires_at", F.lit(soon)
    )
    engine.overwrite("current_recommendations", yesterday.localCheckpoint())
    # day 2: nobody watched anything new (build_interactions skips), so the models are
    # today's too; not training again keeps the test short and keeps every list from
    # being regenerated for a new model version, which would hide the renewal rule
    run_day(engine, skip=("jobs.train_recommenders",))
    # every current list outlives the next daily run (tomorrow, up to renew_ahead earlier)
    horizon = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(
        minutes=lists.ttl_minutes - lists.renew_ahead_minutes - 5
    )
    short = engine.read("current_recommendations").where(F.col("expires_at") < F.lit(horizon))
    assert short.count() == 0, "a list would lapse before the next daily run"
    lake = ["--env", "test", "--lake-root", cfg.paths.lake_root]
    assert dq_main([*lake, "--suite", "current_recommendations"], spark=spark) == 0
