"""Logging for jobs: one format, INFO by default, quiet third-party loggers."""

from __future__ import annotations

import logging
import os


def setup_logging(level: str | None = None) -> None:
    """Configure the root logger once (``LAKEHOUSE_LOG_LEVEL`` overrides ``level``)."""
    level = os.environ.get("LAKEHOUSE_LOG_LEVEL", level or "INFO").upper()
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%Y-%m-%dT%H:%M:%S",
    )
    for noisy in ("py4j", "deltalake"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
