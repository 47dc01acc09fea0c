"""Right to erasure, end to end: after it no byte under the lake root names the profile.

One small real lake per engine (module-scoped): the bundled ``household-ke`` export
imported and ingested (``--once``), the star schema and viewing activity built (the
shared sample lake of tests/dq, copied), then with the engine under test
interactions -> ALS and co. trained -> recommendations generated, the DQ suites run
(those naming profiles) with a duplicate resume point of the profile, so the validation
JSON and ``dq_result`` carry it as an unexpected row; a killed import leaves hidden
``landing/.staged-*`` files, and a household profile whose every row was rejected never
reaches ``profile``.

Then ``Profile 1`` is erased and every file under the lake root is scanned: raw bytes for
its id (decimal and 8-byte little-endian) and its name, every Parquet file decoded to rows
(Delta data, checkpoints, model factors), JSON, HTML, stream checkpoints. ``Profile 2``
keeps its rows. The rejected-only profile is erased by its id alone (its name and account
are matched in the rejects).
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from jobs.core.ingest.netflix_export import normalize_name
from jobs.core.rules.ids import stable_id
from jobs.core.runtime.config import Config, load_config

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "data" / "samples" / "viewing-activity" / "household-ke.csv"
ACCOUNT = "household-ke"
ERASED, KEPT, GHOST = "Profile 1", "Profile 2", "Ghost Viewer"
ENGINE_VAR = "LAKEHOUSE_DELTA_ENGINE"


def profile_id(name: str) -> int:
    return stable_id("profile", normalize_name(ACCOUNT), normalize_name(name))


def _import(cfg: Config, spark, csv_path: Path) -> None:
    from jobs.core.ingest import export_import as imp

    _report, viewings, runtimes = imp.import_files(
        [str(csv_path)],
        ACCOUNT,
        cfg.paths.landing_dir,
        cfg.paths.rejects_dir,
        cfg.importer.heartbeat_sec,
        cfg.importer.events_per_file,
        cfg.paths.catalog_csv,
    )
    imp.upsert_dimensions(spark, cfg, imp.dimension_rows(viewings, ACCOUNT, runtimes))


KILLED_IMPORT = """
import os, sys
from jobs.core.ingest import export_import as imp
from jobs.core.runtime.config import load_config
cfg = load_config("test", lake_root=sys.argv[1])
imp.import_files([sys.argv[2]], sys.argv[3], cfg.paths.landing_dir, cfg.paths.rejects_dir,
                 cfg.importer.heartbeat_sec, cfg.importer.events_per_file,
                 before_publish=lambda report: os.kill(os.getpid(), 9))
