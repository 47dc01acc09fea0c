"""``resume_state`` merge time vs table size, at a fixed batch size.

For each target size (rows), builds a ``resume_state`` table directly with
``write_deltalake`` from Arrow (fast; the schema is
``jobs.core.storage.delta.arrow_schema(RESUME_STATE.schema)``), in the order an ingest would
append it: keys scattered over the whole ``profile_id`` range in every file. Then merges
a batch of ``--batch`` source rows (half updates of existing keys with a newer
``last_update``, half inserts of new keys) ``--reps`` times, restoring the table to its
built version before each repetition so every merge sees the same layout.

Variants (``--variants``, all by default):

* ``random`` — random keys, table as written, ``RustDeltaEngine.merge("resume_state",
  df, RESUME_MERGE)`` (the ingest's own call);
* ``random-zorder`` — random keys, after ``engine.optimize(zorder_by=["profile_id"])``;
* ``local-zorder`` — the batch's keys in one narrow ``profile_id`` range (a window of
  ``batch/2`` consecutive profiles), Z-ordered table, engine merge;
* ``local-zorder-pruned`` — the same, merged with ``DeltaTable.merge(...,
  streamed_exec=False)`` directly (no Spark ``toArrow()``): delta-rs then derives a
  ``profile_id BETWEEN min AND max`` predicate from the source and skips files by their
  statistics. The engine's merge passes ``streamed_exec=False`` too (delta-rs' default,
  ``True``, disables that pruning), so the two differ by the Spark conversion only;
* ``random-pruned`` — random keys, Z-ordered, ``streamed_exec=False`` (the min/max range
  of random keys spans the table: nothing to prune);
* ``random-dv`` (spark engine only) — random keys, table as written, after
  ``ALTER TABLE ... SET TBLPROPERTIES ('delta.enableDeletionVectors' = true)``: delta-spark's
  merge-on-read MERGE marks the matched rows deleted in a deletion vector and writes only
  the new row versions, instead of rewriting each touched file (copy-on-write). It runs
  last on each table (the protocol upgrade cannot be undone; repetitions restore with
  Delta's ``RESTORE``), and delta-rs does not write such a table;
* ``change-log`` — random keys, table as written, the ingest's ``resume.write_path:
  change_log`` call instead of the merge: ``RustDeltaEngine.append("resume_state_change",
  df)`` (the log grows by one batch per repetition), then one
  :func:`jobs.core.changelog.resume.compact` of the ``--reps`` batches into the table (its
  ``compact_seconds``), and one :func:`jobs.core.changelog.resume.current_resume` count with the
  batches pending (``read_seconds``).

``--engines rust spark`` runs the variants on both Delta engines over the same built table
(one Delta protocol): ``rust`` is :class:`RustDeltaEngine` (Spark ``toArrow()`` of the
source + delta-rs merge), ``spark`` is :class:`SparkDeltaEngine` (delta-spark's MERGE;
needs the jars: ``DELTA_JARS_DIR``, default ``../shared/delta-spark-jars`` when present).

For each (size, engine, variant): median seconds of the whole call (engine: Spark
``toArrow()`` of the source + delta-rs merge), delta-rs' own ``execution_time_ms``,
files scanned / skipped / removed / added and rows copied, from the MERGE commit's
``operationMetrics``; source rows/s. Prints a markdown table; writes JSON and a PNG under
bench/results/.

Baseline, per size: the same kind of batch appended as plain parquet by Spark
(``df.write.mode("append").parquet``; no Delta, no merge), ``--reps`` times; every row
reports its median and the merge's ratio to it.

Usage::

    python bench/merge_scaling.py                                 # 100 K, 1 M, 10 M rows
    python bench/merge_scaling.py --sizes 10000 100000 300000 --reps 3   # smoke
    python bench/merge_scaling.py --sizes 1000000 10000000 50000000 \
        --variants random random-dv change-log --engines rust spark   # side by side
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from jobs.core.rules.playback_state import RESUME_MERGE
from jobs.core.runtime.config import load_config
from jobs.core.storage.delta import DeltaEngine, RustDeltaEngine, SparkDeltaEngine, arrow_schema
from jobs.core.tables.registry import RESUME_STATE

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

log = logging.getLogger("merge_scaling")

VARIANTS = (
    "random", "random-zorder", "local-zorder", "local-zorder-pruned", "random-pruned",
    "random-dv", "change-log",
)  # fmt: skip
SPARK_ONLY = ("random-dv",)
RUST_ONLY = ("local-zorder-pruned", "random-pruned")  # delta-rs' own merge call
ENGINES = {"rust": RustDeltaEngine, "spark": SparkDeltaEngine}
DEFAULT_JARS = ROOT.parent / "shared" / "delta-spark-jars"
_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd: p -> p * _MULT mod 2**63 is a bijection
_MASK63 = np.uint64(0x7FFF_FFFF_FFFF_FFFF)
_CATALOG = 6000  # distinct titles/episodes
_BASE_TIME_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z in microseconds
_SCHEMA = arrow_schema(RESUME_STATE.schema)


def profile_ids(profiles: np.ndarray) -> np.ndarray:
    """Scrambled, positive, distinct ``profile_id`` for profile indexes (like a hash id)."""
    return ((profiles.astype(np.uint64) * _MULT) & _MASK63).astype(np.int64)


def _hex_strings(rng: np.random.Generator, n: int, width: int) -> pa.Array:
    """``n`` random lowercase hex strings of ``width`` characters, built without Python loops."""
    raw = rng.integers(0, 16, size=n * width, dtype=np.uint8)
    chars = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)[raw]
    offsets = np.arange(n + 1, dtype=np.int32) * width
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()))


def resume_rows(
    rng: np.random.Generator, profiles: np.ndarray, contents: np.ndarray, day: int
) -> pa.Table:
    """``resume_state`` rows for keys ``(profile index, content index)``.

    Args:
        rng: random source (positions, devices, sessions).
        profiles: profile index per row (``profile_id`` = :func:`profile_ids`).
        contents: content index per row; distinct within a profile. ``content_key`` is
            ``1_000_000 + (3 * profile + content) % 6000``, so a profile never holds one
            content twice as long as ``contents < 6000``.
        day: days after 2026-01-01 for ``last_update`` (a later day = a newer update).

    Returns:
        An Arrow table in the ``resume_state`` schema (UTC microsecond timestamps).
    """
    n = len(profiles)
    ckey = 1_000_000 + (profiles.astype(np.int64) * 3 + contents) % _CATALOG
    is_episode = ckey % 10 < 7  # ~70% series episodes, the rest films
    title = np.where(is_episode, 2_000_000 + ckey // 20, ckey)
    runtime = np.where(is_episode, 2700, 6600).astype(np.int32)
    position = rng.integers(0, 6600, size=n).astype(np.int32)
    update_us = _BASE_TIME_US + day * 86_400_000_000 + rng.integers(0, 86_400, size=n) * 1_000_000
    columns = {
        "profile_id": pa.array(profile_ids(profiles)),
        "title_id": pa.array(title),
        "episode_id": pa.array(ckey, mask=~is_episode),
        "content_key": pa.array(ckey),
        "last_position_sec": pa.array(position),
        "last_update": pa.array(update_us, type=pa.timestamp("us", tz="UTC")),
        "device_id": _hex_strings(rng, n, 16),
        "session_id": _hex_strings(rng, n, 32),
        "is_finished": pa.array(position >= runtime * 0.95),
        "runtime_sec": pa.array(runtime),
    }
    return pa.table(columns).cast(_SCHEMA)


def build_table(
    path: str, rows: int, keys_per_profile: int, file_bytes: int, chunk: int, seed: int
) -> int:
    """Write a ``resume_state`` table of ``rows`` rows (rounded up to whole profiles).

    Rows are written profile by profile in chunks of ``chunk`` rows (one append each), so
    each file spans the whole scrambled ``profile_id`` range, like a table grown by
    micro-batch merges. The table carries ``delta.targetFileSize = file_bytes``, which
    ``optimize`` (compaction and Z-order) also uses.

    Returns:
        The number of profiles.
    """
    from deltalake import DeltaTable, write_deltalake

    n_profiles = -(-rows // keys_per_profile)
    os.makedirs(path, exist_ok=True)
    DeltaTable.create(
        path,
        schema=_SCHEMA,
        name=RESUME_STATE.name,
        description=RESUME_STATE.description,
        configuration={**RESUME_STATE.properties, "delta.targetFileSize": str(file_bytes)},
    )
    rng = np.random.default_rng(seed)
    total = n_profiles * keys_per_profile
    for start in range(0, total, chunk):
        idx = np.arange(start, min(start + chunk, total))
        data = resume_rows(rng, idx // keys_per_profile, idx % keys_per_profile, day=0)
        write_deltalake(path, data, mode="append", target_file_size=file_bytes)
    return n_profiles


def make_batch(
    rng: np.random.Generator,
    n_profiles: int,
    keys_per_profile: int,
    batch: int,
    localized: bool,
    sorted_profiles: np.ndarray | None = None,
) -> pa.Table:
    """A merge source: ``batch // 2`` updates of existing keys, the rest inserts.

    Updates carry ``last_update`` one day later than any stored row, so the merge's
    ``update_condition`` (newer wins) is true for all of them. Inserts add content index
    ``keys_per_profile`` (never stored) to distinct profiles.

    Args:
        localized: draw every key from one window of consecutive profiles in
            ``profile_id`` order (``sorted_profiles``: profile indexes sorted by id), the
            window holding as many profiles as there are inserts; else draw uniformly.

    Raises:
        ValueError: the table has fewer profiles than the batch has inserts.
    """
    inserts = batch - batch // 2
    if inserts > n_profiles:
        raise ValueError(
            f"--batch {batch} needs {inserts} profiles for its inserts; the table has "
            f"{n_profiles}: raise the size or lower --batch"
        )
    if localized:
        if sorted_profiles is None:
            raise ValueError("localized batch needs sorted_profiles")
        start = int(rng.integers(0, n_profiles - inserts + 1))
        window = sorted_profiles[start : start + inserts]
    else:
        window = np.arange(n_profiles)
    upd_rows = rng.choice(len(window) * keys_per_profile, size=batch // 2, replace=False)
    upd_p = window[upd_rows // keys_per_profile]
    upd_c = upd_rows % keys_per_profile
    ins_p = rng.choice(window, size=inserts, replace=False)
    ins_c = np.full(inserts, keys_per_profile)
    return resume_rows(rng, np.concatenate([upd_p, ins_p]), np.concatenate([upd_c, ins_c]), day=1)


def _merge_direct(path: str, data: pa.Table) -> float:
    """RESUME_MERGE with delta-rs' ``streamed_exec=False`` (enables early file pruning)."""
    from deltalake import DeltaTable

    start = time.monotonic()
    (
        DeltaTable(path)
        .merge(data, predicate=RESUME_MERGE.on, source_alias="s", target_alias="t",
               streamed_exec=False)
        .when_matched_update_all(predicate=RESUME_MERGE.update_condition)
        .when_not_matched_insert_all()
        .execute()
    )  # fmt: skip
    return time.monotonic() - start


