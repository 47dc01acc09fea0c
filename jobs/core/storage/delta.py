"""Two Delta engines behind one small interface.

Spark computes everything; a :class:`DeltaEngine` only creates, writes, reads and
maintains Delta tables:

* :class:`SparkDeltaEngine` — the standard delta-spark connector (``DeltaTable`` API,
  idempotent writes with ``txnAppId``/``txnVersion``). Used whenever its jars are on
  the classpath: on a cluster, or wherever Maven Central is reachable.
* :class:`RustDeltaEngine` — the embedded ``deltalake`` package (delta-rs). Writes from
  Arrow (``DataFrame.toArrow()``), merges with ``DeltaTable.merge``, reads back into
  Spark from the snapshot's file list.

Both write the same Delta protocol, so a table written by one is read by the other.

Idempotency: every write may carry ``(app_id, version)``. The engine skips the write
when the table already records a transaction of ``app_id`` at ``version`` or later
(Delta's ``SetTransaction`` action). delta-rs records the marker but does not skip by
itself, so the rust engine checks ``transaction_version(app_id)`` first.

Merge expressions are SQL strings with the source aliased ``s`` and the target ``t``;
keep to functions both Spark SQL and DataFusion know (``coalesce``, ``greatest``,
``least``, ``CASE``).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from jobs.core.runtime.config import Config, EngineChoice
from jobs.core.runtime.errors import RunError, TableNotFoundError
from jobs.core.runtime.spark import delta_spark_available, engine_choice
from jobs.core.tables.registry import TABLES, TableSpec, conform, get_spec

log = logging.getLogger(__name__)


class EngineUnavailableError(RuntimeError):
    """The configured Delta engine cannot run in this session."""


class TableFileMissingError(RunError):
    """A data file that a table's Delta log references is gone (deleted, lost, unreadable)."""


# how Spark (``[FAILED_READ_FILE.FILE_NOT_EXIST]``, ``[PATH_NOT_FOUND]``,
# ``java.io.FileNotFoundException``) and delta-rs (``Object at location ... not found``)
# say that a file is gone
_MISSING_MARKERS = (
    "FileNotFoundException",
    "FILE_NOT_EXIST",
    "PATH_NOT_FOUND",
    "does not exist",
    "No such file or directory",
    "not found",
)
_DATA_FILE = re.compile(r"(?:file:)?(/[^\s,'\"\]\)]+?\.parquet)")


def missing_file_message(table: str, table_path: str, file: str) -> str:
    """The one-line error for a data file of ``table`` that its Delta log names but is gone."""
    return (
        f"table {table} at {table_path}: data file {file} named in its Delta log is missing "
        "(deleted or lost); nothing more of this run was written. Restore the file from a "
        f"backup, or drop its entry from the log (spark-sql: FSCK REPAIR TABLE "
        f"delta.`{table_path}`; delta-rs: DeltaTable('{table_path}').repair(); its rows are "
        "then gone), then rerun"
    )


class ChangeFeedUnavailableError(RuntimeError):
    """The table's change data feed cannot answer for the asked versions.

    Its ``delta.enableChangeDataFeed`` property is off (a table created before the spec
    turned it on), or the versions were vacuumed. Callers fall back to a snapshot diff.
    """


CDF_PROPERTY = "delta.enableChangeDataFeed"


@dataclass(frozen=True)
class WriteResult:
    """Outcome of one write.

    Attributes:
        skipped: True when ``(app_id, version)`` was already committed (a replay).
        version: table version after the write (unchanged when skipped).
        metrics: engine metrics, normalised keys where both engines have them:
            ``rows_inserted``, ``rows_updated``, ``rows_deleted``, ``rows_written``.
        seconds: wall time of the write.
    """

    skipped: bool
    version: int | None
    metrics: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class MergeSpec:
    """An upsert: how a source DataFrame (alias ``s``) merges into a table (alias ``t``).

    Attributes:
        on: join predicate, e.g. ``"t.session_id = s.session_id"``.
        update: ``{target column: SQL expression}`` for matched rows; ``None`` means
            update every column from the source; ``{}`` means never update.
        update_condition: extra predicate a matched row must satisfy to be updated.
        insert: ``{target column: SQL expression}`` for unmatched rows; ``None`` means
            insert every column from the source; ``{}`` means never insert.
        delete_condition: matched rows satisfying it are deleted (checked before the
            update); ``None`` means never delete.
    """

    on: str
    update: dict[str, str] | None = None
    update_condition: str | None = None
    insert: dict[str, str] | None = None
    delete_condition: str | None = None


_ARROW_TYPES: dict[type, pa.DataType] = {
    T.LongType: pa.int64(),
    T.IntegerType: pa.int32(),
    T.ShortType: pa.int16(),
    T.StringType: pa.string(),
    T.BooleanType: pa.bool_(),
    T.DoubleType: pa.float64(),
    T.FloatType: pa.float32(),
    T.DateType: pa.date32(),
    T.TimestampType: pa.timestamp("us", tz="UTC"),
}


