"""Every table of the lakehouse, declared once.

A :class:`TableSpec` holds a table's Spark schema, its partition and clustering
(Z-order) columns, its Delta table properties and a one-line description. Reads,
writes, the engines' ``create`` and test fixtures all use these specs; no production
path infers a schema.

Names follow the seed schema (``playback_event``, ``resume_state``, ``position_sec``,
``last_update``...). Each column added beyond the seed schema carries the reason in its
comment (``StructField.metadata["comment"]``), which also lands in the Delta schema.

Units: every ``*_sec`` column is whole seconds; every TIMESTAMP is UTC.
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from jobs.core.tables import dq as tables_dq
from jobs.core.tables import hot as tables_hot
from jobs.core.tables import reco as tables_reco
from jobs.core.tables import star as tables_star
from jobs.core.tables.spec import DELTA_RETENTION, WITH_CHANGE_FEED, TableSpec, col

__all__ = ["DELTA_RETENTION", "TABLES", "TableSpec", "col", "conform", "get_spec", "register"]

# WATCHED and ABANDONED are explicit app statements ("I watched it", "I gave up"), posted
# through the API: position_sec is the runtime (WATCHED) or the progress reached (ABANDONED).
EVENT_TYPES = (
    "PLAY",
    "PAUSE",
    "SEEK",
    "HEARTBEAT",
    "BITRATE_CHANGE",
    "END",
    "ERROR",
    "WATCHED",
    "ABANDONED",
)


ACCOUNT = TableSpec(
    name="account",
    description="One streaming-service account (a household); from the export's account label.",
    key=("account_id",),
    schema=StructType(
        [
            col("account_id", LongType(), "stable hash of the account label"),
            col("account_label", StringType(), "label given at import (one export = one account)"),
        ]
    ),
)

PROFILE = TableSpec(
    name="profile",
    description="A viewer profile inside an account (seed schema).",
    key=("profile_id",),
    schema=StructType(
        [
            col("profile_id", LongType(), "stable hash of (account, profile name)"),
            col("account_id", LongType(), "owning account"),
            col("profile_name", StringType(), "display name (for Continue Watching output)"),
            col("maturity_setting", StringType(), "seed schema; not in the exports (NULL)"),
            col("country_code", StringType(), "ISO 3166 alpha-2 of the profile's latest viewing"),
        ]
    ),
)

DEVICE = TableSpec(
    name="device",
    description="A playback device of an account (seed schema) with its class.",
    key=("device_id",),
    schema=StructType(
        [
            col("device_id", StringType(), "stable hash of (account, device string)"),
            col(
                "account_id",
                LongType(),
                "devices are per account: the same model in two homes differs",
            ),
            col(
                "device_type",
                StringType(),
                "class: TV, mobile, tablet, web, console, streaming_stick, other",
            ),
            col("os_version", StringType(), "seed schema; not in the exports (NULL)"),
            col("device_model", StringType(), "the raw device string, kept for re-classification"),
        ]
    ),
)

TITLE = TableSpec(
    name="title",
    description="A film, a series or a supplemental video (trailer, hook...).",
    key=("title_id",),
    schema=StructType(
        [
            col("title_id", LongType(), "stable hash of the normalized film or series name"),
            col("title_name", StringType(), "film or series name as first seen"),
            col("title_type", StringType(), "FILM, SERIES or SUPPLEMENTAL"),
            col("runtime_sec", IntegerType(), "film runtime when known (catalogue), for progress"),
        ]
    ),
)

EPISODE = TableSpec(
    name="episode",
    description="One episode of a series, with its season and number when the title says them.",
    key=("episode_id",),
    schema=StructType(
        [
            col("episode_id", LongType(), "stable hash of (series, season, episode)"),
            col("title_id", LongType(), "the series"),
            col(
                "season_label",
                StringType(),
                "as written: 'Season 2', 'Temporada 3', 'Limited Series'",
            ),
            col("season_number", IntegerType(), "parsed season number; NULL when unknown"),
            col("episode_number", IntegerType(), "parsed episode number; NULL when unknown"),
            col("episode_title", StringType(), "episode name"),
            col("runtime_sec", IntegerType(), "episode runtime when known, for progress"),
        ]
    ),
)

PLAYBACK_SESSION = TableSpec(
    name="playback_session",
    description="One playback of one item on one device, kept current by the ingest (seed schema).",
    key=("session_id",),
    cluster_by=("profile_id",),
    # the change data feed tells the incremental star build which sessions changed
    properties=WITH_CHANGE_FEED,
    schema=StructType(
        [
            col("session_id", StringType(), "seed schema"),
            col("profile_id", LongType(), "seed schema"),
            col("device_id", StringType(), "seed schema"),
            col("title_id", LongType(), "seed schema"),
            col("episode_id", LongType(), "seed schema; NULL for films"),
            col("country_code", StringType(), "where it was watched (region analytics)"),
            col(
                "is_supplemental",
                BooleanType(),
                "trailers etc. are sessions but never resume points",
            ),
            col("is_autoplay", BooleanType(), "started by autoplay (binge analytics)"),
            col("started_at", TimestampType(), "seed schema: first event time (UTC)"),
            col("ended_at", TimestampType(), "seed schema: END event time; NULL while open"),
            col(
                "end_reason", StringType(), "END (player said so) or ABANDONED (closed by cleanup)"
            ),
            col("last_event_at", TimestampType(), "newest event time: abandoned-session cleanup"),
            col("last_position_sec", IntegerType(), "position at last_event_at (seconds)"),
            col("event_count", LongType(), "events stored for the session (completeness checks)"),
        ]
    ),
)

PLAYBACK_SESSION_CHANGE = TableSpec(
    name="playback_session_change",
    description="Append-only change log of playback_session: each micro-batch's partial row per "
    "session (its events folded), not yet compacted into playback_session.",
    key=("session_id", "change_id"),
    schema=StructType(
        [
            *PLAYBACK_SESSION.schema.fields,
            col(
                "change_id",
                StringType(),
                "the append that wrote the row (writer's marker and batch): compaction's row id",
            ),
        ]
    ),
)

PLAYBACK_EVENT = TableSpec(
    name="playback_event",
    description="Append-only playback timeline, one row per (session_id, event_time) (seed schema).",
    key=("session_id", "event_time"),
    partition_by=("dt", "country_code"),
    cluster_by=("session_id",),
    schema=StructType(
        [
            col("session_id", StringType(), "seed schema"),
            col("event_time", TimestampType(), "seed schema (UTC)"),
            col("event_type", StringType(), "seed schema: " + ", ".join(EVENT_TYPES)),
            col("position_sec", IntegerType(), "seed schema: playhead, seconds into the item"),
            col("bitrate_kbps", IntegerType(), "seed schema; NULL unless BITRATE_CHANGE"),
            col("profile_id", LongType(), "who watched: resume_state key without a join"),
            col("device_id", StringType(), "resume_state records the device of the update"),
            col("title_id", LongType(), "resume_state key without a join"),
            col("episode_id", LongType(), "resume_state key without a join; NULL for films"),
            col(
                "is_supplemental", BooleanType(), "trailers are stored but never enter resume_state"
            ),
            col("is_autoplay", BooleanType(), "playback started by autoplay"),
            col("runtime_sec", IntegerType(), "item length when the player knows it: is_finished"),
            col("ingest_query_id", StringType(), "streaming query (checkpoint) that wrote the row"),
            col("ingest_batch_id", LongType(), "its micro-batch: a replay recognises its own rows"),
            col("country_code", StringType(), "partition: region of the viewing"),
            col("dt", DateType(), "partition: to_date(event_time) in UTC"),
        ]
    ),
)

PLAYBACK_EVENT_QUARANTINE = TableSpec(
    name="playback_event_quarantine",
    description="Landing lines the ingest refused, with the raw record and the reason; never dropped.",
    key=("source_file", "raw_record", "reason"),
    schema=StructType(
        [
            col("raw_record", StringType(), "the JSON line exactly as it landed"),
            col("reason", StringType(), "why it was refused (';'-joined when several)"),
            col("source_file", StringType(), "landing file the line came from"),
            col("ingest_batch_id", LongType(), "micro-batch that refused it"),
            col("quarantined_at", TimestampType(), "micro-batch time (UTC), stable across replays"),
        ]
    ),
)

RESUME_STATE = TableSpec(
    name="resume_state",
    description="Latest position per (profile, title or episode): the Continue Watching read (seed schema).",
    key=("profile_id", "content_key"),
    cluster_by=("profile_id",),
    schema=StructType(
        [
            col("profile_id", LongType(), "seed schema"),
            col("title_id", LongType(), "seed schema"),
            col("episode_id", LongType(), "seed schema; NULL for films"),
            col("content_key", LongType(), "coalesce(episode_id, title_id): the merge key"),
            col("last_position_sec", IntegerType(), "seed schema: seconds into the item"),
            col("last_update", TimestampType(), "seed schema: event_time of that position (UTC)"),
            col("device_id", StringType(), "device of the update ('continue on another device')"),
            col("session_id", StringType(), "session of the update: deterministic tie-break"),
            col("is_finished", BooleanType(), "END at >= resume.finish_ratio of the runtime"),
            col("runtime_sec", IntegerType(), "item length when known: progress percent"),
        ]
    ),
)

# The resume-state change log: per micro-batch the ingest appends its newest row per key
# here (an append costs the batch) instead of merging into resume_state (a copy-on-write
# merge rewrites every file the batch's random keys touch: the whole table). Readers take
# the newest row per key across both tables (jobs.core.changelog.resume); compaction merges the
# log into resume_state and deletes the rows it then holds.
RESUME_STATE_CHANGE = TableSpec(
    name="resume_state_change",
    description="Append-only change log of resume_state: each micro-batch's newest row per "
    "(profile, title or episode), not yet compacted into resume_state.",
    key=("profile_id", "content_key", "last_update", "last_position_sec", "session_id"),
    schema=RESUME_STATE.schema,
)

# The statements' fields, as the API writes them into a landing line (snake_case of the
# design's body fields; api/routes_write.py). NULL on every other event type.
STATEMENT_TYPES = ("WATCHED", "ABANDONED")
STATEMENT_FIELDS = StructType(
    [
        col("viewing_location", StringType(), "WATCHED (film): where, free text (watch body)"),
        col("viewing_platform", StringType(), "WATCHED: platform the app reported (TV, web...)"),
        col(
            "watched_with",
            ArrayType(StringType()),
            "WATCHED (film): companion names (personal data; erased with the profile)",
        ),
        col("viewing_context", StringType(), "WATCHED (film): context, free text"),
        col("is_rewatch", BooleanType(), "WATCHED (film): the viewer says it is a rewatch"),
        col("binge_session_id", StringType(), "WATCHED (episode): the app's binge session id"),
        col("viewing_duration_sec", IntegerType(), "WATCHED (episode): seconds watched, 0-86 400"),
        col("progress_pct", DoubleType(), "ABANDONED: percent reached, 0-100"),
        col("abandon_reason", StringType(), "ABANDONED: why, free text"),
        col("quality_rating", IntegerType(), "ABANDONED: 1-5"),
        col("would_retry", BooleanType(), "ABANDONED: would watch it again later"),
    ]
)

VIEWING_STATEMENT = TableSpec(
    name="viewing_statement",
    description="Explicit WATCHED / ABANDONED statements (API posts) with their fields, "
    "appended by the ingest in the micro-batch that stores their playback_event row.",
    key=("session_id", "event_time"),
    cluster_by=("profile_id",),
    schema=StructType(
        [
            col("statement_id", StringType(), "the API's record id: session_id without 'api-'"),
            col("session_id", StringType(), "key, as in playback_event ('api-' + record id)"),
            col("event_time", TimestampType(), "key: the statement's time (watchDate/abandonDate)"),
            col("event_type", StringType(), "WATCHED or ABANDONED"),
            col("profile_id", LongType(), "who made the statement"),
            col("device_id", StringType(), "'api:' + platform"),
            col("title_id", LongType(), "film or series"),
            col("episode_id", LongType(), "NULL for films"),
            col("position_sec", IntegerType(), "runtime (WATCHED) or progress reached (ABANDONED)"),
            col("runtime_sec", IntegerType(), "item length when known"),
            *STATEMENT_FIELDS.fields,
            col("ingest_query_id", StringType(), "streaming query (checkpoint) that wrote the row"),
            col("ingest_batch_id", LongType(), "its micro-batch: a replay recognises its own rows"),
        ]
    ),
    # change data feed: the activity build recomputes only the profiles it names
    properties=WITH_CHANGE_FEED,
)

IMPORT_LEDGER = TableSpec(
    name="import_ledger",
    description="Which export was imported under which account label: the importer refuses "
    "the same export under a second label (it would count every viewing twice).",
    key=("fingerprint", "account_id"),
    schema=StructType(
        [
            col("fingerprint", StringType(), "order-independent hash of the export's viewings"),
            col("account_label", StringType(), "label given at import"),
            col("account_id", LongType(), "stable hash of the account label"),
            col("source_file", StringType(), "file name as imported (for the message)"),
            col("viewings", LongType(), "distinct viewings fingerprinted"),
            col("imported_at", TimestampType(), "when the import committed (UTC)"),
        ]
    ),
)

TABLES: dict[str, TableSpec] = {
    spec.name: spec
    for spec in (
        ACCOUNT,
        PROFILE,
        DEVICE,
        TITLE,
        EPISODE,
        PLAYBACK_SESSION,
        PLAYBACK_SESSION_CHANGE,
        PLAYBACK_EVENT,
        PLAYBACK_EVENT_QUARANTINE,
        RESUME_STATE,
        RESUME_STATE_CHANGE,
        VIEWING_STATEMENT,
        IMPORT_LEDGER,
    )
}

# The landing-zone contract: one JSON object per line, written by the importer (and by
# any producer). event_time is ISO-8601 UTC ("2023-01-25T21:08:18Z"). The statement
# fields (STATEMENT_FIELDS) are optional, set only on WATCHED / ABANDONED lines.
LANDING_EVENT_SCHEMA = StructType(
    [
        StructField("session_id", StringType()),
        StructField("event_time", TimestampType()),
        StructField("event_type", StringType()),
        StructField("position_sec", IntegerType()),
        StructField("bitrate_kbps", IntegerType()),
        StructField("account_id", LongType()),
        StructField("profile_id", LongType()),
        StructField("device_id", StringType()),
        StructField("title_id", LongType()),
        StructField("episode_id", LongType()),
        StructField("country_code", StringType()),
        StructField("is_supplemental", BooleanType()),
        StructField("is_autoplay", BooleanType()),
        StructField("runtime_sec", IntegerType()),
        *[StructField(f.name, f.dataType) for f in STATEMENT_FIELDS.fields],
    ]
)


def get_spec(name: str) -> TableSpec:
    """The spec of table ``name``.

    Raises:
        KeyError: with the list of known tables when ``name`` is unknown.
    """
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known tables: {sorted(TABLES)}") from None


def register(*specs: TableSpec) -> None:
    """Add table specs declared in another module (star schema, data quality) to TABLES.

    Raises:
        ValueError: a name is already taken by a different spec.
    """
    for spec in specs:
        if spec.name in TABLES and TABLES[spec.name] != spec:
            raise ValueError(f"table {spec.name!r} is declared twice")
        TABLES[spec.name] = spec


# The star schema, its marts, the viewing-activity layer and the data-quality results are
# declared in their own modules (which import only jobs.core.tables.spec, so there is no
# import cycle) and registered here: get_spec() and DeltaEngine.create_all() know every
# table. A new layer adds its module's specs the same way.
register(*tables_star.SPECS, *tables_dq.SPECS, *tables_reco.SPECS)


def conform(df: DataFrame, table: str) -> DataFrame:
    """``df`` with exactly the declared columns of ``table``, in order, cast to their types.

    Every write goes through this (``DeltaEngine`` and ``sync_table``), so a stored table
    never gets a column it does not declare or a type it does not have.

    Raises:
        KeyError: ``table`` is not declared.
        ValueError: ``df`` lacks a declared column.
    """
    spec = get_spec(table)
    missing = [c for c in spec.columns if c not in df.columns]
    if missing:
        raise ValueError(
            f"DataFrame written to {table!r} lacks columns {missing}; "
            f"the table declares {spec.columns}"
        )
    return df.select([df[f.name].cast(f.dataType).alias(f.name) for f in spec.schema.fields])


def markdown() -> str:
    """docs/tables.md: every declared table with its columns and their reasons."""
    out = [
        "# Tables",
        "",
        "Generated from the specs in `jobs/core/` by `python -m jobs.core.tables > docs/tables.md`;",
        "a test fails when this file and the specs disagree. Times are UTC, `*_sec` are seconds.",
        "",
    ]
    for spec in TABLES.values():
        out += [f"## `{spec.name}`", "", spec.description, ""]
        out.append(f"- key: `{', '.join(spec.key)}`")
        if spec.partition_by:
            out.append(f"- partitioned by: `{', '.join(spec.partition_by)}`")
        if spec.cluster_by:
            out.append(f"- Z-order by: `{', '.join(spec.cluster_by)}`")
        out += ["", "| column | type | why |", "|---|---|---|"]
        for f in spec.schema.fields:
            out.append(
                f"| `{f.name}` | {f.dataType.simpleString()} | {f.metadata.get('comment', '')} |"
            )
        out.append("")
    out += tables_hot.markdown()
    return "\n".join(out)