def _restore(path: str, version: int) -> None:
    """Bring the table back to ``version`` (a new commit re-adding its files), if needed."""
    from deltalake import DeltaTable

    table = DeltaTable(path)
    if table.version() != version:
        table.restore(version)


def _restore_spark(spark: Any, path: str, version: int) -> None:
    """Delta's own ``RESTORE`` (delta-rs does not write tables with deletion vectors)."""
    from delta.tables import DeltaTable

    table = DeltaTable.forPath(spark, path)
    if int(table.history(1).collect()[0].version) != version:
        table.restoreToVersion(version)


def merge_metrics(m: dict[str, Any]) -> dict[str, float]:
    """A MERGE commit's ``operationMetrics`` under one set of names, from either engine.

    delta-rs writes ``num_target_files_removed``...; delta-spark ``numTargetFilesRemoved``...
    (as strings). ``dvs_added``: deletion vectors written (delta-spark merge-on-read).
    """
    names = {
        "median_deltars_ms": ("execution_time_ms", "executionTimeMs"),
        "median_scan_ms": ("scan_time_ms", "scanTimeMs"),
        "median_rewrite_ms": ("rewrite_time_ms", "rewriteTimeMs"),
        "files_scanned": ("num_target_files_scanned", "numTargetFilesAfterSkipping"),
        "files_skipped": ("num_target_files_skipped_during_scan", ""),
        "files_removed": ("num_target_files_removed", "numTargetFilesRemoved"),
        "files_added": ("num_target_files_added", "numTargetFilesAdded"),
        "rows_copied": ("num_target_rows_copied", "numTargetRowsCopied"),
        "rows_updated": ("num_target_rows_updated", "numTargetRowsUpdated"),
        "rows_inserted": ("num_target_rows_inserted", "numTargetRowsInserted"),
        "dvs_added": ("", "numTargetDeletionVectorsAdded"),
    }
    out = {}
    for key, (rust, spark) in names.items():
        value = m.get(rust) if rust in m else m.get(spark)
        out[key] = float(value or 0)
    if "numTargetFilesBeforeSkipping" in m:
        out["files_skipped"] = float(m["numTargetFilesBeforeSkipping"] or 0) - out["files_scanned"]
    return out


