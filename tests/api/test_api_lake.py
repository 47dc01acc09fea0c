"""The API on a lake built by the real jobs from the bundled sample export.

* Continue Watching over HTTP equals the Spark job's rows, profile by profile;
* a real uvicorn process: POST watched (retried) -> ingest --once -> one playback_event;
* POST watched (retried) and abandon -> ingest -> star schema and activity builds -> the
  history shows the film once, viewing_record / abandoned_content / viewing_companion
  hold the statements; after erasure no file holds the companion's name;
* erasure: afterwards no file under the lake root holds the profile's id or name.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from fastapi.testclient import TestClient

from api.app import create_app
from api.lookups import RESUME_COLUMNS, catalog
from api.settings import load_api_settings
from api.tokens import issue
from jobs.core.rules.continue_watching import continue_watching_rows
from jobs.core.runtime.config import load_config
from tests.dq.sample_lake import build_sample_lake

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sample_cfg(spark, tmp_path_factory):
    # API_TEST_LAKE_BASE: reuse a sample lake built by an earlier run (it is never modified)
    base = os.environ.get("API_TEST_LAKE_BASE") or tmp_path_factory.getbasetemp()
    return build_sample_lake(spark, Path(base))


def copy_of(cfg, target: Path, landing: bool = True):
    """A copy of the lake; its stream checkpoint names the original's files, so it is left out."""
    skip = [".built", "_checkpoints"] + ([] if landing else ["landing"])
    shutil.copytree(cfg.paths.lake_root, target, ignore=shutil.ignore_patterns(*skip))
    return load_config("test", str(target))


def token(profile: int, admin: bool = False) -> dict:
    return {"Authorization": f"Bearer {issue(load_api_settings(), profile, admin)}"}


def profiles(cfg) -> dict[int, str]:
    t = DeltaTable(cfg.table_path("profile")).to_pyarrow_table()
    return dict(
        zip(t.column("profile_id").to_pylist(), t.column("profile_name").to_pylist(), strict=True)
    )


