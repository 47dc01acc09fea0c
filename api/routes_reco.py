"""Recommendation routes: More Like This of a title, a profile's personalized lists.

Read from the warm delta-rs snapshots (:mod:`api.lake`) of the tables that the
recommendation jobs write (docs/recommendations.md): ``item_item_edge`` (held in memory
sorted by ``src_title_id``, one title's edges by binary search, rebuilt per table
version) and ``current_recommendations`` + ``recommendation_explanation`` (one profile's
rows, as the other profile routes read them). The More Like This rule is the one of
``python -m jobs.query more-like-this``
(:func:`jobs.core.recommend.similar_titles.more_like_this_rows`).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from fastapi import APIRouter, Depends, HTTPException, Path, Query

from api import models_reco
from api.deps import AppState, acting_profile, principal, state
from api.lake import Snapshot, TableMissingError
from api.lookups import lookup
from api.paging import page_info, page_size
from api.tokens import Principal
from jobs.core.recommend.similar_titles import MODELS, more_like_this_rows, newest_versions
from jobs.core.rules.as_of import to_utc

router = APIRouter(prefix="/api")

Who = Annotated[Principal, Depends(principal)]
St = Annotated[AppState, Depends(state)]

CONTEXT_PATTERN = r"^(home|because_you_watched|genre_[a-z0-9_]+)$"
EDGE_COLUMNS = ["src_title_id", "dst_title_id", "score", "model", "model_version", "computed_at"]
TRAIN_HINT = "run python -m jobs.build_interactions, then python -m jobs.train_recommenders"
GENERATE_HINT = (
    "run python -m jobs.generate_recommendations (after jobs.build_interactions and "
    "jobs.train_recommenders; `make recommend` on the demo lake)"
)


def _latest(st: AppState, name: str, hint: str) -> Snapshot:
    """The newest snapshot of a recommendation table; 404 naming the job to run if none."""
    try:
        return st.lake.latest(name)
    except TableMissingError:
        raise HTTPException(404, f"table {name} is not built yet on this lake: {hint}") from None


def _edge_index(snap: Snapshot) -> tuple[pa.Table, np.ndarray, dict[str, str]]:
    """``item_item_edge`` sorted by src_title_id, the sorted ids, and the newest version
    of each model; built once per table version."""

    def build():
        table = snap.dataset.to_table(columns=EDGE_COLUMNS).sort_by("src_title_id")
        ids = table.column("src_title_id").to_numpy(zero_copy_only=False)
        per_version = table.group_by(["model", "model_version"]).aggregate([("computed_at", "max")])
        versions = newest_versions(
            {"model": m, "model_version": v, "computed_at": t}
            for m, v, t in zip(
                per_version.column("model").to_pylist(),
                per_version.column("model_version").to_pylist(),
                per_version.column("computed_at_max").to_pylist(),
                strict=True,
            )
        )
        return table, ids, versions

    return snap.cached("more_like_this_index", build)


def _title_names(st: AppState) -> dict[int, tuple]:
    return lookup(st.lake.latest("title"), "title_id", ["title_name"])


@router.get(
    "/titles/{title_id}/more-like-this",
    response_model=models_reco.MoreLikeThis,
    summary="Titles similar to one title in a model's item graph (newest model version)",
)
def more_like_this(
    who: Who,
    st: St,
    title_id: Annotated[int, Path(description="film or series (title.title_id)")],
    model: Annotated[
        str, Query(pattern=f"^({'|'.join(MODELS)})$", description=" | ".join(MODELS))
    ] = "item_cosine",
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    """Any valid token may read it (no personal data). A collaborative model without
    neighbours for the title (nobody co-viewed it yet) answers with the title's
    content-based neighbours (``fallback_from`` says so); none at all: an empty list."""
    names = _title_names(st)
    if title_id not in names:
        raise HTTPException(404, f"title {title_id} not found")
    table, ids, versions = _edge_index(_latest(st, "item_item_edge", TRAIN_HINT))
    lo, hi = np.searchsorted(ids, [title_id, title_id + 1])
    edges = table.slice(int(lo), int(hi - lo)).to_pylist()
    found = more_like_this_rows(edges, title_id, model, limit, versions)
    return {
        "title_id": title_id,
        "title_name": names[title_id][0],
        **found,
        "items": [
            {**i, "title_name": names.get(i["title_id"], (None,))[0]} for i in found["items"]
        ],
    }


def _known_profiles(st: AppState) -> frozenset[int]:
    snap = st.lake.latest("profile")
    return snap.cached(
        "profile_ids",
        lambda: frozenset(snap.dataset.to_table(columns=["profile_id"]).column(0).to_pylist()),
    )


@router.get(
    "/profiles/{profile_id}/recommendations",
    response_model=models_reco.Recommendations,
    summary="A profile's current recommendation list for a context, with explanations, paged",
)
def recommendations(
    who: Who,
    st: St,
    profile_id: int,
    context: Annotated[
        str,
        Query(
            pattern=CONTEXT_PATTERN,
            description="home | because_you_watched | genre_<slug> (see available_contexts)",
        ),
    ] = "home",
    page: Annotated[int, Query(ge=1, le=100000)] = 1,
    limit: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    """The newest unexpired generation of the list (``current_recommendations``), in rank
    order, each title with its explanation (``recommendation_explanation``). A context
    without a current list (never generated, or expired: generation has not run within
    the list TTL) answers an empty list; ``available_contexts`` names those that have one."""
    acting_profile(who, profile_id)
    if profile_id not in _known_profiles(st):
        raise HTTPException(404, f"profile {profile_id} not found")
    size = page_size(st, limit)
    current = _latest(st, "current_recommendations", GENERATE_HINT)
    now = dt.datetime.now(dt.UTC)
    live = [r for r in current.rows(profile_id).to_pylist() if to_utc(r["expires_at"]) > now]
    contexts = sorted({r["context"] for r in live})
    rows = [r for r in live if r["context"] == context]
    generated = max((r["generated_at"] for r in rows), default=None)
    rows = sorted(
        (r for r in rows if r["generated_at"] == generated), key=lambda r: r["rank_position"]
    )
    why: dict[int, dict] = {}
    if rows:
        explained = _latest(st, "recommendation_explanation", GENERATE_HINT).rows(
            profile_id,
            where=(pc.field("context") == context) & (pc.field("generated_at") == generated),
        )
        why = {r["title_id"]: r for r in explained.to_pylist()}
    names = _title_names(st)
    start = (page - 1) * size
    items = []
    for r in rows[start : start + size]:
        e = why.get(r["title_id"])
        items.append(
            {
                "rank_position": r["rank_position"],
                "title_id": r["title_id"],
                "title_name": names.get(r["title_id"], (None,))[0],
                "score": r["score"],
                "model": r["model"],
                "model_version": r["model_version"],
                "explanation": None
                if e is None
                else {
                    "type": e["explanation_type"],
                    "text": e["text"],
                    "related_title_id": e["related_title_id"],
                    "related_title_name": names.get(e["related_title_id"], (None,))[0],
                },
            }
        )
    return {
        "profile_id": profile_id,
        "context": context,
        "generated_at": generated,
        "expires_at": rows[0]["expires_at"] if rows else None,
        "variant": rows[0]["variant"] if rows else None,
        "available_contexts": contexts,
        "page": page_info(len(rows), page, size),
        "items": items,
    }
