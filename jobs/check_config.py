"""Check an environment's configuration and print its resolved settings.

``python -m jobs.check_config --env cluster`` loads ``conf/base.yaml`` and the overlay of
``--env``, checks every key and value, and prints the settings as YAML; exit 2 names the
file and key when something is wrong.
"""

from __future__ import annotations

import yaml

from jobs.core.runtime.cli import Job, job_parser, run_job


def main(argv: list[str] | None = None) -> int:
    """``python -m jobs.check_config``: check an environment, print its resolved settings."""
    parser = job_parser(
        "python -m jobs.check_config",
        "Load conf/base.yaml and the overlay of --env, check every key and value, and print "
        "the settings as YAML (exit 2 naming the file and key when something is wrong).",
    )

    return run_job("check_config", parser, _show, argv, log_level="WARNING")


def _show(job: Job) -> int:
    print(yaml.safe_dump(job.cfg.model_dump(mode="json"), sort_keys=False), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
