"""Import identity: no re-download, re-save or label can lose or double a viewing.

A viewing's identity comes from the export's content at the precision a spreadsheet
re-save keeps (``viewing_identity``: profile, start minute, title, duration, bookmark,
device, ordinal); the identity ledger imports each one once per account; landing file
names are never reused; the ingest's landing sweep only archives the file it read.
Issue 20, items 1 and 2.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import os
import random
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs import import_viewing_activity as import_job
from jobs.core.ingest import export_import as imp
from jobs.core.ingest import landing
from jobs.core.ingest.netflix_export import ParseError, parse_start_time
from jobs.core.storage import checkpoints
from tests.conftest import SAMPLES, SHARED_DATA

HEADER = list(imp.EXPORT_COLUMNS)
SAMPLE_DIR = SAMPLES / "viewing-activity"
GT = SAMPLE_DIR / "household-gt-head300.csv"  # Start Time with seconds
CA = SAMPLE_DIR / "household-ca-kr-hk-head300.csv"  # no seconds, same-minute starts


def read_rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _same_minute_rich_sample(path: Path, n: int, seed: int) -> list[dict]:
    """``n`` rows of a real export, half of them from same-(profile, minute) groups."""
    rows = read_rows(path)
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["Profile Name"], parse_start_time(r["Start Time"]).strftime("%F %H:%M"))].append(
            r
        )
    twins = [r for g in groups.values() if len(g) > 1 for r in g][: n // 2]
    rest = [r for r in rows if all(r is not t for t in twins)]
    return twins + random.Random(seed).sample(rest, n - len(twins))


def _sources() -> dict[str, list[dict]]:
    out = {"gt-head300": read_rows(GT), "ca-kr-hk-head300": read_rows(CA)}
    real = SHARED_DATA / "viewing-activity"
    for name in ("household-gt.csv", "household-ca-kr-hk.csv"):
        if (real / name).is_file():  # a few hundred rows of the full exports
            out[name] = _same_minute_rich_sample(real / name, 240, seed=20)
    return out


SOURCES = _sources()


# ------------------------------------------------------------------ spreadsheet re-saves
def _start(raw: str, form: str) -> str:
    t = parse_start_time(raw)
    if form == "netflix":
        return raw
    if form == "mdy-short":  # US spreadsheet: M/D/YY H:MM, seconds dropped
        return f"{t.month}/{t.day}/{t:%y} {t.hour}:{t:%M}"
    if form == "dmy":  # European spreadsheet: D/M/YYYY H:MM
        return f"{t.day}/{t.month}/{t.year} {t.hour}:{t:%M}"
    if form == "mdy-ampm":  # M/D/YYYY h:MM:SS AM/PM
        return f"{t.month}/{t.day}/{t.year} {(t.hour - 1) % 12 + 1}:{t:%M:%S} {t:%p}"
    raise ValueError(form)


def _hms(raw: str) -> str:
    """``'00:18:41'`` -> ``'0:18:41'``, as a spreadsheet's time format writes it."""
    hours, sep, rest = raw.partition(":")
    return f"{int(hours)}:{rest}" if sep and hours.isdigit() else raw


FORMS = ("netflix", "mdy-short", "dmy", "mdy-ampm")
CODECS = (("utf-8", ","), ("utf-8-sig", ";"), ("utf-16", "\t"), ("cp1252", ","))


