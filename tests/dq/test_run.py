"""The runner end to end on the sample lake: exit codes 0/1/2, the duplicate named,
Data Docs listing each suite, results appended to dq_result."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dq import run
from dq.run import UsageError, load_suite, main
from tests.dq.sample_lake import build_sample_lake, copy_lake


@pytest.fixture
def lake(spark, tmp_path, tmp_path_factory):
    """A private copy of the sample lake (``main`` gets the shared SparkSession, never stops it)."""
    return copy_lake(build_sample_lake(spark, tmp_path_factory.getbasetemp()), tmp_path / "lake")


def args(cfg, *extra):
    return ["--env", "test", "--lake-root", cfg.paths.lake_root, *extra]


def test_usage_errors_exit_2_with_a_clear_message(capsys, tmp_path):
    assert main(["--suite", "no_such_suite", "--env", "test", "--lake-root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "unknown suite ['no_such_suite']" in err and "playback_event" in err
    assert main(["--env", "no_such_env", "--lake-root", str(tmp_path)]) == 2
    assert "unknown environment 'no_such_env'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0


def test_bad_suite_files_are_configuration_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("table: t\nexpectations:\n  - expectation: X\n    severity: fatal\n")
    with pytest.raises(UsageError, match="severity 'fatal'"):
        load_suite(bad, {})
    bad.write_text("table: t\nexpectations:\n  - expectation: X\n    kwargs: {v: '${nope}'}\n")
    with pytest.raises(UsageError, match=r"unknown parameter \$\{nope\}"):
        load_suite(bad, {})


def test_unknown_expectation_exits_2_before_spark(tmp_path, monkeypatch, capsys):
    (tmp_path / "typo.yaml").write_text(
        "table: playback_event\nexpectations:\n  - expectation: ExpectColumnValuesToBeFancy\n"
    )
    monkeypatch.setattr(run, "SUITES_DIR", tmp_path)
    assert main(["--suite", "typo", "--env", "test", "--lake-root", str(tmp_path)]) == 2
    assert "unknown expectation 'ExpectColumnValuesToBeFancy'" in capsys.readouterr().err


def test_all_passes_then_a_duplicate_event_fails_and_is_named(spark, engine, lake, capsys):
    from jobs.core.storage.delta import get_engine

    engine = get_engine(spark, lake)
    assert main(args(lake, "--suite", "all"), spark=spark) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "ERROR" not in out

    out_dir = Path(lake.paths.lake_root) / "_dq"
    index = (out_dir / "data_docs" / "index.html").read_text(encoding="utf-8")
    suites = [s.name for s in run.select_suites("all", lake)]
    # optional suites whose table the sample lake lacks (catalogue, recommendations) are
    # skipped: no validation, no Data Docs page, a SKIPPED row in dq_result
    ran = [
        s
        for s in suites
        if engine.exists(run.load_suite(run.SUITES_DIR / f"{s}.yaml", _params()).table)
    ]
    assert ran and all(name in index for name in ran)
    (run_dir,) = (out_dir / "validations").iterdir()
    assert sorted(p.stem for p in run_dir.glob("*.json")) == sorted(ran)
    first = (
        engine.read("dq_result").where("source = 'batch'").collect()
    )  # the ingest adds stream rows
    assert first and {r.run_id for r in first} == {run_dir.name}
    assert {r.suite for r in first} == set(suites)

    # insert a duplicate of one stored event
    dup = engine.read("playback_event").orderBy("session_id", "event_time").limit(1)
    row = dup.first()
    engine.append("playback_event", dup)
    assert main(args(lake, "--suite", "playback_event"), spark=spark) == 1
    captured = capsys.readouterr()
    assert "FAIL" in captured.out and "expect_compound_columns_to_be_unique" in captured.out
    assert row.session_id in captured.out
    assert row.event_time.strftime("%Y-%m-%d %H:%M:%S") in captured.out

    rows = engine.read("dq_result").where("source = 'batch'").collect()
    assert len({r.run_id for r in rows}) == 2 and len(rows) > len(first)
    failed = [r for r in rows if r.status == "FAIL"]
    assert [r.expectation for r in failed] == ["expect_compound_columns_to_be_unique"]
    assert failed[0].unexpected_count == 2 and row.session_id in failed[0].unexpected_examples
    assert json.loads(failed[0].unexpected_examples)


def test_optional_suite_on_a_missing_table_is_skipped_with_a_warning(
    spark, cfg, tmp_path, monkeypatch, capsys
):
    (tmp_path / "later.yaml").write_text(
        "table: not_built_yet\noptional: true\nexpectations:\n"
        "  - expectation: ExpectColumnValuesToNotBeNull\n    kwargs: {column: x}\n"
    )
    monkeypatch.setattr(run, "SUITES_DIR", tmp_path)
    assert main(args(cfg, "--suite", "later"), spark=spark) == 0
    out = capsys.readouterr().out
    assert "SKIPPED" in out and "table not found: not_built_yet" in out


def _params():
    from jobs.core.runtime.config import load_config

    return load_config("test").dq_params()


def test_an_unreadable_table_exits_2_naming_it(spark, lake, capsys):
    """A truncated last commit of playback_event: one line naming the table, exit 2."""
    log_dir = Path(lake.paths.tables_dir) / "playback_event" / "_delta_log"
    last = sorted(log_dir.glob("*.json"))[-1]
    text = last.read_text(encoding="utf-8")
    last.write_text(text[: len(text) // 2], encoding="utf-8")
    assert main(args(lake, "--suite", "playback_event,playback_session"), spark=spark) == 2
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, captured.err
    assert "playback_event" in errors[0] and "cannot be read" in errors[0]
    assert str(log_dir.parent) in errors[0]
    assert "Traceback" not in captured.err + captured.out
