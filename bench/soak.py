"""A day in the life, as one command: the soak test of the whole lakehouse.

Drives the real commands as subprocesses, the way an operator runs them, on a fresh lake:

1. ``python -m jobs.generate_events`` with ``--rate`` on a compressed clock
   (``--day-seconds``: one simulated UTC day over the feed, the rate following the
   design's evening peak), ``--dimensions`` (the generated profiles and titles), a
   per-file ``--manifest`` (landing times), ~0.5% duplicates, ~1% late and ~0.1%
   malformed lines;
2. the continuous ingest, ``python -m jobs.ingest_playback_events`` (no ``--once``);
3. the schedule of ``dq/schedule/pipeline.py`` (read at run time, so jobs added there run
   too): the hourly steps back to back without the ingest step (docs/operations.md:
   "with a continuous ingest, drop the ingest step"), the nightly maintenance once,
   beside the stream; steps run in the listed order, a step whose upstream failed is
   skipped, like cron's ``&&`` and Airflow;
4. the API, ``uvicorn api.app:create_app --factory`` on a free port with a random 48-byte
   ``VIEWING_API_SECRET``, and a client reading (continue-watching, history) and writing
   (WATCHED / ABANDONED statements with an ``Idempotency-Key``, every fifth one sent
   twice; a request cut by a fault is retried with its key);
5. the faults: ``kill -9`` of the ingest (its process group: Python and JVM) and of the
   API worker mid-run, each restarted; an erasure (``DELETE /api/admin/profiles/{id}``
   with an admin token) of the profile with the most events, with the ingest stopped and
   the schedule held, as docs/operations.md asks;
6. after the feed: wait until the landing dir is drained, stop the API and the stream,
   run the hourly schedule once more (its ``--once`` ingest included) and verify:

   * ``exactly_once``: every generated event (the files regenerated from the seed:
     valid lines, re-sent duplicates counted once) and every accepted API statement is
     in ``playback_event`` exactly once, the erased profile aside; nothing else is;
   * ``quarantine``: the quarantine holds the malformed lines (no more);
   * ``resume_state``: the current resume points (``jobs.core.changelog.resume.current_resume``,
     table and change log) equal ``jobs.core.rules.playback_state.resume_updates`` (the merge
     rule's owner) over all of ``playback_event``, erased profile aside;
   * ``erasure``: right after it, no table, landing or archive line holds the profile;
   * ``dq``: every FAIL or ERROR of ``dq_result`` (the schedule's ``dq.run`` and the
     stream's rules) is explained by an injected fault (:data:`EXPLAINED`) or reported as
     unexplained; ``schedule``: every scheduled step exited 0 (``dq.run`` may exit 1 on
     an explained alarm);
   * ``api``: no 5xx; connection errors only while the API was down; a repeated
     Idempotency-Key answered ``duplicate``.

Writes ``--report DIR``: ``index.html`` (one page: verdict, figures, plots of feed and
ingest throughput, landing-to-commit lag, API latency p50/p99, DQ results per run, the
fault timeline), ``verdict.json`` and ``timeline.json``. Exit 0 when every check holds,
1 when one fails, 2 on a usage error.

Usage::

    python bench/soak.py --minutes 12 --rate 400 --report docs/soak      # the committed run
    python bench/soak.py --short                                          # CI (tests/bench/test_soak.py)
    make soak
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import html
import io
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PY = sys.executable
INGEST = "jobs.ingest_playback_events"
MARKER = ".soak-lake"
_BATCH_LOG = re.compile(
    r"^(\S+) INFO \S+: batch (\d+): rows_in=(\d+) quarantined=(\d+) duplicates_dropped=(\d+) "
    r"written=(\d+).*? ([\d.]+)s \[read",
    re.M,
)

# Injected faults, and the checks (dq_result ``expectation_id`` or rule name,
# substring match) each may trip. An alarm no fault names is unexplained.
EXPLAINED: dict[str, tuple[str, ...]] = {
    "malformed lines (~0.1% of the feed, truncated JSON)": ("quarantine_ratio",),
    "duplicates (~0.5%, re-sent up to 3 files later)": (),
    "late events (~1%, up to 20 files later)": (),
    "kill -9 of the ingest (replayed micro-batch)": (),
    "kill -9 of the API worker (requests cut, retried)": (),
    "erasure of one profile (rows removed from every table)": (),
    # a backfill, not a live feed: sessions already idle past abandoned_sessions.idle_hours
    # (+ grace) land after that hour's close_abandoned_sessions ran; the next hourly run
    # closes them
    "past days replayed on a compressed clock (sessions idle > 5 h arrive after the "
    "hour's cleanup)": ("no_stale_open_sessions",),
}


# ----------------------------------------------------------------------------- helpers


def free_port() -> int:
    """An unused local TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], q: float) -> float:
    """The ``q``-th percentile (nearest rank) of ``values``; NaN when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


@dataclass
class Timeline:
    """What happened when (wall seconds since the soak began): faults, steps, phases."""

    t0: float = field(default_factory=time.time)
    events: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, what: str, **extra: Any) -> None:
        with self.lock:
            self.events.append(
                {"t": round(time.time() - self.t0, 1), "kind": kind, "what": what, **extra}
            )
        print(f"[{time.time() - self.t0:7.1f}s] {kind}: {what}", flush=True)


class Service:
    """A long-running subprocess in its own process group, logging to one file."""

    def __init__(self, name: str, cmd: list[str], env: dict, log: Path, tl: Timeline) -> None:
        self.name, self.cmd, self.env, self.log, self.tl = name, cmd, env, log, tl
        self.proc: subprocess.Popen | None = None
        self.down = True  # stopped or killed on purpose (the watchdog leaves it alone)
        self.crashes: list[dict] = []

    def start(self) -> None:
        fh = open(self.log, "a", encoding="utf-8")  # noqa: SIM115 (kept by the child)
        self.proc = subprocess.Popen(
            self.cmd, cwd=ROOT, env=self.env, stdout=fh, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        fh.close()
        self.down = False
        self.tl.add("start", self.name, pid=self.proc.pid)

    def watch(self, restarts: int = 3) -> None:
        """An unplanned exit is recorded (a check fails) and restarted, like a supervisor."""
        if self.down or self.proc is None or self.proc.poll() is None:
            return
        self.crashes.append({"t": round(time.time() - self.tl.t0, 1), "rc": self.proc.returncode})
        self.tl.add(
            "crash", f"{self.name} exited by itself rc={self.proc.returncode} (see {self.log.name})"
        )
        if len(self.crashes) <= restarts:
            self.start()
        else:
            self.down = True

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill9(self) -> None:
        """``kill -9`` of the whole process group (Python and any JVM child)."""
        assert self.proc is not None
        self.down = True
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        self.tl.add("fault", f"kill -9 {self.name}", pid=self.proc.pid)

    def stop(self, timeout: float = 90) -> int | None:
        """SIGINT (a clean stop), then SIGKILL of the group after ``timeout`` seconds."""
        if self.proc is None:
            return None
        self.down = True
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        try:  # the JVM child may still be shutting down
            for _ in range(40):
                os.killpg(self.proc.pid, 0)
                time.sleep(0.25)
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.tl.add("stop", self.name, rc=self.proc.returncode)
        return self.proc.returncode


# ----------------------------------------------------------------------------- the schedule


def schedules() -> dict[str, Any]:
    """``{name: Schedule}`` from ``dq/schedule/pipeline.py``, read now (not hard-coded)."""
    from dq.schedule import pipeline

    out = {}
    for s in pipeline.SCHEDULES:
        pipeline.check(s)
        out[s.name] = s
    return out


@dataclass
class StepRun:
    schedule: str
    task_id: str
    command: str
    start: float
    seconds: float
    rc: int | None  # None: skipped (an upstream failed)


class Scheduler:
    """Runs a schedule's steps in order as subprocesses; one run at a time (the flock)."""

    def __init__(self, lake: Path, env: dict, logs: Path, tl: Timeline) -> None:
        self.lake, self.env, self.logs, self.tl = lake, env, logs, tl
        self.lock = threading.Lock()  # cron's flock: schedules and the erasure never overlap
        self.runs: list[StepRun] = []
        self.n = 0

    def run(self, schedule: Any, skip_ingest: bool) -> None:
        with self.lock:
            self.n += 1
            self.tl.add("schedule", f"{schedule.name} #{self.n} begins")
            failed: set[str] = set()
            for step in schedule.steps:
                if skip_ingest and step.module == INGEST:
                    failed.discard(step.task_id)  # beside the stream: not run, not failed
                    continue
                cmd = [
                    PY,
                    "-m",
                    step.module,
                    *step.args,
                    "--env",
                    "local",
                    "--lake-root",
                    str(self.lake),
                ]
                start = time.time()
                if failed & set(step.upstream):
                    failed.add(step.task_id)
                    self.runs.append(
                        StepRun(
                            schedule.name,
                            step.task_id,
                            " ".join(cmd[1:]),
                            start - self.tl.t0,
                            0.0,
                            None,
                        )
                    )
                    self.tl.add("skip", f"{step.task_id} (an upstream failed)")
                    continue
                log = self.logs / f"{self.n:02d}-{schedule.name}-{step.task_id}.log"
                with open(log, "w", encoding="utf-8") as fh:
                    rc = subprocess.run(
                        cmd, cwd=ROOT, env=self.env, stdout=fh, stderr=subprocess.STDOUT
                    ).returncode
                secs = time.time() - start
                self.runs.append(
                    StepRun(
                        schedule.name, step.task_id, " ".join(cmd[1:]), start - self.tl.t0, secs, rc
                    )
                )
                self.tl.add("step", f"{step.task_id} rc={rc} in {secs:.0f}s", log=log.name)
                if rc != 0:
                    failed.add(step.task_id)
            self.tl.add("schedule", f"{schedule.name} #{self.n} ends")


