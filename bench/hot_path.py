"""The hot path: heartbeat POSTed on device A → position read on device B (real uvicorn + Redis).

Three phases, each optional:

1. ``lag`` (per ``--rates``): a private ``redis-server`` (free port, no persistence) and a
   real ``uvicorn api.app:create_app`` (``--workers``) over a small lake written with
   delta-rs (``--profiles`` profiles, 200 films; rate limits lifted in a conf copy).
   ``--generators`` processes POST heartbeats to ``/api/playback/events`` paced at the
   rate (``--events-per-post`` heartbeats of one profile per POST; positions only grow)
   for ``--seconds``. Meanwhile the main process runs ``--probes-per-sec`` probes, each on
   a profile of its own pool: POST one heartbeat with a fresh position on device A, and
   from the moment it is sent, poll ``GET /api/profiles/{p}/continue-watching`` (device B)
   every ``--poll-ms`` until the position shows. A probe's lag is the arrival of the first
   answer showing it minus the send of the POST (so it includes the POST's wait for its
   landing group to be durable, ``api.event_flush_ms``). Prints achieved heartbeats/s,
   POST p50/p99, probe lag p50/p99/max and the server's CPU per request.
2. ``memory``: ``--memory-profiles`` profiles × ``--items-per-profile`` resume rows of
   real-looking ids (9-digit profiles, 8-digit content keys, UUID sessions, two devices)
   written through ``HotStore.apply_resume_rows``; ``MEMORY USAGE`` per key family
   (mean of a sample) and ``used_memory`` per million resume keys; the sizing for
   150 M profiles.
3. ``reads``: ``HotStore.resume_rows`` (the Continue Watching read, one Lua call) flat
   out from ``--generators`` processes on the filled store: reads/s and redis-server CPU
   per read, i.e. reads/s one shard (one core) serves.

Usage::

    .venv/bin/python bench/hot_path.py                                # all phases, 200 and 1,000/s
    .venv/bin/python bench/hot_path.py --phases lag --rates 200 1000 5000 --seconds 20
    .venv/bin/python bench/hot_path.py --phases memory reads --memory-profiles 50000
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import multiprocessing as mp
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
FILMS = range(1, 201)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and its reaped children (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its live children (uvicorn's workers)."""
    total = cpu_seconds(pid)
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        for c in child.read_text().split():
            try:
                total += cpu_seconds(int(c))
            except FileNotFoundError:
                pass
    return total


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def start_redis(tmp: Path) -> tuple[subprocess.Popen, str]:
    import redis

    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp)],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(200):
        try:
            if redis.Redis.from_url(url).ping():
                return proc, url
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


def build_lake(lake: Path, profiles: list[int]) -> None:
    """profile, title (200 films, 100 min), resume_state (one row): what the API reads."""
    import pyarrow as pa
    from deltalake import DeltaTable, write_deltalake

    from jobs.core.storage.delta import arrow_schema
    from jobs.core.tables.registry import get_spec

    def write(name: str, rows: list[dict]) -> None:
        spec = get_spec(name)
        schema = arrow_schema(spec.schema)
        path = lake / "tables" / name
        DeltaTable.create(str(path), schema, configuration=spec.properties or None)
        full = [{c: r.get(c) for c in schema.names} for r in rows]
        write_deltalake(str(path), pa.Table.from_pylist(full, schema), mode="append")

    write("profile", [{"profile_id": p, "account_id": p, "profile_name": f"P{p}",
                       "country_code": "GT"} for p in profiles])  # fmt: skip
    write("title", [{"title_id": t, "title_name": f"Film {t}", "title_type": "FILM",
                     "runtime_sec": 6000} for t in FILMS])  # fmt: skip
    write("episode", [])
    now = dt.datetime.now(dt.UTC)
    write("resume_state", [{"profile_id": profiles[0], "title_id": 1, "content_key": 1,
                            "last_position_sec": 1, "last_update": now, "device_id": "tv",
                            "session_id": "seed", "is_finished": False,
                            "runtime_sec": 6000}])  # fmt: skip
    (lake / "landing").mkdir(parents=True, exist_ok=True)