def _file_count(path: str) -> int:
    from deltalake import DeltaTable

    return len(DeltaTable(path).file_uris())


def measure_size(
    spark: Any,
    work: Path,
    rows: int,
    args: argparse.Namespace,
) -> list[dict[str, Any]]:
    """Build one table and run every variant on it; one result dict per variant."""
    from deltalake import DeltaTable

    lake = work / f"rows-{rows}"
    shutil.rmtree(lake, ignore_errors=True)
    cfg = load_config("local", lake_root=str(lake))
    path = RustDeltaEngine(spark, cfg).path("resume_state")
    t0 = time.monotonic()
    file_bytes = int(args.file_mb * 1024 * 1024)
    n_profiles = build_table(
        path, rows, args.keys_per_profile, file_bytes, args.chunk_rows, args.seed
    )
    build_sec = time.monotonic() - t0
    written_version = DeltaTable(path).version()
    written_files = _file_count(path)
    table_mb = sum(os.path.getsize(u) for u in DeltaTable(path).file_uris()) / 2**20
    zorder_version = zorder_files = zorder_sec = None
    sorted_profiles = None
    rng = np.random.default_rng(args.seed + rows)
    # baseline: the same kind of batch appended as plain parquet by Spark (no Delta, no
    # merge) — what persisting the batch costs whatever the table's size
    base_reps = []
    for _ in range(args.reps):
        source = spark.createDataFrame(
            make_batch(rng, n_profiles, args.keys_per_profile, args.batch, False)
        ).cache()
        source.count()
        t0 = time.monotonic()
        source.write.mode("append").parquet(str(lake / "baseline-parquet"))
        base_reps.append(time.monotonic() - t0)
        source.unpersist()
    baseline_sec = statistics.median(base_reps)
    results = []
    for engine_name in args.engines:
        engine = ENGINES[engine_name](spark, cfg)
        variants = [
            v for v in args.variants
            if v != "change-log"
            and not (engine_name == "rust" and v in SPARK_ONLY)
            and not (engine_name == "spark" and v in RUST_ONLY)
        ]  # fmt: skip
        # random-dv upgrades the protocol for good: it runs last, after the change log
        last = [v for v in variants if v in SPARK_ONLY]
        for variant in [v for v in variants if v not in SPARK_ONLY]:
            zordered = variant != "random"
            if zordered and zorder_version is None:
                _restore(path, written_version)
                t0 = time.monotonic()
                engine.optimize("resume_state", zorder_by=["profile_id"])
                zorder_sec = time.monotonic() - t0
                zorder_version = DeltaTable(path).version()
                zorder_files = _file_count(path)
                ids = profile_ids(np.arange(n_profiles))
                sorted_profiles = np.argsort(ids, kind="stable")
            base = zorder_version if zordered else written_version
            results.append(_merges(spark, engine, variant, base, rng, n_profiles, sorted_profiles,
                                   args, baseline_sec, {
                "target_rows": rows, "table_mb": round(table_mb, 1),
                "table_files": zorder_files if zordered else written_files,
                "build_seconds": round(build_sec, 1),
                "zorder_seconds": round(zorder_sec, 1) if zordered and zorder_sec else None,
            }))  # fmt: skip
        if "change-log" in args.variants:  # on the table as written, after the merges
            results.append(_change_log(spark, engine, rng, n_profiles, args, baseline_sec, {
                "target_rows": rows, "table_mb": round(table_mb, 1),
                "table_files": written_files, "build_seconds": round(build_sec, 1),
                "written_version": written_version,
            }))  # fmt: skip
        for variant in last:  # random-dv
            _restore(path, written_version)
            spark.sql(
                f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES "
                "('delta.enableDeletionVectors' = 'true')"
            )
            dv_version = engine.version("resume_state")
            results.append(_merges(spark, engine, variant, dv_version, rng, n_profiles, None,
                                   args, baseline_sec, {
                "target_rows": rows, "table_mb": round(table_mb, 1),
                "table_files": written_files, "build_seconds": round(build_sec, 1),
                "zorder_seconds": None,
            }))  # fmt: skip
    if not args.keep:
        shutil.rmtree(lake, ignore_errors=True)
    return results


