"""Recommendation tables: interactions, similarity graphs, lists, evaluation, A/B.

Filled by ``jobs.build_interactions`` -> ``jobs.train_recommenders`` ->
``jobs.generate_recommendations`` -> ``jobs.evaluate_recommenders`` (see
docs/recommendations.md). Genres are a Kimball multi-valued dimension: ``dim_genre`` and
the bridge ``title_genre_bridge`` (one row per title and genre, weight 1/number of genres
so a title's genre shares sum to 1). ``season`` is the middle level of the Netflix model
(Series -> Seasons -> Episodes).

Registered into :data:`jobs.core.tables.registry.TABLES` at import (``tables.py`` imports this
module at its end). Scores are unitless; every TIMESTAMP is UTC; ``*_sec`` are seconds.
"""

from __future__ import annotations

from pyspark.sql.types import (
    ArrayType,
    DateType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    StringType,
    StructType,
    TimestampType,
)

from jobs.core.tables.spec import TableSpec, col

INTERACTION_TYPES = ("VIEW", "LIKE", "DISLIKE", "RATING", "SHARE")
EXPLANATION_TYPES = ("similar_to", "because_you_watched", "popular")

USER_CONTENT_INTERACTION = TableSpec(
    name="user_content_interaction",
    description="One signal of a profile on a title: VIEW per playback session, or explicit feedback.",
    key=("profile_id", "title_id", "event_ts"),
    cluster_by=("profile_id",),
    schema=StructType(
        [
            col("profile_id", LongType(), "the profile"),
            col("title_id", LongType(), "film or series (episodes roll up to their series)"),
            col("interaction_type", StringType(), "VIEW | LIKE | DISLIKE | RATING | SHARE"),
            col(
                "interaction_value",
                DoubleType(),
                "VIEW: completion 0..1 (watch time / runtime, capped); RATING: 1..5; others 1",
            ),
            col("event_ts", TimestampType(), "session start (VIEW) or feedback time (UTC)"),
            col("session_id", StringType(), "VIEW: the playback session; NULL for feedback"),
            col("ingested_at", TimestampType(), "when this row was written: touched profiles"),
        ]
    ),
)

USER_CONTENT_RATING = TableSpec(
    name="user_content_rating",
    description="The current explicit rating of a profile for a title (newest RATING wins).",
    key=("profile_id", "title_id"),
    schema=StructType(
        [
            col("profile_id", LongType(), "the profile"),
            col("title_id", LongType(), "film or series"),
            col("rating", DoubleType(), "1..5"),
            col("rated_at", TimestampType(), "time of the newest RATING (UTC)"),
        ]
    ),
)

VIEWING_SESSION = TableSpec(
    name="viewing_session",
    description="A non-supplemental playback session with watch time and completion (from playback_session).",
    key=("session_id",),
    cluster_by=("profile_id",),
    schema=StructType(
        [
            col("session_id", StringType(), "playback_session.session_id"),
            col("profile_id", LongType(), "the profile"),
            col("title_id", LongType(), "film or series"),
            col("episode_id", LongType(), "NULL for films"),
            col("watch_duration_sec", LongType(), "ended_at (or last event) - started_at"),
            col(
                "completion_rate",
                DoubleType(),
                "0..1: last position / runtime when known, else watch time / typical length",
            ),
            col("started_at", TimestampType(), "session start (UTC)"),
            col("ended_at", TimestampType(), "END or last event (UTC)"),
        ]
    ),
)

TRAINING_INTERACTIONS = TableSpec(
    name="training_interactions",
    description="Implicit feedback per profile and title over the training window (conf window_days).",
    key=("profile_id", "title_id"),
    schema=StructType(
        [
            col("profile_id", LongType(), "the profile"),
            col("title_id", LongType(), "film or series"),
            col("views", LongType(), "VIEW rows in the window"),
            col("confidence", DoubleType(), "ALS implicit rating: sum of VIEW values + feedback"),
            col("first_ts", TimestampType(), "first interaction in the window (UTC)"),
            col("last_ts", TimestampType(), "newest interaction in the window (UTC)"),
            col("window_start", TimestampType(), "inclusive window start (UTC)"),
            col("window_end", TimestampType(), "exclusive window end = as-of (UTC)"),
        ]
    ),
)

