"""Paging of the list routes (history, show progress, events, recommendations).

A list route takes ``page`` (1-based) and ``limit`` query parameters, cuts its rows with
:func:`page_size` and answers with :func:`page_info` in its ``page`` field
(:class:`api.models.Page`).
"""

from __future__ import annotations

from typing import Any

from api.deps import AppState


def page_size(st: AppState, limit: int | None) -> int:
    """The rows per page: ``limit`` or ``api.page_size_default``, at most ``api.page_size_max``."""
    return min(limit or st.settings.page_size_default, st.settings.page_size_max)


def page_info(total: int, page: int, limit: int) -> dict[str, Any]:
    """The ``page`` field of a list answer.

    Args:
        total: rows in the whole answer.
        page: the page shown (1-based).
        limit: rows per page (:func:`page_size`).

    Returns:
        ``page``, ``limit``, ``total`` and ``has_more`` (a later page has rows).
    """
    return {"page": page, "limit": limit, "total": total, "has_more": page * limit < total}
