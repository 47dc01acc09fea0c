"""Ingest throughput beside a plain-Spark baseline, on the same generated files.

For each size (events), generates landing files once (``jobs.generate_events``, seeded;
kept under ``--data-dir`` for reuse), then runs in separate processes, one after the
other:

* **baseline** — ``readStream.json`` with the landing schema → ``writeStream.parquet``
  partitioned by ``dt`` and ``country_code`` (availableNow): no validation, no dedupe,
  no merge, no Delta;
* **ingest** — ``python -m jobs.ingest_playback_events --once``: the real job, once per
  Delta engine in ``--engines`` (``rust`` = delta-rs, ``spark`` = delta-spark, which needs
  the connector jars: ``DELTA_JARS_DIR``, default ``../shared/delta-spark-jars``).

All use the same ``maxFilesPerTrigger``. Reports events/s, the cost ratio
(ingest seconds / baseline seconds) and the peak RSS of the driver process tree
(Python + JVM). Prints a markdown table and writes JSON and a PNG under bench/results/.

Usage::

    python bench/ingest_throughput.py --sizes 1000000 5000000 --engines rust spark
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def _tree_rss_kb(pid: int) -> int:
    """Resident memory (kB) of ``pid`` and all its descendants, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        stack.extend(children.get(p, []))
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run_measured(cmd: list[str], env: dict | None = None) -> tuple[float, dict, str]:
    """Run ``cmd``; return (seconds, memory figures, stdout).

    The process's stderr (its log) is kept under the figures' ``"log"`` key.

    Memory, sampled every 0.5 s from /proc: ``peak_mb`` of the whole process tree,
    ``python_peak_mb`` (the driver's Python process) and ``jvm_peak_mb`` (its
    descendants: the JVM), and ``series`` — ``[seconds since start, tree MB]`` — so a
    plateau (memory bounded by the micro-batch, not the input) can be seen.
    """
    start = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    mem = {"peak_mb": 0, "python_peak_mb": 0, "jvm_peak_mb": 0, "series": []}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            tree, py = _tree_rss_kb(proc.pid) // 1024, _rss_kb(proc.pid) // 1024
            mem["peak_mb"] = max(mem["peak_mb"], tree)
            mem["python_peak_mb"] = max(mem["python_peak_mb"], py)
            mem["jvm_peak_mb"] = max(mem["jvm_peak_mb"], tree - py)
            mem["series"].append([round(time.monotonic() - start, 1), tree])
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    sampler.join()
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err[-3000:]}")
    mem["log"] = err
    return seconds, mem, out


PHASES = ("read", "dedupe", "events", "session", "resume")
_BATCH_LINE = re.compile(
    r"batch (\d+): .* ([0-9.]+)s \[read ([0-9.]+)s, dedupe ([0-9.]+)s, events ([0-9.]+)s, "
    r"session ([0-9.]+)s, resume ([0-9.]+)s\]"
)


def batch_phases(log_text: str) -> dict[str, float]:
    """Where the ingest's time went, summed over its micro-batch log lines.

    ``jobs.core.ingest.batch_writer.log_batch`` ends each line with the batch's seconds and
    ``[read, dedupe, events, session, resume]`` (the three writes may overlap on small
    batches). Returns ``batches``, ``batch_seconds`` and one total per phase (seconds).
    """
    out = {"batches": 0.0, "batch_seconds": 0.0, **{p: 0.0 for p in PHASES}}
    for m in _BATCH_LINE.finditer(log_text):
        out["batches"] += 1
        out["batch_seconds"] += float(m.group(2))
        for phase, value in zip(PHASES, m.groups()[2:], strict=True):
            out[phase] += float(value)
    return {k: round(v, 1) for k, v in out.items()}


BASELINE = r"""
import sys
from pyspark.sql import functions as F
from jobs.core.runtime.config import load_config
from jobs.core.runtime.spark import build_spark
from jobs.core.tables.registry import LANDING_EVENT_SCHEMA
landing, out, ck, files = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
cfg = load_config("local", lake_root=out)
spark = build_spark("baseline", cfg)
q = (spark.readStream.schema(LANDING_EVENT_SCHEMA).option("maxFilesPerTrigger", files)
     .option("pathGlobFilter", "*.jsonl").json(landing)
     .withColumn("dt", F.to_date("event_time"))
     .writeStream.format("parquet").partitionBy("dt", "country_code")
     .option("checkpointLocation", ck).trigger(availableNow=True).start(out + "/parquet"))
q.awaitTermination()
print(sum(p["numInputRows"] for p in q.recentProgress))
spark.stop()
"""


