"""The importer on the input an operator meets in the first week.

Spreadsheet re-saves (UTF-16 "Unicode text", Latin-1, BOM, tabs, day-first dates),
usage mistakes (a folder as the CSV, a lake root that is a file or read-only), corrupt
cells (a 999-hour Duration), duplicated rows, mostly-unreadable files, and the same
export imported under two account labels.
"""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from pathlib import Path

import pytest

from jobs import import_viewing_activity as import_job
from jobs.core.ingest import export_import as imp
from tests.conftest import SAMPLES

KE = SAMPLES / "viewing-activity" / "household-ke.csv"
HEADER = list(imp.EXPORT_COLUMNS)


def row(**over) -> dict:
    base = {
        "Profile Name": "Perfil 1",
        "Start Time": "2023-01-25 21:08:18",
        "Duration": "00:01:10",
        "Attributes": "",
        "Title": "Señora Acero: Temporada 1: El inicio (Capítulo 1)",
        "Supplemental Video Type": "",
        "Device Type": "Samsung CE 2019 Muse-L UHD TV Smart TV",
        "Bookmark": "00:18:41",
        "Latest Bookmark": "00:18:41",
        "Country": "GT (Guatemala)",
    }
    base.update(over)
    return base


def write_export(path: Path, rows: list[dict], encoding="utf-8", delimiter=",") -> Path:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=HEADER, delimiter=delimiter, lineterminator="\r\n")
    w.writeheader()
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def landing_lines(landing: Path) -> list[dict]:
    return [
        json.loads(x) for f in sorted(landing.glob("*.jsonl")) for x in f.read_text().splitlines()
    ]


def run(tmp_path: Path, src: Path, **kw):
    return imp.import_files(
        [str(src)], "acct", str(tmp_path / "landing"), str(tmp_path / "rejects"), 30, 1000, **kw
    )


ROWS = [
    row(),
    row(**{"Start Time": "2023-01-26 07:00:00", "Title": "Amélie", "Duration": "0:00:40"}),
]


@pytest.mark.parametrize(
    ("encoding", "delimiter", "found"),
    [
        ("utf-16", "\t", "utf-16, tab-separated"),  # Excel "Unicode text": BOM + tabs
        ("utf-16-be", "\t", "utf-16-be, tab-separated"),  # no BOM
        ("utf-8-sig", ",", "utf-8-sig, comma-separated"),
        ("cp1252", ",", "cp1252, comma-separated"),
        ("cp1252", ";", "cp1252, semicolon-separated"),
    ],
)
def test_spreadsheet_encodings_and_separators_give_the_same_events(
    tmp_path, encoding, delimiter, found
):
    plain, _, _ = run(tmp_path / "a", write_export(tmp_path / "plain.csv", ROWS))
    src = write_export(tmp_path / "export.csv", ROWS, encoding, delimiter)
    report, viewings, _ = run(tmp_path / "b", src)
    assert report.formats == {"export.csv": found}
    assert (report.rows, report.rejected, report.events) == (2, 0, plain.events)
    assert {v.title.raw for v in viewings} == {ROWS[0]["Title"], "Amélie"}
    assert landing_lines(tmp_path / "b" / "landing") != []
    assert report.fingerprints["export.csv"] == plain.fingerprints["plain.csv"]


