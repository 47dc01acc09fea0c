"""The skeleton every job's ``main()`` shares: arguments, logging, config, session, exit codes.

A job writes its parser and a body ``fn(job) -> dict | int | None``; :func:`run_job` does
the rest the same way for every job: parse, log, load the config, build the SparkSession
and the Delta engine on first use (:class:`Job`), print a returned report as one JSON line,
and turn every error into one line and an exit code::

    def main(argv: list[str] | None = None) -> int:
        parser = job_parser("python -m jobs.load_catalog", "Load netflix_titles.csv ...")
        parser.add_argument("csv", nargs="?", default=None)
        return run_job("load_catalog", parser, _run, argv, engine=get_engine)

    def _run(job: Job) -> dict:
        return load(job.engine, job.args.csv)   # printed as one JSON line, exit 0

:func:`run` is the same without the session (a body ``fn(args, cfg) -> int | None``), for
commands that need no Spark.

Exit codes and messages (one line on stderr, ``error: ...``, never a traceback unless
``--verbose``):

* ``0`` — done;
* ``2`` — usage or configuration: argparse errors, :class:`~jobs.core.runtime.config.ConfigError`
  (the message names the file and the key), :class:`UsageError` and any exception type
  the job lists in ``usage_errors`` (e.g. a profile name that does not exist);
* ``1`` — the run failed: :class:`JobError`, ``TableNotFoundError`` (a table that an
  earlier job writes), ``OSError`` (a read-only or file-as-directory lake root, a full
  disk; a permission or read-only error names the path and says the lake root must be
  writable) and anything unexpected (then the message says to rerun with ``--verbose``);

Jobs that need an existing lake call :func:`check_lake_root` first: a missing lake root
is a usage error (exit 2, :class:`LakeRootMissingError`: the path and the command that
creates a lake), one that cannot be written a failed run (exit 1,
:class:`LakeRootNotWritableError`: the path and the permission problem).
* ``130`` — interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import errno
import functools
import json
import logging
import os
import sys
import traceback
import uuid
from collections.abc import Callable
from typing import Any

from pyspark.sql import SparkSession

from jobs.core.runtime.config import Config, ConfigError, add_env_argument, load_config
from jobs.core.runtime.errors import RunError, TableNotFoundError
from jobs.core.runtime.logs import setup_logging
from jobs.core.runtime.spark import build_spark

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
MAX_MESSAGE_CHARS = 1000

log = logging.getLogger("cli")

JobBody = Callable[[argparse.Namespace, Config], int | None]


class UsageError(ValueError):
    """A bad argument found after parsing (exit 2); the message says what to pass instead."""


# The run failed for a reason the user can act on (exit 1); the message says how.
JobError = RunError

# errno values that mean "this user may not write there"
_NOT_WRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)
CREATE_LAKE = (
    "python -m jobs.import_viewing_activity ViewingActivity.csv --account LABEL "
    "--lake-root {root} (or python -m jobs.demo --lake-root {root})"
)


class LakeRootMissingError(UsageError):
    """The lake root does not exist (a mistyped ``--lake-root`` / ``LAKEHOUSE_ROOT``)."""


class LakeRootNotWritableError(RunError):
    """The lake root is a file, on a read-only file system, or not writable by this user."""


def check_lake_root(cfg: Config, writes: bool = True) -> None:
    """Check that ``paths.lake_root`` exists (and, for a job that writes, can be written).

    A job that reads or extends a lake calls it before anything else, so a mistyped root
    is not silently made into a new, empty lake; the jobs that create lakes (the
    importer, the demo) do not.

    Args:
        cfg: the job's configuration.
        writes: also check that a file can be created in the lake root (a probe file,
            created and removed at once).

    Raises:
        LakeRootMissingError: the folder does not exist (exit 2): names it and the
            command that creates a lake there.
        LakeRootNotWritableError: it is a file, or cannot be written (read-only file
            system, permissions; exit 1): names it and the problem.
    """
    root = cfg.paths.lake_root
    if not os.path.exists(root):
        raise LakeRootMissingError(
            f"lake root {root} does not exist: check --lake-root / LAKEHOUSE_ROOT, or create "
            f"a lake there first: {CREATE_LAKE.format(root=root)}"
        )
    if not os.path.isdir(root):
        raise LakeRootNotWritableError(
            f"lake root {root} is a file (Not a directory): give --lake-root a folder"
        )
    if not writes:
        return
    probe = os.path.join(root, f".write-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(probe, "w", encoding="utf-8"):
            pass
        os.unlink(probe)
    except OSError as exc:
        raise LakeRootNotWritableError(_not_writable(root, exc)) from exc


def _not_writable(path: str, exc: OSError) -> str:
    why = exc.strerror or type(exc).__name__
    hint = (
        "mount it read-write"
        if exc.errno == errno.EROFS
        else "give this user write permission (chown/chmod)"
    )
    return (
        f"cannot write to {path}: {why} (errno {exc.errno}); the lake root must be writable "
        f"by this user: {hint}, or choose another --lake-root"
    )


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--env``, ``--lake-root`` and ``--verbose`` to ``parser``."""
    add_env_argument(parser)
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="on an error, print the full traceback instead of the one-line message",
    )


