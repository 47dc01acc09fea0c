"""Open the Data Docs in headless Chromium with no network; save a screenshot, check the table.

Air-gapped clusters are where the Data Docs used to break (blank index, unstyled pages,
CSS/JS from CDNs). This opens a built site the way a user would, with every host name
unresolvable (``--host-resolver-rules``), so only the shipped files can load, then:

1. dumps the DOM after the scripts ran and checks the index's table was drawn by
   bootstrap-table (it adds ``class="bootstrap-table"``; without its JS the index is
   blank) and that each suite is listed;
2. saves a screenshot (PNG) to look at.

Usage (``apt-get install -y chromium`` first)::

    python -m dq.run --suite all --lake-root lakehouse/demo
    python -m dq.data_docs_check lakehouse/demo/_dq/data_docs/index.html --out /tmp/docs.png

Exit 0 when the table rendered, 1 when it did not, 2 when Chromium or the page is missing.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_OFFLINE_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
    # an air-gapped machine: no host name resolves, so nothing loads from a CDN
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--virtual-time-budget=5000",  # let the page's scripts run before dump/screenshot
)


def chromium_binary() -> str | None:
    """``chromium`` (Debian) or ``chromium-browser`` / ``google-chrome`` on PATH."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


def run_chromium(binary: str, url: str, *args: str) -> subprocess.CompletedProcess:
    """Chromium offline on ``url`` with a throw-away profile."""
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run(
            [binary, *CHROMIUM_OFFLINE_FLAGS, f"--user-data-dir={profile}", *args, url],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )


def check(index: Path, out: Path, size: str = "1400,1000") -> tuple[bool, str]:
    """Dump the rendered DOM of ``index`` and save a screenshot to ``out``.

    Returns:
        ``(rendered, message)``: rendered when bootstrap-table drew the index table.

    Raises:
        FileNotFoundError: no Chromium, or ``index`` does not exist.
    """
    binary = chromium_binary()
    if binary is None:
        raise FileNotFoundError("chromium not found: apt-get install -y chromium")
    if not index.is_file():
        raise FileNotFoundError(f"{index} not found: run python -m dq.run first")
    url = index.resolve().as_uri()
    dom = run_chromium(binary, url, "--dump-dom").stdout
    run_chromium(binary, url, f"--screenshot={out.resolve()}", f"--window-size={size}")
    rendered = 'class="bootstrap-table' in dom
    rows = dom.count("<tr")
    message = (
        f"{'rendered' if rendered else 'NOT rendered'} offline: bootstrap-table "
        f"{'drew' if rendered else 'did not draw'} the index table ({rows} rows); "
        f"screenshot {out} ({out.stat().st_size if out.exists() else 0} bytes)"
    )
    return rendered, message


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dq.data_docs_check",
        description="Open a Data Docs index in headless Chromium with no network: check "
        "that its table rendered and save a screenshot.",
    )
    parser.add_argument("index", type=Path, help="the site's index.html")
    parser.add_argument("--out", type=Path, default=Path("data_docs.png"), help="PNG to write")
    parser.add_argument("--size", default="1400,1000", help="window WIDTH,HEIGHT")
    args = parser.parse_args(argv)
    try:
        rendered, message = check(args.index, args.out, args.size)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(message)
    return 0 if rendered else 1


if __name__ == "__main__":
    sys.exit(main())
