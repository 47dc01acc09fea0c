"""The README's commands exist and answer --help, so the docs cannot rot."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
MODULES = sorted(set(re.findall(r"python -m ((?:jobs|dq)\.[a-z_\.]+)", README)))


def test_quick_start_is_make_demo_then_make_test():
    quick = README.split("## Quick start", 1)[1].split("##", 1)[0]
    assert re.findall(r"^make \w+", quick, flags=re.M) == ["make demo", "make test"]


@pytest.mark.parametrize("module", MODULES)
def test_every_module_in_the_readme_answers_help(module):
    out = subprocess.run(
        [sys.executable, "-m", module, "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "usage:" in out.stdout


def test_spark_submit_wrapper_explains_itself():
    out = subprocess.run(
        ["bash", str(ROOT / "spark-submit.sh"), "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0 and "DELTA_JARS_DIR" in out.stdout and "--packages" in out.stdout
