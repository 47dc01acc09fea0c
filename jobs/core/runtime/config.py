"""Typed configuration: ``conf/base.yaml`` plus one overlay per environment.

Every setting of the project lives in ONE tree: ``conf/base.yaml`` holds all of them,
and ``conf/<env>.yaml`` (``local``, ``cluster``, ``test``) overrides only the values that
differ. There is no other overlay mechanism. :func:`load_config` merges the two (and
``overrides`` from code, last) and validates the result into frozen pydantic models:

* an unknown key fails with the file, the dotted key and the nearest valid name
  (``conf/test.yaml: unknown key ingest.max_files_per_triger; did you mean
  'max_files_per_trigger'?``);
* a value of the wrong type or out of range fails naming the key and the file it came
  from;
* both raise :class:`ConfigError` (the CLIs turn it into one line on stderr, exit 2).

The environment is chosen by ``--env`` (every job CLI has it), else ``LAKEHOUSE_ENV``,
else ``local``. ``LAKEHOUSE_ROOT`` (or the ``lake_root`` argument) moves the whole lake,
which is how tests and benchmarks get a private lake under a temporary directory;
``LAKEHOUSE_CONF_DIR`` reads the YAML files from another folder.
``python -m jobs.check_config --env cluster`` checks an environment and prints the
settings it resolves to.

Adding a section is a one-class change: write a :class:`Section` subclass, add it as a
field of :class:`Config` and put its values under the same name in ``conf/base.yaml``::

    class ApiSettings(Section):
        port: PositiveInt

    class Config(Section):
        ...
        api: ApiSettings
"""

from __future__ import annotations

import copy
import difflib
import enum
import os
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from jobs.core.tables.registry import TABLES, get_spec

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"
BASE_FILE = "base.yaml"
DEFAULT_ENV = "local"


def conf_dir() -> Path:
    """The folder of YAML files: ``$LAKEHOUSE_CONF_DIR``, else the project's ``conf/``."""
    return Path(os.environ.get("LAKEHOUSE_CONF_DIR") or CONF_DIR)


class ConfigError(ValueError):
    """A configuration file or value is missing or invalid (the message names file and key)."""


class EngineChoice(enum.StrEnum):
    """Which Delta engine writes the tables (see docs/architecture.md)."""

    AUTO = "auto"
    SPARK = "spark"
    RUST = "rust"


def _optional_delay(value: object) -> str | None:
    """A Spark delay string (``"5 minutes"``), or None for null / ``off`` / empty."""
    if value is None or str(value).strip().lower() in ("", "off", "none", "false"):
        return None
    return str(value)


def _scalar_strings(value: object) -> object:
    """Spark conf values as strings (YAML reads ``8`` as an int, ``false`` as a bool)."""
    if isinstance(value, dict):
        return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
    return value