def _merges(
    spark: Any,
    engine: DeltaEngine,
    variant: str,
    base: int,
    rng: np.random.Generator,
    n_profiles: int,
    sorted_profiles: np.ndarray | None,
    args: argparse.Namespace,
    baseline_sec: float,
    table: dict[str, Any],
) -> dict[str, Any]:
    """``--reps`` merges of one variant, each on the table restored to version ``base``."""
    path = engine.path("resume_state")
    direct = variant.endswith("pruned")
    localized = variant.startswith("local")
    reps = []
    for _ in range(args.reps):
        if variant in SPARK_ONLY:
            _restore_spark(spark, path, base)
        else:
            _restore(path, base)
        data = make_batch(
            rng, n_profiles, args.keys_per_profile, args.batch, localized, sorted_profiles
        )
        if direct:
            seconds = _merge_direct(path, data)
        else:
            source = spark.createDataFrame(data).cache()
            source.count()  # materialize: the timing starts from a ready DataFrame
            seconds = engine.merge("resume_state", source, RESUME_MERGE).seconds
            source.unpersist()
        m = merge_metrics(engine.history("resume_state", 1)[0].get("operationMetrics") or {})
        reps.append({"seconds": seconds, **m})
        log.info("rows=%d %s %s: %.2fs %s", table["target_rows"], engine.name, variant,
                 seconds, m)  # fmt: skip

    def med(key: str) -> float:
        return statistics.median(float(r.get(key, 0) or 0) for r in reps)

    seconds = med("seconds")
    result = table | {
        "rows": n_profiles * args.keys_per_profile, "engine": engine.name, "variant": variant,
        "batch": args.batch, "reps": args.reps, "median_seconds": round(seconds, 3),
        "min_seconds": round(min(r["seconds"] for r in reps), 3),
        "max_seconds": round(max(r["seconds"] for r in reps), 3),
        **{k: med(k) for k in reps[0] if k != "seconds"},
        "source_rows_per_sec": round(args.batch / seconds) if seconds else None,
        "baseline_seconds": round(baseline_sec, 3),
        "ratio_to_baseline": round(seconds / baseline_sec, 2) if baseline_sec else None,
        "runs": reps,
    }  # fmt: skip
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}), file=sys.stderr)
    return result


