"""Thresholds of the star schema and viewing-activity builds (``conf/activity.yaml``).

Moved verbatim out of ``jobs/build_star_schema.py`` so that the jobs reading these
thresholds (both builds, ``jobs.query``) share them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import yaml

from jobs.core.config import ConfigError, conf_dir


@dataclass(frozen=True)
class ActivitySettings:
    """Thresholds of ``conf/activity.yaml`` (see the comments there). Percents are 0-100."""

    watched_pct: float = 90.0
    end_tail_pct: float = 5.0
    binge_gap_minutes: int = 30
    binge_min_episodes: int = 2
    abandoned_after_days: int = 90
    history_window_days: int = 90
    last_n_items: int = 10
    timeline_days: int = 7
    observed_runtime_min_episodes: int = 3


def load_activity_settings(path: Path | str | None = None) -> ActivitySettings:
    """Load the ``activity:`` section of ``conf/activity.yaml`` (default: in :func:`conf_dir`).

    Raises:
        ConfigError: the file is missing, not YAML, has an unknown key or a bad value.
    """
    path = Path(path) if path is not None else conf_dir() / "activity.yaml"
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot load activity settings: {exc}") from exc
    section = raw.get("activity") if isinstance(raw, dict) else None
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: expected a mapping under 'activity:'")
    known = {f.name: f.type for f in fields(ActivitySettings)}
    unknown = sorted(set(section) - set(known))
    if unknown:
        raise ConfigError(f"{path}: unknown activity keys {unknown}; known: {sorted(known)}")
    try:
        values = {k: (float(v) if known[k] == "float" else int(v)) for k, v in section.items()}
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{path}: invalid activity value: {exc}") from exc
    settings = ActivitySettings(**values)
    if not 0 < settings.watched_pct <= 100 or not 0 <= settings.end_tail_pct < 100:
        raise ConfigError(f"{path}: watched_pct must be in (0, 100] and end_tail_pct in [0, 100)")
    return settings
