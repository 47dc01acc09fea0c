"""Stable identifiers: the same input gives the same id on every run and machine.

Numeric ids are the first 63 bits of a BLAKE2b digest of the normalized parts (never
Python's ``hash``, which is salted per process); session ids are UUID5.
"""

from __future__ import annotations

import hashlib
import uuid

# Namespace for session UUIDs (uuid5 of the DNS namespace and the project name).
SESSION_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "viewing-lakehouse.sessions")


def stable_id(kind: str, *parts: object) -> int:
    """A positive 63-bit id for ``kind`` and ``parts`` (joined with U+001F).

    Example: ``stable_id("profile", "household-gt", "profile 1")``.
    """
    key = "\x1f".join([kind, *("" if p is None else str(p) for p in parts)])
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") & 0x7FFF_FFFF_FFFF_FFFF


def stable_hex(kind: str, *parts: object, length: int = 16) -> str:
    """A hex string id (``length`` characters) for ``kind`` and ``parts``."""
    return format(stable_id(kind, *parts), "016x")[:length]


def session_uuid(*parts: object) -> str:
    """UUID5 of ``parts`` (joined with U+001F) in :data:`SESSION_NAMESPACE`.

    The importer passes ``("viewing", normalized account, content identity)`` (see
    :func:`jobs.core.ingest.netflix_export.viewing_identity`), so a viewing keeps its session id
    across re-saves and re-downloads of its export.
    """
    return str(
        uuid.uuid5(SESSION_NAMESPACE, "\x1f".join("" if p is None else str(p) for p in parts))
    )
