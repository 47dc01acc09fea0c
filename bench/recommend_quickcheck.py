"""Fast leak-free offline evaluation on the corpus (numpy/scipy, no Spark).

The protocol of ``jobs.core.recommend.evaluation`` (one global cut; training = every row
before it; test = each scored profile's new titles in the ``test_days`` after it;
hyper-parameters chosen on the window before the cut) with the numpy baselines of
``jobs.core.recommend.baselines`` (popularity, trending, random, item-kNN with BM25 and
shrinkage, RP3beta, EASE), scored and summarized by the same code as the Spark job
(``jobs.core.recommend.tuning``, ``offline.summarize``). Titles are normalized names.
The Spark job adds item_cosine, ALS and content TF-IDF and needs 10+ minutes on a loaded
2-core machine; this takes about a minute.

Usage::

    python bench/recommend_quickcheck.py [--corpus DIR] [--score-households NAME,...]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "data" / "viewing-activity-corpus"


def read_views(corpus: str) -> pd.DataFrame:
    """household, profile_id, title_id (normalized name), event_ts of every export."""
    from jobs.core.recommend.corpus import read_export

    rows = [
        (h, p, nt, ts)
        for f in sorted(Path(corpus).glob("*.csv"))
        for h, p, _c, _tn, nt, _tt, ts, _d in read_export(f)
    ]
    return pd.DataFrame(rows, columns=["household", "profile_id", "title_id", "event_ts"])


def main(argv: list[str] | None = None) -> int:
    from jobs.core.recommend import evaluation as ev
    from jobs.core.recommend import offline, tuning
    from jobs.core.runtime.config import load_config

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default=str(CORPUS))
    ap.add_argument("--score-households", help="NAME[,NAME...]: score only these exports")
    ap.add_argument("--samples", type=int, help="bootstrap samples (default: conf)")
    ap.add_argument("-v", "--verbose", action="store_true", help="log every grid point")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    s = load_config().recommend
    if args.samples:
        s = s.model_copy(
            update={
                "evaluation": s.evaluation.model_copy(update={"bootstrap_samples": args.samples})
            }
        )
    scored = set(args.score_households.split(",")) if args.score_households else None
    t0 = time.monotonic()
    views = read_views(args.corpus)
    validation, test = ev.protocol(views, s.evaluation, scored)
    facts = {**tuning.split_facts(test), "validation_cut": str(validation.cut.date())}
    facts["validation_profiles"] = int(validation.test["profile_id"].nunique())
    chosen = tuning.choose(validation, s.evaluation, s.lists.size)
    per, cov = tuning.score(test, chosen, s.evaluation, s.lists.size)
    summary = offline.summarize(per, cov, s)
    facts["seconds"] = round(time.monotonic() - t0)
    print(json.dumps(facts))
    print("chosen on the validation cut:", json.dumps(chosen))
    print(offline.markdown_table(summary, s, facts["households"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
