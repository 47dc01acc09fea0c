"""``playback_session`` per-batch write cost vs table size: MERGE vs the change log.

For each size (sessions), builds a ``playback_session`` table directly with
``write_deltalake`` from Arrow (random 32-hex session ids, so every file spans the whole
key range, like a table grown by micro-batches), then, per engine (``--engines rust
spark``, same built table):

* ``merge`` — the ``resume.write_path: merge`` call: ``engine.merge("playback_session",
  batch, SESSION_MERGE)`` of a batch of ``--batch`` partial session rows (half updates of
  stored sessions with newer events, half new sessions), ``--reps`` times, the table
  restored to its built version before each;
* ``change-log`` — the default call: ``engine.append("playback_session_change", rows)``
  of the same batches (the log grows by one batch per repetition); then one
  :func:`jobs.core.changelog.session.current_sessions` count with the batches pending
  (``read_s``) and one :func:`jobs.core.changelog.session.compact` of them into the table
  (``compact_s``).

Prints a markdown table (median seconds per batch, files rewritten by the merge, the
ratio to the smallest size) and writes JSON under bench/results/.

Usage::

    python bench/session_write.py --sizes 1000000 10000000 --engines rust spark
    python bench/session_write.py --sizes 100000 300000 --reps 2          # smoke
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # noqa: E402 - run as a script
from bench.merge_scaling import DEFAULT_JARS, _hex_strings, _restore, merge_metrics
from jobs.core.changelog.session import CHANGE, compact, current_sessions
from jobs.core.rules.playback_state import SESSION_MERGE, as_change_rows
from jobs.core.runtime.config import load_config
from jobs.core.storage.delta import RustDeltaEngine, SparkDeltaEngine, arrow_schema
from jobs.core.tables.registry import PLAYBACK_SESSION

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
ENGINES = {"rust": RustDeltaEngine, "spark": SparkDeltaEngine}
_SCHEMA = arrow_schema(PLAYBACK_SESSION.schema)
_T0_US = 1_767_225_600_000_000  # 2026-01-01T00:00:00Z
log = logging.getLogger("session_write")


def session_rows(rng: np.random.Generator, ids: pa.Array, hour: int) -> pa.Table:
    """``playback_session`` rows for ``ids``; events around ``hour`` hours after 2026-01-01."""
    n = len(ids)
    start = _T0_US + hour * 3_600_000_000 + rng.integers(0, 3_600, size=n) * 1_000_000
    last = start + rng.integers(30, 3_000, size=n) * 1_000_000
    ts = pa.timestamp("us", tz="UTC")
    ended = rng.random(n) < 0.3
    columns = {
        "session_id": ids,
        "profile_id": pa.array(rng.integers(1, 2**62, size=n)),
        "device_id": _hex_strings(rng, n, 16),
        "title_id": pa.array(rng.integers(1, 6000, size=n)),
        "episode_id": pa.array(rng.integers(1, 60000, size=n), mask=rng.random(n) < 0.3),
        "country_code": pa.array(np.array(["KE", "US", "BR", "IN"])[rng.integers(0, 4, n)]),
        "is_supplemental": pa.array(np.zeros(n, dtype=bool)),
        "is_autoplay": pa.array(rng.random(n) < 0.2),
        "started_at": pa.array(start, type=ts),
        "ended_at": pa.array(last, type=ts, mask=~ended),
        "end_reason": pa.array(np.where(ended, "END", ""), mask=~ended),
        "last_event_at": pa.array(last, type=ts),
        "last_position_sec": pa.array(rng.integers(0, 6000, size=n).astype(np.int32)),
        "event_count": pa.array(rng.integers(1, 100, size=n)),
    }
    return pa.table(columns).cast(_SCHEMA)


def build_table(path: str, rows: int, chunk: int, seed: int) -> pa.Array:
    """Write a ``playback_session`` table of ``rows`` sessions; returns a sample of its ids."""
    from deltalake import DeltaTable, write_deltalake

    os.makedirs(path, exist_ok=True)
    DeltaTable.create(path, schema=_SCHEMA, name=PLAYBACK_SESSION.name,
                      configuration=dict(PLAYBACK_SESSION.properties))  # fmt: skip
    rng = np.random.default_rng(seed)
    sample = []
    for i, start in enumerate(range(0, rows, chunk)):
        ids = _hex_strings(rng, min(chunk, rows - start), 32)
        sample.append(
            ids.take(pa.array(rng.choice(len(ids), size=min(len(ids), 20_000), replace=False)))
        )
        write_deltalake(path, session_rows(rng, ids, hour=i % 24), mode="append")
    return pa.concat_arrays(sample)


def make_batch(rng: np.random.Generator, stored: pa.Array, batch: int) -> pa.Table:
    """Half updates of stored sessions (a later hour: newer events), half new sessions."""
    old = stored.take(pa.array(rng.choice(len(stored), size=batch // 2, replace=False)))
    new = _hex_strings(rng, batch - batch // 2, 32)
    return session_rows(rng, pa.concat_arrays([old, new]), hour=48)


def measure(spark, engine_name: str, table_dir: Path, size: int, stored, args) -> list[dict]:
    """The two write paths on one engine over the table at ``table_dir`` (restored after)."""
    cfg = load_config("test", lake_root=str(table_dir))
    engine = ENGINES[engine_name](spark, cfg)
    base_path = engine.path(PLAYBACK_SESSION.name)
    built = engine.version(PLAYBACK_SESSION.name)
    rng = np.random.default_rng(args.seed + 1)
    batches = [spark.createDataFrame(make_batch(rng, stored, args.batch)).localCheckpoint()
               for _ in range(args.reps)]  # fmt: skip
    out = []
    merges, metrics = [], []
    for df in batches:
        _restore(base_path, built)
        t = time.monotonic()
        result = engine.merge(PLAYBACK_SESSION.name, df, SESSION_MERGE)
        merges.append(time.monotonic() - t)
        metrics.append(merge_metrics(engine.history(PLAYBACK_SESSION.name, 1)[0]
                                     .get("operationMetrics") or {}))  # fmt: skip
        log.info("%s %d merge: %.2fs %s", engine_name, size, merges[-1], result.metrics)
    _restore(base_path, built)
    out.append({
        "size": size, "engine": engine_name, "variant": "merge",
        "median_s": statistics.median(merges),
        "files_removed": statistics.median(m["files_removed"] for m in metrics),
        "rows_copied": statistics.median(m["rows_copied"] for m in metrics),
    })  # fmt: skip
    shutil.rmtree(engine.path(CHANGE), ignore_errors=True)
    engine.create_all([CHANGE])
    appends = []
    for i, df in enumerate(batches):
        t = time.monotonic()
        engine.append(CHANGE, as_change_rows(df, f"bench:{i}"))
        appends.append(time.monotonic() - t)
    t = time.monotonic()
    current_sessions(engine).count()
    read_s = time.monotonic() - t
    done = compact(engine)
    out.append({
        "size": size, "engine": engine_name, "variant": "change-log",
        "median_s": statistics.median(appends), "read_s": read_s,
        "compact_s": done.seconds, "compacted_sessions": done.keys,
    })  # fmt: skip
    _restore(base_path, built)
    shutil.rmtree(engine.path(CHANGE), ignore_errors=True)
    shutil.rmtree(os.path.join(str(table_dir), "_locks"), ignore_errors=True)
    return out


def markdown(rows: list[dict]) -> str:
    """The figures as a markdown table; ``vs smallest`` is per (engine, write path)."""
    first: dict[tuple[str, str], float] = {}
    lines = [
        "| sessions | engine | write path | per batch (median s) | vs smallest size | "
        "files rewritten | current read (s) | compaction (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        base = first.setdefault((r["engine"], r["variant"]), r["median_s"])
        files = f"{r['files_removed']:.0f}" if "files_removed" in r else "0 (append)"
        read = f"{r['read_s']:.2f}" if "read_s" in r else "-"
        comp = f"{r['compact_s']:.1f}" if "compact_s" in r else "-"
        lines.append(
            f"| {r['size']:,} | {r['engine']} | {r['variant']} | {r['median_s']:.2f} | "
            f"{r['median_s'] / base:.2f}x | {files} | {read} | {comp} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 10_000_000],
                        help="table sizes in sessions (default 1 M and 10 M)")  # fmt: skip
    parser.add_argument("--batch", type=int, default=20_000, help="sessions per batch (20 K)")
    parser.add_argument("--reps", type=int, default=3, help="batches per path (default 3)")
    parser.add_argument("--engines", nargs="+", choices=sorted(ENGINES), default=["rust"],
                        help="Delta engines to run, same built table (default rust)")  # fmt: skip
    parser.add_argument("--chunk", type=int, default=250_000, help="rows per built file")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if "spark" in args.engines and not os.environ.get("DELTA_JARS_DIR") and DEFAULT_JARS.is_dir():
        os.environ["DELTA_JARS_DIR"] = str(DEFAULT_JARS)
    from jobs.core.runtime.spark import build_spark

    cfg = load_config("test", lake_root=tempfile.mkdtemp(prefix="session-write-"))
    spark = build_spark("session_write", cfg)
    rows: list[dict[str, Any]] = []
    try:
        for size in args.sizes:
            work = Path(tempfile.mkdtemp(prefix=f"session-write-{size}-"))
            t = time.monotonic()
            table_dir = work / "lake"
            stored = build_table(str(table_dir / "tables" / "playback_session"), size,
                                 args.chunk, args.seed)  # fmt: skip
            log.info("built %d sessions in %.1fs", size, time.monotonic() - t)
            for name in args.engines:
                rows.extend(measure(spark, name, table_dir, size, stored, args))
                print(markdown(rows), flush=True)
            shutil.rmtree(work, ignore_errors=True)
    finally:
        spark.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "session_write.json").write_text(json.dumps(rows, indent=2))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
