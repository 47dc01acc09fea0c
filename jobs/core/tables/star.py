"""Tables of the star schema, its marts and the viewing-activity layer.

Declared once here and registered into :data:`jobs.core.tables.registry.TABLES` (:data:`SPECS`), so
``get_spec()`` and ``DeltaEngine.create_all()`` know them. Every column carries its
reason as the Delta column comment. See ``docs/star_schema.md`` for grains, keys and
the incremental rules.

Conventions: surrogate keys are ``*_key`` (BIGINT, a deterministic hash of the natural
key, so a rebuild gives the same keys); ``-1`` is the "unknown" member of every
dimension. ``*_sec`` columns are whole seconds; TIMESTAMPs are UTC.
"""

from __future__ import annotations

from pyspark.sql.types import (
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructType,
    TimestampType,
)

from jobs.core.tables.spec import WITH_CHANGE_FEED, TableSpec, col

UNKNOWN_KEY = -1

# ----------------------------------------------------------------------------- state
BUILD_STATE = TableSpec(
    name="build_state",
    description="High-water marks of the batch builds: source table versions already processed.",
    key=("job", "source_table"),
    schema=StructType(
        [
            col("job", StringType(), "build that owns the mark (build_star_schema, ...)"),
            col("source_table", StringType(), "table whose version is recorded"),
            col("source_version", LongType(), "Delta version of source_table last processed"),
            col(
                "as_of_date", DateType(), "reference date of the run (windowed marts depend on it)"
            ),
            col("updated_at", TimestampType(), "wall time of the run that moved the mark (UTC)"),
        ]
    ),
)

# ----------------------------------------------------------------------------- catalog
CATALOG_TITLE = TableSpec(
    name="catalog_title",
    description="The public Netflix catalogue (netflix_titles.csv), one row per show_id.",
    key=("show_id",),
    schema=StructType(
        [
            col("show_id", StringType(), "catalogue id (s1, s2...)"),
            col("catalog_type", StringType(), "Movie or TV Show"),
            col("title", StringType(), "English title as published"),
            col("normalized_title", StringType(), "normalize_name(title): the match key"),
            col("director", StringType(), "as published"),
            col("country", StringType(), "production countries, comma-separated"),
            col("date_added", StringType(), "as published ('September 24, 2021')"),
            col("release_year", IntegerType(), "release year"),
            col("rating", StringType(), "age rating (TV-MA, PG-13...)"),
            col("runtime_sec", IntegerType(), "films: '90 min' as seconds; NULL for shows"),
            col("number_of_seasons", IntegerType(), "shows: '3 Seasons' as 3; NULL for films"),
            col("genres", StringType(), "listed_in: comma-separated genres"),
            col("description", StringType(), "as published"),
        ]
    ),
)

# ----------------------------------------------------------------------------- dimensions
DIM_USERS = TableSpec(
    name="dim_users",
    description="A profile version (SCD2: country_code, maturity_setting, subscription_plan).",
    key=("user_key",),
    cluster_by=("profile_id",),
    schema=StructType(
        [
            col(
                "user_key", LongType(), "surrogate key: hash(profile_id, valid_from); -1 = unknown"
            ),
            col("profile_id", LongType(), "natural key (profile)"),
            col("account_id", LongType(), "owning account"),
            col("account_label", StringType(), "account (household) label"),
            col("profile_name", StringType(), "display name"),
            col("maturity_setting", StringType(), "SCD2 attribute; NULL in the exports"),
            col("country_code", StringType(), "SCD2 attribute: ISO 3166 alpha-2"),
            col("region", StringType(), "world region of country_code (UN M49 continent)"),
            col("subscription_plan", StringType(), "SCD2 attribute; NULL where not known"),
            col(
                "valid_from",
                TimestampType(),
                "version start, inclusive (UTC); 1900-01-01 for the first",
            ),
            col(
                "valid_to",
                TimestampType(),
                "version end, exclusive (UTC); 9999-12-31 while current",
            ),
            col("is_current", BooleanType(), "exactly one current row per profile"),
        ]
    ),
)