def permissive_conf(target: Path) -> Path:
    """A copy of conf/ whose api: section does not rate-limit the bench."""
    shutil.copytree(ROOT / "conf", target, dirs_exist_ok=True)
    text = (target / "base.yaml").read_text()
    for limit in ('"6000/minute"', '"12000/minute"'):
        text = text.replace(limit, '"100000000/minute"')
    (target / "base.yaml").write_text(text)
    return target


def beat(session: str, pos: int, title: int, device: str) -> dict:
    when = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return {"session_id": session, "event_time": when, "event_type": "HEARTBEAT",
            "position_sec": pos, "device_id": device, "title_id": title, "runtime_sec": 6000}  # fmt: skip


def generator(base: str, tokens: dict, rate: float, seconds: float, per_post: int, out) -> None:
    """One load process: POSTs paced at ``rate`` heartbeats/s; sends back POST latencies."""
    import httpx

    async def run() -> list[float]:
        lat: list[float] = []
        pids = list(tokens)
        posts = rate / per_post
        start = time.monotonic()
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(limits=limits, timeout=30) as client:
            sent = 0
            pending: set[asyncio.Task] = set()

            async def post(i: int) -> None:
                pid = pids[i % len(pids)]
                events = [beat(f"g{os.getpid()}-{pid}", 30 * (i + k), FILMS[i % 200], "tv-a")
                          for k in range(per_post)]  # fmt: skip
                t = time.monotonic()
                r = await client.post(f"{base}/api/playback/events", json={"events": events},
                                      headers=tokens[pid])  # fmt: skip
                lat.append((time.monotonic() - t) * 1000 if r.status_code == 202 else -1.0)

            while (now := time.monotonic() - start) < seconds:
                due = int(now * posts) + 1
                while sent < due and len(pending) < 256:
                    task = asyncio.create_task(post(sent))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                    sent += 1
                await asyncio.sleep(0.002)
            if pending:
                await asyncio.wait(pending)
        return lat

    out.put(asyncio.run(run()))


WRK_SCRIPT = ROOT / "bench" / "wrk" / "api.lua"


def start_wrk(
    base: str, connections: int, seconds: float, script_args: list[str]
) -> subprocess.Popen:
    """wrk on 2 threads with ``bench/wrk/api.lua`` (its arguments: ``script_args``)."""
    return subprocess.Popen(
        ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds:.0f}s", "--timeout", "30s",
         "-s", str(WRK_SCRIPT), base, "--", *script_args],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip


