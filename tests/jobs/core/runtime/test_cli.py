"""The shared job skeleton: every expected failure is one line on stderr with exit 2 or 1.

The subprocess tests run real ``python -m jobs.X`` commands on paths that fail before
Spark starts, so they need no JVM.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.core.runtime.cli import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    JobError,
    UsageError,
    job_parser,
    one_line,
    run,
)
from jobs.core.runtime.config import CONF_DIR, ConfigError
from jobs.core.storage.delta import TableNotFoundError

ROOT = Path(__file__).resolve().parents[4]


def _run_raising(exc: BaseException, argv: list[str], **kwargs) -> int:
    def body(args, cfg):
        raise exc

    return run(body, job_parser("python -m jobs.fake", "a test job"), argv, **kwargs)


@pytest.fixture
def argv(tmp_path) -> list[str]:
    return ["--env", "test", "--lake-root", str(tmp_path / "lake")]


def test_body_gets_args_and_the_config_and_its_code_is_returned(argv, tmp_path):
    seen = {}

    def body(args, cfg):
        seen.update(env=cfg.env, root=cfg.paths.lake_root, verbose=args.verbose)

    assert run(body, job_parser("p", "d"), argv) == EXIT_OK
    assert seen == {"env": "test", "root": str(tmp_path / "lake"), "verbose": False}
    assert run(lambda a, c: 3, job_parser("p", "d"), argv) == 3


@pytest.mark.parametrize(
    ("exc", "code", "message"),
    [
        (ConfigError("conf/x.yaml: unknown key a.b"), EXIT_USAGE, "conf/x.yaml: unknown key a.b"),
        (UsageError("--idle-hours must be positive"), EXIT_USAGE, "--idle-hours must be positive"),
        (JobError("half of the rows were rejected"), EXIT_FAILED, "half of the rows were rejected"),
        (TableNotFoundError("no table resume_state: run the ingest"), EXIT_FAILED, "no table"),
        (PermissionError(13, "Permission denied", "/lake/tables"), EXIT_FAILED, "/lake/tables"),
        (NotADirectoryError(20, "Not a directory", "/lake/landing"), EXIT_FAILED, "Not a dir"),
    ],
)
def test_expected_failures_are_one_line_with_their_exit_code(argv, capsys, exc, code, message):
    assert _run_raising(exc, argv) == code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_job_declared_usage_errors_exit_2(argv, capsys):
    missing = LookupError("no profile named 'Bob'")
    assert _run_raising(missing, argv) == EXIT_FAILED  # not declared: unexpected
    assert "LookupError: no profile named 'Bob' (rerun with --verbose" in capsys.readouterr().err
    assert _run_raising(missing, argv, usage_errors=(LookupError,)) == EXIT_USAGE
    assert capsys.readouterr().err == "error: no profile named 'Bob'\n"


def test_unexpected_error_is_one_line_that_points_at_verbose(argv, capsys):
    assert _run_raising(RuntimeError("boom\n\tat org.apache.spark...\n" * 50), argv) == 1
    err = capsys.readouterr().err
    assert err == "error: RuntimeError: boom (rerun with --verbose for the traceback)\n"


def test_verbose_prints_the_traceback_then_the_line(argv, capsys):
    assert _run_raising(JobError("disk full"), [*argv, "--verbose"]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert "raise exc" in err and err.endswith("error: disk full\n")


def test_config_errors_are_raised_before_the_body_runs(tmp_path, capsys):
    calls = []
    code = run(lambda a, c: calls.append(1), job_parser("p", "d"), ["--env", "nope"])
    assert (code, calls) == (EXIT_USAGE, [])
    assert "unknown environment 'nope'" in capsys.readouterr().err


def test_overrides_from_arguments_are_validated(argv, capsys):
    parser = job_parser("p", "d")
    parser.add_argument("--max-files", type=int)
    code = run(
        lambda a, c: None,
        parser,
        [*argv, "--max-files", "0"],
        overrides=lambda a: {"ingest": {"max_files_per_trigger": a.max_files}},
    )
    assert code == EXIT_USAGE
    assert "ingest.max_files_per_trigger: Input should be greater than 0" in capsys.readouterr().err


def test_one_line_keeps_the_first_line_and_caps_the_length():
    assert one_line(ValueError("first\nsecond")) == "first"
    assert len(one_line(ValueError("x" * 5000))) == 1000
    assert one_line(KeyError()) == "KeyError"
    java = (
        "An error occurred while calling o81.save.\n"
        ": java.nio.file.AccessDeniedException: /lake/tables/playback_event\n"
        "\tat java.base/sun.nio.fs.UnixException.translateToIOException(UnixException.java:90)\n"
    )
    assert one_line(RuntimeError(java)) == (
        "java.nio.file.AccessDeniedException: /lake/tables/playback_event"
    )


# -- real processes ---------------------------------------------------------------------
def _job(module: str, *args: str, env: dict[str, str] | None = None, cwd: Path | None = None):
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=120,
        check=False,
    )


@pytest.fixture
def broken_conf(tmp_path) -> Path:
    folder = tmp_path / "conf"
    shutil.copytree(CONF_DIR, folder)
    return folder


def test_a_conf_typo_stops_a_job_with_exit_2_and_the_key_named(broken_conf, tmp_path):
    test_yaml = broken_conf / "test.yaml"
    test_yaml.write_text(
        test_yaml.read_text().replace("events_per_file: 2000", "event_per_file: 2000")
    )
    done = _job(
        "jobs.load_catalog",
        "--env",
        "test",
        "--lake-root",
        str(tmp_path / "lake"),
        env={"LAKEHOUSE_CONF_DIR": str(broken_conf)},
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"error: {test_yaml}: unknown key importer.event_per_file; "
        "did you mean 'events_per_file'?\n"
    )


def test_a_wrong_type_stops_a_job_with_exit_2_naming_the_key(broken_conf, tmp_path):
    base = broken_conf / "base.yaml"
    base.write_text(base.read_text().replace("heartbeat_sec: 30", "heartbeat_sec: half a minute"))
    done = _job(
        "jobs.generate_events",
        "--env",
        "test",
        "--lake-root",
        str(tmp_path / "lake"),
        env={"LAKEHOUSE_CONF_DIR": str(broken_conf)},
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"error: {base}: importer.heartbeat_sec: ")
    assert done.stderr.count("\n") == 1


def test_a_lake_root_that_is_a_file_fails_with_exit_1_in_one_line(tmp_path):
    root = tmp_path / "lake"
    root.write_text("not a folder")
    args = ("--env", "test", "--lake-root", str(root), "--events", "10", "--files", "1")
    done = _job("jobs.generate_events", *args)
    assert done.returncode == 1, done.stderr
    assert done.stderr == f"error: [Errno 20] Not a directory: '{root / 'landing'}'\n"
    verbose = _job("jobs.generate_events", *args, "--verbose")
    assert verbose.returncode == 1
    assert verbose.stderr.startswith("Traceback (most recent call last):")
    assert "NotADirectoryError" in verbose.stderr
    assert verbose.stderr.endswith(done.stderr)


def test_a_bad_argument_found_after_parsing_exits_2(tmp_path):
    done = _job(
        "jobs.maintain_tables", "--env", "test", "--lake-root", str(tmp_path), "--table", "nope"
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: unknown tables ['nope']; known: [")


# Every job module; jobs.query's options are on its sub-commands.
JOB_MODULES = [
    "jobs.build_interactions",
    "jobs.build_star_schema",
    "jobs.build_viewing_activity",
    "jobs.check_config",
    "jobs.close_abandoned_sessions",
    "jobs.continue_watching",
    "jobs.demo",
    "jobs.erase_profile",
    "jobs.evaluate_recommenders",
    "jobs.generate_events",
    "jobs.generate_recommendations",
    "jobs.import_viewing_activity",
    "jobs.ingest_playback_events",
    "jobs.load_catalog",
    "jobs.maintain_tables",
    "jobs.merge_resume_state",
    "jobs.rebuild_hot_store",
    "jobs.sql_tables",
    "jobs.train_recommenders",
    "dq.run",
]


def test_the_shared_options_check_lists_every_job():
    on_disk = {
        f"jobs.{p.stem}" for p in (ROOT / "jobs").glob("*.py") if "def main(" in p.read_text()
    }
    assert on_disk - {"jobs.query"} == set(JOB_MODULES) - {"dq.run"}


@pytest.mark.parametrize("module", JOB_MODULES)
def test_every_job_has_the_shared_options(module):
    done = _job(module, "--help")
    assert done.returncode == 0, done.stderr
    for option in ("--env", "--lake-root", "--verbose"):
        assert option in done.stdout


def test_the_importer_on_a_lake_root_that_is_a_file_fails_in_one_line(tmp_path):
    root = tmp_path / "lake"
    root.write_text("not a folder")
    sample = ROOT / "data" / "samples" / "viewing-activity" / "household-ke.csv"
    done = _job(
        "jobs.import_viewing_activity",
        str(sample),
        "--env",
        "test",
        "--lake-root",
        str(root),
        "--no-dimensions",
    )
    assert done.returncode == 1, done.stderr
    (line,) = [x for x in done.stderr.splitlines() if x.startswith("error: ")]
    assert "is a file" in line and str(root) in line  # the importer checks the lake first
    assert "Traceback" not in done.stderr


@pytest.mark.slow
def test_the_ingest_on_a_lake_root_that_is_a_file_fails_in_one_line(tmp_path):
    """Starts Spark: the error comes after the session is up, still one line, exit 1."""
    root = tmp_path / "lake"
    root.write_text("not a folder")
    done = _job("jobs.ingest_playback_events", "--once", "--env", "test", "--lake-root", str(root))
    assert done.returncode == 1, done.stderr[-2000:]
    errors = [x for x in done.stderr.splitlines() if x.startswith("error: ")]
    assert len(errors) == 1 and "Not a directory" in errors[0] and str(root) in errors[0]
    assert "Traceback" not in done.stderr


# --- the lake root: missing, read-only (issue 20) ---------------------------------------
def test_the_ingest_on_a_missing_lake_root_exits_2_and_creates_nothing(tmp_path):
    root = tmp_path / "typo" / "lake"
    done = _job("jobs.ingest_playback_events", "--once", "--env", "test", "--lake-root", str(root))
    assert done.returncode == EXIT_USAGE, done.stderr[-2000:]
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"error: lake root {root} does not exist")
    assert (
        f"python -m jobs.import_viewing_activity ViewingActivity.csv --account LABEL --lake-root {root}"
        in line
    )
    assert not root.exists() and not root.parent.exists()


def test_the_star_build_on_a_missing_lake_root_exits_2(tmp_path):
    root = tmp_path / "nowhere"
    done = _job("jobs.build_star_schema", "--env", "test", "--lake-root", str(root))
    assert done.returncode == EXIT_USAGE, done.stderr[-2000:]
    assert done.stderr.startswith(f"error: lake root {root} does not exist")
    assert not root.exists()


@pytest.mark.parametrize(
    "code, hint", [(errno.EROFS, "mount it read-write"), (errno.EACCES, "write permission")]
)
def test_a_lake_root_that_cannot_be_written_is_one_line_naming_it_exit_1(
    tmp_path, capsys, monkeypatch, code, hint
):
    from jobs import ingest_playback_events as ingest
    from jobs.core.runtime import cli

    root = tmp_path / "lake"
    root.mkdir()

    def refuse(path, *args, **kwargs):  # the tests run as root: simulate the mount or mode
        raise OSError(code, os.strerror(code), path)

    monkeypatch.setattr(cli, "open", refuse, raising=False)
    assert ingest.main(["--once", "--env", "test", "--lake-root", str(root)]) == EXIT_FAILED
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: cannot write to {root}: {os.strerror(code)} (errno {code})")
    assert "the lake root must be writable" in line and hint in line


def test_a_read_only_error_deeper_in_a_job_names_the_path_and_the_problem(argv, capsys):
    exc = OSError(errno.EROFS, "Read-only file system", "/lake/tables/x/_delta_log/1.json")
    assert _run_raising(exc, argv) == EXIT_FAILED
    err = capsys.readouterr().err
    assert err == (
        "error: cannot write to /lake/tables/x/_delta_log/1.json: Read-only file system "
        "(errno 30); the lake root must be writable by this user: mount it read-write, or "
        "choose another --lake-root\n"
    )
