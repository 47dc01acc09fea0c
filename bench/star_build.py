"""Star-schema and viewing-activity build time vs events: full, incremental, no-op.

For each size: generate landing files (``jobs.generate_events``, seeded), ingest them
(``--once``), then time in fresh processes

* the **full** builds: ``jobs.build_star_schema`` and ``jobs.build_viewing_activity``;
* the **incremental** builds after a further 10% of events (another seed) is ingested;
* the **no-op** reruns with nothing new.

Prints a markdown table and writes JSON + PNG under bench/results/.

Usage::

    python bench/star_build.py --sizes 200000 1000000
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


CREATE_ALL = """
import sys
from jobs.core.runtime.config import load_config
from jobs.core.storage.delta import get_engine
from jobs.core.runtime.spark import build_spark
cfg = load_config("local", lake_root=sys.argv[1])
get_engine(build_spark("create_all", cfg), cfg).create_all()
"""


def timed(args: list[str], lake: Path) -> float:
    """Wall seconds of ``python -m ARGS --env local --lake-root LAKE`` (raises on failure)."""
    start = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", *args, "--env", "local", "--lake-root", str(lake)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return round(time.monotonic() - start, 1)


def generate(lake: Path, events: int, seed: int, prefix_files: int) -> None:
    subprocess.run(
        [sys.executable, "-m", "jobs.generate_events", "--events", str(events), "--files", str(prefix_files),
         "--seed", str(seed), "--lake-root", str(lake), "--env", "local"],
        cwd=ROOT, check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip


def measure(events: int, work: Path) -> dict:
    """Full, incremental and no-op build times for one size."""
    lake = work / f"star-{events}"
    shutil.rmtree(lake, ignore_errors=True)
    generate(lake, events, 7, max(1, events // 50_000))
    row: dict = {"events": events}
    row["ingest_s"] = timed(["jobs.ingest_playback_events", "--once"], lake)
    # generated events have no account/profile/title rows: empty dimensions (facts then
    # point to the unknown members, which is the path the timing should cover anyway)
    subprocess.run(
        [sys.executable, "-c", CREATE_ALL, str(lake)], cwd=ROOT, check=True, capture_output=True
    )
    row["star_full_s"] = timed(["jobs.build_star_schema", "--as-of", "latest"], lake)
    row["activity_full_s"] = timed(["jobs.build_viewing_activity", "--as-of", "latest"], lake)
    generate(lake, max(1, events // 10), 8, max(1, events // 500_000))
    row["ingest_increment_s"] = timed(["jobs.ingest_playback_events", "--once"], lake)
    row["star_incremental_s"] = timed(["jobs.build_star_schema", "--as-of", "latest"], lake)
    row["activity_incremental_s"] = timed(
        ["jobs.build_viewing_activity", "--as-of", "latest"], lake
    )
    row["star_noop_s"] = timed(["jobs.build_star_schema", "--as-of", "latest"], lake)
    row["activity_noop_s"] = timed(["jobs.build_viewing_activity", "--as-of", "latest"], lake)
    shutil.rmtree(lake, ignore_errors=True)
    return row


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = [r["events"] / 1e6 for r in rows]
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in (
        ("star_full_s", "star, full"),
        ("star_incremental_s", "star, +10%"),
        ("star_noop_s", "star, nothing new"),
        ("activity_full_s", "activity, full"),
        ("activity_incremental_s", "activity, +10%"),
        ("activity_noop_s", "activity, nothing new"),
    ):
        ax.plot(xs, [r[key] for r in rows], "o-", label=label)
    ax.set_xlabel("events (millions)")
    ax.set_ylabel("wall seconds (incl. JVM start)")
    ax.set_title("batch builds (local[*], 2 cores)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[200_000, 1_000_000])
    parser.add_argument(
        "--work-dir", default=str(Path(tempfile.gettempdir()) / "viewing-lakehouse-star-bench")
    )
    args = parser.parse_args(argv)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    for size in args.sizes:
        rows.append(measure(size, work))
        print(json.dumps(rows[-1]), file=sys.stderr)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"star_build-{stamp}.json").write_text(json.dumps(rows, indent=2))
    plot(rows, RESULTS / f"star_build-{stamp}.png")
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(f"{r[c]:,}" if c == "events" else str(r[c]) for c in cols) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