# ----------------------------------------------------------------------------- the API client


@dataclass
class Call:
    t: float
    op: str
    ms: float
    status: int  # 0: connection error


class ApiClient:
    """Reads and writes against the API at a steady pace; retries a cut write with its key."""

    def __init__(self, base: str, tokens: dict[int, str], films: list[int], episodes: list[int],
                 rate: float, tl: Timeline, seed: int) -> None:  # fmt: skip
        self.base, self.tokens, self.films, self.episodes = base, tokens, films, episodes
        self.rate, self.tl = rate, tl
        self.rng = random.Random(seed)
        self.calls: list[Call] = []
        self.statements: list[dict] = []  # accepted: profile_id, session_id, event_time, key
        self.duplicate_checks: list[bool] = []
        self.lost_writes: list[str] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _request(self, client: Any, op: str, method: str, url: str, **kw: Any) -> Any:
        t = time.time()
        try:
            r = client.request(method, self.base + url, **kw)
            status = r.status_code
        except Exception:  # connection refused / reset while the API is down
            r, status = None, 0
        self.calls.append(Call(t - self.tl.t0, op, (time.time() - t) * 1000, status))
        return r

    def _write(self, client: Any, op: str, url: str, pid: int, body: dict) -> None:
        key = uuid.uuid4().hex
        headers = {"Authorization": f"Bearer {self.tokens[pid]}", "Idempotency-Key": key}
        deadline = time.time() + 120
        while True:
            r = self._request(client, op, "POST", url, headers=headers, json=body)
            if (
                r is not None
                and r.status_code < 500
                or time.time() > deadline
                or self.stop.is_set()
            ):
                break
            time.sleep(1)
        if r is None or r.status_code not in (200, 201):
            self.lost_writes.append(
                f"{pid} {op} {url}: {r.status_code if r is not None else 'no answer'}"
            )
            return
        got = r.json()
        self.statements.append({"profile_id": pid, "session_id": got["session_id"],
                                "event_time": got["event_time"], "key": key})  # fmt: skip
        if len(self.statements) % 5 == 0:  # the client's retry: same key, nothing new stored
            again = self._request(client, op + " (retry)", "POST", url, headers=headers, json=body)
            ok = (
                again is not None
                and again.status_code == 200
                and again.json().get("duplicate") is True
            )
            self.duplicate_checks.append(ok and again.json()["session_id"] == got["session_id"])

    def _loop(self) -> None:
        import httpx

        with httpx.Client(timeout=30) as client:
            while not self.stop.is_set():
                pid = self.rng.choice(sorted(self.tokens))
                auth = {"Authorization": f"Bearer {self.tokens[pid]}"}
                roll = self.rng.random()
                if roll < 0.5:
                    self._request(
                        client,
                        "continue-watching",
                        "GET",
                        f"/api/profiles/{pid}/continue-watching",
                        headers=auth,
                    )
                elif roll < 0.75:
                    self._request(
                        client,
                        "history",
                        "GET",
                        "/api/viewing/history?page=1&limit=20",
                        headers=auth,
                    )
                elif roll < 0.9:
                    self._write(client, "watched", f"/api/viewing/movies/{self.rng.choice(self.films)}/watched",
                                pid, {"viewingPlatform": "TV", "watchedWith": ["Soak"]})  # fmt: skip
                else:
                    self._write(client, "abandon", f"/api/viewing/{self.rng.choice(self.episodes)}/abandon",
                                pid, {"progressPercent": 20, "abandonReason": "soak", "qualityRating": 3,
                                      "wouldRetry": True})  # fmt: skip
                self.stop.wait(1 / self.rate)


