"""Freshness of ``resume_state``: lag from a HEARTBEAT's arrival in landing to its position.

For each target rate (events/s), in a fresh lake:

1. starts the continuous ingest in a subprocess, ``python -m jobs.ingest_playback_events
   --env local --lake-root LAKE`` (processing-time trigger ``ingest.trigger_interval``;
   ``--trigger-interval`` overrides it through a copy of ``conf/`` named by
   ``LAKEHOUSE_CONF_DIR``), and waits until a warm-up file is visible in
   ``resume_state`` (JVM start and first batch are not measured);
2. feeds landing files at the rate for ``--seconds``: every ``--file-interval`` seconds
   one JSON Lines file of HEARTBEATs, written to a hidden temp name and renamed (atomic);
   the arrival time is taken right after the rename. The feed models the design's
   load: ``rate × heartbeat_sec`` concurrent sessions, one profile and title each,
   visited round-robin, so every session sends one HEARTBEAT per ``heartbeat_sec`` and
   its position grows by ``heartbeat_sec`` each time (positions are monotonic per key);
3. stops feeding, waits (``--drain-timeout``) for the last file to be visible, stops the
   ingest (SIGINT, then SIGKILL of its process group after ``--stop-timeout``);
4. attributes files to commits offline: for each ``resume_state`` version, in order, a
   file is visible once the rows of its first and last HEARTBEAT show a position at least
   the one it sent. Its lag is the mtime of that version's ``_delta_log`` entry (when the
   commit became readable) minus the file's arrival. A file is read whole by one
   micro-batch, so every HEARTBEAT of a file has the file's lag; percentiles are over
   HEARTBEATs (files weighted by their event count).

5. the **baseline**: the same feed (same rate, files and trigger interval, same
   ``maxFilesPerTrigger``) into plain ``readStream.json → writeStream.parquet``
   partitioned by ``dt``, ``country_code`` (no validation, dedupe, merge or Delta) in a
   fresh process; a file's lag is the mtime of the sink's ``_spark_metadata/<batch>``
   commit of the micro-batch that read it (from the source's checkpoint log) minus its
   arrival. ``--no-baseline`` skips it.

Reports per rate: p50/p99/max lag, the baseline's p50/p99 and the p99 ratio, the achieved feed rate, files never seen within the
drain timeout (their lag counted as a lower bound, ``censored``), and the ingest's
micro-batches (count, median seconds and rows, parsed from its log). Prints a markdown
table; writes JSON and a PNG under bench/results/.

Usage::

    python bench/freshness.py                                   # 5 K, 20 K, 50 K events/s, 60 s each
    python bench/freshness.py --rates 2000 5000 --seconds 45 --trigger-interval "2 seconds"
    python bench/freshness.py --rates 20000 --engines rust spark   # both engines, one run
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
COUNTRIES = ("US", "BR", "GB", "DE", "IN", "KR", "GT", "KE", "CA")
_BATCH_LOG = re.compile(r"batch (\d+): rows_in=(\d+) .*? ([\d.]+)s \[read")


def conf_overlay(target: Path, trigger_interval: str | None, write_path: str | None = None) -> Path:
    """A copy of the project's ``conf/`` with ingest and resume settings set in ``local.yaml``.

    Args:
        target: folder to create (replaced when it exists).
        trigger_interval: Spark interval string, e.g. ``"2 seconds"``; None keeps conf's.
        write_path: ``resume.write_path`` (``change_log`` or ``merge``); None keeps conf's.

    Returns:
        The folder, to pass as ``LAKEHOUSE_CONF_DIR``.
    """
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(ROOT / "conf", target)
    local = target / "local.yaml"
    data = yaml.safe_load(local.read_text(encoding="utf-8")) or {}
    if trigger_interval:
        data.setdefault("ingest", {})["trigger_interval"] = trigger_interval
    if write_path:
        data.setdefault("resume", {})["write_path"] = write_path
    local.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return target


def visible_table(conf: Path) -> str:
    """The table a HEARTBEAT's position first shows in under ``conf``'s write path.

    ``resume_state_change`` (the per-micro-batch append that readers merge with
    ``resume_state``) on the change-log path, ``resume_state`` on the merge path.
    """
    data = yaml.safe_load((conf / "base.yaml").read_text(encoding="utf-8")) or {}
    local = yaml.safe_load((conf / "local.yaml").read_text(encoding="utf-8")) or {}
    path = {**data.get("resume", {}), **local.get("resume", {})}.get("write_path", "merge")
    return "resume_state_change" if path == "change_log" else "resume_state"


@dataclass
class HeartbeatFeed:
    """Round-robin HEARTBEATs of ``rate × heartbeat_sec`` sessions, in the landing contract.

    Session ``k`` has its own profile (``profile_base + k``) and title, so its
    ``resume_state`` key is unique; its n-th HEARTBEAT has position
    ``start_k + n × heartbeat_sec`` with ``start_k`` in 0–2999 s.
    """

    rate: float
    heartbeat_sec: int = 30
    profile_base: int = 10_000_000
    sent: int = 0

    @property
    def sessions(self) -> int:
        """Concurrent sessions: each sends one HEARTBEAT every ``heartbeat_sec``."""
        return max(1, int(self.rate * self.heartbeat_sec))

    def position(self, k: int, cycle: int) -> int:
        """Position (seconds) of session ``k``'s HEARTBEAT number ``cycle``."""
        return (k * 7919) % 3000 + cycle * self.heartbeat_sec

    def lines(self, n: int, now: dt.datetime) -> tuple[list[str], list[tuple[int, int]]]:
        """The next ``n`` HEARTBEAT lines at ``now`` (UTC).

        Returns:
            The JSON lines, and the probes ``[(profile_id, position_sec)]`` of the first
            and the last line.
        """
        t = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        out, probes = [], []
        pool = self.sessions
        for j in range(self.sent, self.sent + n):
            k, cycle = j % pool, j // pool
            pid, pos = self.profile_base + k, self.position(k, cycle)
            out.append(
                f'{{"session_id":"fresh-{self.profile_base}-{k}","event_time":"{t}",'
                f'"event_type":"HEARTBEAT","position_sec":{pos},"bitrate_kbps":null,'
                f'"account_id":{pid // 4},"profile_id":{pid},"device_id":"dev-{k % 100_000}",'
                f'"title_id":{5_000_000 + k % 7000},"episode_id":null,'
                f'"country_code":"{COUNTRIES[k % len(COUNTRIES)]}","is_supplemental":false,'
                f'"is_autoplay":false,"runtime_sec":86400}}'
            )
            if j in (self.sent, self.sent + n - 1):
                probes.append((pid, pos))
        self.sent += n
        return out, probes


