"""Load test of the HTTP API: a real uvicorn on 127.0.0.1 over a lake of real exports.

Phases (each bounded in time, ``--concurrency`` httpx clients in one asyncio loop):

1. ``continue-watching`` paced at ``--rate`` requests/s (default 200) for ``--seconds``:
   achieved requests/s, p50 / p99 latency (goal: p99 < 50 ms at 200 req/s);
2. every read endpoint mixed (Continue Watching, history, show progress, statistics, the
   event feed, and once the recommendation jobs ran, a profile's home recommendations and
   More Like This of a title), as fast as the clients go, for ``--seconds``:
   requests/s and p50 / p99 per endpoint;
3. POST watched with a fresh idempotency key each, for ``--seconds`` / 3: throughput.

The lake is built first when ``--lake-root`` does not hold one: the real jobs import
``--exports`` corpus files (one account each), ingest them (``--once``), load the
catalogue, build the star schema and the activity tables, then the recommendation jobs
(interactions, models, lists). ``--heartbeat-sec`` thins the importer's HEARTBEAT events
(the ingest time scales with their number). Tokens: one per profile;
the rate limits are lifted for the run (a conf dir copy with a permissive ``api.yaml``).

Usage::

    .venv/bin/python bench/api_latency.py                          # hh-001 + hh-003, 30 s phases
    .venv/bin/python bench/api_latency.py --lake-root /tmp/api-bench-lake --seconds 30 --rate 200
    .venv/bin/python bench/api_latency.py --lake-root /tmp/corpus-lake --exports all \
        --heartbeat-sec 300 --build-only                          # the whole corpus, then measure
    .venv/bin/python bench/api_latency.py --lake-root lakehouse/demo --no-build   # any built lake
    .venv/bin/python bench/api_latency.py --lake-root /tmp/api-synth --profile-rows 4000 \
        --per-endpoint 400                                        # one long history, CPU per route

``--profile-rows N`` builds (when ``--lake-root`` holds no lake) a synthetic lake with the
deltalake writer instead of the jobs: one profile with N ``fact_watch_history`` rows and
N / 2 ``resume_state`` rows (all inside the Continue Watching window), 80 series of 20
episodes, 50 films, show progress, statistics (260 weeks, 60 months) and 400 domain events
in 8 commits, plus 9 small profiles. ``--per-endpoint K`` then runs, before the phases, K
requests of each single route (Continue Watching, history page 1 and the last page,
progress, statistics, the event feed after a cursor near its end) and prints the server
CPU ms per request of each.

``--redis`` starts a private redis-server (a free 127.0.0.1 port, no persistence), fills
it from the lake with ``jobs.rebuild_hot_store`` and gives the server its URL as
``REDIS_URL``: Continue Watching is then read from Redis and the rate limits counted
there (the hot-store figures of bench/README.md, api_latency, in one command)::

    .venv/bin/python bench/api_latency.py --lake-root /tmp/api-synth --profile-rows 4500 \
        --per-endpoint 600 --skip-phases --redis
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "data" / "viewing-activity-corpus"

from bench.hot_path import start_wrk, tree_cpu, wrk_result  # noqa: E402 - after ROOT


def run(*args: str, lake: Path) -> None:
    cmd = [sys.executable, "-m", *args, "--lake-root", str(lake)]
    print("$", " ".join(cmd[1:]), end="", flush=True)
    t = time.monotonic()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    print(f"  ({time.monotonic() - t:.0f} s)", flush=True)


def build_lake(lake: Path, exports: list[Path], heartbeat_sec: int) -> None:
    """The real pipeline on ``exports``: import, ingest, catalogue, star schema, activity,
    then the recommendation jobs (interactions, models, lists and cache).

    Each step's wall time is printed. ``heartbeat_sec`` is the importer's playback
    heartbeat: the number of landing events (and the ingest time) scales with 1 / it.
    """
    start = time.monotonic()
    for csv in exports:
        run(
            "jobs.import_viewing_activity", str(csv), "--account", csv.stem,
            "--heartbeat-sec", str(heartbeat_sec), lake=lake,
        )  # fmt: skip
    for step in (
        ("jobs.ingest_playback_events", "--once"),
        ("jobs.load_catalog",),
        ("jobs.build_star_schema", "--as-of", "latest"),
        ("jobs.build_viewing_activity", "--as-of", "latest"),
        ("jobs.build_interactions",),
        ("jobs.train_recommenders",),
        ("jobs.generate_recommendations",),
    ):
        run(*step, lake=lake)
    (lake / ".bench-built").touch()
    print(f"lake built in {time.monotonic() - start:.0f} s", flush=True)


SYNTH_PROFILE = 900000001


def build_synthetic_lake(lake: Path, rows: int) -> None:
    """A lake written with delta-rs (no Spark): one profile with a long history.

    ``rows`` ``fact_watch_history`` rows and ``rows // 2`` ``resume_state`` rows for
    :data:`SYNTH_PROFILE` (every resume point within the last 90 days of the newest one),
    nine small profiles (20 rows each), the dimensions they name, ``show_progress``,
    ``viewing_statistics`` and 400 ``viewing_domain_event`` rows in 8 commits (change data
    feed on). Tables are declared by their specs (``jobs.core.tables``).
    """
    import datetime as dt
    import json

    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    from jobs.core.storage.delta import arrow_schema
    from jobs.core.tables.registry import get_spec

    tables = lake / "tables"

    def write(name: str, table_rows: list[dict]) -> None:
        spec = get_spec(name)
        schema = arrow_schema(spec.schema)
        path = tables / name
        if not (path / "_delta_log").is_dir():
            DeltaTable.create(str(path), schema, configuration=spec.properties or None)
        full = [{c: r.get(c) for c in schema.names} for r in table_rows]
        write_deltalake(str(path), pa.Table.from_pylist(full, schema), mode="append")

    start = time.monotonic()
    now = dt.datetime(2026, 11, 1, 20, 0, tzinfo=dt.UTC)
    pids = [SYNTH_PROFILE] + [SYNTH_PROFILE + i for i in range(1, 10)]
    series = list(range(1000, 1080))
    films = list(range(2000, 2050))
    write("profile", [{"profile_id": p, "account_id": 1, "profile_name": f"p{p}", "country_code": "KE"} for p in pids])  # fmt: skip
    write("title", [{"title_id": t, "title_name": f"Series {t}", "title_type": "SERIES"} for t in series]
          + [{"title_id": t, "title_name": f"Film {t}", "title_type": "FILM", "runtime_sec": 6000} for t in films])  # fmt: skip
    episodes = [
        {"episode_id": t * 100 + s * 10 + e, "title_id": t, "season_number": s, "episode_number": e,
         "episode_title": f"Episode {s}x{e}", "runtime_sec": 3000}
        for t in series for s in (1, 2) for e in range(1, 11)
    ]  # fmt: skip
    write("episode", episodes)
    items = [(e["title_id"], e["episode_id"], 3000) for e in episodes] + [(t, None, 6000) for t in films]  # fmt: skip
    resume, fact = [], []
    for p in pids:
        n = rows if p == SYNTH_PROFILE else 20
        for i in range(max(1, n // 2)):
            title, episode, runtime = items[i % len(items)]
            resume.append({
                "profile_id": p, "title_id": title, "episode_id": episode,
                "content_key": episode or title, "last_position_sec": (i * 37) % runtime,
                "last_update": now - dt.timedelta(minutes=30 * i), "device_id": "tv",
                "session_id": f"r-{p}-{i}", "is_finished": i % 3 == 0, "runtime_sec": runtime,
            })  # fmt: skip
        for i in range(n):
            fact.append({
                "session_id": f"s-{p}-{i:06d}", "profile_id": p, "movie_key": i % len(items),
                "device_key": i % 3, "started_at": now - dt.timedelta(hours=3 * i),
                "watch_seconds": 60 * (i % 50), "progress_pct": float(i % 100), "is_finished": i % 4 == 0,
            })  # fmt: skip
    write("resume_state", resume)
    write("fact_watch_history", fact)
    write("dim_movies", [
        {"movie_key": k, "title_id": t, "episode_id": e, "title_name": f"Title {t}",
         "content_type": "EPISODE" if e else "MOVIE",
         "season_number": (e // 10) % 10 if e else None, "episode_number": e % 10 if e else None}
        for k, (t, e, _) in enumerate(items)
    ])  # fmt: skip
    write("dim_device", [{"device_key": k, "device_id": d, "device_type": d} for k, d in enumerate(["TV", "mobile", "web"])])  # fmt: skip
    write("show_progress", [
        {"profile_id": p, "title_id": t, "title_name": f"Series {t}", "last_season_number": 1,
         "last_episode_number": 3, "last_watched_at": now, "episodes_watched": 3,
         "completed_seasons": 0, "is_completed": False, "next_season_number": 1,
         "next_episode_number": 4, "next_episode_id": t * 100 + 14}
        for p in pids for t in series
    ])  # fmt: skip
    stats = []
    for period, count, step in (
        ("week", 260, 7),
        ("month", 60, 30),
        ("year", 5, 365),
        ("all", 1, 0),
    ):
        for k in range(count):
            day = now.date() - dt.timedelta(days=step * k)
            for breakdown, values in (("total", ["all"]), ("content_type", ["MOVIE", "EPISODE"]),
                                      ("genre", ["Dramas", "Comedies", "Thrillers"]), ("device_type", ["TV", "mobile"])):  # fmt: skip
                stats += [
                    {"profile_id": SYNTH_PROFILE, "period": period, "period_start": day, "breakdown": breakdown,
                     "breakdown_value": v, "items_watched": 3, "items_completed": 1, "watch_hours": 1.5 + j}
                    for j, v in enumerate(values)
                ]  # fmt: skip
    write("viewing_statistics", stats)
    for commit in range(8):
        write("viewing_domain_event", [
            {"event_id": f"e{commit:02d}-{i:03d}", "event_type": "MovieWatched",
             "profile_id": pids[i % len(pids)], "title_id": films[i % len(films)],
             "occurred_at": now, "payload": json.dumps({"n": i})}
            for i in range(50)
        ])  # fmt: skip
    (lake / ".bench-built").touch()
    print(f"synthetic lake ({rows:,} history rows, {len(resume) - 9 * 10:,} resume rows for "
          f"profile {SYNTH_PROFILE}) built in {time.monotonic() - start:.1f} s", flush=True)  # fmt: skip


async def per_endpoint(client, base: str, token: dict, pid: int, show: int, k: int, pages: int,
                       server_pid: int) -> list[tuple[str, float, int]]:  # fmt: skip
    """Server CPU ms per request of each single route: ``k`` requests, 4 at a time."""
    cw = f"/api/profiles/{pid}/continue-watching"
    served = (await client.get(base + cw, headers=token)).headers.get("x-served-from", "delta")
    routes = [
        (f"continue-watching ({served})", cw),
        (f"continue-watching as_of=latest ({served})", f"{cw}?as_of=latest"),
        ("viewing/history page 1", "/api/viewing/history?page=1&limit=20"),
        (f"viewing/history page {pages}", f"/api/viewing/history?page={pages}&limit=20"),
        ("viewing/progress/{showId}", f"/api/viewing/progress/{show}"),
        ("viewing/statistics week", "/api/viewing/statistics?period=week"),
        ("events after a cursor", "/api/events?after=6:&limit=50"),
        ("healthz", "/healthz"),
    ]
    out = []
    for name, path in routes:
        await client.get(base + path, headers=token)  # warm (snapshots, indexes)
        cpu = tree_cpu(server_pid)
        errors = 0
        for _ in range(k // 4):
            answers = await asyncio.gather(
                *(client.get(base + path, headers=token) for _ in range(4))
            )
            errors += sum(a.status_code >= 400 for a in answers)
        out.append((name, 1000 * (tree_cpu(server_pid) - cpu) / (4 * (k // 4)), errors))
    return out


async def route_costs(client, base: str, tokens: dict[int, dict], shows, args, server_pid: int):
    """:func:`per_endpoint` for the synthetic profile (else the first), its last history page."""
    pid = SYNTH_PROFILE if SYNTH_PROFILE in tokens else next(iter(tokens))
    first = await client.get(f"{base}/api/viewing/history?limit=20", headers=tokens[pid])
    pages = max(1, -(-first.json()["page"]["total"] // 20))
    show = (shows.get(pid) or [0])[0]
    return await per_endpoint(
        client, base, tokens[pid], pid, show, args.per_endpoint, pages, server_pid
    )


def permissive_conf(target: Path) -> Path:
    """A copy of conf/ whose api: section does not rate-limit the load test."""
    shutil.copytree(ROOT / "conf", target, dirs_exist_ok=True)
    text = (target / "base.yaml").read_text()
    text = text.replace('"6000/minute"', '"10000000/minute"').replace(
        '"12000/minute"', '"10000000/minute"'
    )
    (target / "base.yaml").write_text(text)
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server on a free 127.0.0.1 port (no persistence, a tmp dir): its URL.

    Stopped on exit. Raises SystemExit when ``redis-server`` is not installed.
    """
    import redis

    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("--redis: redis-server is not installed (apt-get install redis-server)")
    with tempfile.TemporaryDirectory(prefix="bench-redis-") as tmp:
        port = free_port()
        proc = subprocess.Popen(
            [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
             "no", "--dir", tmp],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"redis://127.0.0.1:{port}/0"
        try:
            client = redis.Redis.from_url(url)
            for _ in range(500):
                try:
                    client.ping()
                    break
                except redis.exceptions.ConnectionError:
                    time.sleep(0.02)
            client.close()
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class Recorder:
    def __init__(self) -> None:
        self.lat: dict[str, list[float]] = {}
        self.errors: dict[str, int] = {}

    def add(self, name: str, seconds: float, ok: bool) -> None:
        self.lat.setdefault(name, []).append(seconds * 1000)
        if not ok:
            self.errors[name] = self.errors.get(name, 0) + 1

    def rows(self, wall: float) -> list[tuple]:
        return [
            (name, len(v), len(v) / wall, pct(v, 50), pct(v, 99), self.errors.get(name, 0))
            for name, v in sorted(self.lat.items())
        ]


async def timed(client, rec: Recorder, name: str, method: str, url: str, **kw) -> None:
    t = time.perf_counter()
    try:
        r = await client.request(method, url, **kw)
        ok = r.status_code < 400
    except Exception:  # noqa: BLE001 - a failed request is a counted error
        ok = False
    rec.add(name, time.perf_counter() - t, ok)


async def paced(client, base: str, tokens: dict[int, dict], rate: float, seconds: float, n: int):
    """``continue-watching`` at ``rate`` req/s over ``n`` clients (each on its own tick)."""
    rec = Recorder()
    interval = n / rate
    pids = list(tokens)
    start = time.perf_counter()

    async def worker(i: int) -> None:
        k = 0
        while True:
            due = start + i * interval / n + k * interval
            if due - start > seconds:
                return
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            pid = pids[(i + k) % len(pids)]
            url = f"{base}/api/profiles/{pid}/continue-watching?as_of=latest"
            await timed(client, rec, "continue-watching @rate", "GET", url, headers=tokens[pid])
            k += 1

    await asyncio.gather(*(worker(i) for i in range(n)))
    return rec, time.perf_counter() - start


async def flat_out(
    client,
    base: str,
    tokens: dict[int, dict],
    shows,
    seconds: float,
    n: int,
    post_ids=None,
    similar_ids=None,
):
    """Every read endpoint (or POST watched when ``post_ids``), as fast as ``n`` clients go."""
    rec = Recorder()
    pids = list(tokens)
    stop = time.perf_counter() + seconds
    start = time.perf_counter()

    async def worker(i: int) -> None:
        rnd = random.Random(i)
        while time.perf_counter() < stop:
            pid = rnd.choice(pids)
            h = tokens[pid]
            if post_ids:
                key = {**h, "Idempotency-Key": uuid.uuid4().hex}
                body = {"watchDate": "2026-11-23T20:00:00Z", "viewingPlatform": "TV"}
                url = f"{base}/api/viewing/movies/{rnd.choice(post_ids)}/watched"
                await timed(
                    client, rec, "POST movies/{id}/watched", "POST", url, headers=key, json=body
                )
                continue
            kind = rnd.randrange(7 if similar_ids else 5)
            if kind == 0:
                url, name = (
                    f"{base}/api/profiles/{pid}/continue-watching?as_of=latest",
                    "continue-watching",
                )
            elif kind == 1:
                url, name = (
                    f"{base}/api/viewing/history?page={rnd.randint(1, 5)}&limit=20",
                    "viewing/history",
                )
            elif kind == 2:
                show = rnd.choice(shows.get(pid) or [0])
                url, name = f"{base}/api/viewing/progress/{show}", "viewing/progress/{showId}"
            elif kind == 3:
                period = rnd.choice(["week", "month", "year", "all"])
                url, name = f"{base}/api/viewing/statistics?period={period}", "viewing/statistics"
            elif kind == 4:
                url, name = f"{base}/api/events?limit=50", "events"
            elif kind == 5:
                url, name = (
                    f"{base}/api/profiles/{pid}/recommendations?context=home",
                    "profiles/{id}/recommendations",
                )
            else:
                model = rnd.choice(["item_cosine", "content_tfidf", "als"])
                url, name = (
                    f"{base}/api/titles/{rnd.choice(similar_ids)}/more-like-this?model={model}",
                    "titles/{id}/more-like-this",
                )
            await timed(client, rec, name, "GET", url, headers=h)

    await asyncio.gather(*(worker(i) for i in range(n)))
    return rec, time.perf_counter() - start


def print_table(title: str, rows: list[tuple]) -> None:
    print(f"\n{title}")
    print(
        "| endpoint | requests | req/s | p50 ms | p99 ms | errors |\n|---|---:|---:|---:|---:|---:|"
    )
    for name, count, rps, p50, p99, err in rows:
        print(f"| {name} | {count:,} | {rps:,.0f} | {p50:.1f} | {p99:.1f} | {err} |")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lake-root", default="/tmp/api-bench-lake")
    parser.add_argument(
        "--exports",
        nargs="*",
        default=["hh-001.csv", "hh-003.csv"],
        help="corpus files to build the lake from ('all': the 32 of the corpus)",
    )
    parser.add_argument(
        "--heartbeat-sec",
        type=int,
        default=30,
        help="importer heartbeat when building (larger: fewer landing events, faster ingest)",
    )
    parser.add_argument("--build-only", action="store_true", help="build the lake and stop")
    parser.add_argument(
        "--no-build", action="store_true", help="use --lake-root as it is (any built lake)"
    )
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=float, default=200.0, help="continue-watching req/s")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument(
        "--profile-rows",
        type=int,
        default=0,
        help="build a synthetic lake (deltalake writer) with one profile of this many "
        "history rows (and half as many resume rows) instead of running the jobs",
    )
    parser.add_argument(
        "--per-endpoint",
        type=int,
        default=0,
        help="requests per single route for the CPU-per-route table (0: skip it)",
    )
    parser.add_argument(
        "--skip-phases", action="store_true", help="only the per-route table (--per-endpoint)"
    )
    parser.add_argument(
        "--wrk-seconds",
        type=float,
        default=0,
        help="Continue Watching and a history page under wrk load (apt-get install wrk): "
        "--concurrency connections, this many seconds each; req/s, p50/p99, server CPU "
        "per request (0: skip)",
    )
    parser.add_argument(
        "--redis",
        action="store_true",
        help="start a private redis-server, fill it with jobs.rebuild_hot_store and serve "
        "with REDIS_URL set (Continue Watching from Redis, rate limits counted there)",
    )
    return parser


