"""The importer: rows -> viewings -> synthetic events in the landing zone."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
from pathlib import Path

import pytest

from jobs import import_viewing_activity as import_job
from jobs.core.ingest import export_import as imp
from tests.conftest import SAMPLES

KE = SAMPLES / "viewing-activity" / "household-ke.csv"
HEADER = list(imp.EXPORT_COLUMNS)


def row(**over):
    base = {
        "Profile Name": "Profile 1",
        "Start Time": "2023-01-25 21:08:18",
        "Duration": "00:01:10",
        "Attributes": "",
        "Title": "La Reina del Sur: Temporada 3: Morir para vivir (Capítulo 1)",
        "Supplemental Video Type": "",
        "Device Type": "Samsung CE 2019 Muse-L UHD TV Smart TV",
        "Bookmark": "00:18:41",
        "Latest Bookmark": "00:18:41",
        "Country": "GT (Guatemala)",
    }
    base.update(over)
    return base


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=HEADER)
        w.writeheader()
        w.writerows(rows)
    return path


def test_a_viewing_becomes_play_heartbeats_and_end():
    v = imp.parse_row(row(), 2, "household-gt")
    events = imp.viewing_to_events(v, heartbeat_sec=30)
    assert [(e["event_type"], e["event_time"], e["position_sec"]) for e in events] == [
        ("PLAY", "2023-01-25T21:08:18Z", 1051),
        ("HEARTBEAT", "2023-01-25T21:08:48Z", 1081),
        ("HEARTBEAT", "2023-01-25T21:09:18Z", 1111),
        ("END", "2023-01-25T21:09:28Z", 1121),
    ]
    assert {e["session_id"] for e in events} == {v.session_id}
    assert all(e["country_code"] == "GT" and e["episode_id"] == v.episode_id for e in events)
    assert v.title.season_number == 3 and v.title.episode_number == 1


def test_rewind_never_reports_a_position_past_the_bookmark_and_zero_length_has_only_end():
    rewind = imp.parse_row(row(Duration="0:02:00", Bookmark="0:00:40"), 2, "a")
    positions = [e["position_sec"] for e in imp.viewing_to_events(rewind, 30)]
    assert positions == [0, 30, 40, 40, 40]
    zero = imp.parse_row(row(Duration="0:00:00", Bookmark="0:00:05"), 3, "a")
    assert [(e["event_type"], e["position_sec"]) for e in imp.viewing_to_events(zero, 30)] == [
        ("END", 5)
    ]
    with pytest.raises(ValueError, match="heartbeat_sec"):
        imp.viewing_to_events(zero, 0)


def test_ids_are_stable_and_normalized():
    a = imp.parse_row(row(**{"Profile Name": "Profile\u00a01"}), 2, "Household GT")
    b = imp.parse_row(row(), 9, "household gt")
    assert (a.profile_id, a.device_id, a.title_id, a.episode_id) == (
        b.profile_id,
        b.device_id,
        b.title_id,
        b.episode_id,
    )
    assert a.profile_id == imp.profile_id_for("household gt", "profile 1")
    film = imp.parse_row(row(Title="Star Wars: The Force Awakens"), 2, "a")
    assert film.title.kind == "FILM" and film.episode_id is None
    assert film.title_id != a.title_id


def test_import_writes_landing_files_atomically_and_rejects_bad_rows(tmp_path):
    src = write_csv(
        tmp_path / "export.csv",
        [
            row(),
            row(**{"Start Time": "yesterday"}),
            row(Title=""),
            row(
                **{
                    "Start Time": "2023-01-25 22:00:00",
                    "Title": "90 minutos en el Cielo",
                    "Duration": "00:00:31",
                }
            ),
        ],
    )
    landing, rejects = tmp_path / "landing", tmp_path / "rejects"
    report, viewings, _ = imp.import_files([str(src)], "acct", str(landing), str(rejects), 30, 3)
    assert (report.rows, report.rejected, report.sessions) == (4, 2, 2)
    assert report.events == 4 + 3  # 4 for the 70 s episode, PLAY+HEARTBEAT+END for the 31 s film
    files = sorted(p.name for p in landing.iterdir())
    # {account}-{file}-hb{heartbeat}-{part}-{hash of the bytes}: a name is never reused
    assert [re.sub(r"-[0-9a-f]{16}\.jsonl$", "", f) for f in files] == [
        "acct-export-hb30-00000",
        "acct-export-hb30-00001",
        "acct-export-hb30-00002",
    ]
    lines = [json.loads(x) for f in sorted(landing.iterdir()) for x in f.read_text().splitlines()]
    assert len(lines) == 7 and not list(landing.glob(".tmp-*"))
    rejected = [json.loads(x) for x in (rejects / "export.rejects.jsonl").read_text().splitlines()]
    assert [r["line"] for r in rejected] == [3, 4]
    assert "Start Time" in rejected[0]["reason"] and "yesterday" in rejected[0]["reason"]
    assert rejected[1]["reason"] == "empty Title"
    # the same input twice gives the same files and ids
    again, _, _ = imp.import_files([str(src)], "acct", str(landing), str(rejects), 30, 3)
    assert sorted(p.name for p in landing.iterdir()) == files
    lines2 = [json.loads(x) for f in sorted(landing.iterdir()) for x in f.read_text().splitlines()]
    assert lines2 == lines


def test_the_real_sample_imports_without_rejects(tmp_path):
    report, viewings, _ = imp.import_files(
        [str(KE)], "household-ke", str(tmp_path / "l"), str(tmp_path / "r"), 300, 50_000
    )
    summary = report.summary()
    assert (summary["rows"], summary["rejected"], summary["sessions"]) == (374, 0, 374)
    assert 0.85 < summary["episode_share"] < 0.95
    assert summary["device_other_share"] == 0.0
    rows = imp.dimension_rows(viewings, "household-ke", {})
    assert len(rows["profile"]) == 2 and len(rows["account"]) == 1
    assert {r[2] for r in rows["title"]} == {"FILM", "SERIES", "SUPPLEMENTAL"}


def test_cli_reports_missing_files_with_exit_code_2(tmp_path, capsys):
    code = import_job.main(
        [str(tmp_path / "nope.csv"), "--lake-root", str(tmp_path), "--no-dimensions"]
    )
    assert code == 2
    assert "no such export file" in capsys.readouterr().err


def test_start_times_in_all_three_forms_land_as_utc_iso():
    for raw, iso in [
        ("2023-01-25 21:08:18", "2023-01-25T21:08:18Z"),
        ("2018-09-21 0:29", "2018-09-21T00:29:00Z"),
        ("1/16/2020 14:19", "2020-01-16T14:19:00Z"),
    ]:
        v = imp.parse_row(row(**{"Start Time": raw}), 2, "a")
        assert imp.viewing_to_events(v, 30)[0]["event_time"] == iso
        assert v.start.tzinfo is not None and v.start.utcoffset() == dt.timedelta(0)