def wait_http(base: str, service: Service | None = None, timeout: float = 300) -> bool:
    """Wait until ``base``/healthz answers 200; False on timeout or when ``service`` exits."""
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if service is not None and service.proc is not None and service.proc.poll() is not None:
            return False
        try:
            if httpx.get(base + "/healthz", timeout=2).status_code == 200:
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    return False


# ----------------------------------------------------------------------------- lake reads (delta-rs)


def read_columns(tables: Path, name: str, columns: list[str]) -> Any:
    """``columns`` of table ``name`` as a pyarrow Table (None when the table does not exist)."""
    from deltalake import DeltaTable

    path = tables / name
    if not (path / "_delta_log").is_dir():
        return None
    return DeltaTable(str(path)).to_pyarrow_table(columns=columns)


def most_active_profile(tables: Path) -> int | None:
    t = read_columns(tables, "playback_event", ["profile_id"])
    if t is None or t.num_rows == 0:
        return None
    return Counter(t.column("profile_id").to_pylist()).most_common(1)[0][0]


def profile_leftovers(lake: Path, pid: int, before: float) -> dict[str, int]:
    """Rows of ``pid`` left in every table with ``profile_id``, and landing/archive lines
    (files landed before ``before``, epoch seconds) that name it."""
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    left: dict[str, int] = {}
    for path in sorted((lake / "tables").iterdir()):
        if not (path / "_delta_log").is_dir():
            continue
        dtable = DeltaTable(str(path))
        if "profile_id" not in dtable.schema().to_arrow().names:
            continue
        col = dtable.to_pyarrow_table(columns=["profile_id"]).column("profile_id")
        n = pc.sum(pc.equal(col, pid)).as_py() or 0
        if n:
            left[path.name] = n
    needle = re.compile(rf'"profile_id":{pid}\b')
    for folder in ("landing", "landing_archive"):
        for f in (lake / folder).rglob("*.jsonl") if (lake / folder).exists() else []:
            if f.stat().st_mtime < before:
                n = len(needle.findall(f.read_text(encoding="utf-8", errors="replace")))
                if n:
                    left[f"{folder}/{f.name}"] = n
    return left


# ----------------------------------------------------------------------------- verification


def expected_events(feed: dict, work: Path) -> tuple[dict, int, list[str]]:
    """Regenerate the feed's files from its seed (byte-identical) and read them back.

    Returns:
        ``({(session_id, event_time_us): profile_id}, malformed_lines, malformed_texts)``.
    """
    from jobs.core.ingest.synthetic_events import generate

    out = work / "regenerated"
    shutil.rmtree(out, ignore_errors=True)
    generate(str(out), feed["events"], feed["files"], seed=feed["seed"], accounts=feed["accounts"],
             start=dt.datetime.fromisoformat(feed["start"]))  # fmt: skip
    keys: dict[tuple[str, int], int] = {}
    bad: list[str] = []
    for f in sorted(out.iterdir()):
        for line in f.read_text(encoding="utf-8").splitlines():
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                bad.append(line)
                continue
            keys[(e["session_id"], _micros(e["event_time"]))] = e["profile_id"]
    shutil.rmtree(out, ignore_errors=True)
    return keys, len(bad), bad


def _micros(text: str) -> int:
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return int(t.timestamp() * 1_000_000)


def check_exactly_once(
    tables: Path, expected: dict, statements: list[dict], erased: int | None
) -> dict:
    import pyarrow.compute as pc

    t = read_columns(tables, "playback_event", ["session_id", "event_time", "profile_id"])
    times = pc.cast(t.column("event_time"), "int64").to_pylist()  # microseconds, UTC
    counts = Counter(zip(t.column("session_id").to_pylist(), times, strict=True))
    profiles = dict(zip(zip(t.column("session_id").to_pylist(), times, strict=True),
                        t.column("profile_id").to_pylist(), strict=True))  # fmt: skip
    want = {k for k, p in expected.items() if p != erased}
    api = {
        (s["session_id"], _micros(s["event_time"])) for s in statements if s["profile_id"] != erased
    }
    want |= api
    have = {k for k in counts if profiles[k] != erased}
    missing = sorted(want - have)
    doubled = sorted(k for k in have if counts[k] > 1)
    unexpected = sorted(have - want)
    return {
        "ok": not missing and not doubled and not unexpected,
        "expected": len(want),
        "generated_expected": len(want) - len(api),
        "api_statements": len(api),
        "stored": sum(counts[k] for k in have),
        "missing": len(missing),
        "doubled": len(doubled),
        "unexpected": len(unexpected),
        "examples": {
            "missing": [list(k) for k in missing[:3]],
            "doubled": [list(k) for k in doubled[:3]],
            "unexpected": [list(k) for k in unexpected[:3]],
        },  # fmt: skip
    }


def check_quarantine(tables: Path, malformed: list[str], erased: int | None) -> dict:
    t = read_columns(tables, "playback_event_quarantine", ["source_file"])
    from_feed = (
        0
        if t is None
        else sum(1 for f in t.column("source_file").to_pylist() if f and "/gen-" in f)
    )
    mention = re.compile(rf"\b{erased}\b") if erased else None
    may_be_erased = sum(1 for line in malformed if mention and mention.search(line))
    ok = len(malformed) - may_be_erased <= from_feed <= len(malformed)
    return {"ok": ok, "malformed_generated": len(malformed), "quarantined_from_feed": from_feed,
            "malformed_naming_erased_profile": may_be_erased}  # fmt: skip


