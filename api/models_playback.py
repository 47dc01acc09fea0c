"""Bodies of the player's routes (pydantic): a batch of playback events, positions per device.

A playback event carries the landing contract's fields
(:data:`jobs.core.tables.registry.LANDING_EVENT_SCHEMA`), typed from it: 32-bit
``IntegerType`` fields and 64-bit ``LongType`` fields refuse larger numbers, booleans and
numbers are strict. ``account_id``, ``country_code`` and (when absent) ``profile_id`` are
the server's: they come from the token's profile. The statement fields and the statement
types (WATCHED, ABANDONED) are not accepted here (their own routes take them). Times are
UTC ISO-8601 (a time without an offset is UTC); ``*_sec`` fields are seconds.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    create_model,
)
from pyspark.sql import types as T

from api.models import UtcTime
from jobs.core.ingest.stream import REQUIRED_FIELDS
from jobs.core.rules.as_of import to_utc
from jobs.core.tables.registry import (
    EVENT_TYPES,
    LANDING_EVENT_SCHEMA,
    STATEMENT_FIELDS,
    STATEMENT_TYPES,
)

PLAYBACK_TYPES = tuple(t for t in EVENT_TYPES if t not in STATEMENT_TYPES)
SERVER_FIELDS = ("account_id", "country_code")  # filled from the profile, never sent
# the player names its device: positions are kept per device (the ingest only warns)
PLAYER_REQUIRED = (*(f for f in REQUIRED_FIELDS if f != "profile_id"), "device_id")
INT32 = 2**31 - 1
INT64 = 2**63 - 1


def _utc(value: dt.datetime) -> dt.datetime:
    """The time in UTC (naive = UTC); a time that has no UTC form is a ValueError (422)."""
    try:
        return to_utc(value)
    except OverflowError:
        raise ValueError("time out of range") from None


def _annotation(name: str, kind: T.DataType) -> tuple[Any, Any]:
    required = name in PLAYER_REQUIRED
    default: Any = ... if required else None
    if name == "event_type":
        return Literal[PLAYBACK_TYPES], default
    if isinstance(kind, T.IntegerType):
        return StrictInt | None, Field(default, ge=-INT32 - 1, le=INT32)
    if isinstance(kind, T.LongType):
        return StrictInt | None, Field(default, ge=-INT64 - 1, le=INT64)
    if isinstance(kind, T.BooleanType):
        return StrictBool | None, default
    if isinstance(kind, T.TimestampType):
        return Annotated[dt.datetime, AfterValidator(_utc)], default
    if isinstance(kind, T.StringType):
        return str | None, Field(default, min_length=1, max_length=2000)
    raise TypeError(f"landing field {name}: no API type for {kind}")  # a new contract type


_STATEMENT = {f.name for f in STATEMENT_FIELDS.fields}
PLAYER_FIELDS = tuple(
    f.name
    for f in LANDING_EVENT_SCHEMA.fields
    if f.name not in SERVER_FIELDS and f.name not in _STATEMENT
)

PlaybackEvent = create_model(  # type: ignore[call-overload]
    "PlaybackEvent",
    __config__=ConfigDict(extra="forbid"),
    __doc__="One playback event of the landing contract, as the player sends it.",
    **{
        f.name: _annotation(f.name, f.dataType)
        for f in LANDING_EVENT_SCHEMA.fields
        if f.name in PLAYER_FIELDS
    },
)


class PlaybackBatch(BaseModel):
    """A batch of events from one player (``api.playback_batch_max`` at most)."""

    model_config = ConfigDict(extra="forbid")
    events: list[PlaybackEvent] = Field(min_length=1)


class PlaybackAccepted(BaseModel):
    """The answer once the batch's events are durable in the landing zone (202)."""

    accepted: int = Field(description="events of the batch, all landed (now or before)")
    stored: int = Field(description="events written by this request")
    duplicates: int = Field(
        description="events whose (session_id, event_time) this worker had already landed"
    )
    hot_store: Literal["ok", "unavailable", "off"] = Field(
        description="whether the hot store (Redis) took the events; also in X-Hot-Store"
    )


class DevicePosition(BaseModel):
    """Where one device left an item."""

    device_id: str | None
    position_sec: int | None
    last_update: UtcTime | None


class DevicePositions(BaseModel):
    """``GET /api/profiles/{id}/positions/{content_key}``: the item's position per device."""

    profile_id: int
    content_key: int
    served_from: Literal["redis", "delta"]
    devices: list[DevicePosition]
