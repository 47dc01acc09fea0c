"""The statement rules of the viewing activity, each on a few inline rows."""

from __future__ import annotations

import datetime as dt

from chispa import assert_df_equality
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from jobs.core.rules.statements import (
    DEVICE_CLASSES,
    companions,
    counted_watched,
    merge_abandonments,
    playback_only,
    stated_abandonments,
    statement_items,
    watched_sessions,
    with_watched,
)
from jobs.core.tables.registry import VIEWING_STATEMENT

T0 = dt.datetime(2024, 6, 1, 20, 0)


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


WATCHED = StructType(
    [
        StructField("statement_id", StringType()),
        StructField("profile_id", LongType()),
        StructField("content_key", LongType()),
        StructField("event_time", TimestampType()),
        StructField("is_rewatch", BooleanType()),
    ]
)
FINISHED = StructType(
    [
        StructField("profile_id", LongType()),
        StructField("content_key", LongType()),
        StructField("is_finished", BooleanType()),
    ]
)


def test_a_watched_statement_counts_once_and_never_beside_a_finished_session(spark):
    watched = spark.createDataFrame(
        [
            ("w1", 1, 10, at(0), None),  # item 10: nothing watched it: counts
            ("w2", 1, 10, at(1), None),  # a second plain statement: confirms w1
            ("w3", 1, 20, at(0), False),  # item 20: a session finished it: confirms
            ("w4", 1, 20, at(2), True),  # stated rewatch: always counts
            ("w5", 1, 30, at(0), None),  # item 30: only an unfinished session: counts
            ("w6", 1, 40, at(0), None),  # item 40: a rewatch statement exists: confirms
            ("w7", 1, 40, at(1), True),
            ("w8", 2, 20, at(0), None),  # another profile: its own history
        ],
        WATCHED,
    )
    sessions = spark.createDataFrame([(1, 20, True), (1, 30, False), (1, 20, False)], FINISHED)
    got = counted_watched(watched, sessions)
    expected = spark.createDataFrame(
        [
            ("w1", 1, 10, at(0), None),
            ("w4", 1, 20, at(2), True),
            ("w5", 1, 30, at(0), None),
            ("w7", 1, 40, at(1), True),
            ("w8", 2, 20, at(0), None),
        ],
        WATCHED,
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_the_statement_sessions_are_not_playback(spark):
    schema = StructType([StructField("session_id", StringType()), StructField("n", IntegerType())])
    sessions = spark.createDataFrame([("s1", 1), ("api-r1", 2)], schema)
    cols = ("statement_id", "session_id", "event_time", "event_type")
    statements = spark.createDataFrame(
        [("r1", "api-r1", at(0), "WATCHED")],
        StructType([VIEWING_STATEMENT.schema[c] for c in cols]),
    )
    got = playback_only(sessions, statements)
    assert_df_equality(got, spark.createDataFrame([("s1", 1)], schema), ignore_nullable=True)


ABANDONED = StructType(
    [
        StructField("statement_id", StringType()),
        StructField("profile_id", LongType()),
        StructField("content_key", LongType()),
        StructField("title_id", LongType()),
        StructField("episode_id", LongType()),
        StructField("content_type", StringType()),
        StructField("event_time", TimestampType()),
        StructField("progress_pct", DoubleType()),
        StructField("abandon_reason", StringType()),
        StructField("quality_rating", IntegerType()),
        StructField("would_retry", BooleanType()),
    ]
)
RECORDS = StructType(
    [
        StructField("profile_id", LongType()),
        StructField("content_key", LongType()),
        StructField("completed_at", TimestampType()),
        StructField("last_activity_at", TimestampType()),
    ]
)
OUT = StructType(
    [
        StructField("profile_id", LongType()),
        StructField("content_key", LongType()),
        StructField("title_id", LongType()),
        StructField("episode_id", LongType()),
        StructField("content_type", StringType()),
        StructField("last_activity_at", TimestampType()),
        StructField("abandoned_at", TimestampType()),
        StructField("progress_pct", DoubleType()),
        StructField("statement_id", StringType()),
        StructField("abandon_reason", StringType()),
        StructField("quality_rating", IntegerType()),
        StructField("would_retry", BooleanType()),
    ]
)


def test_the_newest_abandon_statement_stands_unless_a_later_viewing_completed(spark):
    abandoned = spark.createDataFrame(
        [
            ("a1", 1, 10, 10, None, "MOVIE", at(0), 10.0, "dull", 2, False),
            ("a2", 1, 10, 10, None, "MOVIE", at(5), 30.0, "too slow", 1, True),  # newer: wins
            ("a3", 1, 20, 2, 20, "EPISODE", at(0), 50.0, None, None, None),  # completed later
            ("a4", 1, 30, 30, None, "MOVIE", at(3), 5.0, "scary", 3, None),  # completed before
        ],
        ABANDONED,
    )
    records = spark.createDataFrame(
        [
            (1, 10, None, at(7)),  # activity after the statement: last_activity_at moves
            (1, 20, at(1), at(1)),
            (1, 30, at(2), at(2)),
        ],
        RECORDS,
    )
    got = stated_abandonments(abandoned, records)
    expected = spark.createDataFrame(
        [
            (1, 10, 10, None, "MOVIE", at(7), at(5), 30.0, "a2", "too slow", 1, True),
            (1, 30, 30, None, "MOVIE", at(3), at(3), 5.0, "a4", "scary", 3, None),
        ],
        OUT,
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_a_stated_abandonment_replaces_the_inferred_one(spark):
    inferred = spark.createDataFrame(
        [(1, 10, 10, None, "MOVIE", at(0), at(90 * 24), 12.5),
         (1, 40, 40, None, "MOVIE", at(0), at(90 * 24), 40.0)],
        StructType(OUT.fields[:8]),
    )  # fmt: skip
    stated = spark.createDataFrame(
        [(1, 10, 10, None, "MOVIE", at(1), at(1), 20.0, "a1", "dull", 2, False)], OUT
    )
    expected = spark.createDataFrame(
        [
            (1, 10, 10, None, "MOVIE", at(1), at(1), 20.0, "a1", "dull", 2, False),
            (1, 40, 40, None, "MOVIE", at(0), at(90 * 24), 40.0, None, None, None, None),
        ],
        OUT,
    )
    got = merge_abandonments(inferred, stated)
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_companions_one_row_per_distinct_name_of_a_watched_statement(spark):
    schema = StructType(
        [
            StructField("statement_id", StringType()),
            StructField("event_type", StringType()),
            StructField("profile_id", LongType()),
            StructField("title_id", LongType()),
            StructField("episode_id", LongType()),
            StructField("watched_with", ArrayType(StringType())),
            StructField("event_time", TimestampType()),
        ]
    )
    statements = spark.createDataFrame(
        [
            ("w1", "WATCHED", 1, 10, None, ["Ann", "Bo", "Ann", " "], at(0)),
            ("w2", "WATCHED", 1, 10, None, [], at(1)),
            ("w3", "WATCHED", 1, 10, None, None, at(2)),
            ("a1", "ABANDONED", 1, 10, None, ["Cy"], at(3)),
        ],
        schema,
    )
    expected = spark.createDataFrame(
        [("w1", 1, 10, None, "Ann", at(0)), ("w1", 1, 10, None, "Bo", at(0))],
        StructType(
            [
                StructField("statement_id", StringType()),
                StructField("profile_id", LongType()),
                StructField("title_id", LongType()),
                StructField("episode_id", LongType()),
                StructField("companion_name", StringType()),
                StructField("watched_at", TimestampType()),
            ]
        ),
    )
    assert_df_equality(
        companions(statements), expected, ignore_row_order=True, ignore_nullable=True
    )


# ------------------------------------------------------------------ items and pseudo-sessions
MOVIES = (
    "movie_key long, content_key long, content_type string, title_name string, "
    "season_number int, episode_number int, genres string"
)


def test_statement_items_join_known_items_by_episode_else_title(spark):
    statements = spark.createDataFrame(
        [("w1", 100, 1109), ("w2", 200, None), ("w3", 999, None), ("w4", 100, None)],
        "statement_id string, title_id long, episode_id long",
    )
    movies = spark.createDataFrame(
        [
            (7001, 1109, "EPISODE", "The Umbrella Academy", 1, 9, "Sci-Fi"),
            (7002, 200, "MOVIE", "90 minutos en el Cielo", None, None, "Drama"),
            (-1, 100, "UNKNOWN", "unknown", None, None, None),  # the unknown member: never
        ],
        MOVIES,
    )
    got = statement_items(statements, movies).select(
        "statement_id", "content_key", "content_type", "title_name"
    )
    expected = spark.createDataFrame(
        [
            ("w1", 1109, "EPISODE", "The Umbrella Academy"),
            ("w2", 200, "MOVIE", "90 minutos en el Cielo"),
        ],  # w3: an item dim_movies does not know yet; w4: a series title is not an item
        "statement_id string, content_key long, content_type string, title_name string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)


def test_watched_statements_become_finished_sessions_at_the_statement_time(spark):
    counted = spark.createDataFrame(
        [
            ("api-w1", 1, 1109, 100, 1109, "EPISODE", "The Umbrella Academy", 1, 9, "Sci-Fi",
             at(0), 2553, "tv", "w1", None),
            ("api-w2", 1, 200, 200, None, "MOVIE", "90 minutos en el Cielo", None, None, "Drama",
             at(1), None, "Streaming_Stick", "w2", True),
            ("api-w3", 1, 300, 300, None, "MOVIE", "La Reina del Sur", None, None, None,
             at(2), 60, "fridge", "w3", False),
            ("api-w4", 1, 400, 400, None, "MOVIE", "You", None, None, None,
             at(3), 60, None, "w4", False),
        ],
        "session_id string, profile_id long, content_key long, title_id long, "
        "episode_id long, content_type string, title_name string, season_number int, "
        "episode_number int, genres string, event_time timestamp, viewing_duration_sec int, "
        "viewing_platform string, statement_id string, is_rewatch boolean",
    )  # fmt: skip
    got = watched_sessions(counted)
    assert DEVICE_CLASSES == ("TV", "mobile", "tablet", "web", "console", "streaming_stick")
    assert [
        (r.session_id, r.watch_seconds, r.device_type, r.stated_rewatch) for r in got.collect()
    ] == [
        ("api-w1", 2553, "TV", None),  # the class named in any case
        ("api-w2", None, "streaming_stick", True),  # no duration stated: NULL
        ("api-w3", 60, "other", False),  # not a device class
        ("api-w4", 60, "other", False),
    ]
    row = got.first()
    assert row.started_at == row.ended_at == row.last_event_at == at(0)
    assert (row.is_finished, row.progress_pct) == (True, 100.0)

    playback = spark.createDataFrame(
        [("s1", 1, 1109, at(-1), False)],
        "session_id string, profile_id long, content_key long, started_at timestamp, "
        "is_finished boolean",
    )
    both = with_watched(playback, got)
    assert both.columns == got.columns  # the pseudo-sessions' columns, in their order
    real = both.where("session_id = 's1'").first()
    assert (real.content_key, real.is_finished, real.statement_id, real.stated_rewatch) == (
        1109,
        False,
        None,
        None,
    )
    assert both.count() == 5
