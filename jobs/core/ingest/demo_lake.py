"""The demo's lake root: wiped before every demo run, but only when it is the demo's own.

``python -m jobs.demo`` imports the bundled sample into a fresh lake. It wipes its lake
root first, but only a lake the demo itself wrote (it leaves a :data:`MARKER` file in
the lake root) or an empty folder: any other lake root that holds something (e.g. a
production lake of 33 tables) is refused, unless the user asks for a reset.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from jobs.core.runtime.cli import UsageError

# written into the lake root by the demo: a lake holding it is the demo's own, safe to wipe
MARKER = ".viewing-lakehouse-demo"


def count_tables(lake_root: Path) -> int:
    """Delta tables (folders holding a ``_delta_log``) anywhere under ``lake_root``."""
    return sum(1 for _ in lake_root.rglob("_delta_log")) if lake_root.is_dir() else 0


def check_wipe(lake_root: Path, reset: bool) -> None:
    """Refuse to wipe a lake root the demo did not write, unless ``reset``.

    Args:
        lake_root: the demo's lake root.
        reset: ``--reset`` was given: wipe whatever is there.

    Raises:
        UsageError: ``lake_root`` exists, is not empty and holds no demo marker; the
            message names the path and its count of Delta tables.
    """
    if reset or not lake_root.exists() or (lake_root / MARKER).is_file():
        return
    if lake_root.is_dir() and not any(lake_root.iterdir()):
        return
    raise UsageError(
        f"{lake_root} holds {count_tables(lake_root)} Delta tables and is not a demo lake "
        f"(no {MARKER} marker): the demo wipes its lake root first; pass another "
        "--lake-root, or --reset to wipe this one"
    )


def fresh_demo_lake(lake_root: Path, reset: bool) -> None:
    """Wipe ``lake_root`` (see :func:`check_wipe`) and leave an empty lake with the marker.

    Raises:
        UsageError: as :func:`check_wipe`; nothing is deleted then.
    """
    check_wipe(lake_root, reset)
    shutil.rmtree(lake_root, ignore_errors=True)
    lake_root.mkdir(parents=True, exist_ok=True)
    (lake_root / MARKER).write_text("written by python -m jobs.demo: this lake may be wiped\n")
