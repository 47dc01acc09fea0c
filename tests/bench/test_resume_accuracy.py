"""bench/resume_accuracy.py on the bundled Kenyan export: full agreement, in any order.

Runs the benchmark in-process with the session's SparkSession (heartbeat 300 s keeps it
to a few thousand events) and checks it against a count made straight from the CSV.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from chispa import assert_df_equality

from bench.resume_accuracy import (
    ResumePoint,
    batch_order,
    compare,
    ground_truth,
    main,
    measure,
    read_export,
)
from jobs.core.runtime.config import load_config
from jobs.core.storage.delta import get_engine
from tests.conftest import SAMPLES

KE = SAMPLES / "viewing-activity" / "household-ke.csv"
HEARTBEAT_SEC = 300


def groups_with_ground_truth(path: Path) -> int:
    """(Profile Name, Title) groups of non-supplemental rows with a Latest Bookmark value."""
    groups: dict[tuple[str, str], bool] = {}
    with path.open(encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            if row["Supplemental Video Type"].strip():
                continue
            key = (row["Profile Name"].strip(), row["Title"].strip())
            latest = row["Latest Bookmark"].strip()
            groups[key] = groups.get(key, False) or (bool(latest) and latest != "Not latest view")
    return sum(groups.values())


@pytest.fixture(scope="module")
def runs(spark, tmp_path_factory):
    """The benchmark on household-ke, once in file order and once shuffled."""
    root = tmp_path_factory.mktemp("resume-accuracy")
    out = {}
    for shuffle in (False, True):
        cfg = load_config("test", lake_root=str(root / f"shuffle-{shuffle}"))
        report = measure(
            str(KE),
            spark,
            cfg,
            shuffle=shuffle,
            seed=3,
            heartbeat_sec=HEARTBEAT_SEC,
            shuffle_files=4,
        )
        out[shuffle] = (report, cfg)
    return out


@pytest.mark.slow
def test_resume_state_agrees_with_latest_bookmark(runs):
    report, _ = runs[False]
    assert report["groups"] == groups_with_ground_truth(KE) == 146
    assert report["agreement"] == 1.0
    assert report["unexplained"] == 0
    assert report["no_ground_truth"] == 0
    assert report["events"] > 0 and report["shuffled"] is False


@pytest.mark.slow
def test_shuffled_arrival_gives_the_same_resume_state(spark, runs):
    plain, plain_cfg = runs[False]
    shuffled, shuffled_cfg = runs[True]
    assert shuffled["shuffled"] is True
    assert {k: shuffled[k] for k in ("groups", "agreement", "unexplained", "events")} == {
        k: plain[k] for k in ("groups", "agreement", "unexplained", "events")
    }
    order = batch_order(spark, shuffled_cfg)  # landing files by the micro-batch that read them
    assert order == shuffled["landing_order"]  # oldest modification time first
    assert len(order) >= 4
    assert order != sorted(order)  # not fed in name order
    assert_df_equality(
        get_engine(spark, shuffled_cfg).read("resume_state"),
        get_engine(spark, plain_cfg).read("resume_state"),
        ignore_row_order=True,
    )


HEADER = (
    "Profile Name,Start Time,Duration,Attributes,Title,Supplemental Video Type,"
    "Device Type,Bookmark,Latest Bookmark,Country\n"
)


def write_export(path: Path, rows: list[str]) -> str:
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


def test_ground_truth_takes_the_latest_start_and_accepts_its_ties(tmp_path):
    rows = [
        "P1,2023-01-02 10:00:00,00:10:00,,Film A,,TV,00:10:00,00:10:00,KE (Kenya)",
        "P1,2023-01-02 10:00:00,00:05:00,,Film A,,Phone,00:05:00,00:05:00,KE (Kenya)",
        "P1,2023-01-01 10:00:00,00:20:00,,Film A,,TV,00:20:00,00:20:00,KE (Kenya)",
        "P1,2023-01-01 10:00:00,00:01:00,,Trailer: Film A,TRAILER,TV,00:01:00,00:01:00,KE (Kenya)",
        "P2,2023-01-01 10:00:00,00:20:00,,Film A,,TV,00:20:00,Not latest view,KE (Kenya)",
    ]
    exported, skipped = read_export(write_export(tmp_path / "tiny.csv", rows), "tiny")
    groups = ground_truth(exported)
    assert skipped == 0
    assert sorted(sorted(g.truth) for g in groups.values()) == [[], [300, 600]]


def test_mismatches_are_classified_as_tie_overlap_or_unexplained(tmp_path):
    rows = [
        # A: a same-minute restart carries the truth; we take the later END -> tie
        "P1,2023-01-01 10:00:00,00:00:05,,Film A,,TV,00:01:40,00:01:40,KE (Kenya)",
        "P1,2023-01-01 10:00:30,00:00:10,,Film A,,TV,00:01:30,Not latest view,KE (Kenya)",
        # B: truth on a phone while the TV played on and ended later -> overlap
        "P1,2023-01-01 11:00:00,00:10:00,,Film B,,Phone,00:10:00,00:10:00,KE (Kenya)",
        "P1,2023-01-01 10:55:00,00:20:00,,Film B,,TV,00:20:00,Not latest view,KE (Kenya)",
        # C: an hour apart, same device -> unexplained
        "P1,2023-01-01 12:00:00,00:01:00,,Film C,,TV,00:01:00,00:01:00,KE (Kenya)",
        "P1,2023-01-01 13:00:00,00:01:00,,Film C,,TV,00:08:20,Not latest view,KE (Kenya)",
        # D: a match; E: no ground truth
        "P1,2023-01-01 14:00:00,00:01:00,,Film D,,TV,00:01:00,00:01:00,KE (Kenya)",
        "P1,2023-01-01 15:00:00,00:01:00,,Film E,,TV,00:01:00,Not latest view,KE (Kenya)",
    ]
    exported, _ = read_export(write_export(tmp_path / "cases.csv", rows), "cases")
    groups = ground_truth(exported)
    # resume_state as the ingest builds it: the row with the latest END wins
    resume = {}
    for key, group in groups.items():
        last = max(group.rows, key=lambda r: r.end)
        resume[key] = ResumePoint(last.viewing.bookmark_sec, last.viewing.session_id, last.end)
    result = compare(groups, resume)
    assert (result.groups, result.matches, result.no_ground_truth) == (4, 1, 1)
    assert (result.explained_ties, result.explained_overlaps) == (1, 1)
    assert [(u["title"], u["truth"], u["ours"]) for u in result.unexplained] == [
        ("Film C", [60], 500)
    ]
    assert result.agreement == 0.25


def test_cli_exits_2_on_a_missing_file(tmp_path, capsys):
    assert main([str(tmp_path / "absent.csv")]) == 2
    assert "no such export file" in capsys.readouterr().err