@dataclass
class FedFile:
    """One landing file: name, events, arrival (epoch seconds) and its probes."""

    name: str
    events: int
    arrival: float
    probes: list[tuple[int, int]]
    visible_version: int | None = None
    visible_at: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def write_atomic(folder: Path, name: str, lines: list[str]) -> float:
    """Write ``lines`` to ``folder/name`` via a hidden temp file and a rename.

    Returns:
        The arrival time (``time.time()``, epoch seconds) right after the rename.
    """
    tmp = folder / f".{name}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
        fh.write("\n")
    os.replace(tmp, folder / name)
    return time.time()


def log_versions(table: Path) -> dict[int, float]:
    """``{version: mtime of _delta_log/<version>.json}``, the moment each commit appeared."""
    out = {}
    log_dir = table / "_delta_log"
    if not log_dir.is_dir():
        return out
    for entry in os.scandir(log_dir):
        stem, _, ext = entry.name.partition(".")
        if ext == "json" and stem.isdigit():
            out[int(stem)] = entry.stat().st_mtime
    return out


def positions(table: Path, version: int, profile_ids: list[int]) -> dict[int, int]:
    """``{profile_id: last_position_sec}`` in ``resume_state`` at ``version`` for ``profile_ids``."""
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    data = (
        DeltaTable(str(table), version=version)
        .to_pyarrow_dataset()
        .to_table(
            columns=["profile_id", "last_position_sec"],
            filter=pc.field("profile_id").isin(profile_ids),
        )
    )
    best: dict[int, int] = {}
    for pid, pos in zip(
        data.column("profile_id").to_pylist(),
        data.column("last_position_sec").to_pylist(),
        strict=True,
    ):
        best[pid] = max(best.get(pid, -1), pos)
    return best


