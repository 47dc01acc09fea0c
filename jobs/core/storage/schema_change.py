"""Additive schema change: give a stored table the nullable columns its spec gained.

A table created before its spec gained a column (e.g. ``abandoned_content``'s statement
columns) would refuse every write of the new shape: Delta appends and merges do not
evolve a schema on their own here (no ``mergeSchema``). :func:`add_declared_columns`
adds the missing columns to the table's metadata through the engine
(:meth:`DeltaEngine.add_columns`: one commit, no data file rewritten): old files read the
new columns as NULL. Columns are only ever added, never dropped, retyped or reordered, so
every reader of the old shape keeps working.
"""

from __future__ import annotations

import logging

from jobs.core.storage.delta import DeltaEngine
from jobs.core.tables.registry import get_spec

log = logging.getLogger(__name__)


def missing_columns(engine: DeltaEngine, table: str) -> list[str]:
    """Declared columns of ``table`` its stored Delta schema lacks, in spec order.

    Reads only the Delta log (:meth:`DeltaEngine.columns`).

    Raises:
        KeyError: ``table`` is not declared.
        TableNotFoundError: the table does not exist.
    """
    stored = set(engine.columns(table))
    return [c for c in get_spec(table).columns if c not in stored]


def add_declared_columns(engine: DeltaEngine, table: str) -> list[str]:
    """Add the declared columns the stored ``table`` lacks (nullable); returns their names.

    A no-op (no commit) when the table already has every declared column; else one
    :meth:`DeltaEngine.add_columns` commit (delta-spark: ``ALTER TABLE ... ADD COLUMNS``;
    delta-rs: ``DeltaTable.alter.add_columns``). Partition columns are never added this way.

    Raises:
        KeyError: ``table`` is not declared.
        ValueError: a missing column is a partition column (recreate the table instead).
    """
    missing = missing_columns(engine, table)
    if not missing:
        return []
    spec = get_spec(table)
    if set(missing) & set(spec.partition_by):
        raise ValueError(
            f"{table}: partition column(s) {sorted(set(missing) & set(spec.partition_by))} "
            "cannot be added to an existing table; rebuild it"
        )
    fields = [f for f in spec.schema.fields if f.name in missing]
    engine.add_columns(table, fields)
    log.info("%s: added declared column(s) %s", table, ", ".join(missing))
    return missing
