"""Time to train and generate recommendations, with peak memory, at two scales.

* ``corpus``: the 32 real households (../shared/data/viewing-activity-corpus, read directly);
* ``synthetic``: N profiles (default 100 000) x ~``--titles-per-profile`` titles drawn from a
  Zipf-like catalogue of ``--catalog`` titles (a direct synthetic interactions frame, seeded).

For each: item_cosine edges, ALS fit + top-20 per profile (``--als-edges`` adds its LSH item
neighbours: on unit factors of rank 32 nearly all titles share a bucket, so that join is
close to all title pairs and dominates everything else), then home-list generation (item-kNN
scores over every profile, seen titles excluded, top 20). Spark work is forced with
``count()``. Peak memory = the JVM's VmHWM (high-water RSS) and the Python driver's max RSS;
the 1-minute load average at the end of each dataset is printed (the machine may be shared).

Usage::

    python bench/recommend_scale.py --profiles 100000
    python bench/recommend_scale.py --skip-corpus --profiles 10000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "data" / "viewing-activity-corpus"


def jvm_peak_mb(spark) -> float:
    pid = spark._jvm.java.lang.ProcessHandle.current().pid()
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def synthetic(spark, profiles: int, per_profile: int, titles: int, seed: int):
    """profile_id, title_id, last_ts, confidence: Zipf-like title popularity, seeded."""
    from pyspark.sql import functions as F

    base = spark.range(profiles * per_profile).select(
        (F.col("id") % profiles).alias("profile_id"),
        F.rand(seed).alias("u"),
        F.rand(seed + 1).alias("c"),
        F.col("id").alias("n"),
    )
    # inverse-CDF of a power law on [1, titles]: popular titles get most views
    title = F.floor(F.pow(F.lit(float(titles)), F.col("u") * F.col("u"))).cast("long")
    ts = F.timestamp_seconds(F.lit(1_700_000_000) + (F.col("n") * 37) % 86_400_000)
    return (
        base.select(
            "profile_id",
            title.alias("title_id"),
            ts.alias("last_ts"),
            (F.col("c") * 3).alias("confidence"),
        )
        .groupBy("profile_id", "title_id")
        .agg(F.max("last_ts").alias("last_ts"), F.sum("confidence").alias("confidence"))
    )


def corpus_train(spark):
    from pyspark.sql import functions as F
    from pyspark.sql.types import LongType

    from jobs.core.recommend.corpus import read_corpus
    from jobs.core.rules.ids import stable_id

    tid = F.udf(lambda s: stable_id("title", s), LongType())
    raw = read_corpus(spark, CORPUS).withColumn("title_id", tid("normalized_title"))
    return raw.groupBy("profile_id", "title_id").agg(
        F.max("event_ts").alias("last_ts"), F.log1p(F.count(F.lit(1))).alias("confidence")
    )


def run(spark, name: str, train, s, als_edges: bool = False) -> dict:
    from jobs.core.recommend import lists, similarity

    t0 = time.monotonic()
    train = train.cache()
    rows, n_profiles = train.count(), train.select("profile_id").distinct().count()
    t_load = time.monotonic() - t0
    t0 = time.monotonic()
    edges = similarity.item_cosine_edges(
        train, s.item_cosine, s.training.max_titles_per_profile
    ).cache()
    n_edges = edges.count()
    t_cos = time.monotonic() - t0
    t0 = time.monotonic()
    model, users, items = similarity.fit_als(train, s.als)
    n_als = model.recommendForAllUsers(s.lists.size).count()
    t_als = time.monotonic() - t0
    print(f"{name}: load {t_load:.0f} s, item_cosine {t_cos:.0f} s, als {t_als:.0f} s", flush=True)
    if als_edges:
        t0 = time.monotonic()
        n_als = similarity.als_item_edges(model, items, s.als).count()
        print(f"{name}: als item edges {time.monotonic() - t0:.0f} s", flush=True)
    t0 = time.monotonic()
    hist = lists.history_weights(train, s.training.recency_tau_titles)
    cand = lists.neighbour_scores(hist, edges, s.lists.candidates, train)
    home = lists.top_n(cand, s.lists.size)
    n_home = home.count()
    t_gen = time.monotonic() - t0
    return {
        "dataset": name,
        "profiles": n_profiles,
        "interactions": rows,
        "load_s": round(t_load, 1),
        "item_cosine_s": round(t_cos, 1),
        "item_cosine_edges": n_edges,
        "als_fit_top20_s": round(t_als, 1),
        "als_top20_profiles": n_als,
        "generate_home_s": round(t_gen, 1),
        "home_rows": n_home,
        "jvm_peak_mb": round(jvm_peak_mb(spark)),
        "load_avg_1m": round(os.getloadavg()[0], 1),
        "python_peak_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--profiles", type=int, default=100_000)
    p.add_argument("--titles-per-profile", type=int, default=30)
    p.add_argument("--catalog", type=int, default=5_000)
    p.add_argument("--skip-corpus", action="store_true")
    p.add_argument(
        "--als-edges",
        action="store_true",
        help="also time the ALS item neighbours (LSH join; near-quadratic in titles)",
    )
    p.add_argument("--env", default="local")
    args = p.parse_args(argv)
    from jobs.core.runtime.config import load_config
    from jobs.core.runtime.spark import build_spark

    cfg = load_config(args.env, lake_root="/tmp/recommend-bench")
    s = cfg.recommend
    spark = build_spark("recommend_scale", cfg)
    out = []
    if not args.skip_corpus:
        out.append(run(spark, "corpus (32 households)", corpus_train(spark), s, args.als_edges))
        print(json.dumps(out[-1]), flush=True)
    syn = synthetic(spark, args.profiles, args.titles_per_profile, args.catalog, 3)
    out.append(run(spark, f"synthetic {args.profiles:,} profiles", syn, s, args.als_edges))
    print(json.dumps(out[-1]), flush=True)
    cols = list(out[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in out:
        print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