def sample_inputs(lake: Path):
    """Profiles, series per profile, films (POST ids), resume_state rows and titles with
    similar-title edges (More Like This ids; empty before the recommendation jobs ran)."""
    from deltalake import DeltaTable

    tables = lake / "tables"
    pids = DeltaTable(str(tables / "profile")).to_pyarrow_table().column("profile_id").to_pylist()
    progress = DeltaTable(str(tables / "show_progress")).to_pyarrow_table(
        columns=["profile_id", "title_id"]
    )
    shows: dict[int, list[int]] = {}
    for p, t in zip(*(c.to_pylist() for c in progress.columns), strict=True):
        shows.setdefault(p, []).append(t)
    titles = DeltaTable(str(tables / "title")).to_pyarrow_table(columns=["title_id", "title_type"])
    films = [
        t for t, k in zip(*(c.to_pylist() for c in titles.columns), strict=True) if k == "FILM"
    ][:200]
    resume_rows = DeltaTable(str(tables / "resume_state")).to_pyarrow_dataset().count_rows()
    similar: list[int] = []
    if (tables / "item_item_edge" / "_delta_log").is_dir():  # the recommendation jobs ran
        src = DeltaTable(str(tables / "item_item_edge")).to_pyarrow_table(columns=["src_title_id"])
        similar = sorted(set(src.column(0).to_pylist()))
        random.Random(0).shuffle(similar)
        similar = similar[:500]
    return pids, shows, films, resume_rows, similar


