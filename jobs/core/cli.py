"""The skeleton every job's ``main()`` shares: arguments, logging, config, exit codes.

A job writes its parser and a body ``fn(args, cfg) -> int | None``; :func:`run` does the
rest the same way for every job::

    def main(argv: list[str] | None = None) -> int:
        parser = job_parser("python -m jobs.load_catalog", "Load netflix_titles.csv ...")
        parser.add_argument("csv", nargs="?", default=None)
        return run(_main, parser, argv)

Exit codes and messages (one line on stderr, ``error: ...``, never a traceback unless
``--verbose``):

* ``0`` — done;
* ``2`` — usage or configuration: argparse errors, :class:`~jobs.core.config.ConfigError`
  (the message names the file and the key), :class:`UsageError` and any exception type
  the job lists in ``usage_errors`` (e.g. a profile name that does not exist);
* ``1`` — the run failed: :class:`JobError`, ``TableNotFoundError`` (a table that an
  earlier job writes), ``OSError`` (a read-only or file-as-directory lake root, a full
  disk) and anything unexpected (then the message says to rerun with ``--verbose``);
* ``130`` — interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections.abc import Callable
from typing import Any

from jobs.core.config import Config, ConfigError, add_env_argument, load_config
from jobs.core.errors import RunError
from jobs.core.logs import setup_logging

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
    from jobs.core.delta import TableNotFoundError

    if code == EXIT_INTERRUPTED:
        return "interrupted"
    text = one_line(exc)
    expected = (ConfigError, UsageError, JobError, TableNotFoundError, OSError)
    if code == EXIT_FAILED and not isinstance(exc, expected):
        return f"{type(exc).__name__}: {text} (rerun with --verbose for the traceback)"
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
