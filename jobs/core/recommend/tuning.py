"""Choose the baselines' hyper-parameters on the validation cut, score them on the test cut.

Both cuts come from :func:`jobs.core.recommend.evaluation.protocol`: the validation cut
lies ``test_days`` before the test cut and sees only rows before the test cut, so the
choice never looks at the test window. The grids are ``recommend.evaluation.baseline_grids``
(conf/base.yaml); the criterion is mean recall@k_recall on the validation profiles (ties:
the first combination in grid order). The chosen values are refitted on every row before
the test cut. Models and where they would run: :mod:`jobs.core.recommend.baselines`.
"""

from __future__ import annotations

import itertools
import logging
import time

import numpy as np
import pandas as pd

from jobs.core.recommend import baselines as bl
from jobs.core.recommend import evaluation as ev
from jobs.core.runtime.config import EvaluationSettings

log = logging.getLogger(__name__)

MODELS = ("popularity", "trending", "random", "item_knn", "rp3beta", "ease")


def grid(s: EvaluationSettings, model: str) -> list[dict]:
    """Every combination of ``s.baseline_grids[model]`` (``[{}]`` for a model without one)."""
    g = s.baseline_grids.get(model, {})
    keys = sorted(g)
    return [
        dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(g[k] for k in keys))
    ]


def _lists(split: ev.Split, n: int) -> tuple[bl.Interactions, np.ndarray, dict]:
    d = bl.interactions(ev.training_pairs(split.train), split.cut)
    truth = split.test.groupby("profile_id")["title_id"].agg(set).to_dict()
    rows = np.searchsorted(d.users, np.array(sorted(truth)))
    return d, rows, truth


def _recs(d: bl.Interactions, model: str, params: dict, rows: np.ndarray, n: int, seed: int):
    lists = bl.top_n(d, bl.scores(d, model, params, rows, seed), rows, n)
    return dict(zip(d.users[rows].tolist(), lists, strict=True))


def choose(validation: ev.Split, s: EvaluationSettings, n: int, models=MODELS) -> dict:
    """``{model: params}`` with the best validation recall@k_recall per model.

    When the validation cut scores no profile (a short history) nothing can be chosen:
    each model gets the first combination of its grid, with a warning.
    """
    if validation.test.empty:
        log.warning("the validation cut scores no profile: first grid values, not chosen")
        return {model: grid(s, model)[0] for model in models}
    d, rows, truth = _lists(validation, n)
    chosen = {}
    key = f"recall@{s.k_recall}"
    for model in models:
        best: tuple[float, dict] = (-1.0, {})
        for params in grid(s, model):
            t0 = time.monotonic()
            m = ev.list_metrics(_recs(d, model, params, rows, n, s.seed), truth, s)[key].mean()
            log.info(
                "validation %s %s: %s %.4f (%.1f s)", model, params, key, m, time.monotonic() - t0
            )
            if m > best[0]:
                best = (float(m), params)
        chosen[model] = best[1]
    return chosen


def list_frame(
    lists: dict, split: ev.Split, model: str, n: int, s: EvaluationSettings
) -> tuple[pd.DataFrame, dict]:
    """Per-profile metrics of one model's ``lists`` on ``split`` and its coverage row.

    Args:
        lists: profile_id -> titles, best first, seen titles removed.
        split: the cut scored (its test titles are the truth).
        model: the model's name.
        n: list length (coverage@n).
        s: metric cut-offs.

    Returns:
        (model, profile_id, household, the metrics of :func:`ev.list_metrics` on all test
        titles and, suffixed `` rec``, on recommendable ones (titles viewed before the cut;
        NaN for a profile with none); {model, ``coverage@n``: distinct titles in any list /
        titles in training}).
    """
    truth = split.test.groupby("profile_id")["title_id"].agg(set).to_dict()
    known = set(split.train["title_id"].unique().tolist())
    rec_truth = {p: t & known for p, t in truth.items() if t & known}
    house = split.test.drop_duplicates("profile_id").set_index("profile_id")["household"]
    m = ev.list_metrics(lists, truth, s)
    r = ev.list_metrics(lists, rec_truth, s).set_index("profile_id").add_suffix(" rec")
    m = m.join(r, on="profile_id").assign(model=model)
    m["household"] = m["profile_id"].map(house)
    distinct = {t for lst in lists.values() for t in lst[:n]}
    return m, {"model": model, f"coverage@{n}": len(distinct) / max(len(known), 1)}


def score(
    test: ev.Split, chosen: dict, s: EvaluationSettings, n: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-profile metrics and coverage of every model in ``chosen`` on the test cut.

    Returns:
        (per: the rows of :func:`list_frame` of every model; cov: model, ``coverage@n``).
    """
    d, rows, _ = _lists(test, n)
    frames, cov = [], []
    for model, params in chosen.items():
        m, c = list_frame(_recs(d, model, params, rows, n, s.seed), test, model, n, s)
        frames.append(m)
        cov.append(c)
    return pd.concat(frames, ignore_index=True), pd.DataFrame(cov)


def split_facts(split: ev.Split) -> dict:
    """Profiles, households, training titles, test titles and the unrecommendable share."""
    known = set(split.train["title_id"].unique().tolist())
    never = int((~split.test["title_id"].isin(known)).sum())
    return {
        "cut": str(split.cut.date()),
        "test_window_end": str(split.end.date()),
        "profiles_scored": int(split.test["profile_id"].nunique()),
        "households": int(split.test["household"].nunique()),
        "training_rows": len(split.train),
        "training_titles": len(known),
        "test_titles": len(split.test),
        "test_titles_never_in_training": never,
        "unrecommendable_share": round(never / max(len(split.test), 1), 4),
    }
