"""Response bodies of the recommendation routes (pydantic): More Like This and the
personalized lists with their explanations. Times are UTC ISO-8601; scores in [0, 1]
for lists, cosine similarity for More Like This."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from api.models import Page, UtcTime


class SimilarTitle(BaseModel):
    rank_position: int = Field(description="1..N, best first")
    title_id: int
    title_name: str | None
    score: float = Field(description="similarity in the model's item graph")


class MoreLikeThis(BaseModel):
    title_id: int
    title_name: str | None
    model: str = Field(description="the model that served the list")
    model_version: str | None = Field(description="newest version of that model; None if none")
    fallback_from: str | None = Field(
        description="the model asked for, when the title had no neighbours in it and its "
        "content-based neighbours (content_tfidf) were served instead"
    )
    items: list[SimilarTitle]


class Explanation(BaseModel):
    type: Literal["similar_to", "because_you_watched", "popular"] | str
    text: str | None = Field(description="shown to the member ('Because you watched Narcos')")
    related_title_id: int | None = Field(description="the watched title behind it")
    related_title_name: str | None


class RecommendedTitle(BaseModel):
    rank_position: int = Field(description="1..N without gaps")
    title_id: int
    title_name: str | None
    score: float = Field(description="model score after re-ranking, in [0, 1]")
    model: str = Field(description="item_cosine | content_tfidf | als | popularity")
    model_version: str | None
    explanation: Explanation | None


class Recommendations(BaseModel):
    profile_id: int
    context: str = Field(description="home | because_you_watched | genre_<slug>")
    generated_at: UtcTime | None = Field(description="generation served; None when no list")
    expires_at: UtcTime | None
    variant: str | None = Field(description="A/B variant the profile was in")
    available_contexts: list[str] = Field(
        description="contexts with a current list for this profile"
    )
    page: Page
    items: list[RecommendedTitle]