def arrow_schema(schema: T.StructType) -> pa.Schema:
    """The Arrow schema Delta stores for a Spark schema (timestamps as UTC microseconds).

    Raises:
        TypeError: a column type with no mapping (add it to ``_ARROW_TYPES``).
    """
    fields = []
    for f in schema.fields:
        if isinstance(f.dataType, T.DecimalType):
            atype = pa.decimal128(f.dataType.precision, f.dataType.scale)
        elif isinstance(f.dataType, T.ArrayType):  # embeddings: array<float>
            atype = pa.list_(_ARROW_TYPES.get(type(f.dataType.elementType)))
        else:
            atype = _ARROW_TYPES.get(type(f.dataType))
        if atype is None:
            raise TypeError(f"column {f.name!r}: no Arrow mapping for {f.dataType}")
        fields.append(pa.field(f.name, atype, nullable=True))
    return pa.schema(fields)


WRITE_OPERATIONS = ("append", "merge", "overwrite", "delete")
WriteHook = Callable[[str, str], None]
_write_hooks: list[WriteHook] = []


def add_write_hook(hook: WriteHook) -> Callable[[], None]:
    """Call ``hook(operation, table)`` before every write of every engine in this process.

    ``operation`` is one of :data:`WRITE_OPERATIONS`. The hook runs before the engine
    checks the transaction marker or touches the table, so an exception it raises is a
    crash before that commit: the fault-injection point of the exactly-once tests, the
    same on both engines.

    Returns:
        A function that removes the hook again.
    """
    _write_hooks.append(hook)
    return lambda: _write_hooks.remove(hook) if hook in _write_hooks else None


def _hooked(operation: str, method: Callable[..., WriteResult]) -> Callable[..., WriteResult]:
    @functools.wraps(method)
    def write(self: DeltaEngine, table: str, *args: Any, **kwargs: Any) -> WriteResult:
        for hook in list(_write_hooks):
            hook(operation, table)
        return self.explain_missing_files(method, self, table, *args, **kwargs)

    write.__write_hooked__ = True  # type: ignore[attr-defined]
    return write