ITEM_ITEM_EDGE = TableSpec(
    name="item_item_edge",
    description="Top-k similar titles per title and model (item_cosine, content_tfidf, als).",
    key=("src_title_id", "dst_title_id", "model"),
    partition_by=("model",),
    schema=StructType(
        [
            col("src_title_id", LongType(), "the title"),
            col("dst_title_id", LongType(), "a similar title"),
            col("score", DoubleType(), "cosine similarity in [-1, 1] (>= 0 for co-viewing)"),
            col("model", StringType(), "item_cosine | content_tfidf | als"),
            col("model_version", StringType(), "model name, input version and parameter hash"),
            col("computed_at", TimestampType(), "training time (UTC)"),
        ]
    ),
)

USER_USER_EDGE = TableSpec(
    name="user_user_edge",
    description="Top-k most similar profiles per profile (cosine of ALS user factors).",
    key=("src_profile_id", "dst_profile_id", "model"),
    schema=StructType(
        [
            col("src_profile_id", LongType(), "the profile"),
            col("dst_profile_id", LongType(), "a similar profile"),
            col("score", DoubleType(), "cosine similarity in [-1, 1]"),
            col("model", StringType(), "als"),
            col("model_version", StringType(), "model version"),
            col("computed_at", TimestampType(), "training time (UTC)"),
        ]
    ),
)

CONTENT_EMBEDDING = TableSpec(
    name="content_embedding",
    description="Dense vector per catalogue-matched title (Word2Vec over its catalogue text).",
    key=("title_id",),
    schema=StructType(
        [
            col("title_id", LongType(), "film or series"),
            col(
                "embedding", ArrayType(FloatType()), "conf recommend.content.embedding_size floats"
            ),
            col("model_version", StringType(), "model version"),
            col("updated_at", TimestampType(), "training time (UTC)"),
        ]
    ),
)

DIM_GENRE = TableSpec(
    name="dim_genre",
    description="A catalogue genre (listed_in value): Kimball multi-valued dimension.",
    key=("genre_key",),
    schema=StructType(
        [
            col("genre_key", LongType(), "surrogate key: stable hash of genre_slug"),
            col("genre_name", StringType(), "as in listed_in ('International TV Shows')"),
            col(
                "genre_slug",
                StringType(),
                "context suffix: genre_<slug> ('international_tv_shows')",
            ),
        ]
    ),
)

TITLE_GENRE_BRIDGE = TableSpec(
    name="title_genre_bridge",
    description="Bridge title -> genre (many-to-many), weighting factor 1/genres of the title.",
    key=("title_id", "genre_key"),
    schema=StructType(
        [
            col("title_id", LongType(), "film or series"),
            col("genre_key", LongType(), "dim_genre"),
            col("weight", DoubleType(), "1 / number of genres of the title (allocations sum to 1)"),
            col("catalog_show_id", StringType(), "the catalogue row the genres came from"),
        ]
    ),
)

SEASON = TableSpec(
    name="season",
    description="A season of a series (Series -> Seasons -> Episodes), from the episodes seen.",
    key=("season_id",),
    schema=StructType(
        [
            col("season_id", LongType(), "stable hash of (title_id, season_number or label)"),
            col("title_id", LongType(), "the series"),
            col("season_number", IntegerType(), "parsed number; NULL when the label has none"),
            col("season_label", StringType(), "as written ('Season 2', 'Temporada 3')"),
            col("episode_count", LongType(), "distinct episodes of the season in episode"),
        ]
    ),
)

RECOMMENDATION_LIST = TableSpec(
    name="recommendation_list",
    description="Every generated list, append-only: one row per (profile, context, generation, rank).",
    key=("profile_id", "context", "generated_at", "rank_position"),
    cluster_by=("profile_id",),
    schema=StructType(
        [
            col("profile_id", LongType(), "the profile"),
            col("context", StringType(), "home | because_you_watched | genre_<slug>"),
            col("rank_position", IntegerType(), "1..N without gaps"),
            col("title_id", LongType(), "recommended film or series"),
            col("score", DoubleType(), "model score after re-ranking, in [0, 1]"),
            col("model", StringType(), "item_cosine | content_tfidf | als | popularity"),
            col("model_version", StringType(), "model version"),
            col("variant", StringType(), "A/B variant the profile was in"),
            col("generated_at", TimestampType(), "generation time (UTC)"),
            col("expires_at", TimestampType(), "generated_at + conf ttl (UTC)"),
        ]
    ),
)

