"""``python -m jobs.evaluate_recommenders`` end to end on three tiny exports (Spark)."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

from jobs.core.ingest.viewings import EXPORT_COLUMNS
from jobs.evaluate_recommenders import main

CATALOG = Path(__file__).resolve().parents[2] / "data/samples/catalog/netflix_titles.csv"
HEADER = list(EXPORT_COLUMNS)  # the export's own columns, in its order
T0 = dt.datetime(2024, 1, 1, 20, 0)


def _titles() -> list[str]:
    with CATALOG.open(encoding="utf-8", newline="") as fh:
        return [r["title"] for r in csv.DictReader(fh)][:12]


def _export(path: Path, views: dict[str, list[tuple[str, int]]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(HEADER)
        for profile, rows in views.items():
            for title, day in rows:
                start = (T0 + dt.timedelta(days=day)).strftime("%Y-%m-%d %H:%M:%S")
                w.writerow([profile, start, "01:00:00", "", title, "", "TV", "", "", "US"])


def _corpus(folder: Path) -> Path:
    folder.mkdir()
    t = _titles()
    # January: everyone watches t0..t3 and one of its own; March: new titles (the test)
    for h in ("hh-a", "hh-b", "hh-c"):
        own = {"hh-a": 4, "hh-b": 5, "hh-c": 6}[h]
        early = [(t[i], 2 + i) for i in (0, 1, 2, 3, own)]
        late = [(t[7], 62), (t[own + 4], 63)]
        seen_t7 = [(t[7], 10)] if h == "hh-a" else []  # t7 is recommendable for hh-b
        _export(folder / f"{h}.csv", {"Profile 1": early + late, "Profile 2": early + seen_t7})
    return folder


def test_score_households_scores_only_them_and_json_keeps_its_shape(tmp_path, capsys):
    corpus = _corpus(tmp_path / "corpus")
    argv = ["--env", "test", "--lake-root", str(tmp_path / "lake"), "--corpus", str(corpus)]
    argv += ["--catalog", str(CATALOG), "--no-write", "--json", "--score-households", "hh-b"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    facts, summary = out["facts"], {r["model"]: r for r in out["summary"]}
    # Feb 1 and Mar 1 both score hh-b's profile 1 (new titles on Mar 3-4): ties go later
    assert facts["cut"] == "2024-03-01" and facts["households"] == 1
    assert facts["profiles_scored"] == 1  # profile 2 has no new title
    # t7 (seen by hh-a before the cut) and hh-b's own t9 (seen by nobody before it)
    assert facts["test_titles"] == 2 and facts["unrecommendable_share"] == 0.5
    assert {"popularity", "random", "item_knn", "rp3beta", "ease", "item_cosine"} <= set(summary)
    for name, r in summary.items():  # 3 unseen candidates: every list holds t7
        assert (r["profiles"], r["hits@20"], r["recall@20"]) == (1, 1, 0.5), name
        assert r["recall@20 rec"] == 1.0, name
    assert {"recall@20 vs pop", "recall@20 vs pop low", "recall@20 vs pop high"} <= set(
        summary["item_knn"]
    )


def test_score_households_must_name_a_household_with_views(tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    argv = ["--env", "test", "--lake-root", str(tmp_path / "lake"), "--corpus", str(corpus)]
    assert main([*argv, "--catalog", str(CATALOG), "--no-write", "--score-households", ","]) == 2