def resave(
    rows: list[dict], path: Path, form: str = "netflix", codec=("utf-8", ","), order=None
) -> Path:
    """Write ``rows`` as a spreadsheet would re-save them (dates, H:MM:SS, codec, order)."""
    out = [dict(r) for r in rows]
    if order is not None:
        order.shuffle(out)
    for r in out:
        r["Start Time"] = _start(r["Start Time"], form)
        if form != "netflix":
            for col in ("Duration", "Bookmark"):
                r[col] = _hms(r[col])  # '00:18:41' -> '0:18:41'
    encoding, sep = codec
    if encoding == "cp1252" and not _encodable(out, encoding):
        encoding = "utf-8-sig"  # a Latin-1 save of Korean titles would lose them anyway
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=HEADER, delimiter=sep, lineterminator="\r\n")
    w.writeheader()
    w.writerows(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def _encodable(rows: list[dict], encoding: str) -> bool:
    try:
        for r in rows:
            "".join(r.values()).encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


def redownload(old: list[dict], new: list[dict]) -> list[dict]:
    """A later export: the old rows (no longer the latest view) plus the new ones."""
    return [{**r, "Latest Bookmark": "Not latest view"} for r in old] + new


def day_order(rows: list[dict], form: str) -> str:
    """What an operator passes: auto, or day-first after the all-ambiguous warning."""
    if form == "dmy" and all(parse_start_time(r["Start Time"]).day <= 12 for r in rows):
        return "day-first"
    return "auto"


# ----------------------------------------------------------------------------- helpers
class Lake:
    """A landing dir + identity ledger, imported into without Spark."""

    def __init__(self, root: Path):
        self.root = root
        self.landing = root / "landing"
        self.ledger = str(root / "_import_ledger")
        self.outputs: list[list[dict]] = []

    def run(self, src: Path, account: str = "hh", date_order: str = "auto", **kw):
        before = set(self.landing.glob("*.jsonl")) if self.landing.is_dir() else set()
        opts = imp.ImportOptions(heartbeat_sec=600, events_per_file=5000, date_order=date_order)
        report, _, _ = imp.import_files(
            [str(src)], account, str(self.landing), str(self.root / "rejects"),
            options=opts, identity_ledger=self.ledger, keep_viewings=False, **kw,
        )  # fmt: skip
        new = sorted(set(self.landing.glob("*.jsonl")) - before)
        self.outputs.append([json.loads(x) for f in new for x in f.read_text().splitlines()])
        return report

    def events(self) -> list[dict]:
        return [e for out in self.outputs for e in out]


def clean_import(rows: list[dict], tmp: Path) -> tuple[set[str], int]:
    """Session ids and event count of one import of ``rows`` as Netflix wrote them."""
    lake = Lake(tmp)
    report = lake.run(resave(rows, tmp / "ViewingActivity.csv"))
    assert report.rejected == 0
    return {e["session_id"] for e in lake.events()}, report.events


def assert_each_viewing_once(lake: Lake, expected_sessions: set[str]) -> None:
    """Every viewing in exactly one import's output; the ingest's keys unique."""
    owners: dict[str, set[int]] = defaultdict(set)
    for i, out in enumerate(lake.outputs):
        for e in out:
            owners[e["session_id"]].add(i)
    assert set(owners) == expected_sessions
    assert all(len(o) == 1 for o in owners.values()), "a viewing was written by two imports"
    keys = [(e["session_id"], e["event_time"]) for e in lake.events()]
    assert len(keys) == len(set(keys))


# ------------------------------------------------------------- item 2: re-save regressions
def test_a_resave_without_seconds_under_another_label_is_refused(tmp_path):
    rows = read_rows(GT)
    lake = Lake(tmp_path / "lake")
    first = lake.run(resave(rows, tmp_path / "a" / "ViewingActivity.csv"), account="hh")
    assert first.sessions == len(rows)
    resaved = resave(rows, tmp_path / "b" / "ViewingActivity.csv", "mdy-short")
    with pytest.raises(imp.ImportFailedError, match=r"already imported as account 'hh'.*--force"):
        lake.run(resaved, account="hh-2")
    # also by the export fingerprint alone (the import_ledger table's check, no ledger dir)
    other = imp.import_files(
        [str(resaved)], "x", str(tmp_path / "l2"), str(tmp_path / "r2"), 600, 5000
    )[0]
    assert other.fingerprints["ViewingActivity.csv"] == first.fingerprints["ViewingActivity.csv"]
    ledger = [(first.fingerprints["ViewingActivity.csv"], "hh")]
    with pytest.raises(imp.ImportFailedError, match="already imported as account 'hh'"):
        imp.import_files(
            [str(resaved)], "hh-2", str(tmp_path / "l3"), str(tmp_path / "r3"), 600, 5000,
            ledger=ledger,
        )  # fmt: skip
    assert not list((tmp_path / "l3").glob("*.jsonl"))


@pytest.mark.parametrize(("form", "name"), [("netflix", "export-copy.csv"), ("dmy", "va.csv")])
def test_a_resave_under_the_same_label_imports_nothing_new(tmp_path, form, name):
    rows = read_rows(GT)
    lake = Lake(tmp_path / "lake")
    first = lake.run(resave(rows, tmp_path / "ViewingActivity.csv"))
    again = lake.run(resave(rows, tmp_path / name, form), date_order=day_order(rows, form))
    assert (again.rows, again.rejected, again.sessions, again.events) == (len(rows), 0, 0, 0)
    assert again.already_imported == first.sessions == len(rows)
    assert again.summary()["already_imported"] == len(rows)
    assert lake.outputs[1] == []


def test_a_resave_gives_every_viewing_the_same_session_id_without_a_ledger(tmp_path):
    """Identity and session ids come from content, not cell text (no ledger needed)."""
    rows = read_rows(CA)
    ids = []
    for form, codec in (("netflix", ("utf-8", ",")), ("mdy-short", ("utf-16", "\t"))):
        src = resave(rows, tmp_path / form / "ViewingActivity.csv", form, codec, random.Random(1))
        _, viewings, _ = imp.import_files(
            [str(src)], "hh", str(tmp_path / form / "l"), str(tmp_path / form / "r"), 600, 5000
        )
        ids.append(Counter(v.session_id for v in viewings))
    assert ids[0] == ids[1] and len(ids[0]) == len(rows)


# --------------------------------------------------------- item 1: monthly re-download
def test_a_monthly_redownload_imports_only_the_new_viewings(tmp_path):
    rows = sorted(read_rows(GT), key=lambda r: parse_start_time(r["Start Time"]))
    last_month, this_month = rows[:208], redownload(rows[:208], rows[208:])
    expected, _ = clean_import(rows, tmp_path / "clean")
    lake = Lake(tmp_path / "lake")
    first = lake.run(resave(last_month, tmp_path / "may" / "ViewingActivity.csv"))
    second = lake.run(resave(this_month, tmp_path / "june" / "ViewingActivity.csv"))
    assert (first.sessions, second.sessions, second.already_imported) == (208, 92, 208)
    names = [p.name for p in lake.landing.glob("*.jsonl")]
    assert len(names) == len(set(names)) == first.landing_files + second.landing_files
    assert_each_viewing_once(lake, expected)


def test_two_overlapping_exports_in_one_run_import_each_viewing_once(tmp_path):
    rows = read_rows(CA)
    a = resave(rows[:200], tmp_path / "a" / "ViewingActivity.csv")
    b = resave(redownload(rows[:200], rows[200:]), tmp_path / "b" / "ViewingActivity.csv")
    expected, _ = clean_import(rows, tmp_path / "clean")
    report, viewings, _ = imp.import_files(
        [str(a), str(b)], "hh", str(tmp_path / "l"), str(tmp_path / "r"), 600, 5000
    )
    assert report.sessions == len(expected) and {v.session_id for v in viewings} == expected


# ------------------------------------------------------------------- property-based
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_redownloads_resaves_reorders_and_relabels_hold_each_viewing_once(tmp_path_factory, data):
    name = data.draw(st.sampled_from(sorted(SOURCES)), label="export")
    rows = sorted(SOURCES[name], key=lambda r: parse_start_time(r["Start Time"]))
    size = data.draw(st.integers(20, 120), label="rows")
    start = data.draw(st.integers(0, len(rows) - size), label="offset")
    rows = rows[start : start + size]
    cut = data.draw(st.integers(0, size), label="first download")
    forms = data.draw(st.lists(st.sampled_from(FORMS), min_size=3, max_size=3), label="forms")
    codecs = data.draw(st.lists(st.sampled_from(CODECS), min_size=3, max_size=3), label="codecs")
    seed = data.draw(st.integers(0, 2**16), label="row order")
    tmp = tmp_path_factory.mktemp("identity")
    expected, _ = clean_import(rows, tmp / "clean")

    lake = Lake(tmp / "lake")
    downloads = [rows[:cut], redownload(rows[:cut], rows[cut:]), rows]
    for i, (part, form, codec) in enumerate(zip(downloads, forms, codecs, strict=True)):
        if not part:
            continue
        src = resave(
            part, tmp / f"d{i}" / "ViewingActivity.csv", form, codec, random.Random(seed + i)
        )
        report = lake.run(src, date_order=day_order(part, form))
        assert report.rejected == 0
        assert report.sessions + report.already_imported == len(part)
    assert_each_viewing_once(lake, expected)
    # the whole history again under another label: refused, nothing written
    again = resave(rows, tmp / "relabel.csv", forms[0], codecs[0], random.Random(seed))
    with pytest.raises(imp.ImportFailedError, match="already imported as account 'hh'"):
        lake.run(again, account="hh-other", date_order=day_order(rows, forms[0]))
    assert lake.outputs[-1] == []


# ------------------------------------------------------------------- poor messages
def test_an_all_ambiguous_day_first_file_is_read_month_first_with_one_warning(tmp_path, caplog):
    rows = [r for r in read_rows(GT) if parse_start_time(r["Start Time"]).day <= 12][:20]
    src = resave(rows, tmp_path / "dm.csv", "dmy")
    with caplog.at_level(logging.WARNING, logger="import_viewing_activity"):
        report, viewings, _ = imp.import_files(
            [str(src)], "hh", str(tmp_path / "l"), str(tmp_path / "r"), 600, 5000
        )
    [warning] = [r.getMessage() for r in caplog.records if "ambiguous" in r.getMessage()]
    assert "dm.csv" in warning and "month/day/year" in warning
    assert "--date-order day-first" in warning
    first = parse_start_time(rows[0]["Start Time"])
    assert viewings[0].start.month == first.day  # read month-first, as announced
    opts = imp.ImportOptions(heartbeat_sec=600, date_order="day-first")
    _, viewings, _ = imp.import_files(
        [str(src)], "hh", str(tmp_path / "l2"), str(tmp_path / "r2"), options=opts
    )
    assert viewings[0].start.replace(second=0) == first.replace(second=0)


def test_a_header_only_export_is_refused_with_one_clear_line(tmp_path, capsys):
    src = resave([], tmp_path / "ViewingActivity.csv")
    with pytest.raises(ParseError, match="header but no viewing rows"):
        imp.import_files([str(src)], "hh", str(tmp_path / "l"), str(tmp_path / "r"), 600, 5000)
    code = import_job.main([str(src), "--lake-root", str(tmp_path / "lake"), "--no-dimensions"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("error:") and "download it again" in err[-1]


# ------------------------------------------------------------------- the landing sweep
def _checkpoint(root: Path, entries: list[tuple[str, int, int]], committed: int) -> str:
    cp = root / "cp"
    (cp / "sources" / "0").mkdir(parents=True)
    (cp / "commits").mkdir()
    for batch in sorted({b for _, _, b in entries}):
        lines = ["v1"] + [
            json.dumps({"path": Path(p).as_uri(), "timestamp": ts, "batchId": b})
            for p, ts, b in entries
            if b == batch
        ]
        (cp / "sources" / "0" / str(batch)).write_text("\n".join(lines) + "\n")
    for b in range(committed + 1):
        (cp / "commits" / str(b)).write_text("v1\n{}\n")
    return str(cp)


def _mtime_ms(path: Path) -> int:
    return os.stat(path).st_mtime_ns // 1_000_000


def test_the_sweep_never_archives_a_new_file_under_a_processed_name(tmp_path, caplog):
    land, archive = tmp_path / "landing", tmp_path / "archive"
    land.mkdir()
    read = land / "hh-viewingactivity-hb30-00000.jsonl"
    read.write_text('{"a":1}\n')
    other = land / "b.jsonl"
    other.write_text('{"b":1}\n')
    cp = _checkpoint(
        tmp_path, [(str(read), _mtime_ms(read), 0), (str(other), _mtime_ms(other), 1)], 1
    )
    assert checkpoints.committed_file_times(cp) == {
        str(read): _mtime_ms(read),
        str(other): _mtime_ms(other),
    }
    assert checkpoints.committed_file_times(cp, 1) == {str(other): _mtime_ms(other)}
    assert checkpoints.committed_file_times(cp, 2) == {}
    # this month's export landed under the name of last month's processed file
    read.write_text('{"a":1}\n{"a":2}\n')
    later = dt.datetime.now().timestamp() + 5
    os.utime(read, (later, later))
    with caplog.at_level(logging.WARNING, logger="jobs.core.ingest.landing"):
        done = landing.clean(
            checkpoints.committed_file_times(cp), str(land), "archive", str(archive)
        )
    assert done == 1 and read.exists() and not other.exists()
    assert "not the file the ingest read" in caplog.text and read.name in caplog.text
    assert [p.name for p in archive.rglob("*.jsonl")] == ["b.jsonl"]


# ------------------------------------------------------------ end to end, real ingest
@pytest.mark.slow
def test_item1_monthly_redownload_end_to_end_with_the_ingest(spark, tmp_path, capsys):
    """Issue 20 item 1: last month's export, ingest, this month's (superset), ingest."""
    from jobs.core.ingest import query as ingest
    from jobs.core.runtime.config import load_config
    from jobs.core.storage.delta import get_engine

    lake = tmp_path / "lake"
    cfg = load_config("test", lake_root=str(lake))
    # --no-dimensions: the dimension upserts are not what this test is about (and cost)
    base = ["--lake-root", str(lake), "--env", "test", "--quiet", "--account", "hh"]
    base += ["--heartbeat-sec", "600", "--no-dimensions"]
    rows = sorted(read_rows(GT), key=lambda r: parse_start_time(r["Start Time"]))
    may = resave(rows[:208], tmp_path / "may" / "ViewingActivity.csv")
    june = resave(redownload(rows[:208], rows[208:]), tmp_path / "june" / "ViewingActivity.csv")
    june_resaved = resave(
        redownload(rows[:208], rows[208:]), tmp_path / "sheet" / "ViewingActivity.csv",
        "mdy-short", order=random.Random(3),
    )  # fmt: skip
    expected = imp.import_files(
        [str(june)], "hh", str(tmp_path / "l"), str(tmp_path / "r"), 600, 5000
    )[0]

    assert import_job.main([str(may), *base]) == 0
    ingest.run(cfg, once=True, spark=spark)
    assert import_job.main([str(june), *base]) == 0
    ingest.run(cfg, once=True, spark=spark)
    assert import_job.main([str(june_resaved), *base]) == 0  # a re-save: nothing new, no file
    assert not list((lake / "landing").glob("*.jsonl"))  # every file read, then archived
    summaries = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.startswith("{")]
    assert [s["sessions"] for s in summaries] == [208, 92, 0]
    assert summaries[2]["already_imported"] == 300

    events = get_engine(spark, cfg).read("playback_event")
    assert events.select("session_id").distinct().count() == expected.sessions == 300
    assert events.count() == expected.events
    archived = [p.name for p in (lake / "landing_archive").rglob("*.jsonl*")]
    assert len(archived) == len(set(archived)) and not [n for n in archived if ".jsonl." in n]


def test_a_lake_imported_before_the_ledger_is_not_doubled_by_the_next_download(tmp_path):
    """Upgrade: import_ledger names the account, the identity ledger does not know it."""
    rows = read_rows(GT)
    lake = Lake(tmp_path / "lake")
    legacy = [("300-0123456789abcdef", "HH")]  # an import made by the previous version
    with pytest.raises(imp.ImportFailedError, match="--record-only"):
        imp.check_legacy_imports(legacy, "hh", lake.ledger, record_only=False)
    may = resave(rows[:208], tmp_path / "may" / "ViewingActivity.csv")
    recorded = lake.run(may, record_only=True)
    assert (recorded.sessions, recorded.landing_files, lake.outputs[-1]) == (208, 0, [])
    imp.check_legacy_imports(legacy, "hh", lake.ledger, record_only=False)  # now fine
    june = lake.run(resave(redownload(rows[:208], rows[208:]), tmp_path / "june" / "va.csv"))
    assert (june.sessions, june.already_imported) == (92, 208)
