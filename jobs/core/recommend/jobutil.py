"""The small preamble the recommendation jobs share: parse args, load conf, start Spark."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from jobs.core.config import ConfigError, add_env_argument, load_config
from jobs.core.logs import setup_logging
from jobs.core.recommend.settings import RecommendSettings, load_recommend_settings


def start(
    prog: str, description: str, argv: list[str] | None, extra: Callable[[Any], None] | None = None
) -> tuple[argparse.Namespace, Any, RecommendSettings] | int:
    """Parse ``argv``, load the config and the ``recommend:`` settings.

    Returns:
        ``(args, cfg, settings)``, or exit code 2 after a one-line error on stderr.
    """
    parser = argparse.ArgumentParser(prog=f"python -m jobs.{prog}", description=description)
    add_env_argument(parser)
    if extra:
        extra(parser)
    args = parser.parse_args(argv)
    setup_logging()
    try:
        cfg = load_config(args.env, args.lake_root)
        settings = load_recommend_settings(cfg.env)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return args, cfg, settings