"""


def build_lake(spark, root: Path, base: Path) -> Config:
    """The lake described in the module docstring; recommendations and DQ with the current
    engine, on a copy of the shared sample lake (import, ingest, star schema, activity:
    :func:`tests.dq.sample_lake.build_sample_lake`, built once per test session)."""
    from jobs.core.recommend import build as build_interactions
    from jobs.core.recommend import generation as generate_recommendations
    from jobs.core.recommend import training as train_recommenders
    from jobs.core.storage.delta import get_engine
    from tests.dq.sample_lake import build_sample_lake

    sample = build_sample_lake(spark, base)
    shutil.copytree(sample.paths.lake_root, root, ignore=shutil.ignore_patterns(".built"))
    cfg = load_config("test", lake_root=str(root))
    engine = get_engine(spark, cfg)
    s = cfg.recommend
    build_interactions.build(engine, s)
    train_recommenders.train(engine, s, "latest")
    generate_recommendations.generate_all(engine, s)
    # a duplicate resume point of the profile: the key check lists it as an unexpected row
    mine = engine.read("resume_state").where(f"profile_id = {profile_id(ERASED)}").limit(1)
    engine.append("resume_state", mine.localCheckpoint())
    from dq import run as dq_run

    suites = "resume_state,dim_users,playback_event"  # the suites naming profiles
    dq_run.main(["--suite", suites, "--env", "test", "--lake-root", str(root)], spark=spark)

    rows = list(csv.reader(SAMPLE.open(encoding="utf-8")))
    header, some = rows[0], [r for r in rows[1:] if r[0] == ERASED][:12]
    work = root.parent / "csv"
    work.mkdir(exist_ok=True)
    again = work / "household-ke-again.csv"
    with again.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *some])
    # killed (SIGKILL) after staging, before publishing: hidden .staged-* files stay
    subprocess.run(
        [sys.executable, "-c", KILLED_IMPORT, str(root), str(again), ACCOUNT],
        cwd=ROOT,
        check=False,
        capture_output=True,
    )
    ghost = work / "household-ke-ghost.csv"
    with ghost.open("w", newline="", encoding="utf-8") as fh:
        bad = [GHOST, "not a time", "00:10:00", "", "Dark", "", "Samsung TV", "", "", "KE (Kenya)"]
        csv.writer(fh).writerows([header, bad, bad[:1] + ["yesterday"] + bad[2:]])
    with pytest.raises(Exception, match="rows rejected"):
        _import(cfg, spark, ghost)
    return cfg


@pytest.fixture(scope="module", params=["rust", "spark"])
def lake(request, spark, tmp_path_factory) -> Config:
    if request.param == "spark":
        from jobs.core.runtime.spark import delta_spark_available

        ok, why = delta_spark_available(spark)
        if not ok:
            pytest.skip(f"spark engine not testable here: {why}")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(ENGINE_VAR, request.param)
        lake_dir = tmp_path_factory.mktemp(f"erasure-{request.param}") / "lake"
        return build_lake(spark, lake_dir, tmp_path_factory.getbasetemp())


def _parquet_holds(path: Path, pid: int, name: str) -> bool:
    try:
        table = pq.read_table(path)
    except Exception:  # noqa: BLE001 - not Parquet after all: the raw scan covers it
        return False

    def hit(col: pa.ChunkedArray) -> bool:
        t = col.type
        if pa.types.is_integer(t):
            return pid in col.to_pylist()
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            return any(v is not None and (str(pid) in v or name in v) for v in col.to_pylist())
        if pa.types.is_struct(t) or pa.types.is_list(t) or pa.types.is_map(t):
            return any(str(pid) in str(v) or name in str(v) for v in col.to_pylist())
        return False

    return any(hit(c) for c in table.columns)


def holders(root: Path, pid: int, name: str) -> list[str]:
    """Every file under ``root`` that holds the id or the name (raw bytes or decoded)."""
    needles = [str(pid).encode(), name.encode(), pid.to_bytes(8, "little", signed=True)]
    found = []
    for f in sorted(root.rglob("*")):
        if not f.is_file():
            continue
        data = f.read_bytes()
        if any(n in data for n in needles) or (
            data[:4] == b"PAR1" and _parquet_holds(f, pid, name)
        ):
            found.append(str(f.relative_to(root)))
    return found


def _rows(cfg: Config, table: str, pid: int) -> int:
    import pyarrow.compute as pc

    return (
        DeltaTable(cfg.table_path(table))
        .to_pyarrow_dataset()
        .count_rows(filter=pc.field("profile_id") == pid)
    )


def _als_factors(root: Path) -> int:
    [model] = [p for p in (root / "models" / "als").iterdir() if (p / "userFactors").is_dir()]
    return pq.read_table(model / "userFactors").num_rows


def test_erasure_leaves_no_byte_of_the_profile_anywhere_under_the_lake(lake):
    from jobs import erase_profile

    root = Path(lake.paths.lake_root)
    pid, kept = profile_id(ERASED), profile_id(KEPT)
    before = holders(root, pid, ERASED)
    # the lake really holds the profile where the erasure used to miss it
    for where in ("models/als/", "_dq/validations/", "landing/.staged-", "tables/dq_result/"):
        assert any(where in f for f in before), (where, before)
    kept_rows = {t: _rows(lake, t, kept) for t in ("playback_event", "resume_state", "profile")}
    kept_models = holders(root, kept, KEPT)
    assert any("models/als/" in f for f in kept_models)
    factors_before = _als_factors(root)

    argv = ["--profile-id", str(pid), "--env", "test", "--lake-root", str(root)]
    assert erase_profile.main(argv) == 0

    assert holders(root, pid, ERASED) == []
    # Profile 2 is untouched: its rows, and its model factors and rejects
    assert {t: _rows(lake, t, kept) for t in kept_rows} == kept_rows
    assert all(v > 0 for v in kept_rows.values())
    assert any("models/als/" in f for f in holders(root, kept, KEPT))
    assert _als_factors(root) == factors_before - 1  # the profile's factor row, only
    assert erase_profile.main(argv) == 0  # a rerun finds nothing and changes nothing


def test_a_profile_only_in_the_rejects_is_erased_by_its_id(lake):
    from jobs import erase_profile

    root = Path(lake.paths.lake_root)
    ghost = profile_id(GHOST)
    assert _rows(lake, "profile", ghost) == 0  # never reached the profile table
    assert any(f.startswith("rejects/") for f in holders(root, ghost, GHOST))
    argv = ["--profile-id", str(ghost), "--env", "test", "--lake-root", str(root)]
    assert erase_profile.main(argv) == 0
    assert holders(root, ghost, GHOST) == []
