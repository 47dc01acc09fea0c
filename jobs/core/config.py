"""Typed configuration: ``conf/base.yaml`` plus one overlay per environment.

Environments differ only in values. The environment is chosen by ``--env`` (every job
CLI has it), else ``LAKEHOUSE_ENV``, else ``local``. ``LAKEHOUSE_ROOT`` (or the
``lake_root`` argument) moves the whole lake, which is how tests and benchmarks get a
private lake under a temporary directory.
"""

from __future__ import annotations

import copy
import enum
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


# YAML files in conf/ that are not environment overlays: shared values, and the
# settings of the activity build and of data quality (each with per-env sections).
NOT_ENVIRONMENTS = frozenset({"base", "activity", "expectations"})


def conf_dir() -> Path:
    """The folder of YAML files: ``$LAKEHOUSE_CONF_DIR``, else the project's ``conf/``."""
    return Path(os.environ.get("LAKEHOUSE_CONF_DIR") or CONF_DIR)


DEFAULT_ENV = "local"


class ConfigError(ValueError):
    """A configuration file or value is missing or invalid."""


class EngineChoice(enum.StrEnum):
    """Which Delta engine writes the tables (see docs/architecture.md)."""

    AUTO = "auto"
    SPARK = "spark"
    RUST = "rust"


@dataclass(frozen=True)
class Paths:
    lake_root: str
    landing_dir: str
    rejects_dir: str
    checkpoint_dir: str
    tables_dir: str
    catalog_csv: str


@dataclass(frozen=True)
class SparkSettings:
    master: str | None
    app_name_prefix: str
    conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DeltaSettings:
    engine: EngineChoice


def _optional_delay(value: object) -> str | None:
    """A Spark delay string (``"5 minutes"``), or None for null / ``off`` / empty."""
    if value is None or str(value).strip().lower() in ("", "off", "none", "false"):
        return None
    return str(value)


@dataclass(frozen=True)
class IngestSettings:
    query_name: str
    max_files_per_trigger: int
    trigger_interval: str
    dedupe_watermark: str | None
    dedupe_against_table: bool
    max_future_sec: int
    max_position_sec: int
    concurrent_writes_max_rows: int = 250_000
    landing_cleanup: str = "archive"
    landing_archive_dir: str = "{lake_root}/landing_archive"
    landing_retention_days: int = 30


@dataclass(frozen=True)
class ResumeSettings:
    finish_ratio: float


@dataclass(frozen=True)
class ContinueWatchingSettings:
    window_days: int
    limit: int


@dataclass(frozen=True)
class ImporterSettings:
    account: str
    heartbeat_sec: int
    events_per_file: int


@dataclass(frozen=True)
class MaintenanceSettings:
    vacuum_retention_hours: int
    resume_ttl_days: int
    compact_tables: tuple[str, ...]


@dataclass(frozen=True)
class Config:
    env: str
    paths: Paths
    spark: SparkSettings
    delta: DeltaSettings
    ingest: IngestSettings
    resume: ResumeSettings
    continue_watching: ContinueWatchingSettings
    importer: ImporterSettings
    maintenance: MaintenanceSettings

    def table_path(self, name: str) -> str:
        """Absolute path of the Delta table ``name`` under ``paths.tables_dir``."""
        return str(Path(self.paths.tables_dir) / name)

    def checkpoint_path(self, query_name: str) -> str:
        """Absolute checkpoint location of the streaming query ``query_name``."""
        return str(Path(self.paths.checkpoint_dir) / query_name)