def ensure_data(data_dir: Path, events: int, files: int, seed: int) -> Path:
    """Generated landing files for ``events`` (reused when already there)."""
    target = data_dir / f"events-{events}-files-{files}-seed-{seed}"
    done = target / "_DONE"
    if not done.exists():
        shutil.rmtree(target, ignore_errors=True)
        subprocess.run(
            [sys.executable, "-m", "jobs.generate_events", "--events", str(events), "--files", str(files),
             "--seed", str(seed), "--landing-dir", str(target / "landing"), "--lake-root", str(target)],
            cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        done.write_text("ok")
    return target / "landing"


def measure(
    events: int,
    files: int,
    per_trigger: int,
    seed: int,
    data_dir: Path,
    work: Path,
    engines: list[str],
) -> list[dict]:
    """Baseline, then the ingest on each engine, on the same files; one row per engine."""
    landing = ensure_data(data_dir, events, files, seed)
    env = {**os.environ, "SPARK_LOG_LEVEL": "ERROR"}
    base_dir = work / f"baseline-{events}"
    shutil.rmtree(base_dir, ignore_errors=True)
    b_sec, b_mem, b_out = run_measured(
        [
            sys.executable,
            "-c",
            BASELINE,
            str(landing),
            str(base_dir),
            str(base_dir / "_ck"),
            str(per_trigger),
        ],
        env,
    )
    lines = int(b_out.strip().splitlines()[-1])
    shutil.rmtree(base_dir, ignore_errors=True)
    baseline = {"seconds": b_sec, "mem": b_mem, "lines": lines}
    return [
        _ingest(engine, events, files, per_trigger, landing, work, env, baseline)
        for engine in engines
    ]


def link_landing(source: Path, target: Path) -> None:
    """Hard-link (else copy) the generated landing files into ``target``.

    The ingest archives the landing files it processed (``ingest.landing_cleanup``): a
    symlinked landing dir would lose the generated files to the first run, leaving the
    next engine (and every later run on the cached data) nothing to read.
    """
    target.mkdir(parents=True, exist_ok=True)
    for f in sorted(source.iterdir()):
        try:
            os.link(f, target / f.name)
        except OSError:
            shutil.copy2(f, target / f.name)


def _ingest(engine, events, files, per_trigger, landing, work, env, baseline) -> dict:
    """One ``--once`` ingest of ``landing`` on ``engine``; the figures beside the baseline's."""
    b_sec, b_mem, lines = baseline["seconds"], baseline["mem"], baseline["lines"]
    lake = work / f"ingest-{events}-{engine}"
    shutil.rmtree(lake, ignore_errors=True)
    link_landing(landing, lake / "landing")
    i_sec, i_mem, _ = run_measured(
        [sys.executable, "-m", "jobs.ingest_playback_events", "--once", "--env", "local", "--lake-root", str(lake),
         "--max-files-per-trigger", str(per_trigger)],
        {**env, "DELTA_ENGINE": engine, "LAKEHOUSE_DELTA_ENGINE": engine},
    )  # fmt: skip
    shutil.rmtree(lake, ignore_errors=True)
    return {
        "engine": engine,
        "events": events,
        "lines": lines,
        "files": files,
        "max_files_per_trigger": per_trigger,
        "baseline_seconds": round(b_sec, 1),
        "baseline_events_per_sec": round(lines / b_sec),
        "baseline_peak_rss_mb": b_mem["peak_mb"],
        "ingest_seconds": round(i_sec, 1),
        "ingest_events_per_sec": round(lines / i_sec),
        "ingest_peak_rss_mb": i_mem["peak_mb"],
        "ingest_python_peak_mb": i_mem["python_peak_mb"],
        "ingest_jvm_peak_mb": i_mem["jvm_peak_mb"],
        # median tree RSS over the first and the second half of the run: equal when
        # memory is bounded by the micro-batch rather than growing with the input
        "ingest_rss_first_half_mb": _half_median(i_mem["series"], first=True),
        "ingest_rss_second_half_mb": _half_median(i_mem["series"], first=False),
        "cost_ratio": round(i_sec / b_sec, 2),
        # the profile: seconds per phase over all micro-batches; the rest of the run is
        # JVM start, planning and the end-of-run compaction
        "phases": batch_phases(i_mem["log"]),
        "ingest_rss_series": i_mem["series"],
    }


def _half_median(series: list[list[float]], first: bool) -> int:
    """Median MB of the samples in the first (or second) half of a run."""
    if not series:
        return 0
    mid = series[-1][0] / 2
    values = [mb for t, mb in series if (t <= mid) == first]
    return int(statistics.median(values)) if values else 0


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b, c) = plt.subplots(1, 3, figsize=(15, 4))
    base = {r["events"]: r for r in rows}  # the baseline is the same for every engine
    xs = [e / 1e6 for e in sorted(base)]
    a.plot(
        xs,
        [base[e]["baseline_events_per_sec"] for e in sorted(base)],
        "o-",
        label="baseline json→parquet",
    )
    b.plot(xs, [base[e]["baseline_peak_rss_mb"] for e in sorted(base)], "o-", label="baseline")
    for engine in sorted({r["engine"] for r in rows}):
        mine = sorted((r for r in rows if r["engine"] == engine), key=lambda r: r["events"])
        ex = [r["events"] / 1e6 for r in mine]
        a.plot(ex, [r["ingest_events_per_sec"] for r in mine], "o-", label=f"ingest ({engine})")
        b.plot(ex, [r["ingest_peak_rss_mb"] for r in mine], "o-", label=f"ingest ({engine})")
        for r in mine:
            series = r.get("ingest_rss_series") or []
            c.plot([t for t, _ in series], [mb for _, mb in series],
                   label=f"{engine} {r['events'] / 1e6:g} M")  # fmt: skip
    a.set_xlabel("events (millions)")
    a.set_ylabel("events/s")
    a.legend()
    a.set_title("throughput (local[2])")
    b.set_xlabel("events (millions)")
    b.set_ylabel("peak RSS MB (driver + JVM)")
    b.legend()
    b.set_title("memory")
    c.set_xlabel("seconds into the ingest")
    c.set_ylabel("RSS MB (driver + JVM)")
    c.legend()
    c.set_title("ingest memory over the run")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 5_000_000])
    parser.add_argument("--events-per-file", type=int, default=50_000)
    parser.add_argument("--max-files-per-trigger", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--engines", nargs="+", choices=["rust", "spark"], default=["rust"],
        help="Delta engines to run the ingest on, one after the other (default: rust)",
    )  # fmt: skip
    parser.add_argument(
        "--data-dir", default=str(Path(tempfile.gettempdir()) / "viewing-lakehouse-bench")
    )
    args = parser.parse_args(argv)
    if "spark" in args.engines and not os.environ.get("DELTA_JARS_DIR"):
        jars = ROOT.parent / "shared" / "delta-spark-jars"
        if not jars.is_dir():
            parser.error("--engines spark needs the delta-spark jars: set DELTA_JARS_DIR")
        os.environ["DELTA_JARS_DIR"] = str(jars)
    data_dir = Path(args.data_dir)
    work = data_dir / "work"
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in args.sizes:
        files = max(1, size // args.events_per_file)
        got = measure(
            size, files, args.max_files_per_trigger, args.seed, data_dir, work, args.engines
        )
        rows.extend(got)
        for row in got:
            summary = {k: v for k, v in row.items() if k != "ingest_rss_series"}
            print(json.dumps(summary), file=sys.stderr)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"ingest_throughput-{stamp}.json").write_text(json.dumps(rows, indent=2))
    plot(rows, RESULTS / f"ingest_throughput-{stamp}.png")
    print(
        "| events | engine | baseline s | baseline ev/s | ingest s | ingest ev/s | cost ratio "
        "| baseline RSS MB | ingest RSS MB (Python + JVM) | ingest RSS 1st / 2nd half MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['events']:,} | {r['engine']} | {r['baseline_seconds']} | {r['baseline_events_per_sec']:,} "
            f"| {r['ingest_seconds']} | {r['ingest_events_per_sec']:,} | {r['cost_ratio']}× "
            f"| {r['baseline_peak_rss_mb']} | {r['ingest_peak_rss_mb']} "
            f"({r['ingest_python_peak_mb']} + {r['ingest_jvm_peak_mb']}) "
            f"| {r['ingest_rss_first_half_mb']} / {r['ingest_rss_second_half_mb']} |"
        )
    print("\nWhere the ingest's time went (seconds summed over micro-batches):\n")
    print("| events | engine | run s | batches | in batches s | " + " | ".join(PHASES) + " |")
    print("|---|---|---|---|---|" + "---|" * len(PHASES))
    for r in rows:
        ph = r["phases"]
        print(
            f"| {r['events']:,} | {r['engine']} | {r['ingest_seconds']} | {ph['batches']:.0f} "
            f"| {ph['batch_seconds']} | " + " | ".join(str(ph[p]) for p in PHASES) + " |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
