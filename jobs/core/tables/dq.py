"""Data-quality tables: ``dq_result``, the history of every check, so quality trends are queryable.

One row per expectation per run, written by the batch runner (``python -m dq.run``) and
by the ingest's in-stream expectations (one row per rule per micro-batch), so a trend
query is one ``GROUP BY`` away, like the Lakeflow event log's ``flow_progress`` metrics::

    SELECT suite, expectation, date(run_at) AS day, sum(unexpected_count)
    FROM dq_result WHERE NOT success GROUP BY ALL ORDER BY day

Registered into :data:`jobs.core.tables.registry.TABLES` by ``tables.py`` (:data:`SPECS`), so
``DeltaEngine.create_all()`` creates it.
"""

from __future__ import annotations

from pyspark.sql.types import (
    BooleanType,
    IntegerType,
    LongType,
    StringType,
    StructType,
    TimestampType,
)

from jobs.core.tables.spec import TableSpec, col

DQ_RESULT = TableSpec(
    name="dq_result",
    description="One row per data-quality check per run: GX suites (dq.run) and in-stream rules.",
    key=("run_id", "suite", "expectation_id"),
    schema=StructType(
        [
            col(
                "run_id", StringType(), "one dq.run invocation, or '{query}:{query_id}:{batch_id}'"
            ),
            col("suite", StringType(), "suite name (dq/suites/NAME.yaml) or the streaming query"),
            col("table_name", StringType(), "the table the check read"),
            col("expectation", StringType(), "GX expectation type or in-stream rule name"),
            col("expectation_id", StringType(), "unique within a run: type and its target columns"),
            col(
                "severity", StringType(), "warn | fail (suites); warn | drop | fail (stream rules)"
            ),
            col("success", BooleanType(), "the check held; NULL when it was skipped"),
            col("status", StringType(), "PASS, FAIL, WARN (failed warn check), ERROR or SKIPPED"),
            col("observed_value", StringType(), "GX observed value or 'N of M rows', as text"),
            col("unexpected_count", LongType(), "rows (or groups) that broke the check"),
            col("element_count", LongType(), "rows checked, when known"),
            col(
                "unexpected_examples", StringType(), "JSON list of up to 5 offending values or rows"
            ),
            col("description", StringType(), "what the check asserts, from the suite or the rule"),
            col("source", StringType(), "'batch' (dq.run) or 'stream' (ingest foreachBatch)"),
            col("batch_id", LongType(), "micro-batch id for stream rows; NULL for batch runs"),
            col("env", StringType(), "configuration environment of the run"),
            col("run_at", TimestampType(), "run start (UTC)"),
        ]
    ),
)

# registered by jobs.core.tables.registry
ERASURE_LOG = TableSpec(
    name="erasure_log",
    description="One row per profile erasure, without personal data (what went, what time travel lost).",
    key=("erasure_id",),
    schema=StructType(
        [
            col("erasure_id", StringType(), "random id of the erasure run"),
            col(
                "subject_sha256",
                StringType(),
                "SHA-256 of 'profile:' + id: confirms a request, holds no id",
            ),
            col("requested_by", StringType(), "cli or api (admin token)"),
            col("started_at", TimestampType(), "UTC"),
            col("finished_at", TimestampType(), "UTC"),
            col("tables_changed", IntegerType(), "Delta tables that held the profile"),
            col("rows_deleted", LongType(), "rows deleted over all tables"),
            col("files_rewritten", IntegerType(), "landing and rejects files rewritten or removed"),
            col("lines_removed", LongType(), "landing and rejects lines removed"),
            col("time_travel", StringType(), "JSON: table -> first version still readable"),
        ]
    ),
    properties={"delta.logRetentionDuration": "interval 3650 days"},
)

SPECS = (DQ_RESULT, ERASURE_LOG)