def probes_visible(seen: dict[int, int], probes: list[tuple[int, int]]) -> bool:
    """Whether every ``(profile_id, position)`` probe is reflected in ``seen``."""
    return all(seen.get(pid, -1) >= pos for pid, pos in probes)


def wait_visible(
    table: Path, probes: list[tuple[int, int]], timeout: float, proc: subprocess.Popen
) -> int | None:
    """Poll ``resume_state`` versions until ``probes`` are visible.

    Returns:
        The first version that shows them, or None after ``timeout`` seconds or when the
        ingest process exits.
    """
    deadline = time.monotonic() + timeout
    checked = -1
    ids = [p for p, _ in probes]
    while time.monotonic() < deadline and proc.poll() is None:
        versions = log_versions(table)
        latest = max(versions, default=-1)
        if latest > checked:
            checked = latest
            if probes_visible(positions(table, latest, ids), probes):
                return latest
        time.sleep(0.5)
    return None


def attribute(table: Path, files: list[FedFile], from_version: int) -> None:
    """Set ``visible_version``/``visible_at`` of each file from the table's versions."""
    versions = log_versions(table)
    ids = sorted({pid for f in files for pid, _ in f.probes})
    pending = list(files)
    for v in sorted(x for x in versions if x > from_version):
        if not pending:
            break
        seen = positions(table, v, ids)
        still = []
        for f in pending:
            if probes_visible(seen, f.probes):
                f.visible_version, f.visible_at = v, versions[v]
            else:
                still.append(f)
        pending = still


def stop_process(proc: subprocess.Popen, timeout: float) -> str:
    """SIGINT the ingest, then SIGKILL its process group (Python + JVM) after ``timeout``.

    Returns:
        ``"sigint"`` when it stopped cleanly, else ``"sigkill"``.
    """
    how = "sigint"
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            how = "sigkill"
    if how == "sigint":
        for _ in range(20):  # the JVM child may still be shutting down
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.5)
        else:
            how = "sigkill"
    if how == "sigkill":
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    return how


def parse_batches(log_path: Path) -> list[dict[str, float]]:
    """The ingest's micro-batches from its log: ``batch``, ``rows_in``, ``seconds``."""
    if not log_path.exists():
        return []
    text = log_path.read_text(encoding="utf-8", errors="replace")
    return [
        {"batch": int(b), "rows_in": int(r), "seconds": float(s)}
        for b, r, s in _BATCH_LOG.findall(text)
    ]


BASELINE = r"""
import sys
from pyspark.sql import functions as F
from jobs.core.runtime.config import load_config
from jobs.core.runtime.spark import build_spark
from jobs.core.tables.registry import LANDING_EVENT_SCHEMA
landing, out, ck, trigger, files = sys.argv[1:6]
cfg = load_config("local", lake_root=out)
spark = build_spark("freshness-baseline", cfg)
q = (spark.readStream.schema(LANDING_EVENT_SCHEMA).option("maxFilesPerTrigger", int(files))
     .option("pathGlobFilter", "*.jsonl").json(landing)
     .withColumn("dt", F.to_date("event_time"))
     .writeStream.format("parquet").partitionBy("dt", "country_code")
     .option("checkpointLocation", ck).trigger(processingTime=trigger).start(out + "/parquet"))
q.awaitTermination()
"""


