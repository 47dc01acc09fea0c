"""The delta-rs engine (``deltalake``): Arrow in, Spark DataFrames out.

Writes from Arrow (``DataFrame.toArrow()``), merges with ``DeltaTable.merge``, reads back
into Spark from the snapshot's file list. delta-rs records an idempotent writer's
transaction marker but does not skip a replay by itself: every write checks
``transaction_version(app_id)`` first. The interface and its contract are in
:mod:`jobs.core.storage.engine`.
"""

from __future__ import annotations

import logging
import os
import time
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import types as T

from jobs.core.runtime.errors import TableNotFoundError
from jobs.core.storage.engine import (
    DeltaEngine,
    MergeSpec,
    TableFileMissingError,
    WriteResult,
    already_done,
    arrow_schema,
    local_file,
    missing_file_message,
)
from jobs.core.tables.registry import TableSpec, get_spec

log = logging.getLogger(__name__)


class RustDeltaEngine(DeltaEngine):
    """delta-rs (``deltalake``) engine: Arrow in, Spark DataFrames out.

    A commit that loses a race with another writer (``CommitFailedError``: the ingest and
    a maintenance or catch-up job at once) is retried from the start — re-reading the
    table and re-checking the transaction marker — up to ``max_attempts`` times with
    exponential backoff (:meth:`DeltaEngine._retry`).
    """

    name = "rust"

    def _conflicts(self) -> tuple[type[BaseException], ...]:
        from deltalake.exceptions import CommitFailedError

        return (CommitFailedError,)

    def _table(self, table: str, version: int | None = None):
        from deltalake import DeltaTable

        path = self.path(table)
        if not DeltaTable.is_deltatable(path):
            raise TableNotFoundError(
                f"Delta table {table!r} not found at {path}; run the job that creates it "
                "(e.g. `python -m jobs.ingest_playback_events --once`) first"
            )
        return DeltaTable(path, version=version) if version is not None else DeltaTable(path)

    def exists(self, table: str) -> bool:
        from deltalake import DeltaTable

        return DeltaTable.is_deltatable(self.path(table))

    def create(self, spec: TableSpec) -> None:
        from deltalake import DeltaTable

        if self.exists(spec.name):
            return
        os.makedirs(self.path(spec.name), exist_ok=True)
        DeltaTable.create(
            self.path(spec.name),
            schema=arrow_schema(spec.schema),
            mode="ignore",
            partition_by=list(spec.partition_by) or None,
            name=spec.name,
            description=spec.description,
            configuration=spec.properties or None,
        )
        log.info("created Delta table %s at %s (rust)", spec.name, self.path(spec.name))

    def transaction_version(self, table, app_id, at_version=None) -> int | None:
        return self._table(table, at_version).transaction_version(app_id)

    def _arrow(self, table: str, df: DataFrame) -> pa.Table:
        spec = get_spec(table)
        data = self._conform(table, df).toArrow()
        return data.cast(arrow_schema(spec.schema))

    @staticmethod
    def _commit(app_id: str | None, version: int | None):
        from deltalake import CommitProperties, Transaction

        if app_id is None:
            return None
        if version is None:
            raise ValueError(f"transaction marker {app_id!r} needs a version")
        return CommitProperties(app_transactions=[Transaction(app_id=app_id, version=version)])

    def append(self, table, df, app_id=None, version=None) -> WriteResult:
        from deltalake import write_deltalake

        start = time.monotonic()
        loaded = self._table(table)  # one log load serves the check and the first attempt
        if self._done(loaded, table, app_id, version):
            return WriteResult(True, loaded.version())
        data = self._arrow(table, df)

        def attempt() -> WriteResult:
            nonlocal loaded
            dt = loaded if loaded is not None else self._table(table)
            loaded = None
            if self._done(dt, table, app_id, version):  # a retry after a lost race
                return WriteResult(True, dt.version())
            write_deltalake(
                dt,
                data,
                mode="append",
                partition_by=list(get_spec(table).partition_by) or None,
                commit_properties=self._commit(app_id, version),
            )
            dt.update_incremental()
            return WriteResult(
                False, dt.version(), {"rows_written": data.num_rows}, time.monotonic() - start
            )

        return self._retry(table, "append", attempt)

    def merge(self, table, source, spec: MergeSpec, app_id=None, version=None) -> WriteResult:
        start = time.monotonic()
        loaded = [self._table(table)]  # one log load serves the check and the first attempt
        if self._done(loaded[0], table, app_id, version):
            return WriteResult(True, loaded[0].version())
        data = self._arrow_source(table, source)

        def attempt() -> WriteResult:
            dt = loaded.pop() if loaded else self._table(table)
            return self._merge_once(dt, table, data, spec, app_id, version, start)

        return self._retry(table, "merge", attempt)

    @staticmethod
    def _done(dt, table: str, app_id: str | None, version: int | None) -> bool:
        """``already_done`` on an already loaded table (saves a log load per write)."""
        if app_id is None:
            return False
        if version is None:
            raise ValueError(
                f"idempotent write to {table!r}: app_id {app_id!r} given without version"
            )
        done = dt.transaction_version(app_id)
        if done is not None and done >= version:
            log.info(
                "%s: %s v%s already committed (at v%s); skipping", table, app_id, version, done
            )
            return True
        return False

    def _merge_once(self, dt, table, data, spec, app_id, version, start) -> WriteResult:
        if self._done(dt, table, app_id, version):  # a retry after a lost race
            return WriteResult(True, dt.version())
        merger = dt.merge(
            data,
            predicate=spec.on,
            source_alias="s",
            target_alias="t",
            # the source is an in-memory Arrow table: let delta-rs derive file pruning
            # from its key range (streamed execution turns that off)
            streamed_exec=False,
            commit_properties=self._commit(app_id, version),
        )
        if spec.delete_condition is not None:
            merger = merger.when_matched_delete(predicate=spec.delete_condition)
        if spec.update is None:
            merger = merger.when_matched_update_all(predicate=spec.update_condition)
        elif spec.update:
            merger = merger.when_matched_update(spec.update, predicate=spec.update_condition)
        if spec.insert is None:
            merger = merger.when_not_matched_insert_all()
        elif spec.insert:
            merger = merger.when_not_matched_insert(spec.insert)
        metrics = merger.execute()
        dt.update_incremental()
        return WriteResult(
            False,
            dt.version(),
            {
                "rows_inserted": metrics.get("num_target_rows_inserted", 0),
                "rows_updated": metrics.get("num_target_rows_updated", 0),
                "rows_deleted": metrics.get("num_target_rows_deleted", 0),
                "rows_source": metrics.get("num_source_rows", 0),
            },
            time.monotonic() - start,
        )

    def _arrow_source(self, table: str, source: DataFrame) -> pa.Table:
        """Merge sources may carry extra columns (used in expressions): keep them."""
        spec = get_spec(table)
        if set(source.columns) == set(spec.columns):
            return self._arrow(table, source)
        data = source.toArrow()
        target = arrow_schema(spec.schema)
        fields = [
            target.field(name) if name in target.names else data.schema.field(name)
            for name in data.schema.names
        ]
        return data.cast(pa.schema(fields))

    def overwrite(self, table, df, predicate=None, app_id=None, version=None) -> WriteResult:
        from deltalake import write_deltalake

        start = time.monotonic()
        if already_done(self, table, app_id, version):
            return WriteResult(True, self.version(table))
        data = self._arrow(table, df)

        def attempt() -> WriteResult:
            dt = self._table(table)
            if already_done(self, table, app_id, version):
                return WriteResult(True, dt.version())
            write_deltalake(
                dt,
                data,
                mode="overwrite",
                predicate=predicate,
                partition_by=list(get_spec(table).partition_by) or None,
                commit_properties=self._commit(app_id, version),
            )
            dt.update_incremental()
            return WriteResult(
                False, dt.version(), {"rows_written": data.num_rows}, time.monotonic() - start
            )

        return self._retry(table, "overwrite", attempt)

    def delete(self, table: str, predicate: str) -> WriteResult:
        start = time.monotonic()

        def attempt() -> WriteResult:
            dt = self._table(table)
            metrics = dt.delete(predicate)
            dt.update_incremental()
            return WriteResult(
                False,
                dt.version(),
                {"rows_deleted": metrics.get("num_deleted_rows", 0)},
                time.monotonic() - start,
            )

        return self._retry(table, "delete", attempt)

    def read(self, table, version=None, partition_filters=None) -> DataFrame:
        spec = get_spec(table)
        dt = self._table(table, version)
        uris = dt.file_uris(file_pruning_predicate=partition_filters or None)
        if not uris:
            return self.spark.createDataFrame([], spec.schema)
        for uri in uris:  # Spark would fail with a bare PATH_NOT_FOUND naming no table
            local = local_file(uri)
            if local is not None and not os.path.exists(local):
                raise TableFileMissingError(missing_file_message(table, self.path(table), local))
        df = self.spark.read.schema(spec.schema).option("basePath", self.path(table)).parquet(*uris)
        return df.select(spec.columns)

    def version(self, table: str) -> int:
        return self._table(table).version()

    def history(self, table, limit=None) -> list[dict[str, Any]]:
        return self._table(table).history(limit)

    def properties(self, table: str) -> dict[str, str]:
        return dict(self._table(table).metadata().configuration)

    def columns(self, table: str) -> list[str]:
        return list(self._table(table).schema().to_arrow().names)

    def add_columns(self, table: str, fields: list[T.StructField]) -> WriteResult:
        from deltalake import Schema

        start = time.monotonic()
        added = Schema.from_arrow(arrow_schema(T.StructType(fields))).fields

        def attempt() -> WriteResult:
            dt = self._table(table)
            dt.alter.add_columns(list(added))
            return WriteResult(False, dt.version(), {}, time.monotonic() - start)

        return self._retry(table, "add_columns", attempt)

    def _changed_keys(self, table, since_version, key) -> DataFrame:
        dt = self._table(table)
        if since_version >= dt.version():
            return self.spark.createDataFrame([], get_spec(table).schema).select(*key)
        reader = dt.load_cdf(
            starting_version=since_version + 1, ending_version=dt.version(), columns=list(key)
        )
        keys = pa.table(reader.read_all()).select(list(key))  # arro3 -> pyarrow (C stream)
        schema = T.StructType([get_spec(table).schema[k] for k in key])
        if keys.num_rows == 0:
            return self.spark.createDataFrame([], schema)
        return self.spark.createDataFrame(keys.cast(arrow_schema(schema)))

    def optimize(self, table, zorder_by=None) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            dt = self._table(table)
            if zorder_by:
                return dt.optimize.z_order(list(zorder_by))
            return dt.optimize.compact()

        return self._retry(table, "optimize", attempt)

    def vacuum(self, table, retention_hours) -> list[str]:
        dt = self._table(table)
        return dt.vacuum(
            retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False
        )