DIM_MOVIES = TableSpec(
    name="dim_movies",
    description="One playable item: a film or one episode, enriched from the catalogue (SCD1).",
    key=("movie_key",),
    schema=StructType(
        [
            col("movie_key", LongType(), "surrogate key: hash(content_key); -1 = unknown"),
            col("content_key", LongType(), "natural key: coalesce(episode_id, title_id)"),
            col("title_id", LongType(), "the film or the series"),
            col("episode_id", LongType(), "NULL for films"),
            col("content_type", StringType(), "MOVIE or EPISODE"),
            col("title_name", StringType(), "film name, or series title for episodes"),
            col("season_number", IntegerType(), "episodes: parsed season number"),
            col("episode_number", IntegerType(), "episodes: parsed episode number"),
            col("episode_title", StringType(), "episodes: episode name"),
            col("genres", StringType(), "catalogue listed_in, comma-separated; NULL if unmatched"),
            col("release_year", IntegerType(), "catalogue release year"),
            col("rating", StringType(), "catalogue age rating"),
            col("number_of_seasons", IntegerType(), "catalogue seasons of the series"),
            col("runtime_sec", IntegerType(), "item length used for progress (see runtime_source)"),
            col(
                "runtime_source",
                StringType(),
                "source | catalog | observed (max position seen) | NULL",
            ),
            col(
                "catalog_show_id", StringType(), "matched catalogue row; NULL when no unique match"
            ),
            col("catalog_match", StringType(), "matched | ambiguous | unmatched (never guessed)"),
        ]
    ),
    # change data feed: the activity build recomputes the profiles of changed titles
    properties=WITH_CHANGE_FEED,
)

DIM_DEVICE = TableSpec(
    name="dim_device",
    description="A playback device of an account (SCD1).",
    key=("device_key",),
    schema=StructType(
        [
            col("device_key", LongType(), "surrogate key: hash(device_id); -1 = unknown"),
            col("device_id", StringType(), "natural key"),
            col("account_id", LongType(), "devices are per account"),
            col(
                "device_type",
                StringType(),
                "class: TV, mobile, tablet, web, console, streaming_stick, other",
            ),
            col("device_model", StringType(), "raw device string"),
        ]
    ),
    # change data feed: the activity build recomputes the profiles of changed devices
    properties=WITH_CHANGE_FEED,
)

DIM_DATE = TableSpec(
    name="dim_date",
    description="One calendar day (UTC) from the first to the last viewing seen.",
    key=("date_key",),
    schema=StructType(
        [
            col("date_key", IntegerType(), "yyyymmdd; -1 = unknown"),
            col("date", DateType(), "the day (UTC); NULL for the unknown member"),
            col("day", IntegerType(), "day of month"),
            col("week", IntegerType(), "ISO-8601 week of year"),
            col("month", IntegerType(), "1-12"),
            col("year", IntegerType(), "calendar year"),
            col("weekday", StringType(), "Mon..Sun"),
            col("is_weekend", BooleanType(), "Saturday or Sunday"),
        ]
    ),
)

# ----------------------------------------------------------------------------- fact
FACT_WATCH_HISTORY = TableSpec(
    name="fact_watch_history",
    description="One playback session of a non-supplemental item, keyed to the dimensions.",
    key=("session_id",),
    cluster_by=("profile_id",),
    schema=StructType(
        [
            col("session_id", StringType(), "degenerate dimension and merge key"),
            col("user_key", LongType(), "dim_users row valid at started_at (SCD2); -1 unknown"),
            col("movie_key", LongType(), "dim_movies; -1 unknown"),
            col("device_key", LongType(), "dim_device; -1 unknown"),
            col("date_key", IntegerType(), "dim_date of started_at (yyyymmdd); -1 unknown"),
            col("profile_id", LongType(), "natural key kept for per-profile marts without a join"),
            col(
                "content_key", LongType(), "natural key of the item: coalesce(episode_id, title_id)"
            ),
            col("started_at", TimestampType(), "first event (UTC)"),
            col("ended_at", TimestampType(), "END event; NULL while open"),
            col(
                "watch_seconds",
                LongType(),
                "playback time: sum of gaps after PLAY/HEARTBEAT/... events",
            ),
            col("start_position_sec", IntegerType(), "position of the first event"),
            col("end_position_sec", IntegerType(), "position of the last event"),
            col(
                "progress_pct",
                DoubleType(),
                "100 * end_position / runtime, capped at 100; NULL if unknown",
            ),
            col(
                "is_finished",
                BooleanType(),
                "watched rule (activity: in conf/base.yaml; 90% or END in last 5%)",
            ),
            col("is_autoplay", BooleanType(), "started by autoplay"),
            col("country_code", StringType(), "where it was watched"),
            col("event_count", LongType(), "events of the session"),
            col("last_event_at", TimestampType(), "newest event (UTC): abandonment"),
        ]
    ),
    # change data feed: the activity build recomputes only the profiles it names
    properties=WITH_CHANGE_FEED,
)