def baseline_commits(out: Path) -> dict[str, float]:
    """``{landing file name: commit time}`` of the baseline's file sink.

    The file source's log (``_checkpoint/sources/0/<batch>``, JSON lines with ``path``
    and ``batchId``; compacted every 10 batches) says which micro-batch read a file; the
    sink's ``parquet/_spark_metadata/<batch>`` appears when that batch's files are
    committed (readers list files through it), so its mtime is when the data became
    visible.
    """
    batch_of: dict[str, int] = {}
    src = out / "_checkpoint" / "sources" / "0"
    if src.is_dir():
        for entry in os.scandir(src):
            if entry.name.startswith("."):
                continue
            with open(entry.path, encoding="utf-8") as fh:
                for line in fh.read().splitlines()[1:]:
                    try:
                        rec = json.loads(line)
                    except ValueError:
                        continue
                    batch_of[os.path.basename(rec["path"])] = int(rec["batchId"])
    commits: dict[int, float] = {}
    meta = out / "parquet" / "_spark_metadata"
    if meta.is_dir():
        for entry in os.scandir(meta):
            stem = entry.name.split(".")[0]
            if stem.isdigit() and not entry.name.startswith("."):
                commits[int(stem)] = entry.stat().st_mtime
    return {name: commits[b] for name, b in batch_of.items() if b in commits}