def wrk_result(proc: subprocess.Popen) -> tuple[int, int, float, float, float]:
    """(2xx answers, failed requests, seconds, p50 ms, p99 ms) from the ``WRK`` line."""
    out, _ = proc.communicate(timeout=300)
    line = next((x for x in out.splitlines() if x.startswith("WRK ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    total, status, socket_errors, secs, p50, p99 = line.split()[1:]
    failed = int(status) + int(socket_errors)
    return int(total) - int(status), failed, float(secs), float(p50), float(p99)


def heartbeat_load(base: str, tokens: dict, rate: float, args, tmp: Path) -> subprocess.Popen:
    """wrk POSTing ``rate`` heartbeats/s for ``args.seconds`` (``api.lua heartbeats``).

    wrk keeps ``connections`` connections, each waiting ``gap`` ms after an answer before
    its next POST; an answer takes about ``api.event_flush_ms`` (the landing group's
    flush, 200 ms, that a POST waits for), so connections = POSTs/s × (gap + 250 ms): the
    rate is met while answers come in time and falls below it (shown as achieved) once
    the server queues. Each connection stands for many players (one POST per 30 s each).
    """
    posts = rate / args.events_per_post
    gap_ms = 50
    connections = max(2, min(2000, round(posts * (gap_ms + 250) / 1000)))
    token_file = tmp / "wrk-tokens.txt"
    token_file.write_text("".join(f"{p} {h['Authorization'].split()[1]}\n"
                                  for p, h in tokens.items()))  # fmt: skip
    films = ",".join(map(str, FILMS))
    script_args = ["heartbeats", str(token_file), str(args.events_per_post), str(gap_ms), films]
    return start_wrk(base, connections, args.seconds, script_args)


async def probes(base: str, tokens: dict, per_sec: float, seconds: float, poll_ms: float):
    """Device A posts a fresh position; device B polls Continue Watching until it shows."""
    import httpx

    lags: list[float] = []
    misses = polls = 0
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(i: int, pid: int) -> None:
            nonlocal misses, polls
            # a fresh position per probe, below 95% of the 6,000 s runtime (else "finished")
            pos, title = 100 + i % 5000, FILMS[i % 200]
            t = time.monotonic()
            posted = asyncio.create_task(client.post(
                f"{base}/api/playback/events", json={"events": [beat(f"probe-{pid}-{i}", pos,
                title, "phone-a")]}, headers=tokens[pid]))  # fmt: skip
            while time.monotonic() - t < 10:
                r = await client.get(f"{base}/api/profiles/{pid}/continue-watching",
                                     headers=tokens[pid])  # fmt: skip
                polls += 1
                items = r.json().get("items", []) if r.status_code == 200 else []
                if any(it["title_id"] == title and it["position_sec"] == pos for it in items):
                    lags.append((time.monotonic() - t) * 1000)
                    break
                await asyncio.sleep(poll_ms / 1000)
            else:
                misses += 1
            await posted

        pids = list(tokens)
        tasks, start, i = [], time.monotonic(), 0
        while time.monotonic() - start < seconds:
            tasks.append(asyncio.create_task(one(i, pids[i % len(pids)])))
            i += 1
            await asyncio.sleep(1 / per_sec)
        await asyncio.gather(*tasks)
    return lags, misses, polls


def lag_phase(args, tmp: Path) -> list[tuple]:
    import httpx

    from api.settings import load_api_settings
    from api.tokens import issue

    load = list(range(100_000_001, 100_000_001 + args.profiles))
    probe = list(range(200_000_001, 200_000_001 + 200))
    lake = tmp / "lake"
    build_lake(lake, load + probe)
    conf = permissive_conf(tmp / "conf")
    os.environ["LAKEHOUSE_CONF_DIR"] = str(conf)
    settings = load_api_settings("local")

    def token(p: int) -> dict:
        return {"Authorization": f"Bearer {issue(settings, p, ttl_minutes=120)}"}

    load_tokens, probe_tokens = {p: token(p) for p in load}, {p: token(p) for p in probe}
    rows = []
    for rate in args.rates:
        redis_proc, url = start_redis(tmp)
        port = free_port()
        env = {**os.environ, "LAKEHOUSE_ENV": "local", "LAKEHOUSE_ROOT": str(lake),
               "LAKEHOUSE_CONF_DIR": str(conf), "REDIS_URL": url, "PYTHONPATH": str(ROOT)}  # fmt: skip
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host",
             "127.0.0.1", "--port", str(port), "--workers", str(args.workers),
             "--log-level", "warning", "--no-access-log"],
            cwd=ROOT, env=env,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    httpx.get(f"{base}/healthz", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            for pid in probe[:20]:  # warm the workers' snapshots and catalogue (not measured)
                httpx.get(f"{base}/api/profiles/{pid}/continue-watching", headers=probe_tokens[pid])
            cpu0 = tree_cpu(server.pid)
            if args.load == "wrk":
                load = heartbeat_load(base, load_tokens, rate, args, tmp)
            else:
                out: mp.Queue = mp.Queue()
                gens = [
                    mp.Process(target=generator, args=(base, dict(list(load_tokens.items())[g::args.generators]),
                               rate / args.generators, args.seconds, args.events_per_post, out))
                    for g in range(args.generators)
                ]  # fmt: skip
                for g in gens:
                    g.start()
            lags, misses, polls = asyncio.run(
                probes(base, probe_tokens, args.probes_per_sec, args.seconds, args.poll_ms)
            )
            if args.load == "wrk":
                done, failed, _, p50, p99 = wrk_result(load)
            else:
                posts = [x for _ in gens for x in out.get()]
                for g in gens:
                    g.join()
                ok = [x for x in posts if x >= 0]
                done, failed, p50, p99 = len(ok), len(posts) - len(ok), pct(ok, 50), pct(ok, 99)
            cpu = tree_cpu(server.pid) - cpu0
            requests = done + failed + polls + len(lags) + misses  # + the probes' POSTs
            rows.append((
                rate, done * args.events_per_post / args.seconds, failed, p50, p99, len(lags),
                misses, pct(lags, 50), pct(lags, 99), max(lags, default=float("nan")),
                cpu / max(requests, 1) * 1000,
            ))  # fmt: skip
            print(f"rate {rate}: done", flush=True)
        finally:
            server.terminate()
            server.wait(30)
            redis_proc.terminate()
            redis_proc.wait(10)
            shutil.rmtree(lake / "landing", ignore_errors=True)
            (lake / "landing").mkdir()
    return rows


def fill(url: str, profiles: int, items: int) -> None:
    from jobs.core.runtime.config import load_config
    from jobs.core.serving.hot_store import HotStore

    store = HotStore.from_config(load_config("local"), url=url)
    rng = random.Random(22)
    now = dt.datetime.now(dt.UTC)
    batch: list[dict] = []
    for p in range(profiles):
        pid = 100_000_000 + rng.randrange(900_000_000)
        for _ in range(items):
            ck = 80_000_000 + rng.randrange(10_000_000)
            for device in ("tv-" + uuid.uuid4().hex[:12], "phone-" + uuid.uuid4().hex[:12]):
                batch.append({
                    "profile_id": pid, "title_id": ck if ck % 3 else ck // 1000,
                    "episode_id": None if ck % 3 else ck, "content_key": ck,
                    "last_position_sec": rng.randrange(7200),
                    "last_update": now - dt.timedelta(seconds=rng.randrange(80 * 86400)),
                    "device_id": device, "session_id": str(uuid.uuid4()),
                    "is_finished": False, "runtime_sec": 7200,
                })  # fmt: skip
        if len(batch) >= 20_000 or p == profiles - 1:
            store.apply_resume_rows(batch)
            batch = []


def memory_phase(url: str, redis_pid: int, args) -> dict:
    import redis

    client = redis.Redis.from_url(url)
    client.flushall()
    base = client.info("memory")["used_memory"]
    cpu0 = cpu_seconds(redis_pid)
    fill(url, args.memory_profiles, args.items_per_profile)
    merge_us = (
        (cpu_seconds(redis_pid) - cpu0) / (args.memory_profiles * args.items_per_profile * 2) * 1e6
    )
    used = client.info("memory")["used_memory"] - base
    families: dict[str, list[int]] = {}
    for key in client.scan_iter("vl:*", count=1000):
        family = key.split(b":")[1].decode()
        if len(families.get(family, [])) < 2000:
            families.setdefault(family, []).append(client.memory_usage(key, samples=0))
    counts = {f: sum(1 for _ in client.scan_iter(f"vl:{f}:*", count=5000)) for f in families}
    return {
        "used": used,
        "merge_us": merge_us,
        "families": {f: (counts[f], sum(v) / len(v)) for f, v in families.items()},
    }


def reader(url: str, pids: list[int], seconds: float, out) -> None:
    from jobs.core.runtime.config import load_config
    from jobs.core.serving.hot_store import HotStore

    store = HotStore.from_config(load_config("local"), url=url)
    n, start = 0, time.monotonic()
    while time.monotonic() - start < seconds:
        store.resume_rows(pids[n % len(pids)])
        n += 1
    out.put(n)


def reads_phase(url: str, redis_pid: int, args) -> tuple[float, float]:
    import redis

    client = redis.Redis.from_url(url)
    pids = sorted(
        {int(k.split(b"{")[1].split(b"}")[0]) for k in client.scan_iter("vl:recent:*", count=5000)}
    )
    out: mp.Queue = mp.Queue()
    procs = [mp.Process(target=reader, args=(url, pids[g::args.generators], args.read_seconds, out))
             for g in range(args.generators)]  # fmt: skip
    cpu0 = cpu_seconds(redis_pid)
    for p in procs:
        p.start()
    total = sum(out.get() for _ in procs)
    for p in procs:
        p.join()
    cpu = cpu_seconds(redis_pid) - cpu0
    return total / args.read_seconds, cpu / total * 1e6


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--phases", nargs="+", default=["lag", "memory", "reads"])
    p.add_argument("--rates", nargs="+", type=float, default=[200, 1000])
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--generators", type=int, default=2)
    p.add_argument(
        "--load",
        choices=["wrk", "python"],
        default="wrk" if shutil.which("wrk") else "python",
        help="the heartbeat load: wrk (apt-get install wrk; default when installed; bench/wrk/api.lua) or "
        "--generators httpx processes (a few hundred POSTs/s: they saturate before the server)",
    )
    p.add_argument("--events-per-post", type=int, default=1)
    p.add_argument("--profiles", type=int, default=2000, help="load profiles (tokens)")
    p.add_argument("--probes-per-sec", type=float, default=5)
    p.add_argument("--poll-ms", type=float, default=5)
    p.add_argument("--memory-profiles", type=int, default=20_000)
    p.add_argument("--items-per-profile", type=int, default=20)
    p.add_argument("--read-seconds", type=float, default=10)
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="hot-path-"))
    try:
        if "lag" in args.phases:
            rows = lag_phase(args, tmp)
            load = "wrk" if args.load == "wrk" else f"{args.generators} generator processes"
            print(f"\n### lag: uvicorn workers {args.workers}, load {load}, "
                  f"{args.events_per_post} heartbeat(s) per POST, {args.seconds:.0f} s "
                  f"per rate, {os.cpu_count()} cores\n")  # fmt: skip
            print(
                "| target hb/s | achieved hb/s | failed POSTs | POST p50 ms | POST p99 ms | probes "
                "| probes unseen (10 s) | lag p50 ms | lag p99 ms | lag max ms | server CPU ms/request |"
            )
            print("|---|---|---|---|---|---|---|---|---|---|---|")
            for r in rows:
                print("| {:,.0f} | {:,.0f} | {} | {:.1f} | {:.1f} | {} | {} | {:.0f} | {:.0f} | {:.0f} "
                      "| {:.2f} |".format(*r))  # fmt: skip
        if {"memory", "reads"} & set(args.phases):
            redis_proc, url = start_redis(tmp)
            try:
                mem = memory_phase(url, redis_proc.pid, args)
                keys = args.memory_profiles * args.items_per_profile
                per_profile = mem["used"] / args.memory_profiles
                print(f"\n### memory: {args.memory_profiles:,} profiles x {args.items_per_profile} "
                      f"items, 2 devices each (redis-server 7, {keys:,} resume keys)\n")  # fmt: skip
                print("| key family | keys | MEMORY USAGE mean bytes |")
                print("|---|---|---|")
                for f, (n, b) in sorted(mem["families"].items()):
                    print(f"| {f} | {n:,} | {b:,.0f} |")
                print(f"\nused_memory: {mem['used'] / 2**20:,.1f} MiB = {per_profile:,.0f} B per "
                      f"profile, {mem['used'] / keys * 1e6 / 2**30:,.2f} GiB per million resume keys; "
                      f"150 M profiles: {per_profile * 150e6 / 2**40:,.2f} TiB; redis-server CPU "
                      f"{mem['merge_us']:,.1f} µs per merged row (pipelined EVALSHA) = "
                      f"{1e6 / mem['merge_us']:,.0f} merges/s per core")  # fmt: skip
                if "reads" in args.phases:
                    rate, us = reads_phase(url, redis_proc.pid, args)
                    print(f"\n### reads: resume_rows (one Lua call, {args.items_per_profile} rows) "
                          f"from {args.generators} processes: {rate:,.0f} reads/s, "
                          f"redis-server CPU {us:,.1f} µs per read = {1e6 / us:,.0f} reads/s per "
                          f"core (shard)")  # fmt: skip
            finally:
                redis_proc.terminate()
                redis_proc.wait(10)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
