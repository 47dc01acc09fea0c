"""End to end: build interactions -> train -> generate -> queries, on a tiny lake."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from jobs.core.recommend.build import build
from jobs.core.recommend.generation import generate_all
from jobs.core.recommend.training import train

T0 = dt.datetime(2024, 3, 1, 20, 0)
# 6 profiles in two countries; titles 1..6 (3 and 4 co-viewed a lot), 7 a trailer
VIEWS = {
    1: [1, 2, 3, 4],
    2: [1, 3, 4, 5],
    3: [2, 3, 4, 6],
    4: [1, 2, 3],
    5: [3, 4, 5, 6],
    6: [1],
}


def _lake(spark, engine):
    engine.create_all(["profile", "account", "title", "episode", "playback_session"])
    engine.append(
        "account", spark.createDataFrame([(1, "hh")], "account_id long, account_label string")
    )
    engine.append(
        "profile",
        spark.createDataFrame(
            [(p, 1, f"Profile {p}", None, "GT" if p <= 3 else "US") for p in VIEWS],
            "profile_id long, account_id long, profile_name string, maturity_setting string, country_code string",
        ),
    )
    titles = [(t, f"Title {t}", "FILM", 3600) for t in range(1, 7)] + [
        (7, "Trailer", "SUPPLEMENTAL", None)
    ]
    engine.append(
        "title",
        spark.createDataFrame(
            titles, "title_id long, title_name string, title_type string, runtime_sec int"
        ),
    )
    rows = []
    for p, ts in VIEWS.items():
        for i, t in enumerate(ts + [7]):
            start = T0 + dt.timedelta(days=i, hours=p)
            rows.append(
                (
                    f"s{p}-{t}",
                    p,
                    "d",
                    t,
                    None,
                    "GT",
                    t == 7,
                    False,
                    start,
                    start + dt.timedelta(minutes=50),
                    "END",
                    start + dt.timedelta(minutes=50),
                    3000,
                    3,
                )
            )
    schema = engine.read("playback_session").schema
    engine.append("playback_session", spark.createDataFrame(rows, schema))


@pytest.mark.slow
def test_jobs_build_lists_with_explanations_and_rerun_does_nothing(spark, engine):
    _lake(spark, engine)
    s = engine.cfg.recommend
    report = build(engine, s)
    assert not report.get("skipped")
    inter = engine.read("user_content_interaction")
    assert inter.count() == sum(len(v) for v in VIEWS.values())  # trailers are not interactions
    assert build(engine, s) == {"skipped": True}
    train(engine, s, "latest")
    edges = engine.read("item_item_edge")
    assert edges.where("model = 'item_cosine'").count() > 0
    assert edges.where("model = 'als'").count() > 0
    out = generate_all(engine, s)
    assert out["profiles"] == len(VIEWS)
    current = engine.read("current_recommendations").where("context = 'home'")
    # seen titles never on home
    seen = inter.select("profile_id", "title_id")
    assert current.join(seen, ["profile_id", "title_id"]).count() == 0
    # profile 6 has one title: cold start popularity with a 'popular' explanation
    p6 = current.where("profile_id = 6")
    assert {r.model for r in p6.collect()} == {"popularity"}
    why = engine.read("recommendation_explanation").where("profile_id = 6 AND context = 'home'")
    assert {r.explanation_type for r in why.collect()} == {"popular"}
    # ranks 1..N without gaps per list
    gaps = (
        current.groupBy("profile_id")
        .agg(F.max("rank_position").alias("m"), F.count(F.lit(1)).alias("n"))
        .where("m <> n")
    )
    assert gaps.count() == 0
    # nothing new: no profile regenerated
    assert generate_all(engine, s)["profiles"] == 0