# ----------------------------------------------------------------------------- marts
LAST_10_MOVIES = TableSpec(
    name="last_10_movies",
    description="Per profile, the last 10 items watched, newest first.",
    key=("profile_id", "rank"),
    schema=StructType(
        [
            col("profile_id", LongType(), "the profile"),
            col("rank", IntegerType(), "1 = newest"),
            col("movie_key", LongType(), "the item"),
            col("content_type", StringType(), "MOVIE or EPISODE"),
            col("title_name", StringType(), "film or series"),
            col("season_number", IntegerType(), "episodes only"),
            col("episode_number", IntegerType(), "episodes only"),
            col("episode_title", StringType(), "episodes only"),
            col("last_watched_at", TimestampType(), "newest session start of the item (UTC)"),
            col("last_position_sec", IntegerType(), "end position of that session"),
        ]
    ),
)

HISTORY_90_DAYS = TableSpec(
    name="history_90_days",
    description="Per profile, every item watched in the 90 days up to the build's as-of date.",
    key=("profile_id", "movie_key"),
    schema=StructType(
        [
            col("profile_id", LongType(), "the profile"),
            col("movie_key", LongType(), "the item"),
            col("title_name", StringType(), "film or series"),
            col("content_type", StringType(), "MOVIE or EPISODE"),
            col("season_number", IntegerType(), "episodes only"),
            col("episode_number", IntegerType(), "episodes only"),
            col("sessions", LongType(), "sessions in the window"),
            col("total_seconds", LongType(), "sum of watch_seconds in the window"),
            col("last_watched_at", TimestampType(), "newest session start (UTC)"),
            col("last_position_sec", IntegerType(), "end position of the newest session"),
        ]
    ),
)

CONTENT_TYPE_PREFERENCE = TableSpec(
    name="content_type_preference",
    description="Per profile, share of watch time per genre and per content type.",
    key=("profile_id", "dimension", "value"),
    schema=StructType(
        [
            col("profile_id", LongType(), "the profile"),
            col("dimension", StringType(), "content_type or genre"),
            col("value", StringType(), "MOVIE/EPISODE, a genre, or 'unknown'"),
            col("watch_seconds", LongType(), "watch time in that value"),
            col("share", DoubleType(), "watch_seconds / profile total (genres may sum over 1)"),
        ]
    ),
)

REGION_LOGIN = TableSpec(
    name="region_login",
    description="Per region (country_code) and day, active profiles and sessions.",
    key=("country_code", "date_key"),
    schema=StructType(
        [
            col("country_code", StringType(), "where the sessions were watched"),
            col("date_key", IntegerType(), "yyyymmdd (UTC)"),
            col("active_profiles", LongType(), "distinct profiles with a session"),
            col("sessions", LongType(), "sessions started"),
            col("watch_seconds", LongType(), "playback time"),
        ]
    ),
)

DAILY_WATCH_MINUTES = TableSpec(
    name="daily_watch_minutes",
    description="Per profile per day (UTC, by session start), minutes watched.",
    key=("profile_id", "date_key"),
    schema=StructType(
        [
            col("profile_id", LongType(), "the profile"),
            col("date_key", IntegerType(), "yyyymmdd (UTC) of session start"),
            col("sessions", LongType(), "sessions started that day"),
            col("watch_minutes", DoubleType(), "watch_seconds / 60, rounded to 0.1"),
        ]
    ),
)

