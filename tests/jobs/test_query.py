"""Queries: pure functions over small tables, the SQL registration and one CLI run."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from chispa import assert_df_equality
from pyspark.sql.types import LongType, StringType, StructField, StructType

from jobs.core.serving.queries import history, session_timeline, statistics, watch_time_per_title
from jobs.core.serving.sql_views import register_tables
from jobs.core.storage.delta import get_engine
from jobs.core.tables.registry import PLAYBACK_EVENT, get_spec
from jobs.query import main
from tests.jobs.test_build_viewing_activity import FACTS, MOVIES, P

UTC = dt.UTC


@pytest.fixture(scope="module")
def tables(spark):
    def df(name, rows):
        return spark.createDataFrame(rows, get_spec(name).schema)

    return {
        "fact_watch_history": df("fact_watch_history", FACTS),
        "dim_movies": df("dim_movies", MOVIES),
        "dim_device": df("dim_device", [(1, "d1", 10, "TV", "Smart TV")]),
    }


def test_history_filters_newest_first_and_pages(tables):
    args = (tables["fact_watch_history"], tables["dim_movies"], tables["dim_device"], P)
    films = history(*args, content_type="movie", device_type="tv", page_size=2)
    assert [r.session_id for r in films.collect()] == ["r2", "r1"]
    page2 = history(*args, content_type="MOVIE", page=2, page_size=2)
    assert [r.session_id for r in page2.collect()] == ["f1"]
    march = history(*args, date_from=dt.date(2023, 3, 5), date_to=dt.date(2023, 3, 31))
    assert [r.session_id for r in march.collect()] == ["b3", "b1"]
    assert history(*args, device_type="mobile").count() == 0
    with pytest.raises(ValueError, match="page"):
        history(*args, page=0)
    with pytest.raises(ValueError, match="after"):
        history(*args, date_from=dt.date(2023, 2, 1), date_to=dt.date(2023, 1, 1))


def test_watch_time_per_title_most_watched_first(tables, spark):
    got = watch_time_per_title(tables["fact_watch_history"], tables["dim_movies"], P).select(
        "title_name", "kind", "items", "watch_seconds"
    )
    schema = StructType(
        [
            StructField("title_name", StringType()),
            StructField("kind", StringType()),
            StructField("items", LongType()),
            StructField("watch_seconds", LongType()),
        ]
    )
    expected = spark.createDataFrame(
        [
            ("Show A", "SERIES", 4, 7200),
            ("Film Two", "MOVIE", 1, 6000),
            ("Show B", "SERIES", 2, 3600),
            ("Film One", "MOVIE", 1, 1800),
        ],
        schema,
    )
    assert_df_equality(got, expected, ignore_nullable=True, ignore_metadata=True)


def test_session_timeline_keeps_the_last_seven_days_in_time_order(spark):
    def ev(day, kind, pos, session="s"):
        t = dt.datetime(2023, 3, day, 20, tzinfo=UTC)
        values = {"session_id": session, "event_time": t, "event_type": kind, "position_sec": pos,
                  "profile_id": P, "title_id": 200, "episode_id": 201, "is_supplemental": False,
                  "device_id": "d1", "country_code": "KE", "dt": t.date()}  # fmt: skip
        return tuple(values.get(c) for c in PLAYBACK_EVENT.columns)

    events = spark.createDataFrame(
        [ev(1, "PLAY", 0, "old"), ev(9, "END", 60), ev(8, "PLAY", 0)], PLAYBACK_EVENT.schema
    )
    titles = spark.createDataFrame([(200, "Show A", "SERIES", None)], get_spec("title").schema)
    episodes = spark.createDataFrame(
        [(201, 200, "Season 1", 1, 1, "Pilot", None)], get_spec("episode").schema
    )
    as_of = dt.datetime(2023, 3, 10, tzinfo=UTC)
    rows = session_timeline(events, titles, episodes, P, as_of, days=7).collect()
    assert [(r.event_type, r.title_name, r.episode_title) for r in rows] == [
        ("PLAY", "Show A", "Pilot"),
        ("END", "Show A", "Pilot"),
    ]


def test_statistics_rejects_an_unknown_period(tables):
    with pytest.raises(ValueError, match="period"):
        statistics(tables["fact_watch_history"], P, "decade")


def test_tables_are_queryable_by_name_and_the_cli_prints_json(spark, cfg, tables, capsys):
    engine = get_engine(spark, cfg)
    engine.create_all()
    for name, df in tables.items():
        engine.append(name, df)
    registered = register_tables(spark, engine)
    assert {"fact_watch_history", "dim_movies", "viewing_statistics"} <= set(registered)
    n = spark.sql("SELECT count(*) AS n FROM fact_watch_history WHERE profile_id = 1").first().n
    assert n == len(FACTS)

    code = main(
        ["history", "--profile", str(P), "--content-type", "EPISODE", "--page-size", "3",
         "--json", "--env", "test", "--lake-root", cfg.paths.lake_root]
    )  # fmt: skip
    assert code == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert [r["session_id"] for r in lines] == ["b3", "b1", "a4"]


def test_an_empty_continue_watching_answer_is_explained_like_the_job_does(spark, cfg, capsys):
    """``jobs.query continue-watching`` used to print "(no rows)" and nothing else."""
    from jobs.core.tables.registry import RESUME_STATE

    engine = get_engine(spark, cfg)
    engine.create_all()
    row = (
        1,
        10,
        None,
        10,
        100,
        dt.datetime(2024, 5, 30, 20, 0, tzinfo=UTC),
        "tv",
        "s1",
        False,
        None,
    )
    engine.append("resume_state", spark.createDataFrame([row], RESUME_STATE.schema))
    argv = ["continue-watching", "--env", "test", "--lake-root", cfg.paths.lake_root]
    assert main([*argv, "--profile", "1", "--as-of", "2026-12-07T00:00:00Z"]) == 0
    out, err = capsys.readouterr()
    assert "(no rows)" in out
    assert "nothing touched in the 90 days before 2026-12-07 00:00 UTC" in err
    assert "newest resume point is 2024-05-30 20:00 UTC" in err and "--as-of latest" in err
    assert main([*argv, "--profile", "99", "--as-of", "latest"]) == 0
    assert "profile 99 has no resume points yet" in capsys.readouterr().err
    assert main([*argv, "--profile", "1", "--as-of", "latest"]) == 0
    out, err = capsys.readouterr()
    assert "(no rows)" not in out and err == ""
