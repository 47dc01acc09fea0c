"""Typed configuration: one tree (base + overlay), typos and wrong types named, env selection."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from jobs.check_config import main as config_main
from jobs.core.runtime.config import (
    BASE_FILE,
    CONF_DIR,
    ActivitySettings,
    ConfigError,
    EngineChoice,
    available_envs,
    load_config,
)


@pytest.fixture
def conf(tmp_path) -> Path:
    """A private copy of the shipped conf/ folder, to break on purpose."""
    folder = tmp_path / "conf"
    shutil.copytree(CONF_DIR, folder)
    return folder


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_overlay_changes_only_its_values(tmp_path):
    local = load_config("local", lake_root=str(tmp_path))
    test = load_config("test", lake_root=str(tmp_path))
    assert (
        test.spark.master == "local[2]" and test.spark.conf["spark.sql.shuffle.partitions"] == "2"
    )
    assert local.ingest.trigger_interval == test.ingest.trigger_interval == "5 seconds"
    assert local.ingest.dedupe_watermark is None  # base.yaml: off (the table dedupe is exact)
    assert test.spark.conf["spark.sql.session.timeZone"] == "UTC"
    assert local.delta.engine is EngineChoice.AUTO
    assert (local.ingest.max_files_per_trigger, test.ingest.max_files_per_trigger) == (20, 5)


def test_cluster_overlay_reaches_every_section():
    cluster, local = load_config("cluster"), load_config("local")
    assert cluster.delta.engine is EngineChoice.SPARK and cluster.spark.master is None
    assert (cluster.dq.streaming_suites, local.dq.streaming_suites) == (True, False)
    assert cluster.dq.params["freshness_max_minutes"] == 10
    assert local.dq.params["freshness_max_minutes"] == 15
    # the overlay merges into dq.params: keys it does not name keep the base value
    assert (
        cluster.dq.params["open_session_grace_hours"] == local.dq.params["open_session_grace_hours"]
    )


@pytest.mark.parametrize("env", available_envs())
def test_every_shipped_env_loads_into_frozen_sections(env, tmp_path):
    cfg = load_config(env, lake_root=str(tmp_path))
    assert cfg.env == env and cfg.paths.lake_root == str(tmp_path)
    assert cfg.stream_expectations.rules and cfg.activity.watched_pct == 90.0
    with pytest.raises(ValidationError, match="frozen"):
        cfg.ingest.max_files_per_trigger = 1  # type: ignore[misc]


def test_shipped_envs_are_the_overlays_only():
    envs = available_envs()
    assert BASE_FILE == "base.yaml" and "base" not in envs
    assert {"cluster", "local", "test"} <= set(envs)  # each loads: see the test above


def test_the_module_prints_the_resolved_settings(tmp_path, capsys):
    assert config_main(["--env", "cluster", "--lake-root", str(tmp_path)]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["env"] == "cluster" and printed["delta"]["engine"] == "spark"
    assert printed["paths"]["tables_dir"] == str(tmp_path / "tables")


def test_activity_thresholds_come_from_the_activity_section():
    s = load_config("test").activity
    assert isinstance(s, ActivitySettings)
    assert (s.watched_pct, s.end_tail_pct, s.binge_gap_minutes, s.abandoned_after_days) == (
        90.0,
        5.0,
        30,
        90,
    )
    assert (s.history_window_days, s.last_n_items, s.timeline_days) == (90, 10, 7)


def test_bounds_of_the_ingest_are_set_once_and_reach_the_dq_suites():
    cfg = load_config("test", overrides={"ingest": {"max_future_sec": 60}})
    params = cfg.dq_params()
    assert params["max_future_sec"] == 60 and params["max_position_sec"] == 86400
    assert params["open_session_grace_hours"] == 1
    # the completeness check and the cleanup share one idle limit
    assert params["abandoned_idle_hours"] == cfg.abandoned_sessions.idle_hours == 4
    with pytest.raises(ConfigError, match=r"dq\.params.*set once, under ingest"):
        load_config("test", overrides={"dq": {"params": {"max_position_sec": 10}}})


def test_paths_follow_the_lake_root_and_env_vars(tmp_path, monkeypatch):
    cfg = load_config("test", lake_root=str(tmp_path / "lake"))
    assert cfg.paths.landing_dir == str(tmp_path / "lake" / "landing")
    assert cfg.paths.dq_dir == str(tmp_path / "lake" / "_dq")
    assert cfg.table_path("resume_state") == str(tmp_path / "lake" / "tables" / "resume_state")
    monkeypatch.setenv("LAKEHOUSE_ROOT", str(tmp_path / "other"))
    monkeypatch.setenv("LAKEHOUSE_ENV", "cluster")
    cfg = load_config()
    assert cfg.env == "cluster" and cfg.paths.checkpoint_dir == str(
        tmp_path / "other" / "_checkpoints"
    )
    assert cfg.delta.engine is EngineChoice.SPARK


def test_conf_dir_env_var_picks_another_folder(conf, monkeypatch):
    edit(conf / "test.yaml", "max_files_per_trigger: 5", "max_files_per_trigger: 7")
    monkeypatch.setenv("LAKEHOUSE_CONF_DIR", str(conf))
    assert load_config("test").ingest.max_files_per_trigger == 7


def test_default_paths_are_under_lakehouse(monkeypatch, tmp_path):
    monkeypatch.delenv("LAKEHOUSE_ROOT", raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_config("local").paths.lake_root == str(tmp_path / "lakehouse")


def test_unknown_env_names_the_choices():
    with pytest.raises(ConfigError, match=r"unknown environment 'prod'.*\['cluster', 'local'"):
        load_config("prod")
    with pytest.raises(ConfigError, match="unknown environment 'base'"):
        load_config("base")


# -- typos and wrong types fail fast, naming the file and the key ----------------------
def test_a_misspelt_dq_param_stops_at_start_with_the_nearest_placeholder(conf):
    """A dq.params key no suite uses (``${name}``) was silently ignored: now exit 2."""
    edit(conf / "test.yaml", "freshness_max_minutes: 240", "freshnes_max_minutes: 240")
    with pytest.raises(ConfigError) as err:
        load_config("test", folder=conf)
    msg = str(err.value)
    assert msg.startswith(f"{conf / 'test.yaml'}: dq.params: unknown key 'freshnes_max_minutes'")
    assert "did you mean 'freshness_max_minutes'?" in msg and "\n" not in msg
    with pytest.raises(ConfigError, match="set once, as abandoned_sessions.idle_hours"):
        load_config("test", overrides={"dq": {"params": {"abandoned_idle_hours": 9}}})


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("spark.sql.shufle.partitions", "did you mean 'spark.sql.shuffle.partitions'?"),
        ("spark.sql.session.timezone", "did you mean 'spark.sql.session.timeZone'?"),
        ("sql.shuffle.partitions", "is not a Spark setting"),
        ("spark.driver memory", "is not a Spark setting"),
    ],
)
def test_a_misspelt_spark_conf_key_stops_at_start(key, expected):
    with pytest.raises(ConfigError) as err:
        load_config("test", overrides={"spark": {"conf": {key: "2"}}})
    assert "spark.conf: " in str(err.value) and expected in str(err.value)
    assert "(got" not in str(err.value)  # not the whole mapping


def test_spark_conf_keys_spark_knows_and_unlisted_ones_pass():
    conf = {"spark.executor.memoryOverhead": "1g", "spark.hadoop.fs.s3a.impl": "x"}
    assert (
        load_config("test", overrides={"spark": {"conf": conf}}).spark.conf[
            "spark.hadoop.fs.s3a.impl"
        ]
        == "x"
    )


def test_zorder_tables_must_declare_a_cluster_by_column():
    assert "resume_state" in load_config("test").maintenance.zorder_tables
    with pytest.raises(ConfigError, match="did you mean 'resume_state'"):
        load_config("test", overrides={"maintenance": {"zorder_tables": ["resume_stat"]}})
    with pytest.raises(ConfigError, match="declares no cluster_by"):
        load_config("test", overrides={"maintenance": {"zorder_tables": ["dim_date"]}})


def test_typo_in_an_overlay_names_file_key_and_nearest_name(conf):
    edit(conf / "test.yaml", "max_files_per_trigger: 5", "max_files_per_triger: 5")
    with pytest.raises(ConfigError) as err:
        load_config("test", folder=conf)
    assert str(err.value) == (
        f"{conf / 'test.yaml'}: unknown key ingest.max_files_per_triger; "
        "did you mean 'max_files_per_trigger'?"
    )


def test_typo_in_base_names_base_and_the_dotted_key(conf):
    edit(conf / "base.yaml", "  binge_gap_minutes: 30", "  binge_gap_minute: 30")
    with pytest.raises(ConfigError) as err:
        load_config("local", folder=conf)
    message = str(err.value)
    assert f"{conf / 'base.yaml'}: unknown key activity.binge_gap_minute" in message
    assert "did you mean 'binge_gap_minutes'?" in message
    assert "missing key activity.binge_gap_minutes" in message  # and the real key is unset


def test_typo_in_a_stream_rule_names_its_index(conf):
    edit(conf / "base.yaml", "    action: drop", "    acton: drop")
    with pytest.raises(ConfigError, match=r"unknown key stream_expectations\.rules\[2\]\.acton; "):
        load_config("test", folder=conf)


def test_unknown_section_lists_the_valid_ones(conf):
    (conf / "test.yaml").write_text("timeouts:\n  k: 10\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"test\.yaml: unknown key timeouts; valid keys: \["):
        load_config("test", folder=conf)


def test_wrong_type_names_the_key_and_the_file(conf):
    edit(conf / "test.yaml", "max_files_per_trigger: 5", "max_files_per_trigger: five")
    with pytest.raises(ConfigError) as err:
        load_config("test", folder=conf)
    message = str(err.value)
    assert message.startswith(f"{conf / 'test.yaml'}: ingest.max_files_per_trigger: ")
    assert "valid integer" in message and "'five'" in message


def test_out_of_range_and_bad_choice_name_the_key():
    with pytest.raises(ConfigError, match=r"overrides: activity\.watched_pct: .*100.*150"):
        load_config("test", overrides={"activity": {"watched_pct": 150}})
    with pytest.raises(ConfigError) as err:
        load_config("test", overrides={"dq": {"params": {"freshness_max_minutes": "soon"}}})
    assert str(err.value) == (
        "overrides: dq.params.freshness_max_minutes: Input should be a valid integer, "
        "unable to parse string as an integer (got 'soon')"
    )
    with pytest.raises(ConfigError, match=r"delta\.engine: Input should be 'auto', 'spark'"):
        load_config("test", overrides={"delta": {"engine": "duckdb"}})
    with pytest.raises(ConfigError, match=r"stream_expectations\.rules\[0\]\.action"):
        load_config(
            "test",
            overrides={
                "stream_expectations": {"rules": [{"name": "a", "expr": "x", "action": "x"}]}
            },
        )


def test_missing_key_and_duplicate_rule_and_bad_yaml(conf):
    edit(conf / "base.yaml", "  account: household\n", "")
    with pytest.raises(ConfigError, match=r"base\.yaml: missing key importer\.account"):
        load_config("test", folder=conf)
    (conf / "test.yaml").write_text(
        "stream_expectations:\n  rules:\n    - {name: a}\n", encoding="utf-8"
    )
    with pytest.raises(
        ConfigError, match=r"test\.yaml: missing key stream_expectations\.rules\[0\]\.expr"
    ):
        load_config("test", folder=conf)
    rules = [{"name": "a", "expr": "true"}, {"name": "a", "expr": "false"}]
    with pytest.raises(ConfigError, match="rule 'a' is declared twice"):
        load_config("test", overrides={"stream_expectations": {"rules": rules}})
    (conf / "local.yaml").write_text("spark: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"local\.yaml: not valid YAML"):
        load_config("local", folder=conf)


def test_env_is_chosen_on_the_command_line_not_in_a_file(conf):
    (conf / "test.yaml").write_text("env: cluster\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'env' is not a setting; choose it with --env"):
        load_config("test", folder=conf)