class Section(BaseModel):
    """Base of every configuration section: unknown keys are errors, values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Paths(Section):
    """Where the lake lives; every path absolute after loading (``{lake_root}`` resolved)."""

    lake_root: str
    landing_dir: str
    rejects_dir: str
    checkpoint_dir: str
    tables_dir: str
    catalog_csv: str
    dq_dir: str


# Spark settings this project sets or documents: a key one letter away from one of these
# is taken for a typo (Spark itself ignores an unknown key without a word).
KNOWN_SPARK_CONF = (
    "spark.app.name", "spark.databricks.delta.snapshotPartitions", "spark.default.parallelism",
    "spark.driver.cores", "spark.driver.maxResultSize", "spark.driver.memory",
    "spark.dynamicAllocation.enabled", "spark.executor.cores", "spark.executor.instances",
    "spark.executor.memory", "spark.executor.memoryOverhead", "spark.jars",
    "spark.jars.packages", "spark.local.dir", "spark.master", "spark.pyspark.python",
    "spark.serializer", "spark.sql.adaptive.enabled", "spark.sql.catalog.spark_catalog",
    "spark.sql.extensions", "spark.sql.maxPlanStringLength", "spark.sql.session.timeZone",
    "spark.sql.shuffle.partitions", "spark.sql.streaming.forceDeleteTempCheckpointLocation",
    "spark.sql.streaming.stateStore.providerClass", "spark.sql.ui.retainedExecutions",
    "spark.sql.warehouse.dir", "spark.ui.enabled", "spark.ui.showConsoleProgress",
)  # fmt: skip
_SPARK_KEY = re.compile(r"spark(\.[A-Za-z0-9_\-]+)+")


def check_spark_conf_key(key: str) -> None:
    """Refuse a ``spark.conf`` key Spark would ignore: not ``spark.*``, or a known key misspelt.

    Raises:
        ValueError: the key does not look like a Spark setting (``spark.`` then dotted
            words), or it is not a known key but within one or two letters of one
            (:data:`KNOWN_SPARK_CONF`); the message names the nearest known key.
    """
    if not _SPARK_KEY.fullmatch(key):
        raise ValueError(
            f"{key!r} is not a Spark setting: keys look like 'spark.sql.shuffle.partitions'"
        )
    if key in KNOWN_SPARK_CONF:
        return
    near = difflib.get_close_matches(key, KNOWN_SPARK_CONF, n=1, cutoff=0.9)
    if near and key.count(".") == near[0].count(".") and key.lower() != near[0].lower():
        raise ValueError(f"unknown Spark setting {key!r}; did you mean {near[0]!r}?")
    if near and key.lower() == near[0].lower():
        raise ValueError(f"unknown Spark setting {key!r}; did you mean {near[0]!r}?")


class SparkSettings(Section):
    """The Spark session: master (None = leave it to spark-submit), app name, conf.

    Every ``conf`` key must look like a Spark setting (``spark.`` and dotted words), and
    a near miss of a known key (:data:`KNOWN_SPARK_CONF`) fails with the nearest name:
    Spark would silently ignore it.
    """

    master: str | None
    app_name_prefix: str
    conf: Annotated[dict[str, str], BeforeValidator(_scalar_strings)] = Field(default_factory=dict)

    @field_validator("conf")
    @classmethod
    def _spark_keys(cls, conf: dict[str, str]) -> dict[str, str]:
        for key in conf:
            check_spark_conf_key(key)
        return conf


class DeltaSettings(Section):
    """Delta engine choice."""

    engine: EngineChoice


class IngestSettings(Section):
    """The streaming ingest of landing JSON Lines (seconds, UTC)."""

    query_name: str
    max_files_per_trigger: PositiveInt
    trigger_interval: str
    dedupe_watermark: Annotated[str | None, BeforeValidator(_optional_delay)]
    dedupe_against_table: bool
    max_future_sec: NonNegativeInt
    max_position_sec: PositiveInt
    concurrent_writes_max_rows: NonNegativeInt
    # processed landing files: archived under landing_archive_dir/<UTC date>/ (kept
    # landing_retention_days), deleted, or left in place, once their micro-batch committed
    landing_cleanup: Literal["archive", "delete", "off"]
    landing_archive_dir: str
    landing_retention_days: PositiveInt


class ResumeSettings(Section):
    """Resume points: position >= ``finish_ratio`` x runtime at END means finished.

    ``write_path``: how the ingest keeps ``resume_state`` current per micro-batch —
    ``change_log`` appends the batch's rows to ``resume_state_change`` (cost follows the
    batch; compacted every ``compact_every_batches`` micro-batches, 0 = only by
    ``jobs.maintain_tables --only compact``), ``merge`` merges them into ``resume_state``
    (cost follows the table). See :mod:`jobs.core.changelog.resume`.
    """

    finish_ratio: float = Field(gt=0, le=1)
    write_path: Literal["change_log", "merge"] = "change_log"
    compact_every_batches: NonNegativeInt = 0


class ContinueWatchingSettings(Section):
    """The Continue Watching row: items touched within ``window_days``, at most ``limit``."""

    window_days: PositiveInt
    limit: PositiveInt


class ImporterSettings(Section):
    """The Netflix export importer."""

    account: str
    heartbeat_sec: PositiveInt
    events_per_file: PositiveInt
    max_duration_sec: PositiveInt  # a longer viewing is rejected with its reason
    max_reject_ratio: float = Field(ge=0, le=1)  # more rejected rows than this fails the file
    # content identities of every imported viewing ({lake_root} filled in): a re-download
    # or re-save of an export imports only the viewings not imported yet
    ledger_dir: str = "{lake_root}/_import_ledger"
    # day/month order of non-ISO Start Time dates: decided per file, or forced
    date_order: Literal["auto", "month-first", "day-first"] = "auto"


class MaintenanceSettings(Section):
    """OPTIMIZE / TTL / VACUUM (``jobs.maintain_tables``).

    ``resume_ttl_days`` counts back from ``min(now, newest resume point)`` (UTC), so a
    lake holding a historical export keeps its last days. ``zorder_tables`` are
    Z-ordered by their spec's ``cluster_by``; ``compact_tables`` are only compacted.
    """

    vacuum_retention_hours: NonNegativeInt
    resume_ttl_days: PositiveInt
    compact_tables: tuple[str, ...]
    zorder_tables: tuple[str, ...] = ()

    @field_validator("zorder_tables")
    @classmethod
    def _clustered(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        for name in names:
            if name not in TABLES:
                near = difflib.get_close_matches(name, list(TABLES), n=1)
                hint = f"; did you mean {near[0]!r}?" if near else ""
                raise ValueError(f"unknown table {name!r}{hint}")
            if not get_spec(name).cluster_by:
                raise ValueError(
                    f"{name!r} declares no cluster_by column in jobs/core/tables/registry.py; "
                    "list it under maintenance.compact_tables instead"
                )
        return names


class ActivitySettings(Section):
    """Thresholds of the star schema and viewing-activity builds (percents are 0-100)."""

    watched_pct: float = Field(gt=0, le=100)
    end_tail_pct: float = Field(ge=0, lt=100)
    binge_gap_minutes: PositiveInt
    binge_min_episodes: PositiveInt
    abandoned_after_days: PositiveInt
    history_window_days: PositiveInt
    last_n_items: PositiveInt
    timeline_days: PositiveInt
    observed_runtime_min_episodes: PositiveInt


class StreamRule(Section):
    """One in-stream expectation (see jobs/core/ingest/stream_expectations.py)."""

    name: str = Field(min_length=1)
    expr: str = Field(min_length=1)
    action: Literal["warn", "drop", "fail"] = "warn"
    description: str = ""


class QuarantineRatioSettings(Section):
    """Per micro-batch: the share of its rows quarantined may not exceed ``max_ratio``."""

    max_ratio: float = Field(ge=0, le=1)
    action: Literal["warn", "fail"] = "warn"
    min_rows: NonNegativeInt = 100  # smaller batches are not judged
    description: str | None = None


class StreamExpectationSettings(Section):
    """Row-level rules the ingest applies to every micro-batch, and the quarantine ratio."""

    rules: tuple[StreamRule, ...]
    quarantine_ratio: QuarantineRatioSettings | None = None

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: tuple[StreamRule, ...]) -> tuple[StreamRule, ...]:
        seen: set[str] = set()
        for rule in rules:
            if rule.name in seen:
                raise ValueError(f"rule {rule.name!r} is declared twice; names must be unique")
            seen.add(rule.name)
        return rules


# Set once, in the ingest section, and passed to the suites from there.
_SHARED_DQ_PARAMS = ("max_future_sec", "max_position_sec")
# set in another section and passed to the suites under this name
_DERIVED_DQ_PARAMS = ("abandoned_idle_hours",)  # abandoned_sessions.idle_hours


SUITES_DIR = Path(__file__).resolve().parents[3] / "dq" / "suites"
_PLACEHOLDER = re.compile(r"\$\{(\w+)\}")


def suite_placeholders(folder: Path | None = None) -> set[str] | None:
    """Names of the ``${name}`` placeholders the data-quality suites use.

    Args:
        folder: the suites (default ``dq/suites`` of the project).

    Returns:
        The names, or None when the folder is not there (an installed package without
        its suites: nothing to check against).
    """
    folder = folder or SUITES_DIR
    if not folder.is_dir():
        return None
    return {
        m.group(1)
        for path in folder.glob("*.yaml")
        for m in _PLACEHOLDER.finditer(path.read_text(encoding="utf-8"))
    }


class DqSettings(Section):
    """The Great Expectations run (dq/run.py)."""

    streaming_suites: bool
    params: dict[str, int | float]

    @field_validator("params")
    @classmethod
    def _not_shared(cls, params: dict[str, int | float]) -> dict[str, int | float]:
        shared = sorted(set(params) & set(_SHARED_DQ_PARAMS))
        if shared:
            raise ValueError(f"{shared} are set once, under ingest:, not under dq.params")
        if "abandoned_idle_hours" in params:
            raise ValueError(
                "abandoned_idle_hours is set once, as abandoned_sessions.idle_hours, "
                "not under dq.params"
            )
        used = suite_placeholders()
        if used is not None:
            for name in sorted(params):
                if name not in used:
                    valid = sorted(used - set(_SHARED_DQ_PARAMS) - set(_DERIVED_DQ_PARAMS))
                    near = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
                    hint = f"did you mean {near[0]!r}?" if near else f"valid keys: {valid}"
                    raise ValueError(
                        f"unknown key {name!r}: no dq/suites/*.yaml uses ${{{name}}}; {hint}"
                    )
        return params


class HotStoreSettings(Section):
    """The Redis hot store in front of Delta (:mod:`jobs.core.serving.hot_store`).

    ``url_env`` names the environment variable holding the Redis URL (never a committed
    secret). Keys start with ``key_prefix``. A resume point lives
    ``maintenance.resume_ttl_days`` after its ``last_update``; the per-profile recency
    index keeps the ``recent_items`` newest items (at least Continue Watching's ``limit``);
    ``last_timestamp`` lives ``last_timestamp_ttl_hours``. ``socket_timeout_sec`` bounds
    every round trip, so a dead Redis costs a read that long before the Delta fallback.
    ``jobs.rebuild_hot_store`` writes ``rebuild_batch_rows`` rows per pipeline. An API
    worker's asynchronous client (the rate limiter) holds at most ``max_connections``
    connections; a request finding none free waits for one up to ``socket_timeout_sec``.
    """

    url_env: str = "REDIS_URL"
    key_prefix: str = "vl:"
    recent_items: int = Field(default=50, ge=10)
    last_timestamp_ttl_hours: PositiveInt = 24
    socket_timeout_sec: PositiveFloat = 0.5
    rebuild_batch_rows: PositiveInt = 5000  # rows per pipeline round trip of the rebuild
    max_connections: PositiveInt = 64  # per API worker: the rate limiter's pool


class AbandonedSessionSettings(Section):
    """The abandoned-session cleanup."""

    idle_hours: PositiveFloat


class ApiSettings(Section):
    """The HTTP API (``api/``): tokens, rate limits, paging, warm snapshots, input caps.

    ``jwt_secret`` is resolved when read: the environment variable named by
    ``jwt_secret_env`` when set and non-empty (at least ``jwt_secret_min_bytes`` bytes),
    else ``dev_secret`` only in the environments of ``dev_secret_envs`` (local, test);
    anywhere else a missing secret is a :class:`ConfigError`. ``environment`` is the name
    of the loaded environment, filled in by :func:`load_config`.
    """

    jwt_secret_env: str
    dev_secret: str | None = None  # set only in conf/local.yaml and conf/test.yaml
    jwt_issuer: str
    token_ttl_minutes: PositiveInt
    rate_limit_per_token: str
    rate_limit_per_ip: str
    snapshot_refresh_sec: PositiveFloat
    page_size_default: PositiveInt
    page_size_max: PositiveInt
    text_max_chars: PositiveInt
    companions_max: PositiveInt
    unknown_country_code: str
    events_page_max: PositiveInt
    index_max_rows: NonNegativeInt
    # issue 20: secrets, token lifetimes, shared rate limits, proxies, body size
    dev_secret_envs: tuple[str, ...] = ("local", "test")  # where dev_secret may sign tokens
    jwt_secret_min_bytes: PositiveInt = 32  # RFC 7518 §3.2: an HS256 key of >= 256 bits
    token_max_ttl_minutes: PositiveInt = 1440  # exp - iat of a profile token, at most
    admin_token_max_ttl_minutes: PositiveInt = 60  # exp - iat of an admin token, at most
    rate_limit_per_profile: str = "6000/minute"  # per profile acted for (``limits`` notation)
    rate_limit_storage: str = "memory://"  # ``limits`` storage URL (redis://host:port on a cluster)
    trusted_proxies: tuple[str, ...] = ()  # X-Forwarded-For is read only from these addresses
    max_body_bytes: PositiveInt = 65536  # a larger request body: 413 before parsing
    # Idempotency-Key ledger ({lake_root} filled in): body digest and first answer per key
    idempotency_dir: str = "{lake_root}/api_idempotency"
    # issue 22: the player's write path (POST /api/playback/events, api/event_log.py)
    event_flush_ms: PositiveInt = 200  # a group of accepted events is made durable this often
    event_flush_max_events: PositiveInt = 5000  # ... or as soon as it holds this many events
    playback_batch_max: PositiveInt = 200  # events in one POST, at most (422 above)
    event_dedupe_keys: PositiveInt = 50000  # (session_id, event_time) keys a worker remembers
    # issue 22 §3: per-profile answers rendered once per table version (api/profile_cache.py)
    profile_cache_mb: PositiveInt = 128  # per worker: rendered JSON + ~160 B per row held
    # Continue Watching from Redis: rendered windows ((as_of - window, as_of], limit) kept
    # per profile and version (a few a day: as_of moves with the clock)
    hot_windows_kept: PositiveInt = 8
    environment: str | None = None  # the loaded environment's name (set by load_config)

    @property
    def jwt_secret(self) -> str:
        """The HS256 signing secret: the environment variable, else the dev secret.

        Raises:
            ConfigError: the variable is unset or empty outside ``dev_secret_envs``, or
                shorter than ``jwt_secret_min_bytes`` bytes (the message names it).
        """
        value = os.environ.get(self.jwt_secret_env, "")
        if value.strip():
            if len(value.encode()) < self.jwt_secret_min_bytes:
                raise ConfigError(
                    f"{self.jwt_secret_env} is {len(value.encode())} bytes: set it to a random "
                    f"secret of at least {self.jwt_secret_min_bytes} bytes "
                    "(python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
            return value
        if self.environment in self.dev_secret_envs and self.dev_secret:
            return self.dev_secret
        raise ConfigError(
            f"set {self.jwt_secret_env} to a random secret of at least "
            f"{self.jwt_secret_min_bytes} bytes: environment {self.environment!r} never "
            f"uses api.dev_secret (only {', '.join(self.dev_secret_envs)} do)"
        )


# -- recommendations (jobs/core/recommend, the recommendation jobs) ----------------------
class InteractionSettings(Section):
    """How playback becomes VIEW interactions (completion 0..1)."""

    typical_length_sec: PositiveInt  # completion when the runtime is unknown
    min_completion: float = Field(ge=0, le=1)  # VIEW rows below this weigh 0


class TrainingSettings(Section):
    """training_interactions and the histories the models learn from."""

    window_days: PositiveInt | None  # days before the as-of (None = all history)
    min_history_titles: PositiveInt  # fewer distinct titles -> cold start (popularity list)
    max_titles_per_profile: PositiveInt
    recency_tau_titles: float = Field(ge=0)  # 0 = every title of the history weighs 1


class ItemCosineSettings(Section):
    """Item-item cosine on co-viewing."""

    k: PositiveInt
    min_coviews: PositiveInt
    shrink: float = Field(ge=0)


class AlsSettings(Section):
    """Spark ML implicit ALS and the LSH neighbours of its factors."""

    rank: PositiveInt
    reg_param: float = Field(ge=0)
    alpha: PositiveFloat
    max_iter: PositiveInt
    seed: int
    k: PositiveInt
    bucket_length: PositiveFloat


class ContentSettings(Section):
    """Content similarity: HashingTF/IDF, Word2Vec embedding, LSH join."""

    num_features: PositiveInt
    embedding_size: PositiveInt
    k: PositiveInt
    max_distance: PositiveFloat


class ListSettings(Section):
    """The generated lists (size, candidates, diversity, TTL, cold start, contexts)."""

    size: PositiveInt
    candidates: PositiveInt
    max_per_genre: NonNegativeInt  # 0 = no per-genre cap
    ttl_minutes: PositiveInt
    # a generation renews every list that expires within this many minutes (the schedule's
    # jitter): lists never lapse between two daily runs; must be < ttl_minutes
    renew_ahead_minutes: NonNegativeInt = 0
    popularity_window_days: PositiveInt
    popularity_min_profiles: PositiveInt
    genre_contexts: NonNegativeInt
    because_you_watched: NonNegativeInt

    @field_validator("renew_ahead_minutes")
    @classmethod
    def _renew_before_expiry(cls, renew: int, info: ValidationInfo) -> int:
        ttl = info.data.get("ttl_minutes")
        if ttl is not None and renew >= ttl:
            raise ValueError(
                f"must be less than ttl_minutes ({ttl}), got {renew}: every generation "
                "would renew every list"
            )
        return renew


class AbSettings(Section):
    """The A/B experiment: name and the share of profiles per variant (sums to 1)."""

    experiment: str = Field(min_length=1)
    split: dict[str, float]

    @field_validator("split")
    @classmethod
    def _sums_to_one(cls, split: dict[str, float]) -> dict[str, float]:
        if not split or any(v < 0 for v in split.values()) or abs(sum(split.values()) - 1) > 1e-9:
            raise ValueError(f"must be non-empty, non-negative and sum to 1, got {split}")
        return split


class EvaluationSettings(Section):
    """Offline evaluation: hold-out split, bootstrap, metric cut-offs."""

    holdout_fraction: float = Field(gt=0, lt=1)
    min_train_titles: PositiveInt
    min_test_titles: PositiveInt
    bootstrap_samples: PositiveInt
    seed: int
    k_precision: PositiveInt
    k_recall: PositiveInt
    k_ndcg: PositiveInt
    # the leak-free protocol (jobs/core/recommend/evaluation.py): one global cut
    test_days: PositiveInt = 180
    cut: str | None = None  # ISO day of the cut; None: the month start most profiles pass
    baseline_grids: dict[str, dict[str, list[float]]] = Field(default_factory=dict)


class RecommendSettings(Section):
    """The recommendations layer (``cfg.recommend``; see docs/recommendations.md)."""

    interactions: InteractionSettings
    training: TrainingSettings
    item_cosine: ItemCosineSettings
    als: AlsSettings
    content: ContentSettings
    lists: ListSettings
    ab: AbSettings
    evaluation: EvaluationSettings


class Config(Section):
    """The whole configuration of one environment (``cfg.<section>.<key>``)."""

    env: str
    paths: Paths
    spark: SparkSettings
    delta: DeltaSettings
    ingest: IngestSettings
    resume: ResumeSettings
    continue_watching: ContinueWatchingSettings
    importer: ImporterSettings
    maintenance: MaintenanceSettings
    activity: ActivitySettings
    stream_expectations: StreamExpectationSettings
    dq: DqSettings
    abandoned_sessions: AbandonedSessionSettings
    api: ApiSettings
    recommend: RecommendSettings
    hot_store: HotStoreSettings = HotStoreSettings()

    def table_path(self, name: str) -> str:
        """Absolute path of the Delta table ``name`` under ``paths.tables_dir``."""
        return str(Path(self.paths.tables_dir) / name)

    def checkpoint_path(self, query_name: str) -> str:
        """Absolute checkpoint location of the streaming query ``query_name``."""
        return str(Path(self.paths.checkpoint_dir) / query_name)

    def dq_params(self) -> dict[str, int | float]:
        """Values of the ``${name}`` placeholders in dq/suites/*.yaml.

        ``dq.params`` plus ``max_future_sec`` and ``max_position_sec`` of the ingest, so
        the suites check the same bounds the stream quarantines on, and
        ``abandoned_idle_hours`` (``abandoned_sessions.idle_hours``), so the completeness
        check and the cleanup share one idle limit.
        """
        shared: dict[str, int | float] = {
            name: getattr(self.ingest, name) for name in _SHARED_DQ_PARAMS
        }
        shared["abandoned_idle_hours"] = self.abandoned_sessions.idle_hours
        return {**self.dq.params, **shared}


# -- loading ----------------------------------------------------------------------------
Origin = dict[tuple[str, ...], str]


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        first = " ".join(str(exc).split())
        raise ConfigError(f"{path}: not valid YAML: {first}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _merge(
    base: dict[str, Any],
    overlay: dict[str, Any],
    label: str,
    origin: Origin,
    prefix: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Deep-merge ``overlay`` over ``base`` (lists are replaced whole); note each key's file."""
    out = copy.copy(base)
    for key, value in overlay.items():
        path = (*prefix, str(key))
        origin[path] = label
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value, label, origin, path)
        else:
            out[key] = copy.deepcopy(value)
            if isinstance(value, dict):
                _merge({}, value, label, origin, path)
    return out


def _unwrap(tp: Any) -> Any:
    """The model (or plain type) inside ``X | None``, ``tuple[X, ...]``, ``dict[str, X]``."""
    while True:
        origin = typing.get_origin(tp)
        args = typing.get_args(tp)
        if origin is Annotated:
            tp = args[0]
        elif origin in (Union, types.UnionType):
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            return models[0] if models else tp
        elif origin in (list, tuple):
            tp = args[0]
        elif origin is dict:
            tp = args[1]
        else:
            return tp


def _field_names_at(loc: tuple[str | int, ...]) -> list[str]:
    """The keys valid at ``loc`` (the parent of an offending key), [] when free-form."""
    model: Any = Config
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = _unwrap(field.annotation)
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [name for name in model.model_fields if model is not Config or name != "env"]
    return []


def _source(loc: tuple[str | int, ...], origin: Origin, default: str) -> str:
    keys = tuple(str(p) for p in loc)
    for n in range(len(keys), 0, -1):
        if keys[:n] in origin:
            return origin[keys[:n]]
    return default


def _is_union_tag(part: str) -> bool:
    """A pydantic union-member tag in an error location (``int``, ``function-before[...]``)."""
    return part in {"int", "float", "str", "bool", "none"} or "[" in part


def _explain(exc: ValidationError, origin: Origin, base: Path) -> str:
    """One line per problem: ``FILE: KEY: what is wrong`` (joined with '; ')."""
    problems: list[str] = []
    seen: set[tuple[str | int, ...]] = set()
    for err in exc.errors():
        loc = tuple(err["loc"])
        while loc and isinstance(loc[-1], str) and _is_union_tag(loc[-1]):
            loc = loc[:-1]  # `int | float` reports once per member: keep the key's first
        if loc in seen:
            continue
        seen.add(loc)
        dotted = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc)
        dotted = dotted.replace(".[", "[")
        where = _source(loc, origin, str(base))
        if err["type"] == "extra_forbidden":
            valid = _field_names_at(loc[:-1])
            near = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.6)
            hint = f"did you mean {near[0]!r}?" if near else f"valid keys: {sorted(valid)}"
            problems.append(f"{where}: unknown key {dotted}; {hint}")
        elif err["type"] == "missing":  # settings belong in base.yaml; list items where they are
            in_list = any(isinstance(part, int) for part in loc)
            problems.append(f"{where if in_list else base}: missing key {dotted}")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            value = err.get("input")  # a whole mapping (spark.conf, dq.params) is noise
            got = "" if isinstance(value, dict) else f" (got {value!r})"
            problems.append(f"{where}: {dotted}: {msg}{got}")
    return "; ".join(problems)


def _resolve_paths(paths: Paths, lake_root: str | None) -> Paths:
    root = lake_root or os.environ.get("LAKEHOUSE_ROOT") or paths.lake_root
    root = str(Path(root).expanduser().resolve())
    resolved: dict[str, str] = {"lake_root": root}
    for key, value in paths.model_dump().items():
        if key == "lake_root":
            continue
        try:
            text = str(value).format(lake_root=root)
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"paths.{key}: {value!r} may only use the placeholder {{lake_root}} ({exc})"
            ) from None
        resolved[key] = str(Path(text).expanduser().resolve())
    return Paths(**resolved)


def available_envs(folder: Path | None = None) -> list[str]:
    """Names of the environment overlays: every ``*.yaml`` in conf/ except ``base.yaml``."""
    folder = folder or conf_dir()
    return sorted(p.stem for p in folder.glob("*.yaml") if p.name != BASE_FILE)


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
        ConfigError: unknown environment, unreadable YAML, an unknown key (with the
            nearest valid name), a missing key or a value of the wrong type (with the
            dotted key and the file it came from).
    """
    env = env or os.environ.get("LAKEHOUSE_ENV") or DEFAULT_ENV
    folder = folder or conf_dir()
    base_path = folder / BASE_FILE
    overlay_path = folder / f"{env}.yaml"
    if overlay_path.name == BASE_FILE or not overlay_path.is_file():
        raise ConfigError(
            f"unknown environment {env!r}: no {overlay_path}. "
            f"Choose one of {available_envs(folder)} with --env or LAKEHOUSE_ENV."
        )
    origin: Origin = {}
    raw = _merge({}, _read_yaml(base_path), str(base_path), origin)
    raw = _merge(raw, _read_yaml(overlay_path), str(overlay_path), origin)
    raw = _merge(raw, overrides or {}, "overrides", origin)
    if "env" in raw:
        raise ConfigError(f"{origin[('env',)]}: 'env' is not a setting; choose it with --env")
    raw["env"] = env
    if isinstance(raw.get("api"), dict):
        raw["api"] = {**raw["api"], "environment": env}  # the secret's rule needs it
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_explain(exc, origin, base_path)) from None
    return cfg.model_copy(update={"paths": _resolve_paths(cfg.paths, lake_root)})


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