def check_resume(lake: Path, erased: int | None) -> dict:
    """``current_resume`` against ``resume_updates`` over every stored event (Spark)."""
    from pyspark.sql import functions as F

    from jobs.core.changelog.resume import current_resume
    from jobs.core.rules.playback_state import resume_updates
    from jobs.core.runtime.config import load_config
    from jobs.core.runtime.spark import build_spark
    from jobs.core.storage.delta import get_engine
    from jobs.core.tables.registry import get_spec

    cfg = load_config("local", lake_root=str(lake))
    spark = build_spark("soak-verify", cfg)
    try:
        engine = get_engine(spark, cfg)
        cols = get_spec("resume_state").columns
        keep = F.col("profile_id") != F.lit(erased if erased is not None else -1)
        events = engine.read("playback_event").where(keep)
        want = resume_updates(events, cfg.resume.finish_ratio).select(*cols)
        have = current_resume(engine).where(keep).select(*cols)
        extra = have.exceptAll(want)
        lacking = want.exceptAll(have)
        n_have, n_want = have.count(), want.count()
        n_extra, n_lacking = extra.count(), lacking.count()
        examples = [r.asDict() for r in extra.limit(2).collect()] + [
            r.asDict() for r in lacking.limit(2).collect()
        ]
        return {"ok": n_extra == 0 and n_lacking == 0, "rows": n_have, "recomputed_rows": n_want,
                "only_in_resume_state": n_extra, "only_in_recomputed": n_lacking,
                "examples": json.loads(json.dumps(examples, default=str))}  # fmt: skip
    finally:
        spark.stop()


def check_dq(tables: Path, since: dt.datetime, faults: list[str]) -> tuple[dict, list[dict]]:
    t = read_columns(tables, "dq_result", ["run_id", "suite", "expectation_id", "severity", "status",
                                            "observed_value", "source", "run_at"])  # fmt: skip
    rows = [] if t is None else [r for r in t.to_pylist() if _aware(r["run_at"]) >= since]
    alarms, unexplained = [], []
    for r in rows:
        if r["status"] in ("FAIL", "ERROR"):
            why = [
                f
                for f in faults
                if any(p in (r["expectation_id"] or "") for p in EXPLAINED.get(f, ()))
            ]
            item = {
                k: r[k] for k in ("run_id", "suite", "expectation_id", "status", "observed_value")
            }
            item["explained_by"] = why
            alarms.append(item)
            if not why:
                unexplained.append(item)
    per_run = Counter((r["run_id"], r["source"], r["status"]) for r in rows)
    runs = sorted({r["run_id"] for r in rows if r["source"] == "batch"})
    summary = {
        "ok": not unexplained,
        "batch_runs": len(runs),
        "stream_rows": sum(1 for r in rows if r["source"] == "stream"),
        "checks": len(rows),
        "by_status": dict(Counter(r["status"] for r in rows)),
        "alarms": alarms[:20],
        "unexplained": len(unexplained),
        "warnings": sorted(
            {f"{r['suite']}: {r['expectation_id']}" for r in rows if r["status"] == "WARN"}
        )[:20],
    }
    per_run_rows = [
        {
            "run_id": run,
            **{
                s: per_run.get((run, "batch", s), 0)
                for s in ("PASS", "WARN", "FAIL", "ERROR", "SKIPPED")
            },
        }
        for run in runs
    ]
    return summary, per_run_rows


def _aware(t: Any) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


def check_api(
    calls: list[Call],
    statements: list[dict],
    duplicate_checks: list[bool],
    lost_writes: list[str],
    down: list[tuple[float, float]],
) -> dict:
    """No 5xx; connection errors only while the API was down; no write lost or doubled."""

    def in_outage(t: float) -> bool:
        return any(a - 1 <= t <= b + 2 for a, b in down)

    five = [c for c in calls if c.status >= 500]
    refused = [c for c in calls if c.status == 0]
    unexplained_refused = [c for c in refused if not in_outage(c.t)]
    ok_calls = [c for c in calls if 0 < c.status < 500]
    return {
        "ok": not five and not unexplained_refused and not lost_writes and all(duplicate_checks),
        "requests": len(calls),
        "by_status": dict(Counter(str(c.status) for c in calls)),
        "http_5xx": len(five),
        "http_5xx_by_op": {
            op: f"{n} between {min(c.t for c in five if c.op == op):.0f}s and "
            f"{max(c.t for c in five if c.op == op):.0f}s"
            for op, n in Counter(c.op for c in five).items()
        },
        "connection_errors_during_outage": len(refused) - len(unexplained_refused),
        "connection_errors_unexplained": len(unexplained_refused),
        "writes_accepted": len(statements),
        "writes_lost": lost_writes[:5],
        "idempotent_retries": len(duplicate_checks),
        "idempotent_retries_not_duplicate": duplicate_checks.count(False),
        "p50_ms": round(pct([c.ms for c in ok_calls], 50), 1),
        "p99_ms": round(pct([c.ms for c in ok_calls], 99), 1),
    }


# ----------------------------------------------------------------------------- throughput and lag


def ingest_batches(log: Path) -> list[dict]:
    """The ingest's micro-batches from its log (every restart appends to it): the first
    completed line per batch id, with its wall time (the log is UTC)."""
    seen: dict[int, dict] = {}
    text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
    for stamp, b, rows_in, quar, dups, written, secs in _BATCH_LOG.findall(text):
        when = dt.datetime.fromisoformat(stamp).replace(tzinfo=dt.UTC).timestamp()
        seen.setdefault(int(b), {"batch": int(b), "wall": when, "rows_in": int(rows_in), "quarantined": int(quar),
                                 "duplicates": int(dups), "written": int(written), "seconds": float(secs)})  # fmt: skip
    return sorted(seen.values(), key=lambda r: r["batch"])


def file_batches(checkpoint: Path) -> dict[str, int]:
    """``{landing file name: micro-batch id}`` from the file source's log in the checkpoint."""
    out: dict[str, int] = {}
    src = checkpoint / "sources" / "0"
    if not src.is_dir():
        return out
    for f in src.iterdir():
        if f.name.startswith("."):
            continue
        for line in f.read_text(encoding="utf-8", errors="replace").splitlines()[1:]:
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue
            out.setdefault(Path(entry["path"]).name, int(entry["batchId"]))
    return out


def landing_lag(manifest: Path, checkpoint: Path, batches: list[dict]) -> list[dict]:
    """Per landed file: landing (manifest wall time) to the commit of the batch that read it."""
    by_batch = {b["batch"]: b for b in batches}
    where = file_batches(checkpoint)
    out = []
    for line in manifest.read_text(encoding="utf-8").splitlines() if manifest.exists() else []:
        m = json.loads(line)
        b = by_batch.get(where.get(m["file"], -1))
        if b is not None:
            out.append({"file": m["file"], "wall": m["wall"], "lines": m["lines"], "rate": m["rate"],
                        "sim_hour": m["sim_hour"], "lag": max(0.0, b["wall"] - m["wall"]), "batch": b["batch"]})  # fmt: skip
    return out


