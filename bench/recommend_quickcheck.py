"""Fast cross-check of the offline evaluation on the corpus (numpy/scipy, no Spark).

Same protocol as ``jobs.core.recommend.evaluation`` (per-profile temporal split, last
20 % of titles by first view held out, profiles with < 5 training titles not evaluated,
seen titles never recommended, binary-relevance recall@20 / precision@10 / NDCG@10,
household cluster bootstrap of the ratio to TopPopular) and the same item_cosine model
(binary co-viewing cosine, shrink 5, recency weight exp(-(n-1)/tau)). It exists because
the Spark job needs about 12 minutes on a loaded 2-core machine; this takes about a minute.

Usage::

    python bench/recommend_quickcheck.py [--tau 20] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import collections
import math
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT.parent / "shared" / "data" / "viewing-activity-corpus"


def metrics(recs: list, truth: set) -> tuple[float, float, float]:
    r20 = len(set(recs[:20]) & truth) / len(truth)
    p10 = len(set(recs[:10]) & truth) / 10
    dcg = sum(1 / math.log2(k + 2) for k, i in enumerate(recs[:10]) if i in truth)
    idcg = sum(1 / math.log2(k + 2) for k in range(min(10, len(truth))))
    return r20, p10, dcg / idcg


def temporal_split(corpus: str) -> tuple[dict, dict, dict]:
    """Per-profile split of the exports: (train, test, household) keyed by profile.

    train[p] = [(first view, title)...] oldest first, test[p] = held-out titles (the
    newest 20 %); profiles with fewer than 5 training titles are left out.
    """
    from jobs.core.recommend.corpus import read_export

    first: dict = {}
    household: dict = {}
    for f in sorted(Path(corpus).glob("*.csv")):
        for h, p, _c, _tn, nt, _tt, ts, _d in read_export(f):
            household[p] = h
            if (p, nt) not in first or ts < first[(p, nt)]:
                first[(p, nt)] = ts
    prof = collections.defaultdict(list)
    for (p, i), ts in first.items():
        prof[p].append((ts, i))
    train, test = {}, {}
    for p, seq in prof.items():
        seq.sort()
        n_test = max(1, math.ceil(len(seq) * 0.2))
        if len(seq) - n_test < 5:
            continue
        train[p], test[p] = seq[:-n_test], {i for _, i in seq[-n_test:]}
    return train, test, household


def score_models(train: dict, test: dict, tau: float, shrink: float) -> tuple[dict, int, int]:
    """Metrics per model and profile: (results, training titles, held-out titles never seen)."""
    items = sorted({i for seq in train.values() for _, i in seq})
    ix = {i: n for n, i in enumerate(items)}
    users = sorted(train)
    r = [u for u, p in enumerate(users) for _ in train[p]]
    c = [ix[i] for p in users for _, i in train[p]]
    x = sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(users), len(items)))
    x.data[:] = 1.0
    n = np.asarray(x.sum(0)).ravel()
    co = (x.T @ x).tocoo()
    keep = co.row != co.col
    rr, cc, d = co.row[keep], co.col[keep], co.data[keep]
    sim = sp.csr_matrix((d / np.sqrt(n[rr] * n[cc]) * d / (d + shrink), (rr, cc)), shape=co.shape)
    pop = np.argsort(-n, kind="stable")
    unseen = sum(1 for p in test for i in test[p] if i not in ix)
    res: dict = collections.defaultdict(dict)
    rng = np.random.default_rng(7)
    for p in users:
        seen = [ix[i] for _, i in train[p]]
        ss = set(seen)
        res["popularity"][p] = metrics([items[j] for j in pop if j not in ss][:20], test[p])
        cand = [j for j in rng.permutation(len(items))[:2000] if j not in ss][:20]
        res["random"][p] = metrics([items[j] for j in cand], test[p])
        order = [ix[i] for _, i in sorted(train[p], reverse=True)]
        w = np.exp(-np.arange(len(order)) / tau)
        h = sp.csr_matrix((w, (np.zeros(len(order), int), order)), shape=(1, len(items)))
        s = (h @ sim).toarray().ravel() + 1e-9 * n / n.max()  # popularity breaks ties / fills
        s[seen] = -1
        res["item_cosine"][p] = metrics([items[j] for j in np.argsort(-s)[:20]], test[p])
    return res, len(items), unseen


def print_table(res: dict, users: list, household: dict, samples: int) -> None:
    """Markdown table: means and ratio to popularity with a household-bootstrap 95 % CI."""
    hhs = sorted({household[p] for p in users})
    by_h = {h: [p for p in users if household[p] == h] for h in hhs}
    print(
        "| model | recall@20 | precision@10 | ndcg@10 | recall@20 vs pop [95% CI] | ndcg@10 vs pop [95% CI] |"
    )
    print("|---|---|---|---|---|---|")
    boot = np.random.default_rng(1)
    draws = [boot.choice(hhs, len(hhs)) for _ in range(samples)]
    for m in res:
        means = [np.mean([res[m][p][k] for p in users]) for k in range(3)]
        cells = []
        for k in (0, 2):
            base = np.mean([res["popularity"][p][k] for p in users])
            ratios = []
            for smp in draws:
                ps = [p for h in smp for p in by_h[h]]
                ratios.append(
                    np.mean([res[m][p][k] for p in ps])
                    / np.mean([res["popularity"][p][k] for p in ps])
                )
            lo, hi = np.percentile(ratios, [2.5, 97.5])
            cells.append(f"{means[k] / base:.2f} [{lo:.2f}, {hi:.2f}]")
        print(
            f"| {m} | {means[0]:.4f} | {means[1]:.4f} | {means[2]:.4f} | {cells[0]} | {cells[1]} |"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tau", type=float, default=20.0)
    ap.add_argument("--shrink", type=float, default=5.0)
    ap.add_argument("--corpus", default=str(CORPUS))
    ap.add_argument("--samples", type=int, default=2000)
    args = ap.parse_args(argv)
    train, test, household = temporal_split(args.corpus)
    res, n_items, unseen = score_models(train, test, args.tau, args.shrink)
    users = sorted(train)
    print(
        f"profiles {len(users)}, households {len({household[p] for p in users})}, "
        f"training titles {n_items}, held-out titles {sum(len(t) for t in test.values())}, "
        f"never in training {unseen}"
    )
    print_table(res, users, household, args.samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