def _change_log(
    spark: Any,
    engine: DeltaEngine,
    rng: np.random.Generator,
    n_profiles: int,
    args: argparse.Namespace,
    baseline_sec: float,
    table: dict[str, Any],
) -> dict[str, Any]:
    """The ``change-log`` variant: ``--reps`` appends to the log, a read, one compaction.

    ``table``: the built table's figures (``written_version`` is restored first).
    """
    from jobs.core.changelog.resume import CHANGE, compact, current_resume
    from jobs.core.tables.registry import RESUME_STATE_CHANGE

    rows = table["target_rows"]
    _restore(engine.path("resume_state"), table.pop("written_version"))
    shutil.rmtree(engine.path(CHANGE), ignore_errors=True)
    engine.create(RESUME_STATE_CHANGE)
    reps = []
    for _ in range(args.reps):
        source = spark.createDataFrame(
            make_batch(rng, n_profiles, args.keys_per_profile, args.batch, False)
        ).cache()
        source.count()  # materialize: the timing starts from a ready DataFrame
        seconds = engine.append(CHANGE, source).seconds
        source.unpersist()
        reps.append({"seconds": seconds})
        log.info("rows=%d %s change-log append: %.2fs", rows, engine.name, seconds)
    t0 = time.monotonic()
    current = current_resume(engine).count()
    read_sec = time.monotonic() - t0
    done = compact(engine)
    m = merge_metrics(engine.history("resume_state", 1)[0].get("operationMetrics") or {})
    seconds = statistics.median(r["seconds"] for r in reps)
    result = table | {
        "rows": n_profiles * args.keys_per_profile, "engine": engine.name,
        "variant": "change-log",
        "batch": args.batch, "reps": args.reps, "zorder_seconds": None,
        "median_seconds": round(seconds, 3),
        "min_seconds": round(min(r["seconds"] for r in reps), 3),
        "max_seconds": round(max(r["seconds"] for r in reps), 3),
        "median_deltars_ms": 0.0, "median_scan_ms": 0.0, "median_rewrite_ms": 0.0,
        "files_scanned": 0.0, "files_skipped": 0.0, "files_removed": 0.0, "files_added": 1.0,
        "rows_copied": 0.0, "rows_updated": 0.0, "rows_inserted": float(args.batch),
        "source_rows_per_sec": round(args.batch / seconds) if seconds else None,
        "baseline_seconds": round(baseline_sec, 3),
        "ratio_to_baseline": round(seconds / baseline_sec, 2) if baseline_sec else None,
        "read_seconds": round(read_sec, 2), "current_rows": current,
        "compact_seconds": round(done.seconds, 2), "compact_keys": done.keys,
        "compact_rows_pruned": done.rows_pruned,
        "compact_files_removed": m["files_removed"], "compact_rows_copied": m["rows_copied"],
        "runs": reps,
    }  # fmt: skip
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}), file=sys.stderr)
    return result