RECOMMENDATION_EXPLANATION = TableSpec(
    name="recommendation_explanation",
    description="Why a title is in a list: similar_to | because_you_watched | popular.",
    key=("profile_id", "context", "generated_at", "title_id"),
    schema=StructType(
        [
            col("profile_id", LongType(), "the profile"),
            col("context", StringType(), "list context"),
            col("generated_at", TimestampType(), "generation of the list (UTC)"),
            col("title_id", LongType(), "the recommended title"),
            col("explanation_type", StringType(), "similar_to | because_you_watched | popular"),
            col("text", StringType(), "shown to the member ('Because you watched Narcos')"),
            col("related_title_id", LongType(), "the watched title behind it; NULL for popular"),
        ]
    ),
)

CURRENT_RECOMMENDATIONS = TableSpec(
    name="current_recommendations",
    description="The latest unexpired generation per profile and context (what the home page reads).",
    key=("profile_id", "context", "rank_position"),
    cluster_by=("profile_id",),
    schema=RECOMMENDATION_LIST.schema,
)

RECOMMENDATION_CACHE = TableSpec(
    name="recommendation_cache",
    description="Serialized current list per profile and context for the API (JSON).",
    key=("profile_id", "context"),
    schema=StructType(
        [
            col("profile_id", LongType(), "the profile"),
            col("context", StringType(), "list context"),
            col("payload", StringType(), "JSON list of {rank, title_id, title, score, why}"),
            col("generated_at", TimestampType(), "generation served (UTC)"),
            col("last_accessed", TimestampType(), "last read by a query (UTC); NULL if never"),
            col("ttl_minutes", IntegerType(), "conf recommend.lists.ttl_minutes"),
        ]
    ),
)

AB_ASSIGNMENT = TableSpec(
    name="ab_assignment",
    description="The variant of each profile in each experiment (hash of profile and experiment).",
    key=("experiment", "profile_id"),
    schema=StructType(
        [
            col("experiment", StringType(), "conf recommend.ab.experiment"),
            col("profile_id", LongType(), "the profile"),
            col("variant", StringType(), "variant name (a model) from conf recommend.ab.split"),
            col("bucket", DoubleType(), "hash position in [0, 1)"),
            col("assigned_at", TimestampType(), "first assignment (UTC)"),
        ]
    ),
)

MODEL_PERFORMANCE = TableSpec(
    name="model_performance",
    description="Offline evaluation: one metric of one model version on one evaluation run.",
    key=("model_name", "model_version", "evaluation_date", "metric_name"),
    schema=StructType(
        [
            col(
                "model_name",
                StringType(),
                "item_cosine | als | content_tfidf | popularity | random",
            ),
            col("model_version", StringType(), "model version or parameter hash"),
            col("evaluation_date", DateType(), "date of the evaluation run (UTC)"),
            col("metric_name", StringType(), "precision@10, recall@20, ndcg@10, coverage@20 ..."),
            col("metric_value", DoubleType(), "mean over test profiles (coverage: share of items)"),
            col("dataset", StringType(), "lake or the corpus evaluated"),
        ]
    ),
)

RECO_TABLES = (
    USER_CONTENT_INTERACTION,
    USER_CONTENT_RATING,
    VIEWING_SESSION,
    TRAINING_INTERACTIONS,
    ITEM_ITEM_EDGE,
    USER_USER_EDGE,
    CONTENT_EMBEDDING,
    DIM_GENRE,
    TITLE_GENRE_BRIDGE,
    SEASON,
    RECOMMENDATION_LIST,
    RECOMMENDATION_EXPLANATION,
    CURRENT_RECOMMENDATIONS,
    RECOMMENDATION_CACHE,
    AB_ASSIGNMENT,
    MODEL_PERFORMANCE,
)

SPECS = RECO_TABLES