def prepare_lake(lake: Path, args: argparse.Namespace) -> None:
    """Build the lake at ``lake`` unless it holds one (``.bench-built``) or ``--no-build``:
    synthetic with ``--profile-rows``, else the jobs over ``--exports``."""
    if args.no_build or (lake / ".bench-built").exists():
        return
    shutil.rmtree(lake, ignore_errors=True)
    if args.profile_rows:
        build_synthetic_lake(lake, args.profile_rows)
        return
    names = (
        args.exports if args.exports != ["all"] else sorted(p.name for p in CORPUS.glob("hh-*.csv"))
    )
    build_lake(lake, [CORPUS / e for e in names], args.heartbeat_sec)


def print_per_endpoint(k: int, rows: list[tuple[str, float, int]]) -> None:
    print(f"\nserver CPU per request of each route ({k} requests, 4 at a time):")
    print("| route | CPU ms/request | errors |\n|---|---:|---:|")
    for name, ms, errors in rows:
        print(f"| {name} | {ms:.2f} | {errors} |")


def wrk_load(base: str, tokens: dict[int, dict], args, server_pid: int) -> list[tuple]:
    """Continue Watching and history page 1 flat out from wrk (``bench/wrk/api.lua reads``).

    wrk runs in its own process (C, ~µs of CPU per request), ``--concurrency``
    connections on 2 threads, every profile's token in turn (only the synthetic
    profile's on a ``--profile-rows`` lake), ``--wrk-seconds`` per route.

    Returns:
        (route, requests, req/s, p50 ms, p99 ms, failed, server CPU ms/request) per route.
    """
    routes = [
        ("continue-watching", "/api/profiles/{p}/continue-watching"),
        ("viewing/history page 1", "/api/viewing/history?page=1&limit=20"),
    ]
    if SYNTH_PROFILE in tokens:  # the long history the targets name (4,500 rows)
        tokens = {SYNTH_PROFILE: tokens[SYNTH_PROFILE]}
    rows = []
    for name, path in routes:
        spec = Path(tempfile.mkstemp(prefix="wrk-", suffix=".txt")[1])
        spec.write_text("".join(f"{path.format(p=p)} {h['Authorization'].split()[1]}\n"
                                for p, h in tokens.items()))  # fmt: skip
        cpu = tree_cpu(server_pid)
        load = start_wrk(base, args.concurrency, args.wrk_seconds, ["reads", str(spec)])
        n, failed, secs, p50, p99 = wrk_result(load)
        cpu = tree_cpu(server_pid) - cpu
        spec.unlink()
        rows.append((name, n, n / secs, p50, p99, failed, 1000 * cpu / max(n + failed, 1)))
    return rows