# ----------------------------------------------------------------------------- the report


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=72, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode()


def plots(  # noqa: PLR0915 (four figures, one after the other)
    t0: float,
    feed: list[dict],
    lags: list[dict],
    batches: list[dict],
    calls: list[Call],
    dq_runs: list[dict],
    faults: list[dict],
) -> dict[str, str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def marks(ax: Any) -> None:
        for f in faults:
            ax.axvline(f["t"], color="red", ls="--", lw=0.8)
            ax.text(f["t"], ax.get_ylim()[1], " " + " ".join(f["what"].replace("kill -9 ", "kill ").split()[:2]), rotation=90,
                    va="top", fontsize=7, color="red")  # fmt: skip

    out = {}
    fig, ax = plt.subplots(figsize=(9, 3))
    if feed:
        ax.plot(
            [m["wall"] - t0 for m in feed],
            [m["rate"] for m in feed],
            label="feed rate (events/s, evening-peak clock)",
        )
    if len(batches) > 1:
        xs, ys = [], []
        for a, b in zip(batches, batches[1:], strict=False):
            if b["wall"] > a["wall"]:
                xs.append(b["wall"] - t0)
                ys.append(b["rows_in"] / (b["wall"] - a["wall"]))
        ax.plot(xs, ys, ".", ms=3, label="ingest rows in per second (per micro-batch)")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("events/s")
    ax.legend(fontsize=7, loc="upper left")
    marks(ax)
    out["throughput"] = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 3))
    ax.plot([r["wall"] - t0 for r in lags], [r["lag"] for r in lags], ".", ms=3)
    ax.set_xlabel("landing time, seconds since start")
    ax.set_ylabel("lag (s): landed -> committed")
    marks(ax)
    out["lag"] = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 3))
    ok = [c for c in calls if 0 < c.status < 500]
    if ok:
        end = max(c.t for c in ok)
        width = max(10.0, end / 40)
        xs, p50, p99 = [], [], []
        w = 0.0
        while w <= end:
            ms = [c.ms for c in ok if w <= c.t < w + width]
            if ms:
                xs.append(w + width / 2)
                p50.append(pct(ms, 50))
                p99.append(pct(ms, 99))
            w += width
        ax.plot(xs, p50, label="p50")
        ax.plot(xs, p99, label="p99")
        ax.set_yscale("log")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("API latency (ms)")
    ax.legend(fontsize=7)
    marks(ax)
    out["api"] = _png(fig)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 2.8))
    colors = {
        "PASS": "tab:green",
        "WARN": "tab:orange",
        "FAIL": "tab:red",
        "ERROR": "black",
        "SKIPPED": "tab:gray",
    }
    bottom = [0] * len(dq_runs)
    for status, color in colors.items():
        vals = [r[status] for r in dq_runs]
        ax.bar(range(len(dq_runs)), vals, bottom=bottom, color=color, label=status)
        bottom = [a + b for a, b in zip(bottom, vals, strict=True)]
    ax.set_xticks(range(len(dq_runs)), [r["run_id"][9:15] for r in dq_runs], fontsize=7)
    ax.set_xlabel("dq.run (UTC time of the run)")
    ax.set_ylabel("checks")
    ax.legend(fontsize=7, ncol=5)
    out["dq"] = _png(fig)
    plt.close(fig)
    return out


