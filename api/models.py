"""Request and response bodies of the API (pydantic), with the design's field names.

Times are UTC ISO-8601 (``2026-11-23T12:00:00Z``); ``*_sec`` fields are seconds.
Free text (reasons, companions, places) is cleaned by :func:`clean_text`: control
characters and markup removed, whitespace collapsed; text still longer than
``api.text_max_chars``, or holding a lone surrogate, is a 422. Numbers and booleans are
strict (``"50"`` or ``true`` is not a percentage; NaN and Infinity are refused); statement
times lie between 2000-01-01 and now + ``ingest.max_future_sec``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
from typing import Annotated, Any, Literal, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, field_validator

from jobs.core.rules.as_of import to_utc, utc_iso

_TAG = re.compile(r"<[^>]*>")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff]")
_SPACE = re.compile(r"\s+")
# statement times before this are refused (the landing contract's times are 4-digit years)
EARLIEST_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


def clean_text(value: str | None, max_chars: int | None = None) -> str | None:
    """Strip markup and control characters and collapse whitespace.

    Args:
        value: the text sent.
        max_chars: the longest text allowed once cleaned (``api.text_max_chars``); None:
            no limit here (the routes apply it with :func:`within_limits`).

    Returns:
        None for None or for text that is empty once cleaned.

    Raises:
        ValueError: the text holds a lone surrogate (not Unicode), or is longer than
            ``max_chars`` once cleaned: never cut silently.
    """
    if value is None:
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    text = html.unescape(_TAG.sub(" ", value))
    text = _TAG.sub(" ", text).replace("<", " ").replace(">", " ")
    text = _SPACE.sub(" ", _CONTROL.sub(" ", text)).strip()
    if max_chars is not None and len(text) > max_chars:
        raise ValueError(f"text longer than {max_chars} characters")
    return text or None


@dataclasses.dataclass(frozen=True)
class BodyLimits:
    """The configured limits of a statement body (:attr:`api.deps.AppState.limits`).

    Attributes:
        text_max_chars: longest free text once cleaned (``api.text_max_chars``).
        max_future_sec: how far past now a statement time may lie, in seconds
            (``ingest.max_future_sec``: the ingest quarantines later events).
    """

    text_max_chars: int
    max_future_sec: int


def _time_problem(max_future_sec: int | str) -> str:
    return (
        f"give a time from {EARLIEST_TIME:%Y-%m-%d} up to {max_future_sec} s from now "
        "(the ingest quarantines later ones)"
    )


B = TypeVar("B", bound=BaseModel)


def within_limits(body: B, limits: BodyLimits) -> B:
    """``body`` (already parsed and cleaned) checked against the configured limits.

    The model checks what never changes (types, ranges, time zone, markup); the limits
    that come from the config (text length, how far in the future) are checked here, so
    no module global has to be set from the config. A route calls it first, as if it
    were part of the body's validation.

    Returns:
        ``body`` itself.

    Raises:
        RequestValidationError: a text longer than ``limits.text_max_chars`` or a time
            later than now + ``limits.max_future_sec`` (a 422 naming each field, as
            pydantic's own errors; the value is not echoed).
    """
    errors: list[dict[str, Any]] = []
    latest = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=limits.max_future_sec)
    for name in type(body).model_fields:
        value = getattr(body, name)
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(t, str) and len(t) > limits.text_max_chars for t in texts):
            problem = f"text longer than {limits.text_max_chars} characters"
        elif isinstance(value, dt.datetime) and value > latest:
            problem = _time_problem(limits.max_future_sec)
        else:
            continue
        errors.append(
            {"loc": ("body", name), "msg": f"Value error, {problem}", "type": "value_error"}
        )
    if errors:
        raise RequestValidationError(errors)
    return body


UtcTime = Annotated[dt.datetime, PlainSerializer(utc_iso, return_type=str)]
ShortText = Annotated[str | None, Field(default=None, max_length=2000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @field_validator("*", mode="before")
    @classmethod
    def _clean(cls, v, info):
        if isinstance(v, str) and info.field_name not in ("watchDate", "abandonDate"):
            return clean_text(v)
        if isinstance(v, list):
            return [clean_text(x) if isinstance(x, str) else x for x in v]
        return v

    @field_validator("watchDate", "abandonDate", check_fields=False)
    @classmethod
    def _aware(cls, v: dt.datetime | None) -> dt.datetime | None:
        """A zone-aware time from ``EARLIEST_TIME`` on, in UTC (the upper bound, now +
        ``ingest.max_future_sec``, is :func:`within_limits`'s)."""
        if v is None:
            return None
        if v.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-11-23T20:00:00Z)")
        try:
            t = to_utc(v)
        except OverflowError:
            t = None
        if t is None or t < EARLIEST_TIME:
            raise ValueError(_time_problem("ingest.max_future_sec"))
        return t


class MovieWatchedBody(_Body):
    """``POST /api/viewing/movies/{movieId}/watched``."""

    watchDate: dt.datetime | None = Field(None, description="when it was watched (default now)")
    viewingLocation: ShortText = None
    viewingPlatform: ShortText = None
    watchedWith: list[str] = Field(default_factory=list, max_length=50)
    viewingContext: ShortText = None
    isRewatch: bool | None = Field(None, strict=True)


class EpisodeWatchedBody(_Body):
    """``POST /api/viewing/episodes/{episodeId}/watched``."""

    watchDate: dt.datetime | None = Field(None, description="when it was watched (default now)")
    platform: ShortText = None
    bingeSessionId: Annotated[str | None, Field(default=None, max_length=100)] = None
    viewingDuration: int | None = Field(
        None, ge=0, le=86400, strict=True, description="seconds watched"
    )


class AbandonBody(_Body):
    """``POST /api/viewing/{itemId}/abandon``."""

    abandonDate: dt.datetime | None = Field(None, description="when (default now)")
    progressPercent: float = Field(..., ge=0, le=100, strict=True, allow_inf_nan=False)
    abandonReason: ShortText = None
    qualityRating: int | None = Field(None, ge=1, le=5, strict=True)
    wouldRetry: bool | None = Field(None, strict=True)


class Accepted(BaseModel):
    """A write accepted into the landing zone (the ingest takes it in exactly once)."""

    record_id: str = Field(description="deterministic id: the same for a retried request")
    event_type: Literal["WATCHED", "ABANDONED"]
    session_id: str
    event_time: UtcTime
    duplicate: bool = Field(description="true when this idempotency key was already accepted")


class ContinueWatchingItem(BaseModel):
    rank: int
    profile_id: int
    title_id: int
    episode_id: int | None
    title_name: str | None
    season_number: int | None
    episode_number: int | None
    episode_title: str | None
    position_sec: int | None
    runtime_sec: int | None
    progress_pct: float | None
    last_update: UtcTime
    device_id: str | None
    is_next_episode: bool


class ContinueWatching(BaseModel):
    profile_id: int
    as_of: UtcTime
    table_version: int | None = Field(
        description="resume_state version the answer was read from; None when served "
        "from Redis (header X-Served-From: redis)"
    )
    items: list[ContinueWatchingItem]


class Page(BaseModel):
    page: int
    limit: int
    total: int
    has_more: bool


class HistoryItem(BaseModel):
    session_id: str
    started_at: UtcTime
    title_id: int | None
    title_name: str | None
    content_type: str | None
    season_number: int | None
    episode_number: int | None
    episode_title: str | None
    platform: str | None
    watch_seconds: int | None
    progress_pct: float | None
    is_finished: bool | None


class History(BaseModel):
    profile_id: int
    page: Page
    items: list[HistoryItem]


class ShowProgress(BaseModel):
    profile_id: int
    title_id: int
    title_name: str | None
    last_season_number: int | None
    last_episode_number: int | None
    last_watched_at: UtcTime | None
    episodes_watched: int | None
    known_episodes: int | None
    completion_pct: float | None
    completed_seasons: int | None
    is_completed: bool | None
    completed_at: UtcTime | None
    next_episode_id: int | None
    next_season_number: int | None
    next_episode_number: int | None
    next_episode_title: str | None


class Breakdown(BaseModel):
    value: str
    items_watched: int
    items_completed: int
    watch_hours: float


class PeriodStatistics(BaseModel):
    period_start: dt.date
    items_watched: int
    items_completed: int
    watch_hours: float
    by_content_type: list[Breakdown]
    by_genre: list[Breakdown]
    by_platform: list[Breakdown]


class Statistics(BaseModel):
    profile_id: int
    period: Literal["week", "month", "year", "all"]
    page: Page
    periods: list[PeriodStatistics]


class DomainEvent(BaseModel):
    cursor: str = Field(description="position of this event in the feed")
    event_id: str
    event_type: str
    profile_id: int
    title_id: int | None
    episode_id: int | None
    occurred_at: UtcTime | None
    payload: dict | None
    commit_version: int


class EventFeed(BaseModel):
    events: list[DomainEvent]
    next_cursor: str = Field(description="pass as ?after= to get the events after these")


class ErasureReport(BaseModel):
    erasure_id: str
    profile_id: int
    tables: dict[str, int] = Field(description="rows deleted per table")
    files_rewritten: int = Field(description="landing and rejects files rewritten")
    lines_removed: int
    time_travel: str = Field(description="what time travel can no longer show")
