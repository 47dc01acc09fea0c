"""Per-profile answers built once per table version: a request costs O(page), not O(rows).

The read routes (:mod:`api.routes_read`) used to shape every row of a profile in Python
on every request (a history page of a 4,500-row profile: ~30 ms of CPU). Here each
profile's rows are shaped and rendered to JSON once per version of the tables they come
from, kept in a bounded LRU (:class:`ProfileCache`), and a request only slices them:

* history: the profile's rows, sorted as the answer lists them, each already rendered;
  a filter (content type, platform) is a cached sub-list, a date range a binary search;
* statistics: each period of a profile rendered once; a page splices a slice of them;
* progress and Continue Watching ``as_of=latest``: the whole answer's bytes;
* the event feed: each commit's change-data rows, sorted and rendered once per commit
  (a committed version never changes), so a poll reads the commits after its cursor.

Keys name the table versions they were built from, so a new Delta version is a new key
and the old entry ages out of the LRU; nothing is invalidated by hand.

Answers are rendered exactly as FastAPI renders a ``response_model`` (pydantic's
``TypeAdapter.dump_json``), so the bytes are the same as before; the route returns them
as ``Response(media_type="application/json")`` and the model stays on the decorator for
the OpenAPI document.

Memory: at most ``api.profile_cache_mb`` MB per worker, counted as the rendered bytes
plus :data:`ROW_OVERHEAD` bytes per row held (an estimate of the Python objects around
them; the LRU evicts whole entries, least recently used first).
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fastapi import Response
from pydantic import BaseModel, TypeAdapter

if TYPE_CHECKING:
    from api.deps import AppState

ROW_OVERHEAD = 160  # bytes per held row besides its rendered JSON (list slot, keys, objects)


@functools.cache
def _adapter(model: type[BaseModel]) -> TypeAdapter:
    return TypeAdapter(model)


def render(model: type[BaseModel], content: dict[str, Any]) -> bytes:
    """``content`` as FastAPI sends it under ``response_model=model``.

    Validated by ``model`` and serialized with ``by_alias=True`` (FastAPI's own path,
    ``fastapi.routing.serialize_response`` with ``dump_json``).

    Raises:
        pydantic.ValidationError: ``content`` does not fit ``model``.
    """
    adapter = _adapter(model)
    return adapter.dump_json(adapter.validate_python(content), by_alias=True)


def render_each(model: type[BaseModel], rows: Sequence[dict[str, Any]]) -> list[bytes]:
    """Each row rendered as an element of a ``list[model]`` field (see :func:`splice`)."""
    return [render(model, r) for r in rows]


def splice(envelope: bytes, field_name: str, parts: Sequence[bytes]) -> bytes:
    """``envelope`` (rendered with ``field_name`` an empty list) with ``parts`` in that list.

    JSON escapes every quote inside a string, so ``"field_name":[]`` occurs in the
    envelope only as the field itself.

    Raises:
        ValueError: the envelope has no empty ``field_name`` list.
    """
    marker = b'"' + field_name.encode() + b'":[]'
    at = envelope.index(marker) + len(marker) - 1
    return envelope[:at] + b",".join(parts) + envelope[at:]


def json_response(body: bytes, headers: dict[str, str] | None = None) -> Response:
    """A 200 with pre-rendered JSON (no response-model validation on the way out)."""
    return Response(content=body, media_type="application/json", headers=headers)


def weight_of(parts: Sequence[bytes]) -> int:
    """The bytes :class:`ProfileCache` counts for rendered rows."""
    return sum(len(p) for p in parts) + ROW_OVERHEAD * len(parts)


@dataclass
class ProfileCache:
    """A bounded LRU of values derived per (table versions, profile, question).

    Attributes:
        max_bytes: the bound (``api.profile_cache_mb`` MB); an entry heavier than it is
            returned but not kept.
        hits, builds: counters (tests, logs): values found / built.
    """

    max_bytes: int
    hits: int = 0
    builds: int = 0
    _entries: OrderedDict[Hashable, tuple[Any, int]] = field(default_factory=OrderedDict)
    _bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def get(self, key: Hashable, build: Callable[[], Any], weight: Callable[[Any], int]) -> Any:
        """The value of ``key``, built by ``build()`` on a miss and kept (LRU).

        Two threads missing the same key may both build it; the values are equal (they
        come from the same table versions), the last one is kept.

        Args:
            key: names the table versions the value comes from, the profile and the
                question (a new version is a new key).
            build: computes the value.
            weight: the value's bytes as this cache counts them (:func:`weight_of`).
        """
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self.hits += 1
                return entry[0]
        value = build()
        size = max(1, weight(value))
        with self._lock:
            self.builds += 1
            if size > self.max_bytes:
                return value
            old = self._entries.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._entries[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._bytes -= dropped
        return value

    @property
    def size_bytes(self) -> int:
        """The bytes held, as counted."""
        return self._bytes


_created = threading.Lock()


def cache_of(st: AppState) -> ProfileCache:
    """The worker's cache, sized by ``api.profile_cache_mb`` (created on first use).

    Kept on the app's :class:`api.lake.Lake`, whose snapshots its keys name.
    """
    cache = getattr(st.lake, "profile_cache", None)
    if cache is None:
        with _created:
            cache = getattr(st.lake, "profile_cache", None)
            if cache is None:
                cache = ProfileCache(st.settings.profile_cache_mb * 1024 * 1024)
                st.lake.profile_cache = cache
    return cache