def write_report(folder: Path, verdict: dict, images: dict[str, str], timeline: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    ok = verdict["ok"]
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td class={'ok' if c.get('ok') else 'bad'}>{'PASS' if c.get('ok') else 'FAIL'}</td>"
        f"<td><code>{html.escape(json.dumps({k: v for k, v in c.items() if k not in ('ok', 'examples', 'alarms')}, default=str))}</code></td></tr>"
        for name, c in verdict["checks"].items()
    )
    figs = "".join(
        f"<li>{html.escape(k)}: <b>{html.escape(str(v))}</b></li>"
        for k, v in verdict["figures"].items()
    )
    alarms = (
        "".join(
            f"<li>{html.escape(a['suite'])} / {html.escape(str(a['expectation_id']))}: {a['status']} "
            f"({html.escape(str(a['observed_value']))[:120]}) — explained by: {html.escape(', '.join(a['explained_by']) or 'NOTHING (unexplained)')}</li>"
            for a in verdict["checks"].get("dq", {}).get("alarms", [])
        )
        or "<li>none</li>"
    )
    faults = "".join(
        f"<li>{html.escape(f)}: may trip {', '.join(EXPLAINED[f]) or 'no check'}</li>"
        for f in EXPLAINED
    )
    tl = "".join(
        f"<tr><td>{e['t']}</td><td>{html.escape(e['kind'])}</td><td>{html.escape(e['what'])}</td></tr>"
        for e in timeline
        if e["kind"] in ("fault", "start", "stop", "schedule", "erasure", "phase")
    )
    img = "".join(f"<h2>{html.escape(title)}</h2><img src='data:image/png;base64,{images[k]}'>"
                  for k, title in (("throughput", "Feed and ingest throughput"),
                                   ("lag", "Ingest lag: file landed -> its micro-batch committed"),
                                   ("api", "API latency over time (p50, p99)"),
                                   ("dq", "Data-quality results per dq.run")) if k in images)  # fmt: skip
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>viewing-lakehouse soak</title>
<style>body{{font-family:sans-serif;max-width:980px;margin:auto}}td{{padding:2px 8px;vertical-align:top;font-size:13px}}
.ok{{color:green;font-weight:bold}}.bad{{color:red;font-weight:bold}}code{{font-size:11px}}</style></head><body>
<h1>A day in the life: soak run — <span class={"ok" if ok else "bad"}>{"GREEN" if ok else "RED"}</span></h1>
<p><code>{html.escape(verdict["command"])}</code> — {html.escape(verdict["started"])} UTC, {verdict["seconds"]:.0f} s wall, engine {html.escape(verdict["engine"])}, {os.cpu_count()} cores shared.</p>
<ul>{figs}</ul><h2>Checks</h2><table>{rows}</table>
<h2>DQ alarms (FAIL/ERROR) and what explains them</h2><ul>{alarms}</ul>
<h2>Injected faults</h2><ul>{faults}</ul>{img}
<h2>Fault and schedule timeline (seconds since start)</h2><table>{tl}</table></body></html>"""
    path = folder / "index.html"
    path.write_text(page, encoding="utf-8")
    (folder / "verdict.json").write_text(
        json.dumps(verdict, indent=2, default=str), encoding="utf-8"
    )
    (folder / "timeline.json").write_text(json.dumps(timeline, indent=1), encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- main


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python bench/soak.py",
        description="A day in the life, as one command: a generated feed with the evening peak on "
        "a compressed clock, the continuous ingest, the schedule (hourly, nightly and the daily recommendations), API reads "
        "and writes, kill -9 of the ingest and of the API, an erasure; then checks that every "
        "event is stored exactly once, resume_state is right and DQ raised no unexplained alarm, "
        "and writes a one-page HTML report. Exit 0 green, 1 a check failed, 2 usage error.",
    )
    p.add_argument("--minutes", type=float, default=10.0, help="length of the feed (default 10)")
    p.add_argument(
        "--rate", type=float, default=300.0, help="mean feed rate, events/s (default 300)"
    )
    p.add_argument(
        "--api-rate", type=float, default=4.0, help="API requests per second (default 4)"
    )
    p.add_argument("--accounts", type=int, default=300, help="generated accounts (default 300)")
    p.add_argument("--seed", type=int, default=7, help="feed seed (default 7)")
    p.add_argument(
        "--lake-root",
        default=None,
        help="a new or earlier soak lake (default: a temporary folder, removed after)",
    )
    p.add_argument(
        "--report",
        default=str(ROOT / "bench" / "results" / "soak"),
        help="report folder (default bench/results/soak)",
    )
    p.add_argument(
        "--engine",
        choices=("rust", "spark"),
        default="rust",
        help="Delta engine of every job (default rust)",
    )
    p.add_argument(
        "--verify-only",
        action="store_true",
        help="check an earlier soak's --lake-root again (its _soak/state.json) and rewrite the report",
    )
    p.add_argument(
        "--short",
        action="store_true",
        help="CI's short run: 1 min feed at 150 events/s, the nightly once during the feed, "
        "no daily recommendations schedule after it (tests/dq/test_daily_schedule.py has it)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.short:
        args.minutes, args.rate = min(args.minutes, 1.0), min(args.rate, 150.0)
        args.accounts, args.api_rate = min(args.accounts, 60), min(args.api_rate, 2.0)
    if args.minutes <= 0 or args.rate <= 0 or args.api_rate <= 0:
        print("error: --minutes, --rate and --api-rate must be positive", file=sys.stderr)
        return 2
    if args.verify_only:
        if not args.lake_root or not (Path(args.lake_root) / "_soak" / "state.json").exists():
            print("error: --verify-only needs the --lake-root of a finished soak", file=sys.stderr)
            return 2
        lake = Path(args.lake_root).resolve()
        state = json.loads((lake / "_soak" / "state.json").read_text(encoding="utf-8"))
        return verify(lake, state, Path(args.report))
    tmp_lake = args.lake_root is None
    lake = Path(args.lake_root or tempfile.mkdtemp(prefix="soak-lake-")).resolve()
    if lake.exists() and any(lake.iterdir()) and not (lake / MARKER).exists():
        print(
            f"error: {lake} is not empty and not a soak lake; give --lake-root a new folder",
            file=sys.stderr,
        )
        return 2
    shutil.rmtree(lake, ignore_errors=True)
    (lake / "_soak" / "logs").mkdir(parents=True)
    (lake / MARKER).touch()
    try:
        return _soak(args, lake)
    finally:
        if tmp_lake:
            shutil.rmtree(lake, ignore_errors=True)


def _soak(args: argparse.Namespace, lake: Path) -> int:  # noqa: C901, PLR0912, PLR0915 (one story, in order)
    from jobs.core.ingest.synthetic_events import dimension_rows, generate

    work, logs = lake / "_soak", lake / "_soak" / "logs"
    tl = Timeline()
    started = dt.datetime.now(dt.UTC)
    seconds = args.minutes * 60
    events = int(args.rate * seconds)
    files = max(8, int(seconds / 2))
    # event times: a recent stretch ending >= 6 h ago (sessions idle 4 h get closed, the
    # open-session check allows 1 h), whatever the feed's length in simulated days
    probe = generate(str(work / "probe"), events, files, seed=args.seed, accounts=args.accounts)
    span = _newest_offset(work / "probe")
    shutil.rmtree(work / "probe")
    start_day = (started - span - dt.timedelta(hours=6)).date()
    feed = {"events": events, "files": files, "seed": args.seed, "accounts": args.accounts,
            "start": start_day.isoformat(), "lines": probe.lines}  # fmt: skip

    env = {**os.environ, "PYTHONPATH": str(ROOT), "TZ": "UTC", "LAKEHOUSE_ENV": "local",
           "LAKEHOUSE_ROOT": str(lake), "DELTA_ENGINE": args.engine,
           "VIEWING_API_SECRET": secrets.token_hex(48), "PYTHONUNBUFFERED": "1"}  # fmt: skip
    env.pop("LAKEHOUSE_DELTA_ENGINE", None)
    jars = ROOT.parent / "shared" / "delta-spark-jars"
    if args.engine == "spark" and not env.get("DELTA_JARS_DIR") and jars.is_dir():
        env["DELTA_JARS_DIR"] = str(jars)  # as make test does: the jars beside the clone
    os.environ.update(
        {
            k: env[k]
            for k in ("VIEWING_API_SECRET", "LAKEHOUSE_ENV", "DELTA_ENGINE", "DELTA_JARS_DIR")
            if k in env
        }
    )
    sched = Scheduler(lake, env, logs, tl)
    plan = schedules()
    manifest = work / "feed.jsonl"
    gen = Service("generator", [PY, "-m", "jobs.generate_events", "--events", str(events), "--files", str(files),
                                "--seed", str(args.seed), "--accounts", str(args.accounts), "--rate", str(args.rate),
                                "--day-seconds", str(seconds), "--start", feed["start"], "--manifest", str(manifest),
                                "--dimensions", "--lake-root", str(lake)], env, logs / "generator.log", tl)  # fmt: skip
    ingest = Service(
        "ingest", [PY, "-m", INGEST, "--lake-root", str(lake)], env, logs / "ingest.log", tl
    )
    port = free_port()
    api = Service("api", [PY, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
                          "--port", str(port), "--log-level", "warning"], env, logs / "api.log", tl)  # fmt: skip
    tl.add("phase", f"feed: {events} events in {files} files at {args.rate:g}/s mean over {seconds:.0f}s, "
                    f"event days from {feed['start']}")  # fmt: skip
    gen.start()
    deadline = time.time() + 60
    while not (lake / "tables" / "profile" / "_delta_log").is_dir() and time.time() < deadline:
        time.sleep(0.5)
    ingest.start()
    api.start()
    base = f"http://127.0.0.1:{port}"
    if not wait_http(base, api):
        tail = (
            (logs / "api.log")
            .read_text(encoding="utf-8", errors="replace")
            .strip()
            .splitlines()[-1:]
        )
        print(
            f"error: the API did not start on {base} ({' '.join(tail)[:300]}); see {logs / 'api.log'}",
            file=sys.stderr,
        )
        for s in (gen, ingest, api):
            s.stop(10)
        return 1
    from api.settings import load_api_settings
    from api.tokens import issue

    settings = load_api_settings("local")
    dims = dimension_rows(args.seed, args.accounts)
    pids = [p["profile_id"] for p in dims["profile"]]
    sample = random.Random(args.seed).sample(pids, min(40, len(pids)))
    tokens = {p: issue(settings, p, ttl_minutes=int(args.minutes) + 120) for p in sample}
    films = [t["title_id"] for t in dims["title"] if t["title_type"] == "FILM"]
    episodes = [e["episode_id"] for e in dims["episode"]]
    client = ApiClient(base, tokens, films, episodes, args.api_rate, tl, args.seed)
    client.thread.start()

    down: list[tuple[float, float]] = []
    erased: dict[str, Any] = {}
    done = threading.Event()

    def faults() -> None:
        if done.wait(seconds * 0.3):
            return
        ingest.kill9()
        time.sleep(3)
        ingest.start()
        if done.wait(seconds * 0.15):
            return
        a = time.time() - tl.t0
        api.kill9()
        time.sleep(3)
        api.start()
        wait_http(base, api)
        down.append((a, time.time() - tl.t0))
        tl.add("phase", "api answers again")

    def erase(wait_s: float = 0.0) -> None:
        """Erase the most active profile; with ``wait_s``, wait that long for the ingest's
        first commit (a slow machine: the ingest killed before its first batch restarts)."""
        deadline = time.time() + wait_s
        pid = most_active_profile(lake / "tables")
        while pid is None and time.time() < deadline:
            time.sleep(2)
            pid = most_active_profile(lake / "tables")
        if pid is None:
            if wait_s:
                tl.add("fault", f"erasure skipped: playback_event still empty after {wait_s:.0f}s")
            return
        with sched.lock:  # the schedule's lock: no build writes while the erasure rewrites
            ingest.stop()  # docs/operations.md: stop the streaming ingest first
            import httpx

            admin = issue(settings, 0, admin=True, ttl_minutes=10)
            t = time.time()
            r = httpx.delete(
                f"{base}/api/admin/profiles/{pid}",
                headers={"Authorization": f"Bearer {admin}"},
                timeout=600,
            )
            tl.add(
                "fault", f"erasure of profile {pid}: HTTP {r.status_code} in {time.time() - t:.1f}s"
            )
            erased.update(pid=pid, status=r.status_code, left=profile_leftovers(lake, pid, t))
            client.tokens.pop(pid, None)  # an erased profile's writes now get 404 (explained)
            ingest.start()

    def watchdog() -> None:
        while not stopped.wait(2):
            ingest.watch()
            api.watch()

    stopped = threading.Event()
    threading.Thread(target=watchdog, daemon=True).start()
    fault_thread = threading.Thread(target=faults, daemon=True)
    fault_thread.start()
    erase_at = tl.t0 + seconds * 0.6
    nightly_done = False
    while gen.alive():
        now = time.time()
        if not erased and now >= erase_at:
            erase()
            if not erased:  # nothing committed yet: try again in a second
                time.sleep(1)
        elif not nightly_done and (args.short or now >= tl.t0 + seconds * 0.45):
            sched.run(plan["nightly"], skip_ingest=True)
            nightly_done = True
        elif not args.short:
            sched.run(plan["hourly"], skip_ingest=True)
        else:
            time.sleep(1)
    if not erased:
        erase(wait_s=max(300.0, seconds))
    tl.add("phase", f"feed done (generator rc={gen.proc.returncode if gen.proc else None})")
    done.set()
    fault_thread.join()
    if not nightly_done:
        sched.run(plan["nightly"], skip_ingest=True)
    client.stop.set()  # the API's writes land as files too: stop them, then drain
    client.thread.join(timeout=150)
    # drain: every landed file read and its batch committed
    from jobs.core.runtime.config import load_config
    from jobs.core.storage.checkpoints import committed_file_times

    drain_cfg = load_config("local", lake_root=str(lake))
    checkpoint = drain_cfg.checkpoint_path(drain_cfg.ingest.query_name)
    drain_deadline = time.time() + max(180, seconds)
    left: list[Path] = []
    while time.time() < drain_deadline:
        # the stream archives a batch's files when the next batch starts: the last
        # batch's files stay in landing/ though committed, so compare with the checkpoint
        committed = committed_file_times(checkpoint)
        left = [f for f in (lake / "landing").glob("*.jsonl") if str(f.resolve()) not in committed]
        if not left or (ingest.down and ingest.crashes):
            break
        time.sleep(2)
    time.sleep(8)  # the last batch's commits
    tl.add("phase", f"drained ({len(left)} landing files not read)")
    stopped.set()
    api.stop(20)
    ingest.stop()
    sched.run(
        plan["hourly"], skip_ingest=False
    )  # the hourly run as cron does it, --once ingest first
    # every other schedule (the daily recommendations, and any added to dq/schedule) in
    # cron's order after it, then the hourly checks again: fresh lists keep dq.run green.
    # --short (CI) leaves them out: tests/dq/test_daily_schedule.py runs a day of them
    # in-process and holds dq.run green, without three more spark-submits here
    if not args.short:
        for name in sorted(set(plan) - {"hourly", "nightly"}, key=lambda n: plan[n].cron):
            sched.run(plan[name], skip_ingest=True)
        if set(plan) - {"hourly", "nightly"}:
            sched.run(plan["hourly"], skip_ingest=True)
    tl.add("phase", "verifying")
    state = {
        "command": "python bench/soak.py "
        + " ".join(sys.argv[1:] if sys.argv[0].endswith("soak.py") else []),
        "started": started.isoformat(),
        "t0": tl.t0,
        "run_seconds": time.time() - tl.t0,
        "engine": args.engine,
        "rate": args.rate,
        "feed": feed,
        "erased": erased,
        "down": down,
        "calls": [c.__dict__ for c in client.calls],
        "statements": client.statements,
        "duplicate_checks": client.duplicate_checks,
        "lost_writes": client.lost_writes,
        "steps": [r.__dict__ for r in sched.runs],
        "schedule_runs": sched.n,
        "crashes": {"ingest": ingest.crashes, "api": api.crashes},
        "generator_rc": gen.proc.returncode if gen.proc else None,
        "timeline": tl.events,
    }
    (work / "state.json").write_text(json.dumps(state, default=str), encoding="utf-8")
    return verify(lake, state, Path(args.report))


def verify(lake: Path, state: dict, report: Path) -> int:  # noqa: PLR0915 (the checks, in order)
    """Check a finished soak lake (its ``_soak/state.json``) and write the report.

    Returns:
        0 when every check holds, else 1.
    """
    work, logs = lake / "_soak", lake / "_soak" / "logs"
    feed, erased = state["feed"], state["erased"]
    pid = erased.get("pid")
    calls = [Call(**c) for c in state["calls"]]
    steps = [StepRun(**r) for r in state["steps"]]
    checks: dict[str, dict] = {}
    expected, _, malformed = expected_events(feed, work)
    checks["exactly_once"] = check_exactly_once(lake / "tables", expected, state["statements"], pid)
    checks["quarantine"] = check_quarantine(lake / "tables", malformed, pid)
    checks["resume_state"] = check_resume(lake, pid)
    checks["erasure"] = {"ok": erased.get("status") == 200 and not erased.get("left"), "profile_id": pid,
                         "http_status": erased.get("status"), "left_after": erased.get("left")}  # fmt: skip
    started = dt.datetime.fromisoformat(state["started"])
    checks["dq"], dq_runs = check_dq(lake / "tables", started, list(EXPLAINED))
    dq_exit_1 = [r for r in steps if r.task_id.startswith("dq_run") and r.rc == 1]
    bad_steps = [r.__dict__ for r in steps if r.rc not in (0, None) and r not in dq_exit_1]
    checks["schedule"] = {"ok": not bad_steps and all(r.rc is not None for r in steps), "steps_run": len(steps),
                          "schedule_runs": state["schedule_runs"], "failed": bad_steps[:5],
                          "dq_run_exit_1": len(dq_exit_1)}  # fmt: skip
    lost = [
        w
        for w in state["lost_writes"]
        if not (pid and w.startswith(f"{pid} ") and w.endswith(": 404"))
    ]
    checks["api"] = check_api(calls, state["statements"], state["duplicate_checks"], lost,
                              [tuple(d) for d in state["down"]])  # fmt: skip
    crashes = state["crashes"]
    checks["services"] = {"ok": not crashes["ingest"] and not crashes["api"] and state["generator_rc"] == 0,
                          "ingest_crashes": crashes["ingest"], "api_crashes": crashes["api"],
                          "generator_rc": state["generator_rc"]}  # fmt: skip

    manifest = work / "feed.jsonl"
    batches = ingest_batches(logs / "ingest.log")
    feed_rows = (
        [json.loads(x) for x in manifest.read_text(encoding="utf-8").splitlines()]
        if manifest.exists()
        else []
    )
    from jobs.core.runtime.config import load_config

    cfg = load_config("local", lake_root=str(lake))
    lags = landing_lag(manifest, Path(cfg.checkpoint_path(cfg.ingest.query_name)), batches)
    lag_values = [r["lag"] for r in lags]  # one value per file (files hold similar line counts)
    ok_ms = [c.ms for c in calls if 0 < c.status < 500]
    verdict = {
        "ok": all(c.get("ok") for c in checks.values()),
        "command": state["command"],
        "started": started.strftime("%Y-%m-%d %H:%M:%S"),
        "seconds": state["run_seconds"],
        "engine": state["engine"],
        "figures": {
            "events generated (lines incl. duplicates and malformed)": f"{feed['events']:,} ({feed['lines']:,})",
            "feed rate, events/s (mean / peak of the evening-peak clock)": f"{state['rate']:g} / {max((m['rate'] for m in feed_rows), default=0):.0f}",
            "landing files / micro-batches": f"{len(feed_rows)} / {len(batches)}",
            "ingest lag landed->committed, p50 / p99 (s)": f"{pct(lag_values, 50):.1f} / {pct(lag_values, 99):.1f}",
            "API requests; p50 / p99 (ms)": f"{len(calls)}; {pct(ok_ms, 50):.0f} / {pct(ok_ms, 99):.0f}",
            "scheduled runs (steps)": f"{state['schedule_runs']} ({len(steps)})",
            "dq.run runs; checks by status": f"{checks['dq']['batch_runs']}; {checks['dq']['by_status']}",
        },
        "feed": feed,
        "checks": checks,
        "steps": [r.__dict__ for r in steps],
    }
    fault_marks = [e for e in state["timeline"] if e["kind"] in ("fault", "crash")]
    images = plots(state["t0"], feed_rows, lags, batches, calls, dq_runs, fault_marks)
    page = write_report(report, verdict, images, state["timeline"])
    print(json.dumps({k: verdict[k] for k in ("ok", "figures")}, indent=1))
    for name, c in checks.items():
        body = json.dumps({k: v for k, v in c.items() if k != "ok"}, default=str)[:600]
        print(f"{'PASS' if c.get('ok') else 'FAIL'} {name}: {body}")
    print(f"report: {page}")
    return 0 if verdict["ok"] else 1


def _newest_offset(folder: Path) -> dt.timedelta:
    """How far the newest event_time of a generated feed lies after 2026-01-01 (its default start)."""
    newest = ""
    for f in folder.iterdir():
        for m in re.finditer(r'"event_time":"([^"]+)"', f.read_text(encoding="utf-8")):
            newest = max(newest, m.group(1))
    t = dt.datetime.fromisoformat(newest.replace("Z", "+00:00"))
    return t - dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


if __name__ == "__main__":
    sys.exit(main())