def report(args: argparse.Namespace, results: list) -> int:
    """Print the per-route table and the three phases' tables and CPU figures."""
    if args.per_endpoint:
        print_per_endpoint(args.per_endpoint, results.pop(0))
    if args.wrk_seconds:
        print(f"\nunder wrk load ({args.concurrency} connections, {args.wrk_seconds:.0f} s per "
              f"route, uvicorn workers {args.workers}):")  # fmt: skip
        print("| route | requests | req/s | p50 ms | p99 ms | failed | server CPU ms/request |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for r in results.pop(0):
            print("| {} | {:,} | {:,.0f} | {:.1f} | {:.1f} | {} | {:.2f} |".format(*r))
    if args.skip_phases:
        return 0
    (rec1, w1, c1), (rec2, w2, c2), (rec3, w3, c3) = results
    print_table(f"1. continue-watching paced at {args.rate:.0f} req/s", rec1.rows(w1))
    print_table("2. read endpoints, flat out", rec2.rows(w2))
    print_table("3. POST watched, flat out (unique idempotency keys)", rec3.rows(w3))
    print("\nserver CPU per request (independent of how busy the machine is):")
    for label, rec, cpu in (("1", rec1, c1), ("2", rec2, c2), ("3", rec3, c3)):
        n = sum(len(v) for v in rec.lat.values())
        print(f"  phase {label}: {1000 * cpu / max(n, 1):.2f} ms CPU/request "
              f"(=> ~{n / max(cpu, 1e-9):,.0f} req/s per fully available core)")  # fmt: skip
    lat = rec1.lat.get("continue-watching @rate", [])
    if lat:
        print(f"\nmean {statistics.mean(lat):.1f} ms; goal p99 < 50 ms at {args.rate:.0f} req/s: "
              f"{'met' if pct(lat, 99) < 50 else 'missed'}")  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)

    lake = Path(args.lake_root)
    prepare_lake(lake, args)
    if args.build_only:
        return 0
    with private_redis() if args.redis else nullcontext() as redis_url:
        if redis_url is not None:
            os.environ["REDIS_URL"] = redis_url  # the rebuild's and the server's
            run("jobs.rebuild_hot_store", lake=lake)
        return serve_and_measure(lake, args)


