"""The demo wipes only its own lake: any other lake root is refused before Spark starts."""

from __future__ import annotations

import pytest

from jobs import demo
from jobs.core.ingest import demo_lake
from jobs.core.runtime.cli import UsageError


def fake_lake(root, tables):
    for name in tables:
        (root / "tables" / name / "_delta_log").mkdir(parents=True)
        (root / "tables" / name / "_delta_log" / "00000000000000000000.json").write_text("{}")


def test_a_populated_lake_is_refused_with_its_path_and_table_count(tmp_path, capsys):
    fake_lake(tmp_path, ["playback_event", "resume_state", "playback_session"])
    code = demo.main(["--lake-root", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and str(tmp_path) in err and "holds 3 Delta tables" in err
    assert "--reset" in err
    assert demo_lake.count_tables(tmp_path) == 3  # nothing was wiped


def test_a_fresh_root_an_empty_folder_and_the_demos_own_lake_may_be_wiped(tmp_path):
    demo_lake.check_wipe(tmp_path / "missing", reset=False)
    demo_lake.check_wipe(tmp_path, reset=False)  # empty folder
    fake_lake(tmp_path, ["playback_event"])
    with pytest.raises(UsageError, match="holds 1 Delta tables"):
        demo_lake.check_wipe(tmp_path, reset=False)
    demo_lake.check_wipe(tmp_path, reset=True)
    (tmp_path / demo_lake.MARKER).write_text("demo")  # a previous demo run (make demo twice)
    demo_lake.check_wipe(tmp_path, reset=False)