# ----------------------------------------------------------------------------- activity
VIEWING_RECORD = TableSpec(
    name="viewing_record",
    description="One viewing of an item by a profile: sessions up to the one that finished it.",
    key=("record_id",),
    cluster_by=("profile_id",),
    schema=StructType(
        [
            col("record_id", LongType(), "hash(profile_id, content_key, watch_number)"),
            col("profile_id", LongType(), "the profile"),
            col("content_key", LongType(), "the item"),
            col("title_id", LongType(), "film or series"),
            col("episode_id", LongType(), "NULL for films"),
            col("content_type", StringType(), "MOVIE or EPISODE"),
            col("season_number", IntegerType(), "episodes only"),
            col("episode_number", IntegerType(), "episodes only"),
            col("watch_number", IntegerType(), "1 = first viewing, 2 = first rewatch..."),
            col("is_rewatch", BooleanType(), "a finished viewing of the item came before"),
            col("is_completed", BooleanType(), "a session of it met the watched rule"),
            col(
                "is_out_of_order",
                BooleanType(),
                "episode started after skipping episodes of its season",
            ),
            col("skipped_episodes", IntegerType(), "episodes skipped (0 when in order)"),
            col("first_started_at", TimestampType(), "first session start (UTC)"),
            col("last_activity_at", TimestampType(), "newest event of its sessions (UTC)"),
            col(
                "completed_at",
                TimestampType(),
                "end of the finishing session; NULL if not completed",
            ),
            col("sessions", LongType(), "sessions in this viewing"),
            col("watch_seconds", LongType(), "playback time over its sessions"),
            col(
                "progress_pct", DoubleType(), "highest progress reached; NULL when runtime unknown"
            ),
        ]
    ),
)

SHOW_PROGRESS = TableSpec(
    name="show_progress",
    description="Per profile and series: where they are, what is completed, what comes next.",
    key=("profile_id", "title_id"),
    schema=StructType(
        [
            col("profile_id", LongType(), "the profile"),
            col("title_id", LongType(), "the series"),
            col("title_name", StringType(), "series title"),
            col("last_season_number", IntegerType(), "season of the newest episode viewing"),
            col("last_episode_number", IntegerType(), "number of the newest episode viewing"),
            col("last_watched_at", TimestampType(), "newest activity on the series (UTC)"),
            col("episodes_watched", LongType(), "distinct episodes completed"),
            col(
                "completed_seasons", IntegerType(), "seasons whose every known episode is completed"
            ),
            col(
                "is_completed",
                BooleanType(),
                "every known season completed (and catalogue count reached)",
            ),
            col("completed_at", TimestampType(), "when the show became completed (UTC)"),
            col("next_season_number", IntegerType(), "next episode to watch: season"),
            col("next_episode_number", IntegerType(), "next episode to watch: number"),
            col("next_episode_id", LongType(), "next episode to watch; NULL when unknown"),
        ]
    ),
)

BINGE_SESSION = TableSpec(
    name="binge_session",
    description="Consecutive episodes of one series by one profile with gaps <= binge gap (conf).",
    key=("binge_id",),
    schema=StructType(
        [
            col("binge_id", LongType(), "hash(profile_id, title_id, started_at)"),
            col("profile_id", LongType(), "the profile"),
            col("title_id", LongType(), "the series"),
            col("started_at", TimestampType(), "first session start (UTC)"),
            col("ended_at", TimestampType(), "last session end (UTC)"),
            col("episodes_watched", LongType(), "distinct episodes in the binge"),
            col("sessions", LongType(), "sessions in the binge"),
            col("watch_seconds", LongType(), "playback time in the binge"),
        ]
    ),
)

