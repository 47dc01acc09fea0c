"""A lake built from the bundled sample export, shared by the data-quality and notebook tests.

Built in-process (import -> dimension upsert -> ingest --once) the first time a test asks
for it in a pytest session, under pytest's base temp dir; tests that change data copy it
first (:func:`copy_lake`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from jobs.core.runtime.config import Config, load_config

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_CSV = ROOT / "data" / "samples" / "viewing-activity" / "household-ke.csv"
ACCOUNT = "household-ke"


def build_sample_lake(spark, base: Path) -> Config:
    """The test-env config of a lake under ``base/sample_lake`` holding household-ke.csv.

    Built once: a ``.built`` marker makes later calls (same base) return at once.
    """
    from jobs.core.ingest import export_import as imp
    from jobs.core.ingest import query as ingest

    root = base / "sample_lake"
    cfg = load_config("test", lake_root=str(root))
    if (root / ".built").exists():
        return cfg
    shutil.rmtree(root, ignore_errors=True)
    _report, viewings, runtimes = imp.import_files(
        [str(SAMPLE_CSV)],
        ACCOUNT,
        cfg.paths.landing_dir,
        cfg.paths.rejects_dir,
        cfg.importer.heartbeat_sec,
        cfg.importer.events_per_file,
        cfg.paths.catalog_csv,
    )
    imp.upsert_dimensions(spark, cfg, imp.dimension_rows(viewings, ACCOUNT, runtimes))
    ingest.run(cfg, once=True, spark=spark)
    # the batch layer too, so the star-schema suites and the notebook see real rows
    from jobs.core.activity import build as activity_build
    from jobs.core.ingest.catalog import load_catalog
    from jobs.core.star import build as star_build
    from jobs.core.storage.delta import get_engine

    engine = get_engine(spark, cfg)
    load_catalog(engine, cfg.paths.catalog_csv)
    star_build.build(engine, "latest")
    activity_build.build(engine, "latest")
    (root / ".built").touch()
    return cfg


def copy_lake(cfg: Config, target: Path) -> Config:
    """Copy the lake of ``cfg`` to ``target`` (tables only) and return its config."""
    shutil.copytree(cfg.paths.tables_dir, target / "tables")
    return load_config("test", lake_root=str(target))