def plot(rows: list[dict], path: Path) -> None:
    """Median merge seconds and files removed (rewritten) vs table rows, per variant."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for label in dict.fromkeys(_label(r) for r in rows):
        sel = [r for r in rows if _label(r) == label]
        xs = [r["rows"] for r in sel]
        a.plot(xs, [r["median_seconds"] for r in sel], "o-", label=label)
        b.plot(xs, [r["rows_copied"] for r in sel], "o-", label=label)
    for ax, ylabel in ((a, "median merge seconds"), (b, "target rows copied (rewritten)")):
        ax.set_xscale("log")
        ax.set_xlabel("resume_state rows")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=8)
    a.set_title(f"merge of {rows[0]['batch']:,} source rows")
    b.set_title("copy-on-write rewrite volume")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def _label(r: dict) -> str:
    return f"{r.get('engine', 'rust')} {r['variant']}"


def markdown(rows: list[dict]) -> str:
    """The results as a markdown table (one line per size and variant)."""
    out = [
        "| rows | engine | variant | files | median s | min–max s | engine ms | scanned "
        "| skipped | removed | added | DVs added | rows copied | source rows/s | × smallest "
        "| baseline s | × baseline |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    first: dict[str, float] = {}
    for r in rows:
        ratio = r["median_seconds"] / first.setdefault(_label(r), r["median_seconds"])
        out.append(
            f"| {r['rows']:,} | {r.get('engine', 'rust')} | {r['variant']} | {r['table_files']} "
            f"| {r['median_seconds']:.2f} | "
            f"{r['min_seconds']:.2f}–{r['max_seconds']:.2f} | {r['median_deltars_ms']:.0f} | "
            f"{r['files_scanned']:.0f} | {r['files_skipped']:.0f} | {r['files_removed']:.0f} | "
            f"{r['files_added']:.0f} | {r.get('dvs_added', 0):.0f} | {r['rows_copied']:,.0f} | "
            f"{r['source_rows_per_sec'] or 0:,} | {ratio:.2f}× | {r['baseline_seconds']:.2f} | "
            f"{r['ratio_to_baseline']}× |"
        )
    for r in rows:
        if r["variant"] == "change-log":
            out.append(
                f"\n{r['engine']} change-log at {r['rows']:,} rows: compaction of {r['reps']} batches "
                f"({r['compact_keys']:,} keys) {r['compact_seconds']:.2f} s (base files "
                f"rewritten {r['compact_files_removed']}, rows copied "
                f"{r['compact_rows_copied']}); current_resume over base + log "
                f"{r['read_seconds']:.2f} s ({r['current_rows']:,} rows)"
            )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run every size, print the table and write JSON + PNG.

    Returns:
        0 on success, 2 on bad arguments.
    """
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Example (smoke): python bench/merge_scaling.py --sizes 10000 100000 300000",
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000],
        help="target table sizes in rows (default 100000 1000000 10000000)",
    )  # fmt: skip
    parser.add_argument(
        "--batch", type=int, default=20_000,
        help="source rows per merge: half updates, half inserts (default 20000)",
    )  # fmt: skip
    parser.add_argument("--reps", type=int, default=3, help="merges per variant (default 3)")
    parser.add_argument(
        "--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
        help=f"variants to run (default all: {' '.join(VARIANTS)})",
    )  # fmt: skip
    parser.add_argument(
        "--keys-per-profile", type=int, default=8,
        help="resume_state rows per profile (default 8)",
    )  # fmt: skip
    parser.add_argument(
        "--file-mb", type=float, default=8.0,
        help="delta.targetFileSize of the table, for writes and Z-order (MiB, default 8)",
    )  # fmt: skip
    parser.add_argument(
        "--chunk-rows", type=int, default=1_000_000,
        help="rows per append while building the table (default 1000000)",
    )  # fmt: skip
    parser.add_argument(
        "--engines", nargs="+", choices=sorted(ENGINES), default=["rust"],
        help="Delta engines to merge with, one after the other on each table (spark needs "
        "DELTA_JARS_DIR or ../shared/delta-spark-jars; default: rust)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    parser.add_argument(
        "--work-dir", default=str(Path(tempfile.gettempdir()) / "viewing-lakehouse-merge-bench"),
        help="where the tables are built (default: $TMPDIR/viewing-lakehouse-merge-bench)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the tables after the run")
    parser.add_argument("--verbose", action="store_true", help="log every merge on stderr")
    args = parser.parse_args(argv)
    if args.batch < 2 or args.reps < 1 or args.keys_per_profile < 1:
        parser.error("--batch must be >= 2, --reps and --keys-per-profile >= 1")
    if args.keys_per_profile >= _CATALOG:
        parser.error(f"--keys-per-profile must be below {_CATALOG}")
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )
    os.environ.setdefault("SPARK_LOG_LEVEL", "ERROR")
    if "spark" in args.engines and not os.environ.get("DELTA_JARS_DIR"):
        if not DEFAULT_JARS.is_dir():
            parser.error(
                "--engines spark needs the delta-spark jars: set DELTA_JARS_DIR "
                f"(none found at {DEFAULT_JARS})"
            )
        os.environ["DELTA_JARS_DIR"] = str(DEFAULT_JARS)
    from jobs.core.runtime.spark import build_spark

    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    spark = build_spark("merge_scaling", load_config("local", lake_root=str(work)))
    rows: list[dict] = []
    try:
        for size in args.sizes:
            try:
                rows += measure_size(spark, work, size, args)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
    finally:
        spark.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"merge_scaling-{stamp}.json").write_text(json.dumps(rows, indent=2))
    plot(rows, RESULTS / f"merge_scaling-{stamp}.png")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