def _deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in (overlay or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def available_envs(folder: Path | None = None) -> list[str]:
    """Names of the environment overlays (every ``*.yaml`` in conf/ except ``base.yaml``)."""
    folder = folder or conf_dir()
    return sorted(p.stem for p in folder.glob("*.yaml") if p.stem not in NOT_ENVIRONMENTS)


def _resolve_paths(raw: dict[str, Any], lake_root: str | None) -> Paths:
    root = lake_root or os.environ.get("LAKEHOUSE_ROOT") or raw["lake_root"]
    root = str(Path(root).expanduser().resolve())
    resolved: dict[str, str] = {"lake_root": root}
    for key in ("landing_dir", "rejects_dir", "checkpoint_dir", "tables_dir", "catalog_csv"):
        value = str(raw[key]).format(lake_root=root)
        resolved[key] = str(Path(value).expanduser().resolve())
    return Paths(**resolved)


def load_config(
    env: str | None = None,
    lake_root: str | None = None,
    overrides: dict[str, Any] | None = None,
    folder: Path | None = None,
) -> Config:
    """Load ``base.yaml`` and the overlay of ``env`` into a frozen :class:`Config`.

    Args:
        env: overlay name (``local``, ``cluster``, ``test``); default ``LAKEHOUSE_ENV``
            or ``local``.
        lake_root: moves every path under a new root (wins over ``LAKEHOUSE_ROOT``).
        overrides: nested mapping applied last, e.g. ``{"ingest": {"max_files_per_trigger": 1}}``.
        folder: folder holding the YAML files (default: :func:`conf_dir`).

    Returns:
        The typed configuration; paths are absolute.

    Raises:
        ConfigError: unknown environment, missing key or a value of the wrong type.
    """
    env = env or os.environ.get("LAKEHOUSE_ENV") or DEFAULT_ENV
    folder = folder or conf_dir()
    overlay_path = folder / f"{env}.yaml"
    if env in NOT_ENVIRONMENTS or not overlay_path.exists():
        raise ConfigError(
            f"unknown environment {env!r}: no {overlay_path}. "
            f"Choose one of {available_envs(folder)} with --env or LAKEHOUSE_ENV."
        )
    raw = _deep_merge(_read_yaml(folder / "base.yaml"), _read_yaml(overlay_path))
    raw = _deep_merge(raw, overrides or {})
    try:
        spark_raw = raw["spark"]
        return Config(
            env=env,
            paths=_resolve_paths(raw["paths"], lake_root),
            spark=SparkSettings(
                master=spark_raw.get("master"),
                app_name_prefix=str(spark_raw["app_name_prefix"]),
                conf={k: str(v) for k, v in (spark_raw.get("conf") or {}).items()},
            ),
            delta=DeltaSettings(engine=EngineChoice(str(raw["delta"]["engine"]).lower())),
            ingest=IngestSettings(
                query_name=str(raw["ingest"]["query_name"]),
                max_files_per_trigger=int(raw["ingest"]["max_files_per_trigger"]),
                trigger_interval=str(raw["ingest"]["trigger_interval"]),
                dedupe_watermark=_optional_delay(raw["ingest"].get("dedupe_watermark")),
                dedupe_against_table=bool(raw["ingest"]["dedupe_against_table"]),
                max_future_sec=int(raw["ingest"]["max_future_sec"]),
                max_position_sec=int(raw["ingest"]["max_position_sec"]),
                concurrent_writes_max_rows=int(
                    raw["ingest"].get("concurrent_writes_max_rows", 250_000)
                ),
                landing_cleanup=str(raw["ingest"].get("landing_cleanup", "archive")).lower(),
                landing_archive_dir=str(
                    raw["ingest"].get("landing_archive_dir", "{lake_root}/landing_archive")
                ),
                landing_retention_days=int(raw["ingest"].get("landing_retention_days", 30)),
            ),
            resume=ResumeSettings(finish_ratio=float(raw["resume"]["finish_ratio"])),
            continue_watching=ContinueWatchingSettings(
                window_days=int(raw["continue_watching"]["window_days"]),
                limit=int(raw["continue_watching"]["limit"]),
            ),
            importer=ImporterSettings(
                account=str(raw["importer"]["account"]),
                heartbeat_sec=int(raw["importer"]["heartbeat_sec"]),
                events_per_file=int(raw["importer"]["events_per_file"]),
            ),
            maintenance=MaintenanceSettings(
                vacuum_retention_hours=int(raw["maintenance"]["vacuum_retention_hours"]),
                resume_ttl_days=int(raw["maintenance"]["resume_ttl_days"]),
                compact_tables=tuple(raw["maintenance"]["compact_tables"]),
            ),
        )
    except KeyError as exc:
        raise ConfigError(f"missing configuration key {exc} (see conf/base.yaml)") from exc
    except ValueError as exc:
        raise ConfigError(f"invalid configuration value: {exc}") from exc


def add_env_argument(parser: Any) -> None:
    """Add the shared ``--env`` and ``--lake-root`` options to an argparse parser."""
    parser.add_argument(
        "--env",
        default=None,
        help="configuration overlay in conf/ (default: $LAKEHOUSE_ENV or 'local')",
    )
    parser.add_argument(
        "--lake-root",
        default=None,
        help="move the whole lake (tables, landing, checkpoints) under this folder "
        "(default: paths.lake_root, or $LAKEHOUSE_ROOT)",
    )
