"""A small lake written with delta-rs (no Spark) and an API client over it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from api.settings import load_api_settings
from api.tokens import issue
from jobs.core.runtime.config import load_config
from jobs.core.storage.delta import arrow_schema
from jobs.core.tables.registry import get_spec

NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
P, OTHER = 111111111, 222222222


def at(days_ago: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days_ago)


def write(tables_dir: Path, name: str, rows: list[dict], mode: str = "append") -> None:
    """Append ``rows`` (missing columns NULL) to table ``name`` with its declared schema."""
    spec = get_spec(name)
    schema = arrow_schema(spec.schema)
    path = tables_dir / name
    if not (path / "_delta_log").is_dir():
        DeltaTable.create(str(path), schema, configuration=spec.properties or None)
    full = [{c: r.get(c) for c in schema.names} for r in rows]
    write_deltalake(str(path), pa.Table.from_pylist(full, schema), mode=mode)


def resume(profile, title, episode, pos, when, finished=False, runtime=None):
    return {
        "profile_id": profile,
        "title_id": title,
        "episode_id": episode,
        "content_key": episode or title,
        "last_position_sec": pos,
        "last_update": when,
        "device_id": "tv",
        "session_id": f"s-{profile}-{episode or title}",
        "is_finished": finished,
        "runtime_sec": runtime,
    }


RESUME_ROWS = [
    resume(P, 10, 101, 3000, at(3), finished=True, runtime=3100),
    resume(P, 10, 102, 1200, at(1)),
    resume(P, 20, None, 4050, at(2), runtime=8100),
    resume(P, 30, None, 5900, at(0.2), finished=True, runtime=6000),
    resume(P, 40, 401, 100, at(120)),
    resume(OTHER, 20, None, 10, at(0.1), runtime=8100),
]


def build_mini_lake(root: Path) -> Path:
    t = root / "tables"
    write(t, "profile", [
        {"profile_id": P, "account_id": 1, "profile_name": "Alice Example", "country_code": "KE"},
        {"profile_id": OTHER, "account_id": 1, "profile_name": "Bob Example", "country_code": None},
    ])  # fmt: skip
    write(t, "title", [
        {"title_id": 10, "title_name": "Dark", "title_type": "SERIES"},
        {"title_id": 20, "title_name": "Roma", "title_type": "FILM", "runtime_sec": 8100},
        {"title_id": 30, "title_name": "Done Film", "title_type": "FILM", "runtime_sec": 6000},
        {"title_id": 40, "title_name": "Old Show", "title_type": "SERIES"},
    ])  # fmt: skip
    write(t, "episode", [
        {"episode_id": 101, "title_id": 10, "season_number": 1, "episode_number": 1, "episode_title": "Secrets"},
        {"episode_id": 102, "title_id": 10, "season_number": 1, "episode_number": 2, "episode_title": "Lies"},
        {"episode_id": 201, "title_id": 10, "season_number": 2, "episode_number": 1, "episode_title": "Beginnings", "runtime_sec": 3300},
        {"episode_id": 401, "title_id": 40, "season_number": 1, "episode_number": 1, "episode_title": "Pilot"},
    ])  # fmt: skip
    write(t, "resume_state", RESUME_ROWS)
    write(t, "dim_movies", [
        {"movie_key": 1, "title_id": 20, "title_name": "Roma", "content_type": "MOVIE"},
        {"movie_key": 2, "title_id": 10, "episode_id": 101, "title_name": "Dark", "content_type": "EPISODE", "season_number": 1, "episode_number": 1, "episode_title": "Secrets"},
    ])  # fmt: skip
    write(t, "dim_device", [
        {"device_key": 7, "device_id": "tv", "device_type": "TV"},
        {"device_key": 8, "device_id": "ph", "device_type": "mobile"},
    ])  # fmt: skip
    write(t, "fact_watch_history", [
        {"session_id": f"h{i}", "profile_id": P, "movie_key": 1 + i % 2, "device_key": 7 + i % 2,
         "started_at": at(10 - i), "watch_seconds": 600 * i, "progress_pct": 10.0 * i, "is_finished": i == 4}
        for i in range(5)
    ] + [{"session_id": "x", "profile_id": OTHER, "movie_key": 1, "device_key": 7, "started_at": at(1)}])  # fmt: skip
    write(t, "show_progress", [
        {"profile_id": P, "title_id": 10, "title_name": "Dark", "last_season_number": 1,
         "last_episode_number": 1, "last_watched_at": at(3), "episodes_watched": 1,
         "completed_seasons": 0, "is_completed": False, "next_season_number": 1,
         "next_episode_number": 2, "next_episode_id": 102},
    ])  # fmt: skip
    stats = []
    for start in (dt.date(2024, 5, 1), dt.date(2024, 4, 1)):
        stats += [
            {"profile_id": P, "period": "month", "period_start": start, "breakdown": "total", "breakdown_value": "all", "items_watched": 3, "items_completed": 1, "watch_hours": 2.5},
            {"profile_id": P, "period": "month", "period_start": start, "breakdown": "content_type", "breakdown_value": "MOVIE", "items_watched": 1, "items_completed": 1, "watch_hours": 2.0},
            {"profile_id": P, "period": "month", "period_start": start, "breakdown": "genre", "breakdown_value": "Dramas", "items_watched": 1, "items_completed": 1, "watch_hours": 2.0},
            {"profile_id": P, "period": "month", "period_start": start, "breakdown": "device_type", "breakdown_value": "TV", "items_watched": 3, "items_completed": 1, "watch_hours": 2.5},
        ]  # fmt: skip
    write(t, "viewing_statistics", stats)
    return root


def domain_event(i: int, profile: int = P) -> dict:
    return {
        "event_id": f"e{i:03d}",
        "event_type": "MovieWatched",
        "profile_id": profile,
        "title_id": 20,
        "occurred_at": at(1),
        "payload": json.dumps({"n": i}),
    }


@pytest.fixture
def lake(tmp_path) -> Path:
    return build_mini_lake(tmp_path / "lake")


@pytest.fixture
def settings():
    return load_api_settings()


@pytest.fixture
def make_client(lake, settings) -> Callable:
    from fastapi.testclient import TestClient

    from api.app import create_app

    def make(**overrides):
        app = create_app(
            settings.model_copy(update={"snapshot_refresh_sec": 0, **overrides}), "test", str(lake)
        )
        return TestClient(app)

    return make


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.fixture
def auth(settings) -> Callable[..., dict]:
    def headers(profile: int = P, admin: bool = False, **kw) -> dict:
        return {"Authorization": f"Bearer {issue(settings, profile, admin, **kw)}"}

    return headers


@pytest.fixture
def cfg_of(lake):
    return load_config("test", str(lake))
