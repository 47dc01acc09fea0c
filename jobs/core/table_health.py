"""Checks that tables can be loaded before a job writes to any of them.

A job that writes several tables per run (the ingest writes five per micro-batch) must
not commit to some and then fail on a table whose log is corrupt or unreadable: that
leaves a partial result. Loading every target's Delta log first turns such a failure
into one clear error before any commit.
"""

from __future__ import annotations

from jobs.core.delta import DeltaEngine
from jobs.core.errors import RunError


class TableUnreadableError(RunError):
    """A Delta table exists but its log cannot be loaded (corrupt, truncated, unreadable)."""


def check_tables_load(engine: DeltaEngine, names: list[str] | tuple[str, ...]) -> dict[str, int]:
    """Load the Delta log of every table in ``names``.

    Returns:
        Each table's current version.

    Raises:
        TableUnreadableError: the first table that does not load, named with its path,
            the reason (first line) and what to do.
    """
    versions: dict[str, int] = {}
    for name in names:
        try:
            versions[name] = engine.version(name)
        except Exception as exc:  # noqa: BLE001 - any failure to load is reported the same way
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            raise TableUnreadableError(
                f"table {name} at {engine.path(name)} cannot be loaded ({reason}); nothing "
                f"was written. Restore its _delta_log from a backup (or remove the damaged "
                f"last commit file), then rerun"
            ) from exc
    return versions
