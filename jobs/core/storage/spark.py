"""The delta-spark engine: the ``DeltaTable`` API and Delta's idempotent writes.

The standard connector (``txnAppId``/``txnVersion`` on writes and DML). Used whenever
its jars are on the classpath: on a cluster, or wherever Maven Central is reachable.
The interface and its contract are in :mod:`jobs.core.storage.engine`.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import types as T

from jobs.core.runtime.errors import TableNotFoundError
from jobs.core.storage.engine import DeltaEngine, MergeSpec, WriteResult, already_done
from jobs.core.tables.registry import TableSpec, get_spec

log = logging.getLogger(__name__)

# Delta's idempotent DML takes its transaction marker from two *session-wide* confs
# (``spark.databricks.delta.write.txnAppId`` / ``txnVersion``), and a DataFrame write
# without its own txn options falls back to them too. Threads sharing one SparkSession
# (the ingest commits a micro-batch's tables at once) must not interleave between
# setting them and the commit: a merge could commit without its marker (and be applied
# again after a crash) or under another table's marker (and be skipped).
_SESSION_TXN_LOCK = threading.RLock()


class SparkDeltaEngine(DeltaEngine):
    """delta-spark engine: the ``DeltaTable`` API and Delta's idempotent writes.

    Commits that lose a race (Delta's optimistic concurrency: ``ConcurrentAppendException``,
    ``ConcurrentDeleteReadException``... from a concurrent OPTIMIZE or catch-up merge)
    are retried like the rust engine's, re-checking the transaction marker first.
    Writes that depend on the session's txn confs (every MERGE and DELETE, and appends or
    overwrites without a marker of their own) run one at a time in the process; appends
    and overwrites that carry their marker as writer options run concurrently.
    """

    name = "spark"

    def _conflicts(self) -> tuple[type[BaseException], ...]:
        from delta import exceptions as dx

        return (
            dx.DeltaConcurrentModificationException,
            dx.ConcurrentWriteException,
            dx.MetadataChangedException,
            dx.ProtocolChangedException,
            dx.ConcurrentAppendException,
            dx.ConcurrentDeleteReadException,
            dx.ConcurrentDeleteDeleteException,
            dx.ConcurrentTransactionException,
        )

    def _delta_table(self, table: str):
        from delta.tables import DeltaTable

        if not self.exists(table):
            raise TableNotFoundError(
                f"Delta table {table!r} not found at {self.path(table)}; run the job that "
                "creates it first"
            )
        return DeltaTable.forPath(self.spark, self.path(table))

    def exists(self, table: str) -> bool:
        from delta.tables import DeltaTable

        return DeltaTable.isDeltaTable(self.spark, self.path(table))

    def create(self, spec: TableSpec) -> None:
        from delta.tables import DeltaTable

        if self.exists(spec.name):  # cheaper than resolving createIfNotExists
            return
        builder = (
            DeltaTable.createIfNotExists(self.spark)
            .location(self.path(spec.name))
            .addColumns(spec.schema)
            .comment(spec.description)
        )
        if spec.partition_by:
            builder = builder.partitionedBy(*spec.partition_by)
        for key, value in spec.properties.items():
            builder = builder.property(key, value)
        builder.execute()

    def transaction_version(self, table, app_id, at_version=None) -> int | None:
        """Newest ``txn`` (SetTransaction) version of ``app_id`` in the table's Delta log.

        Read from the log's snapshot (last checkpoint plus the newer commits), the state
        delta-spark itself consults before skipping an idempotent write: through delta-rs,
        which loads only the log, without a Spark job; through delta-spark's own
        ``Snapshot.transactions`` when delta-rs cannot load the table (a table feature it
        does not know).
        """
        from deltalake import DeltaTable

        if not self.exists(table):
            raise TableNotFoundError(f"Delta table {table!r} not found at {self.path(table)}")
        try:
            if at_version is not None:
                return DeltaTable(self.path(table), version=at_version).transaction_version(app_id)
            return DeltaTable(self.path(table)).transaction_version(app_id)
        except Exception as exc:  # noqa: BLE001 - any load failure: ask the JVM instead
            if at_version is not None:  # Delta's Scala getSnapshotAt has no stable Py4J form
                raise
            log.debug("%s: delta-rs cannot load the log (%s); using delta-spark", table, exc)
        jvm = self.spark.sparkContext._jvm  # noqa: SLF001 - Delta's Scala API, no Python one
        if jvm is None:
            raise RuntimeError("the SparkSession has no JVM gateway (stopped?)")
        delta_log = getattr(jvm, "org.apache.spark.sql.delta.DeltaLog").forTable(
            self.spark._jsparkSession,  # noqa: SLF001
            self.path(table),
        )
        none = jvm.scala.Option.empty()
        found = delta_log.update(False, none, none).transactions().get(app_id)
        return int(found.get()) if found.isDefined() else None

    def _txn_conf(self, app_id: str | None, version: int | None):
        """Delta's session confs for idempotent DML (MERGE/DELETE/UPDATE)."""

        class _Ctx:
            def __enter__(inner):  # noqa: N805
                if app_id is not None:
                    self.spark.conf.set("spark.databricks.delta.write.txnAppId", app_id)
                    self.spark.conf.set("spark.databricks.delta.write.txnVersion", str(version))

            def __exit__(inner, *exc):  # noqa: N805
                if app_id is not None:
                    self.spark.conf.unset("spark.databricks.delta.write.txnAppId")
                    self.spark.conf.unset("spark.databricks.delta.write.txnVersion")

        return _Ctx()

    def _last_metrics(self, table: str) -> tuple[int, dict[str, Any]]:
        last = self._delta_table(table).history(1).collect()[0]
        m = last.operationMetrics or {}
        names = {  # the normalised key: delta-spark's names for it, first found wins
            "rows_inserted": ("numTargetRowsInserted",),
            "rows_updated": ("numTargetRowsUpdated",),
            "rows_deleted": ("numTargetRowsDeleted", "numDeletedRows"),
            "rows_written": ("numOutputRows",),
        }
        found = {k: next((m[n] for n in ns if n in m), None) for k, ns in names.items()}
        # only what the operation reports: an append has no inserted/updated counts
        return int(last.version), {k: int(v) for k, v in found.items() if v is not None}

    def _write(self, table, df, mode, predicate, app_id, version) -> WriteResult:
        return self._retry(
            table, mode, lambda: self._write_once(table, df, mode, predicate, app_id, version)
        )

    def _write_once(self, table, df, mode, predicate, app_id, version) -> WriteResult:
        if app_id is None:  # Delta would take a concurrent merge's marker from the session
            with _SESSION_TXN_LOCK:
                return self._write_unlocked(table, df, mode, predicate, app_id, version)
        return self._write_unlocked(table, df, mode, predicate, app_id, version)

    def _write_unlocked(self, table, df, mode, predicate, app_id, version) -> WriteResult:
        start = time.monotonic()
        if already_done(self, table, app_id, version):
            return WriteResult(True, self.version(table))
        writer = self._conform(table, df).write.format("delta").mode(mode)
        if app_id is not None:
            writer = writer.option("txnAppId", app_id).option("txnVersion", version)
        if predicate:
            writer = writer.option("replaceWhere", predicate)
        spec = get_spec(table)
        if spec.partition_by:
            writer = writer.partitionBy(*spec.partition_by)
        writer.save(self.path(table))
        v, metrics = self._last_metrics(table)
        return WriteResult(False, v, metrics, time.monotonic() - start)

    def append(self, table, df, app_id=None, version=None) -> WriteResult:
        return self._write(table, df, "append", None, app_id, version)

    def overwrite(self, table, df, predicate=None, app_id=None, version=None) -> WriteResult:
        return self._write(table, df, "overwrite", predicate, app_id, version)

    def merge(self, table, source, spec: MergeSpec, app_id=None, version=None) -> WriteResult:
        return self._retry(
            table, "merge", lambda: self._merge_once(table, source, spec, app_id, version)
        )

    def _merge_once(self, table, source, spec: MergeSpec, app_id, version) -> WriteResult:
        start = time.monotonic()
        if already_done(self, table, app_id, version):
            return WriteResult(True, self.version(table))
        builder = self._delta_table(table).alias("t").merge(source.alias("s"), spec.on)
        if spec.delete_condition is not None:
            builder = builder.whenMatchedDelete(condition=spec.delete_condition)
        if spec.update is None:
            builder = builder.whenMatchedUpdateAll(condition=spec.update_condition)
        elif spec.update:
            builder = builder.whenMatchedUpdate(condition=spec.update_condition, set=spec.update)
        if spec.insert is None:
            builder = builder.whenNotMatchedInsertAll()
        elif spec.insert:
            builder = builder.whenNotMatchedInsert(values=spec.insert)
        with _SESSION_TXN_LOCK, self._txn_conf(app_id, version):
            builder.execute()
        v, metrics = self._last_metrics(table)
        return WriteResult(False, v, metrics, time.monotonic() - start)

    def delete(self, table: str, predicate: str) -> WriteResult:
        start = time.monotonic()

        def attempt() -> WriteResult:
            with _SESSION_TXN_LOCK:
                self._delta_table(table).delete(predicate)
            v, metrics = self._last_metrics(table)
            return WriteResult(False, v, metrics, time.monotonic() - start)

        return self._retry(table, "delete", attempt)

    def read(self, table, version=None, partition_filters=None) -> DataFrame:
        if not self.exists(table):
            raise TableNotFoundError(f"Delta table {table!r} not found at {self.path(table)}")
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        df = reader.load(self.path(table))
        compare = {
            "=": lambda c, v: c == v,
            "!=": lambda c, v: c != v,
            "<": lambda c, v: c < v,
            "<=": lambda c, v: c <= v,
            ">": lambda c, v: c > v,
            ">=": lambda c, v: c >= v,
        }
        for column, op, value in partition_filters or []:
            if op in ("in", "not in"):
                cond = df[column].isin(list(value))
                df = df.where(cond if op == "in" else ~cond)
            elif op in compare:
                df = df.where(compare[op](df[column], value))
            else:
                raise ValueError(
                    f"filter op {op!r} not supported ({', '.join(compare)}, in, not in)"
                )
        return df.select(get_spec(table).columns)

    def version(self, table: str) -> int:
        return int(self._delta_table(table).history(1).collect()[0].version)

    def history(self, table, limit=None) -> list[dict[str, Any]]:
        rows = self._delta_table(table).history(limit).collect()
        return [r.asDict(recursive=True) for r in rows]

    def properties(self, table: str) -> dict[str, str]:
        row = self.spark.sql(f"DESCRIBE DETAIL delta.`{self.path(table)}`").first()
        return dict(row.properties or {}) if row is not None else {}

    def columns(self, table: str) -> list[str]:
        return list(self._delta_table(table).toDF().columns)

    def add_columns(self, table: str, fields: list[T.StructField]) -> WriteResult:
        start = time.monotonic()
        self._delta_table(table)  # TableNotFoundError with the job to run
        ddl = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in fields)

        def attempt() -> WriteResult:
            self.spark.sql(f"ALTER TABLE delta.`{self.path(table)}` ADD COLUMNS ({ddl})")
            return WriteResult(False, self.version(table), {}, time.monotonic() - start)

        return self._retry(table, "add_columns", attempt)

    def _changed_keys(self, table, since_version, key) -> DataFrame:
        current = self.version(table)
        if since_version >= current:
            schema = T.StructType([get_spec(table).schema[k] for k in key])
            return self.spark.createDataFrame([], schema)
        return (
            self.spark.read.format("delta")
            .option("readChangeFeed", "true")
            .option("startingVersion", since_version + 1)
            .option("endingVersion", current)
            .load(self.path(table))
            .select(*key)
        )

    def optimize(self, table, zorder_by=None) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            opt = self._delta_table(table).optimize()
            result = opt.executeZOrderBy(*zorder_by) if zorder_by else opt.executeCompaction()
            return result.collect()[0].asDict(recursive=True)

        return self._retry(table, "optimize", attempt)

    def vacuum(self, table, retention_hours) -> list[str]:
        self.spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
        self._delta_table(table).vacuum(retention_hours)
        return []