VIEWING_DOMAIN_EVENT = TableSpec(
    name="viewing_domain_event",
    description="Domain events of the viewing-activity design, one row each, emitted once.",
    key=("event_id",),
    schema=StructType(
        [
            col(
                "event_id",
                StringType(),
                "deterministic: hash of type and subject, so reruns add nothing",
            ),
            col(
                "event_type", StringType(), "MovieWatched, TVEpisodeWatched, TVSeasonCompleted, ..."
            ),
            col("profile_id", LongType(), "the profile"),
            col("title_id", LongType(), "film or series"),
            col("episode_id", LongType(), "episode events only"),
            col("occurred_at", TimestampType(), "when it happened (UTC)"),
            col("payload", StringType(), "JSON with the design's fields"),
        ]
    ),
    # change data feed: the API publishes these events to pollers (GET /api/events)
    properties=WITH_CHANGE_FEED,
)

ABANDONED_CONTENT = TableSpec(
    name="abandoned_content",
    description="Items abandoned as of the build: said so (an ABANDONED statement), or started "
    "and idle for the abandonment window (conf).",
    key=("profile_id", "content_key"),
    schema=StructType(
        [
            col("profile_id", LongType(), "the profile"),
            col("content_key", LongType(), "the item"),
            col("title_id", LongType(), "film or series"),
            col("episode_id", LongType(), "NULL for films"),
            col("content_type", StringType(), "MOVIE or EPISODE"),
            col("last_activity_at", TimestampType(), "newest event on it (UTC)"),
            col(
                "abandoned_at",
                TimestampType(),
                "the statement's time, else last_activity_at + abandonment window",
            ),
            col(
                "progress_pct",
                DoubleType(),
                "progress reached (the statement's progressPercent when stated); NULL if unknown",
            ),
            col("statement_id", StringType(), "the ABANDONED statement; NULL when inferred"),
            col("abandon_reason", StringType(), "the statement's reason (free text)"),
            col("quality_rating", IntegerType(), "the statement's rating, 1-5"),
            col("would_retry", BooleanType(), "the statement: would watch it again later"),
        ]
    ),
)

VIEWING_COMPANION = TableSpec(
    name="viewing_companion",
    description="Who watched with the profile, one row per companion named in a WATCHED "
    "statement (personal data: erased with the profile).",
    key=("statement_id", "companion_name"),
    cluster_by=("profile_id",),
    schema=StructType(
        [
            col("statement_id", StringType(), "the WATCHED statement (API record id)"),
            col("profile_id", LongType(), "who made the statement: erasure key"),
            col("title_id", LongType(), "film or series"),
            col("episode_id", LongType(), "NULL for films"),
            col("companion_name", StringType(), "a name from watchedWith, as cleaned by the API"),
            col("watched_at", TimestampType(), "the statement's watchDate (UTC)"),
        ]
    ),
)

VIEWING_STATISTICS = TableSpec(
    name="viewing_statistics",
    description="Per profile and period (week, month, year, all): items, hours and breakdowns.",
    key=("profile_id", "period", "period_start", "breakdown", "breakdown_value"),
    schema=StructType(
        [
            col("profile_id", LongType(), "the profile"),
            col("period", StringType(), "week | month | year | all"),
            col("period_start", DateType(), "first day (weeks start Monday); 1970-01-01 for all"),
            col("breakdown", StringType(), "total | content_type | genre | device_type"),
            col("breakdown_value", StringType(), "'all' for total, else the value"),
            col("items_watched", LongType(), "distinct items with a session in the period"),
            col("items_completed", LongType(), "distinct items finished in the period"),
            col("watch_hours", DoubleType(), "playback hours, rounded to 0.01"),
        ]
    ),
)

STAR_TABLES = (DIM_USERS, DIM_MOVIES, DIM_DEVICE, DIM_DATE, FACT_WATCH_HISTORY)
MART_TABLES = (
    LAST_10_MOVIES,
    HISTORY_90_DAYS,
    CONTENT_TYPE_PREFERENCE,
    REGION_LOGIN,
    DAILY_WATCH_MINUTES,
)
ACTIVITY_TABLES = (
    VIEWING_RECORD,
    SHOW_PROGRESS,
    BINGE_SESSION,
    VIEWING_DOMAIN_EVENT,
    ABANDONED_CONTENT,
    VIEWING_STATISTICS,
    VIEWING_COMPANION,
)

# registered by jobs.core.tables.registry
SPECS = (BUILD_STATE, CATALOG_TITLE, *STAR_TABLES, *MART_TABLES, *ACTIVITY_TABLES)
