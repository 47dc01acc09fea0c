"""The Delta engine interface both engines implement, and what they share.

Spark computes everything; a :class:`DeltaEngine` only creates, writes, reads and
maintains Delta tables. The engines live one per module, the way delta-rs splits its
writer from its table: :mod:`jobs.core.storage.rust` (delta-rs) and
:mod:`jobs.core.storage.spark` (delta-spark); :func:`jobs.core.storage.delta.get_engine`
picks one. This module holds the contract: :class:`DeltaEngine`, :class:`MergeSpec`,
:class:`WriteResult`, the errors, the write hooks and the Spark-to-Arrow schema
(:func:`arrow_schema`).

Both engines write the same Delta protocol, so a table written by one is read by the other.

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
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from jobs.core.runtime.config import Config
from jobs.core.runtime.errors import RunError, TableNotFoundError
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
        paths = [local_file(u) for u in uris]
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


def local_file(uri: str) -> str | None:
    """The local path of a ``file:`` URI or plain path; None for another file system."""
    parsed = urlparse(uri)
    if parsed.scheme in ("", "file"):
        return os.path.normpath(unquote(parsed.path))
    return None


def already_done(engine: DeltaEngine, table: str, app_id: str | None, version: int | None) -> bool:
    """Whether ``table`` already records the idempotent write ``(app_id, version)``.

    True when the table's newest transaction of ``app_id`` is at ``version`` or later
    (the write is a replay: skip it); always False without an ``app_id``.

    Raises:
        ValueError: ``app_id`` given without ``version``.
        TableNotFoundError: the table was never created.
    """
    if app_id is None:
        return False
    if version is None:
        raise ValueError(f"idempotent write to {table!r}: app_id {app_id!r} given without version")
    done = engine.transaction_version(table, app_id)
    if done is not None and done >= version:
        log.info("%s: %s v%s already committed (at v%s); skipping", table, app_id, version, done)
        return True
    return False
