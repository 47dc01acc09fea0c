"""High-water marks of the recommendation jobs in ``build_state`` (through DeltaEngine).

Same table and meaning as the star schema build: one row per (job, source_table) with the
source's Delta version last processed; a job whose sources have not moved does nothing.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from jobs.core.storage.delta import DeltaEngine, MergeSpec


def read_marks(engine: DeltaEngine, job: str) -> dict[str, tuple[int, dt.datetime | None]]:
    """``{source_table: (version, updated_at)}`` recorded for ``job``."""
    engine.create_all(["build_state"])
    rows = engine.read("build_state").where(F.col("job") == job).collect()
    return {r.source_table: (int(r.source_version), r.updated_at) for r in rows}


def write_marks(engine: DeltaEngine, job: str, versions: dict[str, int], now: dt.datetime) -> None:
    """Record ``versions`` (source table -> Delta version) for ``job`` at ``now`` (UTC)."""
    rows = [(job, t, int(v), now.date(), now.replace(tzinfo=None)) for t, v in versions.items()]
    schema = "job string, source_table string, source_version long, as_of_date date, updated_at timestamp"
    df = engine.spark.createDataFrame(rows, schema)
    engine.merge(
        "build_state", df, MergeSpec(on="t.job = s.job AND t.source_table = s.source_table")
    )


def versions(engine: DeltaEngine, tables: tuple[str, ...]) -> dict[str, int]:
    """Current Delta version of each existing table in ``tables``."""
    return {t: engine.version(t) for t in tables if engine.exists(t)}
