"""In-stream expectations: warn keeps and counts, drop quarantines with a reason, fail raises."""

from __future__ import annotations

import datetime as dt

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from pyspark.sql import types as T

from jobs.core.ingest.stream_expectations import (
    Action,
    Rule,
    StreamExpectationError,
    apply_expectations,
    check_batch,
    load_rules,
    parse_rules,
    result_rows,
    write_stream_results,
)
from jobs.core.runtime.config import ConfigError, load_config
from jobs.core.tables.registry import get_spec

T0 = dt.datetime(2024, 5, 1, 20, 0, tzinfo=dt.UTC)
SCHEMA = T.StructType(
    [
        T.StructField("session_id", T.StringType()),
        T.StructField("event_time", T.TimestampType()),
        T.StructField("event_type", T.StringType()),
        T.StructField("position_sec", T.IntegerType()),
        T.StructField("runtime_sec", T.IntegerType()),
        T.StructField("reject_reason", T.StringType()),
    ]
)
WARN = Rule(
    "position_within_runtime", "runtime_sec IS NULL OR position_sec <= runtime_sec", Action.WARN
)
DROP = Rule("after_2007", "event_time >= TIMESTAMP '2007-01-01 00:00:00'", Action.DROP)
FAIL = Rule("has_session", "session_id IS NOT NULL", Action.FAIL)


@pytest.fixture
def batch(spark):
    return spark.createDataFrame(
        [
            ("s1", T0, "PLAY", 0, 100, None),
            ("s1", T0 + dt.timedelta(seconds=30), "HEARTBEAT", 130, 100, None),  # warn
            ("s2", dt.datetime(1970, 1, 1, tzinfo=dt.UTC), "PLAY", 0, None, None),  # drop
            ("s3", T0, "REWIND", 0, None, "unknown event_type REWIND"),  # refused before
        ],
        SCHEMA,
    )


def test_default_rules_load_and_parse_on_the_landing_columns(spark):
    from jobs.core.ingest.stream_expectations import validate_rules
    from jobs.core.tables.registry import LANDING_EVENT_SCHEMA

    rules = load_rules(load_config("test"))
    assert {r.action for r in rules} == {Action.WARN, Action.DROP, Action.FAIL}
    validate_rules(spark.createDataFrame([], LANDING_EVENT_SCHEMA), rules)


def test_warn_keeps_and_counts_drop_quarantines_with_reason(spark, batch):
    valid = batch.where("reject_reason IS NULL").drop("reject_reason")
    kept, dropped, counts, rows = apply_expectations(valid, [WARN, DROP])
    assert rows == 3
    assert counts == {"position_within_runtime": 1, "after_2007": 1}
    expected_kept = spark.createDataFrame(
        [("s1", T0, "PLAY", 0, 100), ("s1", T0 + dt.timedelta(seconds=30), "HEARTBEAT", 130, 100)],
        T.StructType(SCHEMA.fields[:5]),
    )
    assert_df_equality(kept, expected_kept, ignore_row_order=True)
    assert [(r.session_id, r.expectation_reason) for r in dropped.collect()] == [
        ("s2", f"expectation after_2007 failed: {DROP.expr}")
    ]


def test_fail_raises_with_rule_count_and_example(batch):
    bad = batch.where("reject_reason IS NULL").withColumn(
        "session_id",
        F.when(F.col("event_type") == "HEARTBEAT", F.lit(None)).otherwise(F.col("session_id")),
    )
    with pytest.raises(
        StreamExpectationError, match=r"micro-batch 7: rule 'has_session'.*1 of 3 rows"
    ):
        apply_expectations(bad, [WARN, FAIL], batch_id=7)


def test_null_result_counts_as_violation(spark):
    df = spark.createDataFrame([(None,), (5,)], "x int")
    _, _, counts, _ = apply_expectations(df, [Rule("positive", "x > 0", Action.WARN)])
    assert counts == {"positive": 1}