def serve_and_measure(lake: Path, args: argparse.Namespace) -> int:
    """Start uvicorn on ``lake`` (``REDIS_URL`` as in this process), run the phases, report."""
    import httpx

    pids, shows, films, resume_rows, similar = sample_inputs(lake)
    conf = permissive_conf(Path(tempfile.mkdtemp(prefix="api-bench-conf-")))
    env = {
        **os.environ,
        "LAKEHOUSE_ROOT": str(lake),
        "LAKEHOUSE_CONF_DIR": str(conf),
        "PYTHONPATH": str(ROOT),
    }
    from api.settings import load_api_settings
    from api.tokens import issue

    os.environ["LAKEHOUSE_CONF_DIR"] = str(conf)
    settings = load_api_settings()
    tokens = {p: {"Authorization": f"Bearer {issue(settings, p, ttl_minutes=60)}"} for p in pids}
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
         "--port", str(port), "--workers", str(args.workers), "--log-level", "warning", "--no-access-log"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        print(
            f"\nlake {lake}: {len(pids)} profiles, resume_state {resume_rows:,} rows, "
            f"{len(similar)} titles with similar-title edges sampled; "
            f"{args.concurrency} clients, {args.seconds:.0f} s phases, uvicorn workers {args.workers}; "
            f"hot store: {'private Redis (--redis)' if os.environ.get('REDIS_URL') else 'off'}; "
            f"{os.cpu_count()} cores shared with other work"
        )

        async def phases():
            limits = httpx.Limits(
                max_connections=args.concurrency, max_keepalive_connections=args.concurrency
            )
            async with httpx.AsyncClient(limits=limits, timeout=30) as client:
                for pid in pids:  # warm every path once (snapshots, lookups)
                    await client.get(
                        f"{base}/api/profiles/{pid}/continue-watching", headers=tokens[pid]
                    )
                out = []
                if args.per_endpoint:
                    out.append(await route_costs(client, base, tokens, shows, args, server.pid))
                if args.wrk_seconds:
                    out.append(wrk_load(base, tokens, args, server.pid))
                if args.skip_phases:
                    return out
                for phase in (
                    lambda: paced(client, base, tokens, args.rate, args.seconds, args.concurrency),
                    lambda: flat_out(
                        client,
                        base,
                        tokens,
                        shows,
                        args.seconds,
                        args.concurrency,
                        similar_ids=similar,
                    ),  # fmt: skip
                    lambda: flat_out(
                        client, base, tokens, shows, args.seconds / 3, args.concurrency, films
                    ),
                ):
                    cpu = tree_cpu(server.pid)
                    rec, wall = await phase()
                    out.append((rec, wall, tree_cpu(server.pid) - cpu))
                return out

        results = asyncio.run(phases())
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(conf, ignore_errors=True)
        for f in (lake / "landing").glob("api-*.jsonl"):  # the POST phase's statements
            f.unlink()
    return report(args, results)


if __name__ == "__main__":
    sys.exit(main())
