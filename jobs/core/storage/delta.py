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

Where the code lives, the way delta-rs splits its writer from its table: the interface
and what both engines share in :mod:`jobs.core.storage.engine`, one module per engine
(:mod:`jobs.core.storage.rust`, :mod:`jobs.core.storage.spark`); this module picks one
(:func:`get_engine`) and re-exports the public names (``__all__``), so callers import
from here.

Idempotency: every write may carry ``(app_id, version)``. The engine skips the write
when the table already records a transaction of ``app_id`` at ``version`` or later
(Delta's ``SetTransaction`` action). delta-rs records the marker but does not skip by
itself, so the rust engine checks ``transaction_version(app_id)`` first.

Merge expressions are SQL strings with the source aliased ``s`` and the target ``t``;
keep to functions both Spark SQL and DataFusion know (``coalesce``, ``greatest``,
``least``, ``CASE``).
"""

from __future__ import annotations

import logging

from pyspark.sql import SparkSession

from jobs.core.runtime.config import Config, EngineChoice
from jobs.core.runtime.errors import TableNotFoundError
from jobs.core.runtime.spark import delta_spark_available, engine_choice
from jobs.core.storage.engine import (
    CDF_PROPERTY,
    WRITE_OPERATIONS,
    ChangeFeedUnavailableError,
    DeltaEngine,
    EngineUnavailableError,
    MergeSpec,
    TableFileMissingError,
    WriteHook,
    WriteResult,
    add_write_hook,
    arrow_schema,
    missing_file_message,
)
from jobs.core.storage.rust import RustDeltaEngine
from jobs.core.storage.spark import SparkDeltaEngine

__all__ = [
    "CDF_PROPERTY",
    "WRITE_OPERATIONS",
    "ChangeFeedUnavailableError",
    "DeltaEngine",
    "EngineUnavailableError",
    "MergeSpec",
    "RustDeltaEngine",
    "SparkDeltaEngine",
    "TableFileMissingError",
    "TableNotFoundError",
    "WriteHook",
    "WriteResult",
    "add_write_hook",
    "arrow_schema",
    "get_engine",
    "missing_file_message",
]

log = logging.getLogger(__name__)


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
