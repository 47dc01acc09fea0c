"""The Delta engine contract: the same tests against both engines.

The spark half runs where the delta-spark jars are on the classpath (a cluster,
``DELTA_JARS_DIR``, or ``../shared/delta-spark-jars``); elsewhere it skips, saying why
(the ``engine_name`` fixture in ``tests/conftest.py``).
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs.core.runtime.config import EngineChoice, load_config
from jobs.core.runtime.spark import delta_spark_available, engine_choice
from jobs.core.storage.delta import (
    CDF_PROPERTY,
    ChangeFeedUnavailableError,
    MergeSpec,
    RustDeltaEngine,
    SparkDeltaEngine,
    TableNotFoundError,
    get_engine,
)
from jobs.core.tables.registry import PLAYBACK_EVENT, PLAYBACK_SESSION, RESUME_STATE, TABLES
from tests.conftest import crash_before

UTC = dt.UTC


@pytest.fixture
def any_engine(engine_name, engine):
    assert engine.name == engine_name
    return engine


def event(session, minute, etype="HEARTBEAT", pos=0, country="GT", batch=0):
    t = dt.datetime(2023, 1, 25, 21, minute, tzinfo=UTC)
    return (
        session,
        t,
        etype,
        pos,
        None,
        1,
        "d1",
        10,
        None,
        False,
        False,
        None,
        "q",
        batch,
        country,
        t.date(),
    )


def resume_row(profile, key, pos, minute, session="s1"):
    t = dt.datetime(2023, 1, 25, 21, minute, tzinfo=UTC)
    return (profile, key, None, key, pos, t, "d1", session, False, None)


@pytest.mark.slow  # a Spark pipeline of its own (~10-45 s): make test, not test-fast
def test_create_all_is_idempotent_and_empty_tables_read_with_their_schema(any_engine):
    any_engine.create_all()
    any_engine.create_all()
    for name, spec in TABLES.items():
        df = any_engine.read(name)
        assert df.count() == 0
        assert [f.name for f in df.schema.fields] == spec.columns
        assert [f.dataType for f in df.schema.fields] == [f.dataType for f in spec.schema.fields]


def test_read_of_a_missing_table_says_which_job_creates_it(any_engine):
    with pytest.raises(TableNotFoundError, match="playback_event"):
        any_engine.read("playback_event")


def test_idempotent_append_skips_a_repeated_version(spark, any_engine):
    any_engine.create(PLAYBACK_EVENT)
    df = spark.createDataFrame([event("s1", 0), event("s1", 1)], PLAYBACK_EVENT.schema)
    first = any_engine.append("playback_event", df, "q1:playback_event", 0)
    again = any_engine.append("playback_event", df, "q1:playback_event", 0)
    older = any_engine.append("playback_event", df, "q1:playback_event", -1)
    assert (first.skipped, again.skipped, older.skipped) == (False, True, True)
    assert any_engine.transaction_version("playback_event", "q1:playback_event") == 0
    assert any_engine.read("playback_event").count() == 2
    nxt = any_engine.append("playback_event", df.limit(1), "q1:playback_event", 1)
    assert not nxt.skipped
    assert any_engine.read("playback_event").count() == 3
    # another writer's markers are its own
    assert any_engine.transaction_version("playback_event", "other") is None


def test_partition_columns_and_types_survive_the_round_trip(spark, any_engine):
    any_engine.create(PLAYBACK_EVENT)
    df = spark.createDataFrame(
        [event("s1", 0, country="GT"), event("s2", 5, country="KE")], PLAYBACK_EVENT.schema
    )
    any_engine.append("playback_event", df)
    assert_df_equality(
        any_engine.read("playback_event"),
        df,
        ignore_row_order=True,
        ignore_nullable=True,
        ignore_metadata=True,
    )
    pruned = any_engine.read("playback_event", partition_filters=[("country_code", "=", "KE")])
    assert [r.session_id for r in pruned.collect()] == ["s2"]


def test_merge_upserts_with_a_condition_and_is_idempotent(spark, any_engine):
    any_engine.create(RESUME_STATE)
    spec = MergeSpec(
        on="t.profile_id = s.profile_id AND t.content_key = s.content_key",
        update_condition="s.last_update > t.last_update",
    )
    any_engine.merge(
        "resume_state",
        spark.createDataFrame([resume_row(1, 10, 100, 5)], RESUME_STATE.schema),
        spec,
    )
    batch = spark.createDataFrame(
        [resume_row(1, 10, 50, 1), resume_row(1, 11, 7, 2)],  # older for 10: ignored; new key 11
        RESUME_STATE.schema,
    )
    result = any_engine.merge("resume_state", batch, spec, "m:resume_state", 3)
    assert result.metrics["rows_inserted"] == 1
    assert result.metrics["rows_updated"] == 0
    assert any_engine.merge("resume_state", batch, spec, "m:resume_state", 3).skipped
    expected = spark.createDataFrame(
        [resume_row(1, 10, 100, 5), resume_row(1, 11, 7, 2)], RESUME_STATE.schema
    )
    assert_df_equality(
        any_engine.read("resume_state"),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
        ignore_metadata=True,
    )


def test_concurrent_merges_in_one_session_each_keep_their_own_marker(spark, any_engine, tmp_path):
    """The ingest commits a micro-batch's merges from several threads of one session.

    Each merge adds its position to the stored one, so a merge committed without its
    marker is applied again by the replay, and one committed under the other thread's
    marker is skipped: either changes the sums.
    """
    other = type(any_engine)(spark, load_config("test", lake_root=str(tmp_path / "other")))
    add = MergeSpec(
        on="t.profile_id = s.profile_id AND t.content_key = s.content_key",
        update={"last_position_sec": "t.last_position_sec + s.last_position_sec"},
    )
    one = spark.createDataFrame([resume_row(1, 10, 1, 5)], RESUME_STATE.schema)

    def batches(target, app_id):
        for version in range(3):
            target.merge("resume_state", one, add, app_id=app_id, version=version)

    for target in (any_engine, other):
        target.create(RESUME_STATE)
    for _ in range(2):  # the second round replays every batch: it must change nothing
        with ThreadPoolExecutor(max_workers=2) as pool:
            for done in [pool.submit(batches, any_engine, "a"), pool.submit(batches, other, "b")]:
                done.result()

    for target, app_id in ((any_engine, "a"), (other, "b")):
        assert [r.last_position_sec for r in target.read("resume_state").collect()] == [3]
        assert target.transaction_version("resume_state", app_id) == 2


def session_row(session, count, minute):
    t = dt.datetime(2023, 1, 25, 21, minute, tzinfo=UTC)
    return (session, 1, "d1", 10, None, "GT", False, False, t, None, None, t, 60, count)


def test_changed_keys_come_from_the_change_data_feed(spark, any_engine):
    any_engine.create(PLAYBACK_SESSION)
    assert any_engine.properties("playback_session")[CDF_PROPERTY] == "true"
    rows = [session_row(s, 1, 1) for s in ("s1", "s2", "s3")]
    any_engine.append("playback_session", spark.createDataFrame(rows, PLAYBACK_SESSION.schema))
    since = any_engine.version("playback_session")
    assert any_engine.changed_keys("playback_session", since, ["session_id"]).count() == 0
    any_engine.merge(  # s2 updated, s4 inserted; s1 and s3 are rewritten but unchanged
        "playback_session",
        spark.createDataFrame(
            [session_row("s2", 5, 9), session_row("s4", 1, 9)], PLAYBACK_SESSION.schema
        ),
        MergeSpec(on="t.session_id = s.session_id"),
    )
    keys = any_engine.changed_keys("playback_session", since, ["session_id"])
    assert sorted(r.session_id for r in keys.collect()) == ["s2", "s4"]


def test_changed_keys_refuse_a_table_without_the_feed(spark, any_engine):
    any_engine.create(RESUME_STATE)  # no change data feed in its spec
    with pytest.raises(ChangeFeedUnavailableError, match="ALTER TABLE"):
        any_engine.changed_keys("resume_state", 0, ["profile_id"])


def test_overwrite_with_a_predicate_replaces_only_matching_rows(spark, any_engine):
    any_engine.create(PLAYBACK_EVENT)
    any_engine.append(
        "playback_event",
        spark.createDataFrame(
            [event("s1", 0, country="GT"), event("s2", 0, country="KE")], PLAYBACK_EVENT.schema
        ),
    )
    any_engine.overwrite(
        "playback_event",
        spark.createDataFrame([event("s3", 0, country="KE")], PLAYBACK_EVENT.schema),
        predicate="country_code = 'KE'",
    )
    assert sorted(r.session_id for r in any_engine.read("playback_event").collect()) == ["s1", "s3"]


def test_versions_history_optimize_and_vacuum(spark, any_engine):
    any_engine.create(PLAYBACK_EVENT)
    for minute in range(3):  # three small files in one partition
        any_engine.append(
            "playback_event", spark.createDataFrame([event("s1", minute)], PLAYBACK_EVENT.schema)
        )
    assert any_engine.version("playback_event") == 3
    assert any_engine.read("playback_event", version=1).count() == 1
    history = any_engine.history("playback_event")
    assert len(history) == 4 and history[0]["version"] == 3
    any_engine.optimize("playback_event", zorder_by=["session_id"])
    assert any_engine.read("playback_event").count() == 3
    any_engine.vacuum("playback_event", retention_hours=0)
    assert any_engine.read("playback_event").count() == 3
    deleted = any_engine.delete("playback_event", "event_time < '2023-01-25 21:01:00'")
    assert deleted.metrics["rows_deleted"] == 1
    assert any_engine.read("playback_event").agg(F.min("event_time")).first()[0] == dt.datetime(
        2023, 1, 25, 21, 1
    )


def test_a_write_missing_a_declared_column_is_refused(spark, any_engine):
    any_engine.create(PLAYBACK_EVENT)
    df = spark.createDataFrame([event("s1", 0)], PLAYBACK_EVENT.schema).drop("dt")
    with pytest.raises(ValueError, match=r"lacks columns \['dt'\]"):
        any_engine.append("playback_event", df)


def test_auto_picks_spark_with_the_jars_and_rust_without(spark, cfg, monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_DELTA_ENGINE", raising=False)
    monkeypatch.delenv("DELTA_ENGINE", raising=False)
    assert cfg.delta.engine is EngineChoice.AUTO
    ok, _ = delta_spark_available(spark)
    assert get_engine(spark, cfg).name == ("spark" if ok else "rust")


def test_the_environment_overrides_delta_engine(cfg, monkeypatch):
    monkeypatch.delenv("LAKEHOUSE_DELTA_ENGINE", raising=False)
    monkeypatch.setenv("DELTA_ENGINE", "Spark")
    assert engine_choice(cfg) is EngineChoice.SPARK
    monkeypatch.setenv("LAKEHOUSE_DELTA_ENGINE", "rust")  # the project's own name wins
    assert engine_choice(cfg) is EngineChoice.RUST
    monkeypatch.setenv("LAKEHOUSE_DELTA_ENGINE", "duckdb")
    with pytest.raises(ValueError, match="LAKEHOUSE_DELTA_ENGINE='duckdb': expected one of"):
        engine_choice(cfg)


def test_a_crash_injected_at_the_interface_stops_the_write_on_every_engine(spark, any_engine):
    any_engine.create(PLAYBACK_EVENT)
    df = spark.createDataFrame([event("s1", 0)], PLAYBACK_EVENT.schema)
    with crash_before("append", "playback_event", call=2) as calls:
        any_engine.append("playback_event", df, "q:playback_event", 0)
        with pytest.raises(RuntimeError, match="simulated crash"):
            any_engine.append("playback_event", df, "q:playback_event", 1)
    assert calls["n"] == 2
    assert any_engine.version("playback_event") == 1  # the crashed write committed nothing
    assert any_engine.transaction_version("playback_event", "q:playback_event") == 0
    assert not any_engine.append("playback_event", df, "q:playback_event", 1).skipped  # hook gone
    assert any_engine.read("playback_event").count() == 2


@pytest.mark.slow  # a Spark pipeline of its own (~10-45 s): make test, not test-fast
def test_one_lake_written_and_read_by_both_engines_in_turn(spark, cfg, monkeypatch):
    ok, why = delta_spark_available(spark)
    if not ok:
        pytest.skip(f"spark engine not testable here: {why}")
    rust, spark_engine = RustDeltaEngine(spark, cfg), SparkDeltaEngine(spark, cfg)
    spec = MergeSpec(
        on="t.profile_id = s.profile_id AND t.content_key = s.content_key",
        update_condition="s.last_update > t.last_update",
    )
    rows = spark.createDataFrame

    rust.create(RESUME_STATE)  # created by delta-rs
    rust.merge("resume_state", rows([resume_row(1, 10, 100, 5)], RESUME_STATE.schema), spec, "m", 0)
    # delta-spark sees delta-rs's rows and its transaction marker, and skips the replay
    assert spark_engine.transaction_version("resume_state", "m") == 0
    assert spark_engine.merge("resume_state", rows([], RESUME_STATE.schema), spec, "m", 0).skipped
    batch = rows([resume_row(1, 10, 200, 9), resume_row(2, 10, 5, 1)], RESUME_STATE.schema)
    assert not spark_engine.merge("resume_state", batch, spec, "m", 1).skipped
    spark_engine.optimize("resume_state")
    # and delta-rs continues after delta-spark's commits
    assert rust.transaction_version("resume_state", "m") == 1
    assert rust.merge("resume_state", batch, spec, "m", 1).skipped
    rust.merge("resume_state", rows([resume_row(3, 11, 1, 2)], RESUME_STATE.schema), spec, "m", 2)
    expected = rows(
        [resume_row(1, 10, 200, 9), resume_row(2, 10, 5, 1), resume_row(3, 11, 1, 2)],
        RESUME_STATE.schema,
    )
    assert rust.version("resume_state") == spark_engine.version("resume_state") >= 3
    for engine in (rust, spark_engine):
        assert_df_equality(
            engine.read("resume_state"),
            expected,
            ignore_row_order=True,
            ignore_nullable=True,
            ignore_metadata=True,
        )
