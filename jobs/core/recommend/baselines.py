"""Strong simple baselines on the training rows of one cut (numpy/scipy, driver memory).

The models Ferrari Dacrema, Cremonesi & Jannach ("Are we really making much progress?",
RecSys 2019 / TOIS 2021) found hard to beat, fitted on the user x title matrix of the rows
before a cut (:func:`jobs.core.recommend.evaluation.training_pairs`):

* ``popularity``: distinct profiles per title (TopPop); ``trending``: the same count with
  each profile weighted exp(-ln 2 * age / half_life_days), age = days from its last view
  of the title to the cut; ``random``: seeded uniform scores.
* ``item_knn``: item-item cosine over the (optionally BM25-weighted, k1 1.2, b 0.75;
  titles are the documents, profiles the terms) matrix, shrunk as
  ``x_i . x_j / (|x_i| |x_j| + shrink)``, the ``k`` best neighbours kept per title; the
  history is weighted exp(-n / tau) for the n-th newest title when ``tau`` > 0.
* ``rp3beta`` (Paudel et al., TiiS 2017): the 3-step walk profile -> title -> profile ->
  title with transition probabilities raised to ``alpha``, divided by popularity^``beta``,
  ``k`` best per title.
* ``ease`` (Steck, WWW 2019): B = I - P diagMat(1 / diag(P)), P = (X'X + lambda I)^-1,
  on titles of at least ``min_profiles`` profiles (the others cannot co-occur).

Where they run: these fit in one process (the corpus: ~150 profiles x ~15 K titles,
seconds). At the design's scale (100 K profiles, 50 K titles) item_knn and rp3beta are
sparse products that Spark does as the self-join of :mod:`similarity` (pairs per
profile), EASE needs a dense titles x titles inverse (50 K^2 doubles = 20 GB): it would run
on one large-memory node (or a GPU) over the top titles only, not in Spark executors.
Scores are ``profiles x titles`` dense here; at scale they would be computed in batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp


@dataclass(frozen=True)
class Interactions:
    """The binary profile x title matrix of one cut's training rows.

    Attributes:
        x: csr, 1.0 where the profile viewed the title before the cut.
        users: profile_id of each row; items: title_id of each column.
        age_days: csr on x's pattern, days from the last view before the cut to the cut.
        newest: csr on x's pattern, 0 for the profile's newest title (by first view), 1 for
            the next, ...
    """

    x: sp.csr_matrix
    users: np.ndarray
    items: np.ndarray
    age_days: sp.csr_matrix
    newest: sp.csr_matrix


def interactions(pairs: pd.DataFrame, cut: pd.Timestamp) -> Interactions:
    """:class:`Interactions` of ``training_pairs`` rows (profile_id, title_id, first_ts, last_ts)."""
    users, u = np.unique(pairs["profile_id"].to_numpy(), return_inverse=True)
    items, i = np.unique(pairs["title_id"].to_numpy(), return_inverse=True)
    shape = (len(users), len(items))
    age = ((cut - pairs["last_ts"]).dt.total_seconds() / 86400.0).to_numpy()
    rank = pairs.assign(_u=u).groupby("_u")["first_ts"].rank(method="first", ascending=False)

    def mat(v: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((v.astype(float), (u, i)), shape=shape)

    return Interactions(
        mat(np.ones(len(u))), users, items, mat(age + 1e-9), mat(rank.to_numpy() - 1 + 1e-9)
    )


def _col_counts(x: sp.spmatrix) -> np.ndarray:
    return np.asarray((x != 0).sum(axis=0)).ravel().astype(float)


def popularity(d: Interactions) -> np.ndarray:
    """Distinct profiles per title (one score per column of ``d.x``)."""
    return _col_counts(d.x)


def trending(d: Interactions, half_life_days: float) -> np.ndarray:
    """Popularity with each profile weighted by the recency of its last view (see module)."""
    w = d.age_days.copy()
    w.data = np.exp(-math.log(2) * w.data / half_life_days)
    return np.asarray(w.sum(axis=0)).ravel()


def _bm25(x: sp.csr_matrix, k1: float = 1.2, b: float = 0.75) -> sp.csr_matrix:
    """Okapi BM25 weights of ``x`` with titles as documents and profiles as terms."""
    c = x.tocoo()
    n_items = x.shape[1]
    per_user = np.asarray(x.sum(axis=1)).ravel()
    idf = np.log(n_items / (1.0 + per_user))
    length = _col_counts(x)
    norm = (1 - b) + b * length / max(length.mean(), 1e-12)
    w = c.data * (k1 + 1.0) / (k1 * norm[c.col] + c.data) * idf[c.row]
    return sp.csr_matrix((w, (c.row, c.col)), shape=x.shape)


def _top_k_rows(m: sp.csr_matrix, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest entries of every row of ``m`` (the diagonal dropped)."""
    m = m.tocsr(copy=True)
    m.setdiag(0)
    m.eliminate_zeros()
    rows, cols, vals = [], [], []
    for r in range(m.shape[0]):
        a, z = m.indptr[r], m.indptr[r + 1]
        if z - a > k:
            keep = a + np.argpartition(-m.data[a:z], k)[:k]
        else:
            keep = np.arange(a, z)
        rows.append(np.full(len(keep), r))
        cols.append(m.indices[keep])
        vals.append(m.data[keep])
    if not rows:
        return sp.csr_matrix(m.shape)
    return sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=m.shape
    )