def wait_committed(out: Path, name: str, timeout: float, proc: subprocess.Popen) -> bool:
    """Poll the baseline until landing file ``name`` is committed (False on timeout/exit)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if name in baseline_commits(out):
            return True
        time.sleep(0.5)
    return False


def weighted_percentile(values: list[float], weights: list[int], q: float) -> float:
    """Percentile ``q`` (0–100) of ``values`` repeated ``weights`` times."""
    return float(np.percentile(np.repeat(np.asarray(values), np.asarray(weights)), q))


def run_feed(
    feed: HeartbeatFeed, landing: Path, rate: float, args: argparse.Namespace, warm_n: int
) -> tuple[list[FedFile], float]:
    """Feed ``landing`` on a clock for ``args.seconds``; returns the files and start time."""
    files: list[FedFile] = []
    t0 = time.monotonic()
    feed_start = time.time()
    tick = 0
    while True:
        tick += 1
        due = t0 + tick * args.file_interval
        if due > t0 + args.seconds:
            break
        time.sleep(max(0.0, due - time.monotonic()))
        # on a clock: what is due by now, so a late tick writes a larger file
        n = int(rate * min(time.monotonic() - t0, args.seconds)) - (feed.sent - warm_n)
        if n <= 0:
            continue
        batch, probes = feed.lines(n, _utcnow())
        name = f"feed-{int(rate)}-{tick:06d}.jsonl"
        files.append(FedFile(name, n, write_atomic(landing, name, batch), probes))
    return files, feed_start


def _start_warm(
    cmd: list[str],
    env: dict,
    log_fh: Any,
    feed: HeartbeatFeed,
    landing: Path,
    rate: float,
    args: argparse.Namespace,
) -> tuple[subprocess.Popen, int, list[tuple[int, int]]]:
    """Start ``cmd`` in its own process group and land the warm-up file.

    Returns:
        The process, the warm-up file's event count and its probes.
    """
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=log_fh, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    warm_n = max(1, int(rate * args.file_interval))
    lines, probes = feed.lines(warm_n, _utcnow())
    write_atomic(landing, "warmup-000000.jsonl", lines)
    return proc, warm_n, probes


def measure_rate(
    rate: float, args: argparse.Namespace, work: Path, engine: str = "rust"
) -> dict[str, Any]:
    """One fresh lake and ingest process on ``engine`` at ``rate`` events/s; its figures."""
    lake = work / f"rate-{int(rate)}-{engine}"
    shutil.rmtree(lake, ignore_errors=True)
    landing = lake / "landing"
    landing.mkdir(parents=True)
    conf = conf_overlay(work / "conf", args.trigger_interval, args.write_path)
    table = lake / "tables" / visible_table(conf)
    cmd = [sys.executable, "-m", "jobs.ingest_playback_events", "--env", "local",
           "--lake-root", str(lake)]  # fmt: skip
    if args.max_files_per_trigger:
        cmd += ["--max-files-per-trigger", str(args.max_files_per_trigger)]
    env = {
        **os.environ, "LAKEHOUSE_CONF_DIR": str(conf), "SPARK_LOG_LEVEL": "WARN",
        "DELTA_ENGINE": engine, "LAKEHOUSE_DELTA_ENGINE": engine,
    }  # fmt: skip
    log_path = lake / "ingest.log"
    feed = HeartbeatFeed(rate, args.heartbeat_sec)
    files: list[FedFile] = []
    with open(log_path, "w", encoding="utf-8") as log_fh:
        proc, warm_n, probes = _start_warm(cmd, env, log_fh, feed, landing, rate, args)
        try:
            t_start = time.monotonic()
            warm = wait_visible(table, probes, args.startup_timeout, proc)
            if warm is None:
                raise RuntimeError(
                    f"ingest did not make the warm-up file visible within "
                    f"{args.startup_timeout}s (exit code {proc.poll()}); see {log_path}"
                )
            startup = time.monotonic() - t_start
            print(f"rate {rate:,.0f}: ingest warm after {startup:.1f}s", file=sys.stderr)
            files, feed_start = run_feed(feed, landing, rate, args, warm_n)
            feed_end = time.time()
            last = files[-1] if files else None
            drained = (
                wait_visible(table, last.probes, args.drain_timeout, proc) is not None
                if last
                else True
            )
            drain_end = time.time()
        finally:
            how = stop_process(proc, args.stop_timeout)
    attribute(table, files, warm)
    events = sum(f.events for f in files)
    lags = [(f.visible_at if f.visible_at is not None else drain_end) - f.arrival for f in files]
    weights = [f.events for f in files]
    censored = sum(1 for f in files if f.visible_at is None)
    batches = [b for b in parse_batches(log_path) if b["rows_in"] > 0]
    result = {
        "target_rate": rate,
        "engine": engine,
        "visible_in": table.name,
        "seconds": args.seconds,
        "file_interval": args.file_interval,
        "trigger_interval": args.trigger_interval or _conf_trigger(),
        "max_files_per_trigger": args.max_files_per_trigger,
        "heartbeat_sec": args.heartbeat_sec,
        "sessions": feed.sessions,
        "files": len(files),
        "events": events,
        "fed_events_per_sec": round(events / (files[-1].arrival - feed_start)) if files else 0,
        "startup_seconds": round(startup, 1),
        "lag_p50": round(weighted_percentile(lags, weights, 50), 2) if files else None,
        "lag_p99": round(weighted_percentile(lags, weights, 99), 2) if files else None,
        "lag_max": round(max(lags), 2) if files else None,
        "lag_min": round(min(lags), 2) if files else None,
        "censored_files": censored,
        "drained": drained,
        "drain_seconds": round(drain_end - feed_end, 1),
        "batches": len(batches),
        "batch_median_seconds": (
            statistics.median(b["seconds"] for b in batches) if batches else None
        ),
        "batch_median_rows": statistics.median(b["rows_in"] for b in batches) if batches else None,
        "stopped_by": how,
        "ingest_exit_code": proc.returncode,
        "per_file": [
            {
                "name": f.name,
                "events": f.events,
                "arrival": round(f.arrival, 3),
                "visible_version": f.visible_version,
                "lag": round(lag, 3),
            }
            for f, lag in zip(files, lags, strict=True)
        ],
        "per_batch": batches,
    }
    if not args.keep:
        shutil.rmtree(lake, ignore_errors=True)
    return result


def measure_baseline(rate: float, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """The same feed into plain ``readStream.json → writeStream.parquet`` (no dedupe, merge
    or Delta), with the ingest's trigger interval and ``maxFilesPerTrigger``.

    Returns:
        ``base_lag_p50``, ``base_lag_p99``, ``base_lag_max``, ``base_censored_files``.
    """
    from jobs.core.runtime.config import load_config

    out = work / f"baseline-{int(rate)}"
    shutil.rmtree(out, ignore_errors=True)
    landing = out / "landing"
    landing.mkdir(parents=True)
    trigger = args.trigger_interval or _conf_trigger()
    per_trigger = args.max_files_per_trigger or load_config("local").ingest.max_files_per_trigger
    cmd = [sys.executable, "-c", BASELINE, str(landing), str(out), str(out / "_checkpoint"),
           trigger, str(per_trigger)]  # fmt: skip
    env = {**os.environ, "SPARK_LOG_LEVEL": "WARN"}
    feed = HeartbeatFeed(rate, args.heartbeat_sec)
    with open(out / "baseline.log", "w", encoding="utf-8") as log_fh:
        proc, warm_n, _ = _start_warm(cmd, env, log_fh, feed, landing, rate, args)
        try:
            if not wait_committed(out, "warmup-000000.jsonl", args.startup_timeout, proc):
                raise RuntimeError(
                    f"baseline did not commit the warm-up file within {args.startup_timeout}s "
                    f"(exit code {proc.poll()}); see {out / 'baseline.log'}"
                )
            files, _ = run_feed(feed, landing, rate, args, warm_n)
            drain_end = time.time()
            if files:
                wait_committed(out, files[-1].name, args.drain_timeout, proc)
                drain_end = time.time()
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # nothing to keep: parquet is only timed
            except ProcessLookupError:
                pass
            proc.wait()
    committed = baseline_commits(out)
    lags = [committed.get(f.name, drain_end) - f.arrival for f in files]
    weights = [f.events for f in files]
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
    if not files:
        return {"base_lag_p50": None, "base_lag_p99": None, "base_lag_max": None,
                "base_censored_files": 0}  # fmt: skip
    return {
        "base_lag_p50": round(weighted_percentile(lags, weights, 50), 2),
        "base_lag_p99": round(weighted_percentile(lags, weights, 99), 2),
        "base_lag_max": round(max(lags), 2),
        "base_censored_files": sum(1 for f in files if f.name not in committed),
    }


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _conf_trigger() -> str:
    from jobs.core.runtime.config import load_config

    return load_config("local").ingest.trigger_interval


def plot(rows: list[dict], path: Path) -> None:
    """Lag per file over the run, and p50/p99 vs rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for r in rows:
        pf = r["per_file"]
        if not pf:
            continue
        t0 = pf[0]["arrival"]
        a.plot([f["arrival"] - t0 for f in pf], [f["lag"] for f in pf], ".-",
               label=f"{r['target_rate']:,.0f} ev/s {r.get('engine', 'rust')}")  # fmt: skip
    a.set_xlabel("file arrival (s since feed start)")
    a.set_ylabel("lag to resume_state (s)")
    a.set_title(f"freshness per landing file (trigger {rows[0]['trigger_interval']})")
    a.legend(fontsize=8)
    labels = [f"{r['target_rate'] / 1000:g}K {r.get('engine', 'rust')}" for r in rows]
    xs = np.arange(len(rows))
    b.bar(xs - 0.3, [r["lag_p50"] or 0 for r in rows], 0.2, label="ingest p50")
    b.bar(xs - 0.1, [r["lag_p99"] or 0 for r in rows], 0.2, label="ingest p99")
    b.bar(xs + 0.1, [r.get("base_lag_p50") or 0 for r in rows], 0.2, label="baseline p50")
    b.bar(xs + 0.3, [r.get("base_lag_p99") or 0 for r in rows], 0.2, label="baseline p99")
    b.set_xticks(xs, labels)
    b.set_xlabel("target events/s")
    b.set_ylabel("seconds")
    b.set_title("HEARTBEAT → resume_state lag")
    b.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def markdown(rows: list[dict]) -> str:
    """The results as a markdown table, one line per rate."""
    out = [
        "| target ev/s | engine | fed ev/s | events | files | trigger | p50 s | p99 s | max s "
        "| unseen files | batches | median batch s | median batch rows "
        "| baseline p50 s | baseline p99 s | p99 ratio |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mark = "≥" if r["censored_files"] else ""
        bmark = "≥" if r.get("base_censored_files") else ""
        out.append(
            f"| {r['target_rate']:,.0f} | {r.get('engine', 'rust')} | {r['fed_events_per_sec']:,} | {r['events']:,} | "
            f"{r['files']} | {r['trigger_interval']} | {mark}{r['lag_p50']} | "
            f"{mark}{r['lag_p99']} | {mark}{r['lag_max']} | {r['censored_files']} | "
            f"{r['batches']} | {r['batch_median_seconds']} | {r['batch_median_rows']} | "
            f"{bmark}{r.get('base_lag_p50', '-')} | {bmark}{r.get('base_lag_p99', '-')} | "
            f"{r.get('p99_ratio', '-')}× |"
        )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run every rate, print the table and write JSON + PNG.

    Returns:
        0 on success, 1 when the ingest failed to start, 2 on bad arguments.
    """
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="Example (smoke): python bench/freshness.py --rates 2000 --seconds 45 "
        '--trigger-interval "2 seconds"',
    )
    parser.add_argument(
        "--rates", type=float, nargs="+", default=[5000, 20000, 50000],
        help="target feed rates in events/s (default 5000 20000 50000)",
    )  # fmt: skip
    parser.add_argument(
        "--seconds", type=float, default=60, help="feed time per rate in seconds (default 60)"
    )
    parser.add_argument(
        "--file-interval", type=float, default=0.5,
        help="seconds between landing files (default 0.5)",
    )  # fmt: skip
    parser.add_argument(
        "--trigger-interval", default=None,
        help="override ingest.trigger_interval, e.g. '2 seconds' (default: conf, 5 seconds)",
    )  # fmt: skip
    parser.add_argument(
        "--max-files-per-trigger", type=int, default=None,
        help="override ingest.max_files_per_trigger (default: conf)",
    )  # fmt: skip
    parser.add_argument(
        "--heartbeat-sec", type=int, default=30,
        help="seconds between two HEARTBEATs of a session; sessions = rate × this (default 30)",
    )  # fmt: skip
    parser.add_argument(
        "--startup-timeout", type=float, default=300,
        help="seconds to wait for the ingest to show the warm-up file (default 300)",
    )  # fmt: skip
    parser.add_argument(
        "--drain-timeout", type=float, default=120,
        help="seconds to wait after the feed for the last file to be visible (default 120)",
    )  # fmt: skip
    parser.add_argument(
        "--stop-timeout", type=float, default=60,
        help="seconds between SIGINT and SIGKILL of the ingest (default 60)",
    )  # fmt: skip
    parser.add_argument(
        "--work-dir", default=str(Path(tempfile.gettempdir()) / "viewing-lakehouse-freshness"),
        help="lakes and the conf copy (default: $TMPDIR/viewing-lakehouse-freshness)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep each lake and its ingest.log")
    parser.add_argument(
        "--write-path", choices=["change_log", "merge"], default=None,
        help="override resume.write_path (default: conf, change_log)",
    )  # fmt: skip
    parser.add_argument(
        "--engines", nargs="+", choices=["rust", "spark"], default=["rust"],
        help="Delta engines to run the ingest on, one after the other at each rate "
        "(spark needs DELTA_JARS_DIR or ../shared/delta-spark-jars; default: rust)",
    )  # fmt: skip
    parser.add_argument(
        "--no-baseline", action="store_true",
        help="skip the plain json → parquet stream fed the same way (the baseline)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.file_interval <= 0 or any(r <= 0 for r in args.rates):
        parser.error("--seconds, --file-interval and --rates must be positive")
    if args.seconds > 80_000 or args.heartbeat_sec < 1:
        parser.error(
            "--seconds must stay below 80000 (positions stay under ingest.max_position_sec)"
            " and --heartbeat-sec >= 1"
        )
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    rows = []
    if "spark" in args.engines and not os.environ.get("DELTA_JARS_DIR"):
        jars = ROOT.parent / "shared" / "delta-spark-jars"
        if not jars.is_dir():
            parser.error("--engines spark needs the delta-spark jars: set DELTA_JARS_DIR")
        os.environ["DELTA_JARS_DIR"] = str(jars)
    for rate in args.rates:
        base: dict[str, Any] = {}
        for engine in args.engines:
            try:
                row = measure_rate(rate, args, work, engine)
                if not args.no_baseline:
                    base = base or measure_baseline(rate, args, work)  # once per rate
                    row.update(base)
                    if row["base_lag_p99"] and row["lag_p99"] is not None:
                        row["p99_ratio"] = round(row["lag_p99"] / row["base_lag_p99"], 2)
                rows.append(row)
            except RuntimeError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 1
            summary = {k: v for k, v in rows[-1].items() if k not in ("per_file", "per_batch")}
            print(json.dumps(summary), file=sys.stderr)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (RESULTS / f"freshness-{stamp}.json").write_text(json.dumps(rows, indent=2))
    plot(rows, RESULTS / f"freshness-{stamp}.png")
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
