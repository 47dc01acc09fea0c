"""Viewing-activity build time: first run, an incremental run, a full refresh.

The activity build recomputes only the profiles its sources' change data feeds name
(``jobs/core/activity/scope.py``). This bench writes star tables directly (a catalogue
of films and series, one device, ``--profiles`` profiles with ``--sessions-per-profile``
fact rows each, spread over a year), then times in one process on each engine:

* **first**: the first build (every profile);
* **incremental**: after new sessions are appended for ``--changed-pct`` of the profiles;
* **full refresh**: after a second increment of the same size, ``--full-refresh``
  (every profile recomputed, the same kind of writes): what the run after such a change
  cost before the build was incremental;
* **no-op**: a rerun with nothing new.

Prints a markdown table and writes JSON under bench/results/.

Usage::

    python bench/activity_build.py --profiles 20000 100000 --engines rust spark
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
RESULTS = ROOT / "bench" / "results"
AS_OF = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
SERIES, SEASONS, EPISODES, FILMS = 200, 2, 10, 1000


def catalogue(spark):
    """``dim_movies``: SERIES series of SEASONS x EPISODES episodes, and FILMS films."""
    from pyspark.sql import functions as F

    from jobs.core.tables.registry import conform

    n_eps = SERIES * SEASONS * EPISODES
    eps = spark.range(n_eps).select(
        (F.lit(1_000_000) + F.col("id")).alias("content_key"),
        (F.lit(500_000) + F.col("id") % SERIES).alias("title_id"),
        (F.floor(F.col("id") / SERIES) % SEASONS + 1).cast("int").alias("season_number"),
        (F.floor(F.col("id") / (SERIES * SEASONS)) + 1).cast("int").alias("episode_number"),
    )
    eps = eps.select(
        "*",
        F.col("content_key").alias("episode_id"),
        F.lit("EPISODE").alias("content_type"),
        F.concat(F.lit("Series "), F.col("title_id")).alias("title_name"),
        F.lit(SEASONS).alias("number_of_seasons"),
        F.lit(2700).alias("runtime_sec"),
    )
    films = spark.range(1, FILMS + 1).select(
        F.col("id").alias("content_key"),
        F.col("id").alias("title_id"),
        F.lit(None).cast("long").alias("episode_id"),
        F.lit("MOVIE").alias("content_type"),
        F.concat(F.lit("Film "), F.col("id")).alias("title_name"),
        F.lit(6600).alias("runtime_sec"),
    )
    rows = eps.unionByName(films, allowMissingColumns=True).select(
        "*",
        (F.col("content_key") + 10_000_000).alias("movie_key"),
        F.lit("Dramas, Thrillers").alias("genres"),
        F.lit("source").alias("runtime_source"),
        F.lit("matched").alias("catalog_match"),
        F.lit(None).cast("string").alias("episode_title"),
        F.lit(2020).alias("release_year"),
        F.lit("TV-14").alias("rating"),
        F.lit(None).cast("string").alias("catalog_show_id"),
    )
    return conform(rows, "dim_movies")


def facts(spark, profiles: int, per_profile: int, seed: int, only_every: int = 1):
    """``fact_watch_history`` rows: ``per_profile`` sessions of every ``only_every``-th
    profile, items and times drawn from ``seed``."""
    from pyspark.sql import functions as F

    from jobs.core.tables.registry import conform

    n_eps = SERIES * SEASONS * EPISODES
    r = spark.range(profiles * per_profile).select(
        (F.col("id") % profiles).alias("profile_id"),
        F.col("id"),
        F.rand(seed).alias("u"),
        F.rand(seed + 1).alias("v"),
    )
    r = r.where(F.col("profile_id") % only_every == 0)
    item = F.when(F.col("u") < 0.3, F.floor(F.col("v") * FILMS) + 1).otherwise(
        F.lit(1_000_000) + F.floor(F.col("v") * n_eps)
    )
    start = F.timestamp_seconds(
        F.lit(int(AS_OF.timestamp()) - 365 * 86400) + F.floor(F.rand(seed + 2) * 365 * 86400)
    )
    minutes = (F.floor(F.rand(seed + 3) * 50) + 5).cast("long")
    progress = F.least(F.lit(100.0), F.round(F.rand(seed + 4) * 130, 1))
    rows = r.select(
        F.concat(F.lit(f"s{seed}-"), F.col("id")).alias("session_id"),
        F.lit(1).cast("long").alias("user_key"),
        (item + 10_000_000).cast("long").alias("movie_key"),
        F.lit(1).cast("long").alias("device_key"),
        F.date_format(start, "yyyyMMdd").cast("int").alias("date_key"),
        "profile_id",
        item.cast("long").alias("content_key"),
        start.alias("started_at"),
        (start + F.make_interval(mins=minutes.cast("int"))).alias("ended_at"),
        (minutes * 60).alias("watch_seconds"),
        F.lit(0).alias("start_position_sec"),
        (progress * 27).cast("int").alias("end_position_sec"),
        progress.alias("progress_pct"),
        (progress >= 90).alias("is_finished"),
        F.lit(False).alias("is_autoplay"),
        F.lit("KE").alias("country_code"),
        F.lit(3).cast("long").alias("event_count"),
        (start + F.make_interval(mins=minutes.cast("int"))).alias("last_event_at"),
    )
    return conform(rows, "fact_watch_history")


def measure(
    spark, engine_name: str, profiles: int, per_profile: int, changed_pct: float, work: Path
):
    """One size on one engine: the four timings and the profiles recomputed."""
    from jobs.core.activity.build import build
    from jobs.core.runtime.config import load_config
    from jobs.core.storage.delta import RustDeltaEngine, SparkDeltaEngine
    from jobs.core.tables.registry import get_spec

    lake = work / f"activity-{engine_name}-{profiles}"
    shutil.rmtree(lake, ignore_errors=True)
    cfg = load_config("local", lake_root=str(lake))
    engine = {"rust": RustDeltaEngine, "spark": SparkDeltaEngine}[engine_name](spark, cfg)
    for name in ("dim_movies", "dim_device", "fact_watch_history"):
        engine.create(get_spec(name))
    engine.append("dim_movies", catalogue(spark))
    engine.append(
        "dim_device",
        spark.createDataFrame([(1, "d1", 10, "TV", "Smart TV")], get_spec("dim_device").schema),
    )
    engine.append("fact_watch_history", facts(spark, profiles, per_profile, seed=1))
    row: dict = {"engine": engine_name, "profiles": profiles, "sessions": profiles * per_profile}

    def timed(key: str, **kwargs) -> dict:
        start = time.monotonic()
        report = build(engine, as_of=AS_OF, **kwargs)
        row[f"{key}_s"] = round(time.monotonic() - start, 1)
        return report

    timed("first")
    every = max(1, round(100 / changed_pct))
    engine.append("fact_watch_history", facts(spark, profiles, 2, seed=9, only_every=every))
    report = timed("incremental")
    row["profiles_recomputed"] = report["profiles_recomputed"]
    # the same kind of change again, recomputed for every profile (the build before it
    # was incremental): the same writes, every profile read and recomputed
    engine.append("fact_watch_history", facts(spark, profiles, 2, seed=10, only_every=every))
    timed("full_refresh", full_refresh=True)
    timed("noop")
    row["viewing_record_rows"] = engine.read("viewing_record").count()
    spark.catalog.clearCache()
    shutil.rmtree(lake, ignore_errors=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--sessions-per-profile", type=int, default=20)
    parser.add_argument("--changed-pct", type=float, default=1.0)
    parser.add_argument("--engines", nargs="+", default=["rust"], choices=["rust", "spark"])
    parser.add_argument(
        "--work-dir", default=str(Path(tempfile.gettempdir()) / "viewing-lakehouse-activity-bench")
    )
    args = parser.parse_args(argv)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    from jobs.core.runtime.config import load_config
    from jobs.core.runtime.spark import build_spark

    spark = build_spark("bench_activity_build", load_config("local"))
    rows = []
    for engine_name in args.engines:
        for n in args.profiles:
            rows.append(
                measure(spark, engine_name, n, args.sessions_per_profile, args.changed_pct, work)
            )
            print(json.dumps(rows[-1]), file=sys.stderr)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"activity_build-{stamp}.json").write_text(json.dumps(rows, indent=2))
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print(
            "| "
            + " | ".join(f"{r[c]:,}" if isinstance(r[c], int) else str(r[c]) for c in cols)
            + " |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