def test_a_file_without_the_export_columns_says_what_it_found(tmp_path, capsys):
    src = tmp_path / "notes.csv"
    src.write_text("Name|When|How long\nx|y|z\n", encoding="utf-8")
    code = import_job.main([str(src), "--lake-root", str(tmp_path / "lake"), "--no-dimensions"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "Name|When|How long" in err[0] and "Start Time" in err[0] and "utf-8" in err[0]
    xlsx = tmp_path / "export.xlsx"
    xlsx.write_bytes(b"PK\x03\x04" + b"\0" * 100)
    assert (
        import_job.main([str(xlsx), "--lake-root", str(tmp_path / "lake"), "--no-dimensions"]) == 2
    )
    assert "save it as CSV" in capsys.readouterr().err


def test_usage_mistakes_are_one_line_without_a_traceback(tmp_path, capsys, monkeypatch):
    src = write_export(tmp_path / "export.csv", ROWS)
    # a folder given as the CSV
    assert (
        import_job.main([str(tmp_path), "--lake-root", str(tmp_path / "lake"), "--no-dimensions"])
        == 2
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a folder" in err[0] and "Traceback" not in err[0]
    # a lake root that is a file
    as_file = tmp_path / "lake-file"
    as_file.write_text("x")
    assert (
        import_job.main([str(src), "--lake-root", str(as_file), "--no-dimensions"]) == 1
    )  # a run failure like every job (jobs.core.runtime.cli: OSError -> 1)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file" in err[0]
    # a read-only lake root (simulated: the tests may run as root, who writes anywhere)
    ro = tmp_path / "ro-lake"
    (ro / "landing").mkdir(parents=True)
    (ro / "rejects").mkdir()
    real_access = os.access
    monkeypatch.setattr(
        imp.os,
        "access",
        lambda p, mode: False if str(p).startswith(str(ro)) else real_access(p, mode),
    )
    assert import_job.main([str(src), "--lake-root", str(ro), "--no-dimensions"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not writable" in err[0] and "--lake-root" in err[0]
    assert not list((ro / "landing").iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_really_read_only_lake_root_exits_1(tmp_path, capsys):
    src = write_export(tmp_path / "export.csv", ROWS)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert import_job.main([str(src), "--lake-root", str(ro), "--no-dimensions"]) == 1
        assert "permission denied" in capsys.readouterr().err
    finally:
        ro.chmod(0o755)


def test_day_first_dates_are_read_day_first_when_the_file_shows_it(tmp_path):
    rows = [
        row(**{"Start Time": "05/02/2023 21:08"}),  # ambiguous alone
        row(**{"Start Time": "25.01.23 21:08:18", "Title": "Amélie"}),  # day 25: day-first file
    ]
    report, viewings, _ = run(tmp_path, write_export(tmp_path / "eu.csv", rows))
    assert report.rejected == 0
    assert [v.start.isoformat() for v in viewings] == [
        "2023-02-05T21:08:00+00:00",
        "2023-01-25T21:08:18+00:00",
    ]
    us = [row(**{"Start Time": "05/02/2023 9:08 PM"}), row(**{"Start Time": "1/25/23 21:08"})]
    _, viewings, _ = run(tmp_path / "us", write_export(tmp_path / "us.csv", us))
    assert [v.start.isoformat() for v in viewings] == [
        "2023-05-02T21:08:00+00:00",
        "2023-01-25T21:08:00+00:00",
    ]


def test_a_file_mixing_day_first_and_month_first_is_refused(tmp_path):
    rows = [row(**{"Start Time": "25/01/2023 21:08"}), row(**{"Start Time": "01/25/2023 21:08"})]
    with pytest.raises(imp.ParseError, match="mixes day-first"):
        run(tmp_path, write_export(tmp_path / "mixed.csv", rows))


def test_a_mostly_rejected_file_fails_loudly_and_publishes_nothing(tmp_path, capsys):
    rows = [row(**{"Start Time": f"{d}th January 2023"}) for d in range(1, 4)] + [row()]
    src = write_export(tmp_path / "odd.csv", rows)
    lake = tmp_path / "lake"
    code = import_job.main([str(src), "--lake-root", str(lake), "--no-dimensions"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1
    assert "3 of 4 rows rejected" in err[0] and "line 2" in err[0] and "1th January 2023" in err[0]
    assert list((lake / "landing").iterdir()) == []  # not even staged files are left
    assert len((lake / "rejects" / "odd.rejects.jsonl").read_text().splitlines()) == 3
    # under the ratio the import goes on
    report, _, _ = run(tmp_path, src, options=imp.ImportOptions(max_reject_ratio=0.8))
    assert (report.rejected, report.sessions) == (3, 1)


def test_an_absurd_duration_is_rejected_with_its_reason_not_turned_into_120k_events(tmp_path):
    rows = [row(), row(Duration="999:00:00", Title="Amélie"), row(Duration="23:59:00", Title="B")]
    report, _, _ = run(tmp_path, write_export(tmp_path / "long.csv", rows))
    assert (report.rows, report.rejected, report.sessions) == (3, 1, 2)
    assert report.events == 4 + (86340 // 30 + 1)  # the 23:59 viewing is kept whole
    reject = json.loads((tmp_path / "rejects" / "long.rejects.jsonl").read_text())
    assert reject["line"] == 3 and "max_duration_sec" in reject["reason"]
    small = imp.ImportOptions(max_duration_sec=3600, max_reject_ratio=0.9)
    report, _, _ = run(tmp_path / "small", write_export(tmp_path / "long.csv", rows), options=small)
    assert (report.rejected, report.sessions) == (2, 1)


def test_exact_duplicate_rows_are_collapsed_and_counted(tmp_path):
    rows = [row(), row(), row(Title="Amélie"), row()]
    report, viewings, _ = run(tmp_path, write_export(tmp_path / "dup.csv", rows))
    assert (report.rows, report.duplicates, report.sessions, report.rejected) == (4, 2, 2, 0)
    assert report.summary()["duplicates"] == 2
    lines = landing_lines(tmp_path / "landing")
    assert len(lines) == len({(e["session_id"], e["event_time"]) for e in lines}) == report.events


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o027, 0o640)])
def test_landing_and_rejects_files_follow_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        run(tmp_path, write_export(tmp_path / "e.csv", [row(), row(Title="")]),
            options=imp.ImportOptions(max_reject_ratio=0.9))  # fmt: skip
    finally:
        os.umask(old)
    files = list((tmp_path / "landing").glob("*.jsonl")) + list((tmp_path / "rejects").iterdir())
    assert len(files) == 2
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {mode}


def test_streamed_lines_equal_the_event_dicts_even_across_midnight(tmp_path):
    rows = [
        row(**{"Start Time": "2023-01-25 23:58:50", "Duration": "0:03:00"}),
        row(**{"Start Time": "2023-12-31 23:59:59", "Duration": "0:00:31", "Title": "A"}),
        row(Duration="0:00:00", Title="B"),
    ]
    for n, r in enumerate(rows):
        v = imp.parse_row(r, n + 2, "acct")
        for runtime in (None, 5400):
            events = imp.viewing_to_events(v, 30, runtime)
            assert imp.viewing_to_lines(v, 30, runtime) == [
                json.dumps(e, ensure_ascii=False, separators=(",", ":")) for e in events
            ]
    v = imp.parse_row(rows[1], 2, "acct")
    assert [json.loads(x)["event_time"] for x in imp.viewing_to_lines(v, 30)] == [
        "2023-12-31T23:59:59Z", "2024-01-01T00:00:29Z", "2024-01-01T00:00:30Z"
    ]  # fmt: skip


def test_streaming_import_keeps_only_dimensions_and_matches_the_kept_viewings(tmp_path):
    kept, viewings, runtimes = run(tmp_path / "a", KE)
    streamed, none, _ = run(tmp_path / "b", KE, keep_viewings=False)
    assert none == [] and streamed.events == kept.events == 8054
    assert imp.dimension_rows(streamed.dimensions, "acct", runtimes) == imp.dimension_rows(
        viewings, "acct", runtimes
    )
    assert landing_lines(tmp_path / "a" / "landing") == landing_lines(tmp_path / "b" / "landing")


def test_progress_bar_goes_to_stderr_when_asked(tmp_path, capsys):
    run(tmp_path, KE, options=imp.ImportOptions(progress=True))
    err = capsys.readouterr().err
    assert "household-ke.csv" in err and "100%" in err


def test_a_failure_before_publish_leaves_no_landing_file(tmp_path):
    def boom(report):
        raise RuntimeError("dimension upsert failed")

    with pytest.raises(RuntimeError, match="upsert failed"):
        run(tmp_path, KE, before_publish=boom)
    assert list((tmp_path / "landing").iterdir()) == []


# ------------------------------------------------------------------ account identity
def test_the_same_export_under_another_label_is_refused_without_spark(tmp_path):
    first, _, _ = run(tmp_path / "a", KE)
    ledger = [(fp, "household-ke") for fp in first.fingerprints.values()]
    with pytest.raises(imp.ImportFailedError, match="already imported as account 'household-ke'"):
        imp.import_files([str(KE)], "household-ke-2", str(tmp_path / "l"), str(tmp_path / "r"),
                         ledger=ledger)  # fmt: skip
    assert list((tmp_path / "l").iterdir()) == []
    same, _, _ = imp.import_files([str(KE)], "Household-KE", str(tmp_path / "l"),
                                  str(tmp_path / "r"), ledger=ledger)  # fmt: skip
    assert same.events == 8054
    forced, _, _ = imp.import_files([str(KE)], "other", str(tmp_path / "l2"), str(tmp_path / "r"),
                                    ledger=ledger, force=True)  # fmt: skip
    assert forced.events == 8054


def _resaved(src: Path, dst: Path) -> Path:
    """``src`` as a spreadsheet saves it: UTF-16 + tabs, day-first dates, rows reversed."""
    with src.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for r in rows:
        date, clock = r["Start Time"].split(" ")
        y, m, d = date.split("-")
        r["Start Time"] = f"{d}/{m}/{y} {clock}"
    assert any(int(r["Start Time"][:2]) > 12 for r in rows)  # the file shows it is day-first
    return write_export(dst, rows[::-1], "utf-16", "\t")


@pytest.mark.slow
def test_cli_refuses_a_second_label_with_the_earlier_one_named(spark, tmp_path, capsys):
    lake = str(tmp_path / "lake")
    base = ["--lake-root", lake, "--env", "test", "--quiet"]
    assert import_job.main([str(KE), "--account", "household-ke", *base]) == 0
    first = json.loads(capsys.readouterr().out)
    landing = sorted(p.name for p in (tmp_path / "lake" / "landing").iterdir())

    assert import_job.main([str(KE), "--account", "household-ke-2", *base]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'household-ke'" in err[0] and "--force" in err[0]
    assert sorted(p.name for p in (tmp_path / "lake" / "landing").iterdir()) == landing

    resaved = _resaved(KE, tmp_path / "ke-resaved.txt")  # the same viewings, re-saved
    assert import_job.main([str(resaved), "--account", "ke-again", *base]) == 1
    assert "'household-ke'" in capsys.readouterr().err

    assert import_job.main([str(KE), "--account", "household-ke", *base]) == 0  # same label: fine,
    again = json.loads(capsys.readouterr().out)  # and nothing new (the identity ledger)
    assert (again["events"], again["already_imported"], first["events"]) == (0, 374, 8054)
    assert import_job.main([str(KE), "--account", "household-ke-2", "--force", *base]) == 0
    capsys.readouterr()
    from jobs.core.runtime.config import load_config
    from jobs.core.storage.delta import get_engine

    ledger = get_engine(spark, load_config("test", lake)).read("import_ledger")
    assert sorted(r.account_label for r in ledger.collect()) == ["household-ke", "household-ke-2"]


@pytest.mark.slow
def test_a_stopped_import_leaves_no_staged_or_published_file(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    with KE.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    big = [dict(r, **{"Profile Name": f"P{i}"}) for i in range(100) for r in rows]
    src = write_export(tmp_path / "big.csv", big)
    landing = tmp_path / "lake" / "landing"
    root = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "jobs.import_viewing_activity", str(src), "--no-dimensions",
           "--lake-root", str(tmp_path / "lake")]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(root), LAKEHOUSE_ENV="test")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not list(landing.glob(".staged-*")) and proc.poll() is None:
        assert time.monotonic() < deadline, "no staged file appeared"
        time.sleep(0.2)
    assert proc.poll() is None, "the import finished before it could be stopped"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=120) == 128 + signal.SIGTERM
    assert sorted(p.name for p in landing.iterdir()) == []