def item_knn(d: Interactions, bm25: bool, shrink: float, k: int) -> sp.csr_matrix:
    """Title x title weights W (score = history @ W) of the cosine item-kNN (see module)."""
    x = _bm25(d.x) if bm25 else d.x
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0)).ravel())
    co = (x.T @ x).tocoo()
    sim = co.data / (norms[co.row] * norms[co.col] + shrink + 1e-9)
    # row j = target title j's k nearest titles; W = its transpose (source -> target)
    return _top_k_rows(sp.csr_matrix((sim, (co.row, co.col)), shape=co.shape), k).T.tocsr()


def _row_normalized(m: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    s = np.asarray(m.sum(axis=1)).ravel()
    out = sp.diags(1.0 / np.maximum(s, 1e-12)) @ m
    out = out.tocsr()
    out.data = out.data**alpha
    return out


def rp3beta(d: Interactions, alpha: float, beta: float, k: int) -> sp.csr_matrix:
    """Title x title weights W of RP3beta (score = history @ W; see module)."""
    p_ui = _row_normalized(d.x, alpha)
    p_iu = _row_normalized(d.x.T.tocsr(), alpha)
    w = (p_iu @ p_ui).tocsr()
    w = w @ sp.diags(1.0 / np.power(np.maximum(popularity(d), 1.0), beta))
    return _top_k_rows(w.tocsr(), k)


def ease(d: Interactions, lam: float, min_profiles: int) -> tuple[np.ndarray, np.ndarray]:
    """(columns, B): EASE weights over the titles of >= ``min_profiles`` profiles (dense)."""
    cols = np.flatnonzero(popularity(d) >= min_profiles)
    xs = d.x[:, cols]
    g = (xs.T @ xs).toarray()
    g[np.diag_indices_from(g)] += lam
    p = np.linalg.inv(g)
    b = -p / np.diag(p)
    b[np.diag_indices_from(b)] = 0.0
    return cols, b


def history(d: Interactions, rows: np.ndarray, tau: float) -> sp.csr_matrix:
    """Profiles' history rows of ``d.x``, weighted exp(-n / tau) by recency when tau > 0."""
    if tau <= 0:
        return d.x[rows]
    h = d.newest[rows].tocsr(copy=True)
    h.data = np.exp(-np.floor(h.data) / tau)
    return h


def scores(d: Interactions, model: str, params: dict, rows: np.ndarray, seed: int) -> np.ndarray:
    """Dense scores (len(rows) x titles) of ``model`` with ``params`` for profiles ``rows``.

    Raises:
        ValueError: ``model`` is not one of this module's models.
    """
    n = len(rows), d.x.shape[1]
    if model == "popularity":
        return np.broadcast_to(popularity(d), n).copy()
    if model == "trending":
        return np.broadcast_to(trending(d, params["half_life_days"]), n).copy()
    if model == "random":
        return np.random.default_rng(seed).random(n)
    if model == "item_knn":
        w = item_knn(d, bool(params["bm25"]), params["shrink"], int(params["k"]))
        return np.asarray((history(d, rows, params.get("tau", 0)) @ w).todense())
    if model == "rp3beta":
        w = rp3beta(d, params["alpha"], params["beta"], int(params["k"]))
        return np.asarray((d.x[rows] @ w).todense())
    if model == "ease":
        cols, b = ease(d, params["lambda"], int(params["min_profiles"]))
        out = np.zeros(n)
        out[:, cols] = d.x[rows][:, cols] @ b
        return out
    raise ValueError(f"unknown baseline {model!r}: popularity, trending, random, item_knn, ...")


def top_n(d: Interactions, s: np.ndarray, rows: np.ndarray, n: int) -> list[list]:
    """Best ``n`` unseen titles per profile; popularity breaks ties (and fills short lists)."""
    pop = popularity(d)
    s = s + 1e-9 * pop / max(pop.max(), 1.0)
    seen = d.x[rows]
    s[seen.nonzero()] = -np.inf
    top = np.argsort(-s, axis=1, kind="stable")[:, :n]
    return [list(d.items[t[np.isfinite(row[t])]]) for t, row in zip(top, s, strict=True)]