def job_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """An argparse parser with the shared job options (see :func:`add_job_arguments`)."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    add_job_arguments(parser)
    return parser


def one_line(exc: BaseException) -> str:
    """The first line of ``exc``'s message (Spark's run to hundreds), at most 1000 chars.

    For a Java exception raised through Py4J (first line ``An error occurred while
    calling o42.save.``) the Java exception's own line follows, and is the one kept.
    """
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    first = lines[0] if lines else type(exc).__name__
    if first.startswith("An error occurred while calling") and len(lines) > 1:
        first = lines[1].lstrip(": ")
    if len(first) > MAX_MESSAGE_CHARS:
        first = first[: MAX_MESSAGE_CHARS - 3] + "..."
    return first


def exit_code_of(exc: BaseException, usage_errors: tuple[type[BaseException], ...] = ()) -> int:
    """The exit code of an exception raised by a job (see the module docstring)."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, (ConfigError, UsageError, *usage_errors)):
        return EXIT_USAGE
    return EXIT_FAILED


def _message(exc: BaseException, code: int) -> str:
    if code == EXIT_INTERRUPTED:
        return "interrupted"
    text = one_line(exc)
    expected = (ConfigError, UsageError, JobError, TableNotFoundError, OSError)
    if code == EXIT_FAILED and not isinstance(exc, expected):
        return f"{type(exc).__name__}: {text} (rerun with --verbose for the traceback)"
    if isinstance(exc, OSError) and exc.errno in _NOT_WRITABLE and exc.filename:
        return _not_writable(str(exc.filename), exc)
    if isinstance(exc, OSError) and exc.filename and str(exc.filename) not in text:
        return f"{text}: {exc.filename}"
    return text


def run(
    body: JobBody,
    parser: argparse.ArgumentParser,
    argv: list[str] | None = None,
    *,
    usage_errors: tuple[type[BaseException], ...] = (),
    log_level: str | None = None,
    lake_root: str | None = None,
    overrides: Callable[[argparse.Namespace], dict[str, Any]] | None = None,
) -> int:
    """Parse ``argv``, set up logging, load the config and call ``body(args, cfg)``.

    Args:
        body: the job; returns its exit code (``None`` = 0).
        parser: the job's parser; it must have the options of :func:`add_job_arguments`
            (on the parser or on each sub-command's parser).
        argv: command-line arguments (default ``sys.argv[1:]``).
        usage_errors: further exception types that mean "bad input from the user" (exit 2).
        log_level: root log level (default INFO; ``LAKEHOUSE_LOG_LEVEL`` wins).
        lake_root: lake root when ``--lake-root`` is not given (before ``LAKEHOUSE_ROOT``).
        overrides: config overrides built from the arguments (e.g. a CLI flag that
            replaces one setting); validated like the YAML files.

    Returns:
        The exit code: 0 done, 1 run failed, 2 usage or configuration, 130 interrupted.
        argparse itself exits 2 on an unknown option, and 0 after ``--help``.
    """
    args = parser.parse_args(argv)
    setup_logging(log_level)
    try:
        cfg = load_config(
            args.env, args.lake_root or lake_root, overrides(args) if overrides else None
        )
        return body(args, cfg) or EXIT_OK
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - every error gets one line
        code = exit_code_of(exc, usage_errors)
        if getattr(args, "verbose", False):
            traceback.print_exc(file=sys.stderr)
        log.debug("job failed", exc_info=exc)
        print(f"error: {_message(exc, code)}", file=sys.stderr)
        return code


EngineFactory = Callable[[SparkSession, Config], Any]


class Job:
    """One run of a job: its arguments and config, and its session and engine on first use.

    Attributes:
        name: the job's name (the Spark application name, ``merge_resume_state``).
        args: the parsed command line.
        cfg: the validated configuration of ``--env`` (with ``--lake-root``).
    """

    def __init__(
        self, name: str, args: argparse.Namespace, cfg: Config, engine: EngineFactory | None
    ) -> None:
        """Keep the run's inputs; nothing is built until :attr:`spark` or :attr:`engine`."""
        self.name = name
        self.args = args
        self.cfg = cfg
        self._engine_factory = engine

    @functools.cached_property
    def spark(self) -> SparkSession:
        """The run's SparkSession (:func:`~jobs.core.runtime.spark.build_spark`), built once."""
        return build_spark(self.name, self.cfg)

    @functools.cached_property
    def engine(self) -> Any:
        """The run's Delta engine over :attr:`spark`, built once.

        Raises:
            RuntimeError: the job did not pass ``engine=`` to :func:`run_job`.
        """
        if self._engine_factory is None:
            raise RuntimeError(f"{self.name}: run_job(..., engine=get_engine) to use job.engine")
        return self._engine_factory(self.spark, self.cfg)


JobRunBody = Callable[[Job], "dict[str, Any] | int | None"]


def run_job(
    name: str,
    parser: argparse.ArgumentParser,
    body: JobRunBody,
    argv: list[str] | None = None,
    *,
    engine: EngineFactory | None = None,
    **options: Any,
) -> int:
    """The one runner of every job: :func:`run` plus the session, the engine and the report.

    Args:
        name: the job's name (Spark application name, log and report label).
        parser: the job's parser (from :func:`job_parser`).
        body: ``fn(job)``; a returned ``dict`` is printed as one JSON line on stdout
            (dates and other values through ``str``) and means exit 0; an ``int`` is the
            exit code; ``None`` is 0.
        argv: command-line arguments (default ``sys.argv[1:]``).
        engine: how to build the Delta engine from the session and config
            (``jobs.core.storage.delta.get_engine``); jobs that write no table leave it out.
        **options: ``usage_errors``, ``log_level``, ``lake_root``, ``overrides`` as for
            :func:`run`.

    Returns:
        The exit code: 0 done, 1 run failed, 2 usage or configuration, 130 interrupted.
    """

    def _body(args: argparse.Namespace, cfg: Config) -> int:
        out = body(Job(name, args, cfg, engine))
        if isinstance(out, dict):
            print(json.dumps(out, default=str))
            return EXIT_OK
        return out or EXIT_OK

    return run(_body, parser, argv, **options)