def test_continue_watching_over_http_equals_the_spark_job(spark, sample_cfg):
    from jobs.core.rules.continue_watching_spark import continue_watching
    from jobs.core.storage.delta import get_engine

    engine = get_engine(spark, sample_cfg)
    resume = engine.read("resume_state")
    client = TestClient(create_app(env="test", lake_root=sample_cfg.paths.lake_root))
    compared = 0
    for pid in profiles(sample_cfg):
        latest = client.get(
            f"/api/profiles/{pid}/continue-watching", params={"as_of": "latest"}, headers=token(pid)
        ).json()
        as_of = dt.datetime.fromisoformat(latest["as_of"].replace("Z", "+00:00"))
        for when in (as_of, as_of - dt.timedelta(days=20)):
            spark_rows = [
                {**r.asDict(), "last_update": r.last_update.replace(tzinfo=dt.UTC)}
                for r in continue_watching(
                    resume, engine.read("title"), engine.read("episode"), pid, when, 90, 10
                ).collect()
            ]
            if when == as_of:
                items = [
                    {
                        **i,
                        "last_update": dt.datetime.fromisoformat(
                            i["last_update"].replace("Z", "+00:00")
                        ),
                    }
                    for i in latest["items"]
                ]
            else:  # an ISO as_of would also time-travel the table: apply the rule at that moment
                st = client.app.state.api
                rows = st.lake.latest("resume_state").rows(pid, RESUME_COLUMNS).to_pylist()
                items = continue_watching_rows(rows, catalog(st), when, 90, 10)
            assert items == spark_rows
            compared += len(items)
    assert compared >= 5  # the sample has unfinished series and films


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_post_watched_over_real_uvicorn_then_ingest_keeps_one_event(spark, sample_cfg, tmp_path):
    from jobs.core.ingest import query as ingest

    cfg = copy_of(sample_cfg, tmp_path / "lake", landing=False)
    pid = next(iter(profiles(cfg)))
    films = DeltaTable(cfg.table_path("title")).to_pyarrow_table().to_pylist()
    film = next(t for t in films if t["title_type"] == "FILM" and t["runtime_sec"])
    port = _free_port()
    env = {
        **os.environ,
        "LAKEHOUSE_ENV": "test",
        "LAKEHOUSE_ROOT": str(tmp_path / "lake"),
        "PYTHONPATH": str(ROOT),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        headers = {**token(pid), "Idempotency-Key": "watch-once"}
        body = {"watchDate": "2026-11-23T10:00:00Z", "viewingPlatform": "TV"}
        answers = [
            httpx.post(
                f"{base}/api/viewing/movies/{film['title_id']}/watched",
                json=body,
                headers=headers,
                timeout=30,
            )
            for _ in range(3)
        ]
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert [a.status_code for a in answers] == [201, 200, 200]
    rid = answers[0].json()["record_id"]
    assert {a.json()["record_id"] for a in answers} == {rid}
    ingest.run(cfg, once=True, spark=spark)
    events = DeltaTable(cfg.table_path("playback_event")).to_pyarrow_table().to_pylist()
    mine = [e for e in events if e["session_id"] == f"api-{rid}"]
    assert len(mine) == 1
    assert (mine[0]["event_type"], mine[0]["profile_id"], mine[0]["position_sec"]) == (
        "WATCHED",
        pid,
        film["runtime_sec"],
    )
    state = DeltaTable(cfg.table_path("resume_state")).to_pyarrow_table().to_pylist()
    [point] = [r for r in state if r["profile_id"] == pid and r["content_key"] == film["title_id"]]
    assert point["is_finished"] and point["session_id"] == f"api-{rid}"
    ingest.run(cfg, once=True, spark=spark)  # a rerun finds nothing new
    again = DeltaTable(cfg.table_path("playback_event")).to_pyarrow_table()
    assert again.num_rows == len(events)


def _serve(lake: Path):
    """A real uvicorn process on the lake; returns (process, base URL) once it answers."""
    port = _free_port()
    env = {
        **os.environ,
        "LAKEHOUSE_ENV": "test",
        "LAKEHOUSE_ROOT": str(lake),
        "PYTHONPATH": str(ROOT),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{base}/healthz", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.2)
    return server, base


def test_statements_over_real_uvicorn_reach_history_records_abandonments_and_companions(
    spark, sample_cfg, tmp_path
):
    from jobs import erase_profile
    from jobs.core.activity import build as activity_build
    from jobs.core.ingest import query as ingest
    from jobs.core.star import build as star_build
    from jobs.core.storage.delta import get_engine

    lake = tmp_path / "lake"
    cfg = copy_of(sample_cfg, lake, landing=False)
    pid = next(iter(profiles(cfg)))
    seen = {r["title_id"] for r in DeltaTable(cfg.table_path("resume_state")).to_pyarrow_table().to_pylist() if r["profile_id"] == pid}  # fmt: skip
    films = [t for t in DeltaTable(cfg.table_path("title")).to_pyarrow_table().to_pylist()
             if t["title_type"] == "FILM" and t["runtime_sec"] and t["title_id"] not in seen]  # fmt: skip
    watched, dropped = films[0], films[1]
    companion = "Zelda Companion-Quux"
    server, base = _serve(lake)
    try:
        post = {**token(pid), "Idempotency-Key": "statement-1"}
        body = {"watchDate": "2026-11-23T10:00:00Z", "viewingPlatform": "TV",
                "watchedWith": [companion], "viewingLocation": "home"}  # fmt: skip
        url = f"{base}/api/viewing/movies/{watched['title_id']}/watched"
        answers = [httpx.post(url, json=body, headers=post, timeout=30) for _ in range(2)]
        gave_up = httpx.post(
            f"{base}/api/viewing/{dropped['title_id']}/abandon",
            json={"abandonDate": "2026-11-23T11:00:00Z", "progressPercent": 20,
                  "abandonReason": "too slow", "qualityRating": 2, "wouldRetry": False},
            headers={**token(pid), "Idempotency-Key": "statement-2"}, timeout=30,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert [a.status_code for a in answers] == [201, 200] and gave_up.status_code == 201
    rid = answers[0].json()["record_id"]

    ingest.run(cfg, once=True, spark=spark)
    engine = get_engine(spark, cfg)
    star_build.build(engine, "latest")
    activity_build.build(engine, "latest")

    client = TestClient(create_app(env="test", lake_root=str(lake)))
    history = client.get(
        "/api/viewing/history",
        params={"startDate": "2026-11-23", "endDate": "2026-11-23", "limit": 100},
        headers=token(pid),
    ).json()["items"]
    assert [i["title_id"] for i in history].count(watched["title_id"]) == 1
    records = [r for r in DeltaTable(cfg.table_path("viewing_record")).to_pyarrow_table().to_pylist()
               if r["profile_id"] == pid and r["content_key"] == watched["title_id"]]  # fmt: skip
    assert [(r["watch_number"], r["is_completed"], r["is_rewatch"]) for r in records] == [
        (1, True, False)
    ]
    assert records[0]["completed_at"] == dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)
    [abandon] = [r for r in DeltaTable(cfg.table_path("abandoned_content")).to_pyarrow_table().to_pylist()
                 if r["profile_id"] == pid and r["content_key"] == dropped["title_id"]]  # fmt: skip
    assert (abandon["abandon_reason"], abandon["quality_rating"], abandon["would_retry"],
            abandon["progress_pct"]) == ("too slow", 2, False, 20.0)  # fmt: skip
    [mate] = DeltaTable(cfg.table_path("viewing_companion")).to_pyarrow_table().to_pylist()
    assert (mate["statement_id"], mate["profile_id"], mate["companion_name"]) == (
        rid,
        pid,
        companion,
    )
    events = DeltaTable(cfg.table_path("viewing_domain_event")).to_pyarrow_table().to_pylist()
    [movie] = [e for e in events if e["profile_id"] == pid and e["event_type"] == "MovieWatched"
               and e["title_id"] == watched["title_id"]]  # fmt: skip
    assert json.loads(movie["payload"])["watched_with"] == [companion]

    # right to erasure: no file under the lake root still holds the companion's name
    assert (
        erase_profile.main(["--profile-id", str(pid), "--env", "test", "--lake-root", str(lake)])
        == 0
    )
    needle = companion.encode()
    holders = [
        str(f.relative_to(lake))
        for f in lake.rglob("*")
        if f.is_file() and needle in f.read_bytes()
    ]
    assert holders == []


def _int64_columns_hold(path: Path, value: int, name: str) -> bool:
    table = pq.read_table(path)
    for column in table.columns:
        if pa.types.is_integer(column.type) and value in column.to_pylist():
            return True
        if pa.types.is_string(column.type) and any(name == v for v in column.to_pylist()):
            return True
    return False


def test_erasure_leaves_no_file_holding_the_id_or_the_name(sample_cfg, tmp_path):
    from jobs import erase_profile

    cfg = copy_of(sample_cfg, tmp_path / "lake")
    people = profiles(cfg)
    pid, name = next((p, n) for p, n in people.items() if n == "Profile 1")
    other = next(p for p in people if p != pid)
    lake = Path(cfg.paths.lake_root)

    def holders() -> list[str]:
        needles = [str(pid).encode(), name.encode(), pid.to_bytes(8, "little", signed=True)]
        found = []
        for f in lake.rglob("*"):
            if not f.is_file():
                continue
            data = f.read_bytes()
            if any(n in data for n in needles) or (
                f.suffix == ".parquet" and _int64_columns_hold(f, pid, name)
            ):
                found.append(str(f.relative_to(lake)))
        return found

    before = holders()
    assert any("resume_state" in f for f in before) and any(f.startswith("landing") for f in before)
    cw_before = (
        TestClient(create_app(env="test", lake_root=str(lake)))
        .get(
            f"/api/profiles/{other}/continue-watching",
            params={"as_of": "latest"},
            headers=token(other),
        )
        .json()["items"]
    )
    assert (
        erase_profile.main(["--profile-id", str(pid), "--env", "test", "--lake-root", str(lake)])
        == 0
    )
    assert holders() == []
    client = TestClient(create_app(env="test", lake_root=str(lake)))
    mine = client.get(
        f"/api/profiles/{pid}/continue-watching", params={"as_of": "latest"}, headers=token(pid)
    )
    assert mine.json()["items"] == []
    theirs = client.get(
        f"/api/profiles/{other}/continue-watching", params={"as_of": "latest"}, headers=token(other)
    ).json()["items"]
    assert theirs == cw_before and theirs  # the other profile is untouched
    [logged] = DeltaTable(cfg.table_path("erasure_log")).to_pyarrow_table().to_pylist()
    assert logged["rows_deleted"] > 0 and logged["tables_changed"] >= 5
    assert str(pid) not in str(logged)
    # time travel now starts at the erasure: the old version is gone
    first = min(h["version"] for h in DeltaTable(cfg.table_path("resume_state")).history())
    assert first > 0
    old = client.get(
        f"/api/profiles/{other}/continue-watching", params={"version": 0}, headers=token(other)
    )
    assert old.status_code == 404