def test_check_batch_only_checks_valid_rows_and_sets_reject_reason(spark, batch):
    checked = check_batch(batch, [WARN, DROP, FAIL], batch_id=3)
    assert checked.rows_checked == 3
    assert checked.counts == {"position_within_runtime": 1, "after_2007": 1, "has_session": 0}
    reasons = {(r.session_id, r.event_type): r.reject_reason for r in checked.batch.collect()}
    assert reasons == {
        ("s1", "PLAY"): None,
        ("s1", "HEARTBEAT"): None,
        ("s2", "PLAY"): f"expectation after_2007 failed: {DROP.expr}",
        ("s3", "REWIND"): "unknown event_type REWIND",
    }


def test_invalid_expression_names_the_rule(batch):
    with pytest.raises(
        ConfigError, match="stream rule 'typo'.*stream_expectations.rules in conf/base.yaml"
    ):
        check_batch(batch, [Rule("typo", "positon_sec > 0", Action.WARN)])


def test_parse_rules_rejects_unknown_action_and_duplicates():
    with pytest.raises(ConfigError, match="action 'explode'"):
        parse_rules([{"name": "a", "expr": "true", "action": "explode"}])
    with pytest.raises(ConfigError, match="declared twice"):
        parse_rules([{"name": "a", "expr": "true"}, {"name": "a", "expr": "false"}])


def test_counts_are_appended_to_dq_result_once_per_batch(spark, engine, batch):
    engine.create(get_spec("dq_result"))
    rules = [WARN, DROP]
    checked = check_batch(batch, rules, batch_id=0)
    for _ in range(2):  # a replay of batch 0 is skipped
        write_stream_results(
            engine, rules, checked, "q:id:0", "q", 0, "test", app_id="q:id:dq_result"
        )
    rows = engine.read("dq_result").orderBy("expectation").collect()
    assert [
        (r.expectation, r.severity, r.success, r.status, r.unexpected_count, r.source) for r in rows
    ] == [
        ("after_2007", "drop", False, "WARN", 1, "stream"),
        ("position_within_runtime", "warn", False, "WARN", 1, "stream"),
    ]
    assert rows[0].element_count == 3 and rows[0].batch_id == 0


def test_result_rows_match_the_dq_result_schema(spark):
    rows = result_rows([FAIL], {"has_session": 0}, 10, "r", "q", batch_id=1, env="test")
    df = spark.createDataFrame(rows, get_spec("dq_result").schema)
    assert df.first().status == "PASS" and df.first().observed_value == "0 of 10 rows"


def test_quarantine_ratio_warns_or_fails_per_micro_batch(spark, engine, batch, cfg):
    from jobs.core.ingest.stream_expectations import (
        QuarantineRatio,
        check_quarantine_ratio,
        load_quarantine_ratio,
        parse_quarantine_ratio,
    )

    conf = load_quarantine_ratio(cfg)
    assert conf is not None and 0 < conf.max_ratio < 1  # configured in conf/base.yaml
    warn = QuarantineRatio(0.25, Action.WARN, min_rows=4)
    ok = check_quarantine_ratio(warn, 1, 4, batch_id=3)
    assert not ok.broken and ok.ratio == 0.25
    too_many = check_quarantine_ratio(warn, 2, 4, batch_id=3)  # the batch: 1 reject + 1 drop
    assert too_many.broken
    assert not check_quarantine_ratio(warn, 2, 3).judged  # under min_rows
    fail = QuarantineRatio(0.25, Action.FAIL, min_rows=4)
    with pytest.raises(StreamExpectationError, match=r"50\.0% \(2 of 4 rows\) in micro-batch 3"):
        check_quarantine_ratio(fail, 2, 4, batch_id=3)
    with pytest.raises(ConfigError, match="action 'drop'"):
        parse_quarantine_ratio({"max_ratio": 0.1, "action": "drop"})
    with pytest.raises(ConfigError, match="max_ratio must be in 0..1"):
        parse_quarantine_ratio({"max_ratio": 5})

    engine.create(get_spec("dq_result"))
    checked = check_batch(batch, [DROP], batch_id=3)._replace(ratio=too_many)
    write_stream_results(engine, [DROP], checked, "q:id:3", "q", 3, "test")
    row = engine.read("dq_result").where("expectation = 'quarantine_ratio'").collect()
    assert [(r.status, r.success, r.unexpected_count, r.element_count) for r in row] == [
        ("WARN", False, 2, 4)
    ]
    assert row[0].observed_value.startswith("0.5000 (2 of 4 rows")
