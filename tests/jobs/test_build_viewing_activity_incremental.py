"""The incremental viewing-activity build recomputes the changed profiles only, and what
it writes is what a full rebuild writes.

Six profiles on the hand-built star rows of ``test_build_viewing_activity``; after a
first build, each kind of change the change data feeds report reaches one of them:

* profile 1 finished series A's three known episodes (season and show complete); then a
  fourth episode appears in ``dim_movies``: not complete any more, next episode A4;
* profile 2 watched film F2; then a session of series B is appended to the fact;
* profile 3 watched A1; then its fact rows are deleted (an erasure);
* profile 4 watched F2 halfway, recently: nothing reaches it;
* profile 5 left film F1 at 30% on 20 Feb: the as-of moves from 1 May to 1 June and the
  viewing becomes abandoned (no source changed for it);
* profile 6 finished F2; then a WATCHED statement (with a companion) is posted.

Every profile but 4 is recomputed. A full refresh afterwards must find nothing to write.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs.core.activity.build import build
from jobs.core.tables.registry import VIEWING_STATEMENT, get_spec
from jobs.core.tables.spec import DELTA_RETENTION
from jobs.core.tables.star import ACTIVITY_TABLES
from tests.jobs.test_build_viewing_activity import F1, F2, MOVIES, A, B, movie, session, t
from tests.jobs.test_build_viewing_activity_statements import statement

UTC = dt.UTC
FIRST_AS_OF = dt.datetime(2023, 5, 1, tzinfo=UTC)
LATER_AS_OF = dt.datetime(2023, 6, 1, tzinfo=UTC)
# series A with three known episodes (the fourth arrives later)
KNOWN_AT_FIRST = [
    m for m in MOVIES if m[get_spec("dim_movies").columns.index("content_key")] != 204
]
FACTS = [
    session("p1a1", 201, t(3, 10, 20, 0), 30, 100, True, profile=1),
    session("p1a2", 202, t(3, 10, 20, 35), 30, 100, True, profile=1),
    session("p1a3", 203, t(3, 10, 21, 10), 30, 100, True, profile=1),
    session("p2f2", F2, t(2, 1, 20), 50, 100, True, profile=2),
    session("p3a1", 201, t(3, 12, 20), 30, 100, True, profile=3),
    session("p4f2", F2, t(4, 20, 20), 25, 50, False, profile=4),
    session("p5f1", F1, t(2, 20, 20), 30, 30, False, profile=5),
    session("p6f2", F2, t(4, 10, 20), 50, 100, True, profile=6),
]
NEW_SESSION = session("p2b1", 301, t(5, 20, 20), 30, 100, True, profile=2)
NEW_STATEMENT = statement(
    "w6", "WATCHED", F2, None, t(4, 11, 20), profile_id=6, watched_with=["Dee"]
)


def star(spark, engine, fact_spec=None) -> None:
    """The star tables of the first build (``fact_spec``: the fact's spec, e.g. an old one)."""
    for spec in (get_spec("dim_movies"), get_spec("dim_device")):
        engine.create(spec)
    engine.create(fact_spec or get_spec("fact_watch_history"))
    engine.append(
        "dim_movies", spark.createDataFrame(KNOWN_AT_FIRST, get_spec("dim_movies").schema)
    )
    engine.append(
        "dim_device",
        spark.createDataFrame([(1, "d1", 10, "TV", "Smart TV")], get_spec("dim_device").schema),
    )
    engine.append(
        "fact_watch_history", spark.createDataFrame(FACTS, get_spec("fact_watch_history").schema)
    )


def change_everything(spark, engine) -> None:
    """One change of each kind (see the module docstring)."""
    a4 = movie(204, A, 204, "EPISODE", "Show A", 1, 4, 1800, seasons=1)
    engine.append("dim_movies", spark.createDataFrame([a4], get_spec("dim_movies").schema))
    engine.append(
        "fact_watch_history",
        spark.createDataFrame([NEW_SESSION], get_spec("fact_watch_history").schema),
    )
    engine.delete("fact_watch_history", "profile_id = 3")
    engine.create(VIEWING_STATEMENT)
    engine.append(
        "viewing_statement", spark.createDataFrame([NEW_STATEMENT], VIEWING_STATEMENT.schema)
    )


def tables(engine) -> dict:
    """Every activity table, read now (to compare with the same table after a refresh)."""
    return {s.name: engine.read(s.name).persist() for s in ACTIVITY_TABLES}


def test_only_changed_profiles_are_recomputed_as_a_full_refresh_would(spark, engine_name, engine):
    star(spark, engine)
    first = build(engine, as_of=FIRST_AS_OF)
    change_everything(spark, engine)
    second = build(engine, as_of=LATER_AS_OF)
    assert first["profiles_recomputed"] == "all" and first["full_recompute"] == "first run"
    assert second["status"] == "built"
    assert second["profiles_recomputed"] == 5  # every profile but 4
    # the changes themselves, profile by profile
    progress = {
        r.profile_id: r
        for r in engine.read("show_progress").where(F.col("title_id") == A).collect()
    }
    assert set(progress) == {1}  # profile 3 erased
    assert (progress[1].is_completed, progress[1].next_episode_id) == (False, 204)
    assert engine.read("viewing_record").where(f"profile_id = 2 AND title_id = {B}").count() == 1
    abandoned = {(r.profile_id, r.content_key) for r in engine.read("abandoned_content").collect()}
    assert abandoned == {(5, F1)}  # 4 left F2 halfway too, but recently
    companions = engine.read("viewing_companion").collect()
    assert [(r.profile_id, r.companion_name) for r in companions] == [(6, "Dee")]
    for spec in ACTIVITY_TABLES:  # domain events are insert-only (erasure deletes them)
        if spec.name != "viewing_domain_event":
            assert engine.read(spec.name).where("profile_id = 3").count() == 0, spec.name
    # TVShowCompleted for profile 1 was emitted at the first build and stays (insert-only)
    kinds = {r.event_type for r in engine.read("viewing_domain_event").collect()}
    assert {"TVShowCompleted", "ViewingAbandoned", "TVEpisodeWatched"} <= kinds

    # a full refresh recomputes every profile: it must find nothing to write
    before = tables(engine)
    versions = {name: engine.version(name) for name in before}
    full = build(engine, as_of=LATER_AS_OF, full_refresh=True)
    assert full["profiles_recomputed"] == "all" and full["full_recompute"] == "--full-refresh"
    for name, df in before.items():
        assert_df_equality(
            engine.read(name), df, ignore_row_order=True, ignore_nullable=True
        )  # shows the rows that differ, when some do
    writes = {n: full[n] for n in versions if n != "viewing_domain_event"}
    assert all(w["upserted"] == w["deleted"] == 0 for w in writes.values()), writes
    assert full["viewing_domain_event"] == {"appended": 0}
    assert {name: engine.version(name) for name in before} == versions
    # and with nothing new, the next run has nothing to do
    assert build(engine, as_of=LATER_AS_OF)["status"] == "up-to-date"


def test_a_fact_without_change_feed_recomputes_everyone(spark, engine):
    old_fact = dataclasses.replace(get_spec("fact_watch_history"), properties=DELTA_RETENTION)
    star(spark, engine, old_fact)
    build(engine, as_of=FIRST_AS_OF)
    engine.append(
        "fact_watch_history",
        spark.createDataFrame([NEW_SESSION], get_spec("fact_watch_history").schema),
    )
    second = build(engine, as_of=FIRST_AS_OF)
    assert second["profiles_recomputed"] == "all"
    assert "delta.enableChangeDataFeed" in second["full_recompute"]
    assert engine.read("viewing_record").where(f"profile_id = 2 AND title_id = {B}").count() == 1
