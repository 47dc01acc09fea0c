"""The declaration of a Delta table: :class:`TableSpec` and its column helper.

Kept apart from the table lists (``tables.py``, ``tables_star.py``, ``tables_dq.py``) so
that every list imports this module and ``tables.py`` imports the others, without an
import cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql.types import DataType, StructField, StructType

# Delta retention of every table, declared once: 30 days of log (time travel and the
# incremental builds' "read the source at the version processed last" need it) and
# 7 days before VACUUM may delete unreferenced files (longer than any reader or
# streaming query runs).
DELTA_RETENTION = {
    "delta.logRetentionDuration": "interval 30 days",
    "delta.deletedFileRetentionDuration": "interval 7 days",
}

# The retention above plus the change data feed: tables an incremental build reads by
# what changed (``DeltaEngine.changed_keys``) rather than by diffing two snapshots.
WITH_CHANGE_FEED = {**DELTA_RETENTION, "delta.enableChangeDataFeed": "true"}


def col(name: str, dtype: DataType, comment: str, nullable: bool = True) -> StructField:
    """A column with its reason as the Delta column comment."""
    return StructField(name, dtype, nullable, metadata={"comment": comment})


@dataclass(frozen=True)
class TableSpec:
    """Declaration of one Delta table.

    Attributes:
        name: table name, also its folder under ``paths.tables_dir``.
        schema: the full Spark schema, partition columns included.
        partition_by: Hive-style partition columns (folder per value).
        cluster_by: columns to Z-order by in OPTIMIZE (data skipping for point lookups).
        properties: Delta table properties (``delta.*``); default :data:`DELTA_RETENTION`.
        description: one line shown in docs and in the Delta metadata.
        key: the columns that identify a row (primary key of the seed schema).
    """

    name: str
    schema: StructType
    description: str
    key: tuple[str, ...]
    partition_by: tuple[str, ...] = ()
    cluster_by: tuple[str, ...] = ()
    properties: dict[str, str] = field(default_factory=lambda: dict(DELTA_RETENTION))

    @property
    def columns(self) -> list[str]:
        """The column names, in schema order."""
        return [f.name for f in self.schema.fields]