class DeltaEngine(ABC):
    """The interface every job uses to touch a Delta table (see module docstring).

    Every subclass's write methods (:data:`WRITE_OPERATIONS`) run the hooks registered
    with :func:`add_write_hook` first.
    """

    name: str

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Wrap each write operation of an engine class so the write hooks run first."""
        super().__init_subclass__(**kwargs)
        for operation in WRITE_OPERATIONS:
            method = cls.__dict__.get(operation)
            if method is None or getattr(method, "__isabstractmethod__", False):
                continue
            if not getattr(method, "__write_hooked__", False):
                setattr(cls, operation, _hooked(operation, method))

    def __init__(self, spark: SparkSession, cfg: Config):
        self.spark = spark
        self.cfg = cfg

    max_attempts = 6

    # -- helpers shared by both engines ---------------------------------------------
    def _conflicts(self) -> tuple[type[BaseException], ...]:
        """The engine's exceptions for a commit that lost a race with another writer."""
        return ()

    def _retry(self, table: str, action: str, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` again after a lost commit race, up to ``max_attempts`` times.

        ``fn`` must re-read the table and re-check the transaction marker itself, so a
        retry never writes twice. Backoff: 0.2 s, doubling.
        """
        for attempt in range(1, self.max_attempts + 1):
            try:
                return fn()
            except self._conflicts() as exc:
                if attempt == self.max_attempts:
                    raise
                wait = 0.1 * 2**attempt
                log.warning(
                    "%s %s: commit conflict (%s); retry %d/%d in %.1fs",
                    table, action, str(exc).splitlines()[0][:120], attempt, self.max_attempts - 1, wait,
                )  # fmt: skip
                time.sleep(wait)
        raise AssertionError("unreachable")

    def path(self, table: str) -> str:
        """Storage path of ``table``."""
        return self.cfg.table_path(table)

    def missing_file_error(self, exc: BaseException) -> TableFileMissingError | None:
        """Our error for a Spark or delta-rs "file not found" on a table's data file, else None.

        Recognised when the message says a file is gone and names a Parquet file under
        ``paths.tables_dir``; the table is the folder right under it.
        """
        text = str(exc)
        if not any(marker in text for marker in _MISSING_MARKERS):
            return None
        tables_dir = os.path.normpath(self.cfg.paths.tables_dir)
        for match in _DATA_FILE.finditer(text):
            file = os.path.normpath(match.group(1))
            if file.startswith(tables_dir + os.sep) and not os.path.exists(file):
                table = os.path.relpath(file, tables_dir).split(os.sep)[0]
                return TableFileMissingError(missing_file_message(table, self.path(table), file))
        return None

    def explain_missing_files(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call ``fn(*args, **kwargs)``; a missing data file becomes :class:`TableFileMissingError`.

        Every write of every engine runs through it (so does any Spark action a caller
        wraps, e.g. the count that runs a lazy read): the error names the table and the
        file instead of a Spark or delta-rs trace.

        Raises:
            TableFileMissingError: a data file a table's log references is gone.
        """
        try:
            return fn(*args, **kwargs)
        except TableFileMissingError:
            raise
        except Exception as exc:
            error = self.missing_file_error(exc)
            if error is None:
                raise
            raise error from exc

    def missing_files(self, table: str) -> list[str]:
        """Local data files the table's current snapshot references that do not exist.

        Reads the log through delta-rs (one protocol for both engines; no Spark job) and
        checks each local file: a stat per file. Files of other file systems are skipped.
        """
        from deltalake import DeltaTable

        if not self.exists(table):
            return []
        uris = DeltaTable(self.path(table)).file_uris()
        paths = [_local(u) for u in uris]
        return [p for p in paths if p is not None and not os.path.exists(p)]

    def create_all(self, names: list[str] | None = None) -> None:
        """Create every table in ``names`` (default: all of :data:`TABLES`) if missing."""
        for name in names or list(TABLES):
            self.create(get_spec(name))

    def _conform(self, table: str, df: DataFrame) -> DataFrame:
        """Select and cast ``df`` to the table's declared columns (:func:`tables.conform`)."""
        return conform(df, table)

    # -- the interface ---------------------------------------------------------------
    @abstractmethod
    def exists(self, table: str) -> bool:
        """Whether ``table`` has a Delta log."""

    @abstractmethod
    def create(self, spec: TableSpec) -> None:
        """Create the table from its spec when it does not exist (no-op otherwise)."""

    @abstractmethod
    def transaction_version(
        self, table: str, app_id: str, at_version: int | None = None
    ) -> int | None:
        """Latest committed version of the idempotent writer ``app_id``, or None.

        ``at_version``: as the table stood at that version (default: now).
        """

    @abstractmethod
    def append(
        self, table: str, df: DataFrame, app_id: str | None = None, version: int | None = None
    ) -> WriteResult:
        """Append ``df`` (conformed to the spec); skipped when ``(app_id, version)`` is done."""

    @abstractmethod
    def merge(
        self,
        table: str,
        source: DataFrame,
        spec: MergeSpec,
        app_id: str | None = None,
        version: int | None = None,
    ) -> WriteResult:
        """Upsert ``source`` into ``table`` per ``spec``; idempotent like :meth:`append`."""

    @abstractmethod
    def overwrite(
        self,
        table: str,
        df: DataFrame,
        predicate: str | None = None,
        app_id: str | None = None,
        version: int | None = None,
    ) -> WriteResult:
        """Replace the table's rows (or only those matching ``predicate``) with ``df``."""

    @abstractmethod
    def delete(self, table: str, predicate: str) -> WriteResult:
        """Delete the rows matching the SQL ``predicate``."""

    @abstractmethod
    def read(
        self,
        table: str,
        version: int | None = None,
        partition_filters: list[tuple[str, str, Any]] | None = None,
    ) -> DataFrame:
        """The table (latest, or at ``version``) as a Spark DataFrame with the spec's columns.

        ``partition_filters`` are ``(column, op, value)`` tuples (``op`` in ``=``, ``!=``,
        ``<``, ``<=``, ``>``, ``>=``, ``in``, ``not in``), ANDed, used to skip files: exact on
        partition columns, by per-file min/max statistics on other columns. On data columns
        the result is a superset of the matching rows: filter rows yourself when you need
        exactly them.

        Raises:
            TableNotFoundError: the table was never created.
        """

    @abstractmethod
    def version(self, table: str) -> int:
        """Current version of the table."""

    def table_id(self, table: str) -> str:
        """The table's Delta id (``metaData.id``): a table dropped and created again has a new one.

        Read from the log through delta-rs on either engine (one protocol; no Spark job).

        Raises:
            TableNotFoundError: the table was never created.
        """
        from deltalake import DeltaTable

        if not self.exists(table):
            raise TableNotFoundError(f"Delta table {table!r} not found at {self.path(table)}")
        return str(DeltaTable(self.path(table)).metadata().id)

    @abstractmethod
    def history(self, table: str, limit: int | None = None) -> list[dict[str, Any]]:
        """Commit history, newest first (``version``, ``timestamp``, ``operation``...)."""

    def changed_keys(self, table: str, since_version: int, key: list[str]) -> DataFrame:
        """The ``key`` values of rows inserted, updated or deleted after ``since_version``.

        Read from the table's change data feed (commits ``since_version + 1`` up to the
        current version), so the cost follows the changes, not the table. A key may repeat
        in the feed; the answer is distinct.

        Raises:
            ChangeFeedUnavailableError: the feed is off for this table, or the versions
                are no longer readable: diff two snapshots instead.
        """
        props = self.properties(table)
        if str(props.get(CDF_PROPERTY, "false")).lower() != "true":
            raise ChangeFeedUnavailableError(
                f"{table}: {CDF_PROPERTY} is off (table created before it was turned on); "
                f"set it with ALTER TABLE delta.`{self.path(table)}` SET TBLPROPERTIES "
                f"('{CDF_PROPERTY}' = 'true') to make incremental builds read the feed"
            )
        try:
            return self._changed_keys(table, since_version, key).distinct()
        except Exception as exc:  # noqa: BLE001 - any read failure: the caller diffs snapshots
            raise ChangeFeedUnavailableError(
                f"{table}: change data feed after v{since_version} unreadable: "
                f"{str(exc).splitlines()[0][:200]}"
            ) from exc

    @abstractmethod
    def _changed_keys(self, table: str, since_version: int, key: list[str]) -> DataFrame:
        """Key columns of every change-feed row after ``since_version`` (may repeat)."""

    @abstractmethod
    def properties(self, table: str) -> dict[str, str]:
        """The table's current Delta properties (``delta.*`` configuration)."""

    @abstractmethod
    def columns(self, table: str) -> list[str]:
        """Column names of the table's stored schema (from the Delta log), in order.

        Raises:
            TableNotFoundError: no Delta table at the table's path.
        """

    @abstractmethod
    def add_columns(self, table: str, fields: list[T.StructField]) -> WriteResult:
        """Add nullable columns to the table's schema: one metadata commit, no file rewritten.

        Stored files read the new columns as NULL. Used for additive schema change only
        (:mod:`jobs.core.storage.schema_change` decides which columns).

        Raises:
            TableNotFoundError: no Delta table at the table's path.
        """

    @abstractmethod
    def optimize(self, table: str, zorder_by: list[str] | None = None) -> dict[str, Any]:
        """Compact small files, or Z-order by ``zorder_by``; returns the engine's metrics."""

    @abstractmethod
    def vacuum(self, table: str, retention_hours: int) -> list[str]:
        """Delete files no longer referenced and older than ``retention_hours``."""


def _local(uri: str) -> str | None:
    """The local path of a ``file:`` URI or plain path; None for another file system."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return os.path.normpath(unquote(parsed.path))
    return None


def _already_done(engine: DeltaEngine, table: str, app_id: str | None, version: int | None) -> bool:
    if app_id is None:
        return False
    if version is None:
        raise ValueError(f"idempotent write to {table!r}: app_id {app_id!r} given without version")
    done = engine.transaction_version(table, app_id)
    if done is not None and done >= version:
        log.info("%s: %s v%s already committed (at v%s); skipping", table, app_id, version, done)
        return True
    return False


# ======================================================================================
# delta-rs
# ======================================================================================
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
        """``_already_done`` on an already loaded table (saves a log load per write)."""
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
        if _already_done(self, table, app_id, version):
            return WriteResult(True, self.version(table))
        data = self._arrow(table, df)

        def attempt() -> WriteResult:
            dt = self._table(table)
            if _already_done(self, table, app_id, version):
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
            local = _local(uri)
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


# ======================================================================================
# delta-spark
# ======================================================================================
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
        if _already_done(self, table, app_id, version):
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
        if _already_done(self, table, app_id, version):
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


def get_engine(spark: SparkSession, cfg: Config) -> DeltaEngine:
    """Choose the Delta engine per ``delta.engine`` and log the choice.

    ``auto`` takes ``spark`` when ``io.delta.sql.DeltaSparkSessionExtension`` loads in
    this session and ``rust`` otherwise.

    Raises:
        EngineUnavailableError: ``spark`` was asked for but its jars are not there.
    """
    ok, why = delta_spark_available(spark)
    choice = engine_choice(cfg)
    if choice is EngineChoice.SPARK and not ok:
        raise EngineUnavailableError(
            f"delta.engine=spark but {why}. Put delta-spark and delta-storage jars in a folder "
            "and set DELTA_JARS_DIR, submit with ./spark-submit.sh (which adds them), or set "
            "delta.engine: auto|rust."
        )
    engine: DeltaEngine
    if choice is EngineChoice.SPARK or (choice is EngineChoice.AUTO and ok):
        engine = SparkDeltaEngine(spark, cfg)
    else:
        engine = RustDeltaEngine(spark, cfg)
    log.info("Delta engine: %s (delta.engine=%s; %s)", engine.name, choice.value, why)
    return engine
