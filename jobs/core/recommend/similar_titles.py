"""More Like This on plain rows: the one rule for ``jobs.query more-like-this`` and the API.

No Spark here (the API answers without a JVM): the Spark query collects one title's
``item_item_edge`` rows and calls :func:`more_like_this_rows`, the API passes the rows of
its warm delta-rs snapshot.

The rule:

* only the newest ``model_version`` of each model is served (newest ``computed_at``, then
  the larger version string), so edges left from an older training never mix in;
* neighbours ordered by score, descending, ties by ``dst_title_id``; no self edge;
* a title without neighbours in a collaborative model (``item_cosine``, ``als``: a title
  nobody co-viewed yet) gets its content-based neighbours (``content_tfidf``), as the
  ``because_you_watched`` lists do (docs/recommendations.md, cold start); the answer says
  which model served it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from jobs.core.rules.as_of import to_utc

MODELS = ("item_cosine", "content_tfidf", "als")
# collaborative models fall back to the catalogue's content neighbours for a cold title
FALLBACK = {"item_cosine": "content_tfidf", "als": "content_tfidf"}

_OLDEST = dt.datetime.min.replace(tzinfo=dt.UTC)


def _utc(t: dt.datetime | None) -> dt.datetime:
    if t is None:
        return _OLDEST
    return to_utc(t)


def newest_versions(versions: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The newest model_version of each model.

    Args:
        versions: rows with model, model_version, computed_at (UTC; one per version or
            one per edge).

    Returns:
        model -> model_version with the newest computed_at (ties: the larger version).
    """
    best: dict[str, tuple[dt.datetime, str]] = {}
    for r in versions:
        key = (_utc(r["computed_at"]), r["model_version"])
        if r["model"] not in best or key > best[r["model"]]:
            best[r["model"]] = key
    return {m: v for m, (_, v) in best.items()}


def more_like_this_rows(
    edges: Iterable[Mapping[str, Any]],
    title_id: int,
    model: str,
    limit: int,
    versions: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The More Like This list of one title.

    Args:
        edges: ``item_item_edge`` rows whose src_title_id is ``title_id`` (other rows are
            ignored): src_title_id, dst_title_id, score, model, model_version, computed_at.
        title_id: the title.
        model: the model asked for (one of :data:`MODELS`).
        limit: at most this many neighbours.
        versions: model -> the version to serve (:func:`newest_versions` over the whole
            table); default: the newest among ``edges``.

    Returns:
        ``{"model", "model_version", "fallback_from", "items"}``: the model that served the
        list (``model`` or its content fallback; ``fallback_from`` is the model asked for
        when it fell back, else None), its version (None when no version exists), and
        items ``{"rank_position" 1.., "title_id", "score"}`` best first.

    Raises:
        ValueError: unknown model or limit < 1.
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}; one of {', '.join(MODELS)}")
    if limit < 1:
        raise ValueError(f"limit must be >= 1, got {limit}")
    mine = [e for e in edges if e["src_title_id"] == title_id and e["dst_title_id"] != title_id]
    if versions is None:
        versions = newest_versions(mine)
    served, fallback_from = model, None
    items = _ranked(mine, model, versions.get(model), limit)
    if not items and model in FALLBACK:
        content = _ranked(mine, FALLBACK[model], versions.get(FALLBACK[model]), limit)
        if content:
            served, fallback_from, items = FALLBACK[model], model, content
    return {
        "model": served,
        "model_version": versions.get(served),
        "fallback_from": fallback_from,
        "items": items,
    }


def _ranked(
    edges: list[Mapping[str, Any]], model: str, version: str | None, limit: int
) -> list[dict[str, Any]]:
    rows = [e for e in edges if e["model"] == model and e["model_version"] == version]
    rows.sort(key=lambda e: (-float(e["score"]), e["dst_title_id"]))
    return [
        {"rank_position": i + 1, "title_id": e["dst_title_id"], "score": float(e["score"])}
        for i, e in enumerate(rows[:limit])
    ]
