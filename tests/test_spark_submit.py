"""spark-submit.sh: a relative --lake-root means the caller's folder; --dry-run prints real paths."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def dry_run(cwd: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    out = subprocess.run(
        ["bash", str(ROOT / "spark-submit.sh"), "--dry-run", *args],
        capture_output=True, text=True, timeout=60, cwd=cwd,
        env={"PATH": "/usr/bin:/bin", "SPARK_SUBMIT": "/bin/echo", **(env or {})},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    return shlex.split(out.stdout)


def test_relative_lake_root_is_the_callers_folder_and_the_zip_exists(tmp_path):
    cmd = dry_run(tmp_path, "maintain_tables", "--only", "compact", "--lake-root", "lake")
    assert cmd[cmd.index("--lake-root") + 1] == str(tmp_path / "lake")  # not <repo>/lake
    zip_file = Path(cmd[cmd.index("--py-files") + 1])
    try:
        assert zip_file.is_file() and zip_file.stat().st_size > 0  # printed, so kept
    finally:
        zip_file.unlink(missing_ok=True)
    cmd = dry_run(tmp_path, "maintain_tables", "--lake-root=a/b", "--lake-root", "/abs/lake")
    assert f"--lake-root={tmp_path / 'a' / 'b'}" in cmd and "/abs/lake" in cmd
    Path(cmd[cmd.index("--py-files") + 1]).unlink(missing_ok=True)
