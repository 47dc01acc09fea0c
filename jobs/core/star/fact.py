"""``fact_watch_history`` rows: one per non-supplemental playback session.

Grain: one session (``session_id``). ``watch_seconds`` is playback time from events,
not wall time: the sum, over consecutive events of a session, of the time from an event
to the next one, counted when the first is not ``PAUSE``, ``END`` or ``ERROR``. For the
importer's sessions that is END time - PLAY time, the export's Duration.
``progress_pct`` and ``is_finished`` follow :mod:`jobs.core.rules.watched` ("viewing
watched": ``activity.watched_pct`` / ``activity.end_tail_pct``).
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.core.rules.keys import UNKNOWN_KEY, date_key
from jobs.core.rules.watched import finished, progress_pct
from jobs.core.runtime.config import ActivitySettings

NOT_PLAYING = ("PAUSE", "END", "ERROR")


def session_playback(events: DataFrame) -> DataFrame:
    """Playback time and start position per session, from its events.

    Args:
        events: ``playback_event`` rows (session_id, event_time, event_type, position_sec).

    Returns:
        ``session_id, watch_seconds`` (sum of the time from each event to the next, when
        the first is not PAUSE/END/ERROR; seconds) and ``start_position_sec`` (position of
        the first event).
    """
    w = Window.partitionBy("session_id").orderBy("event_time")
    gap = F.unix_seconds(F.lead("event_time").over(w)) - F.unix_seconds(F.col("event_time"))
    playing = ~F.col("event_type").isin(*NOT_PLAYING)
    return (
        events.select(
            "session_id",
            "event_time",
            "position_sec",
            F.when(playing, F.coalesce(gap, F.lit(0))).otherwise(0).alias("gap"),
        )
        .groupBy("session_id")
        .agg(
            F.sum("gap").cast("long").alias("watch_seconds"),
            F.min_by("position_sec", "event_time").alias("start_position_sec"),
        )
    )


def fact_rows(
    sessions: DataFrame,
    playback: DataFrame,
    users: DataFrame,
    movies: DataFrame,
    devices: DataFrame,
    s: ActivitySettings,
) -> DataFrame:
    """``fact_watch_history`` rows for ``sessions`` (supplemental ones dropped).

    Args:
        sessions: ``playback_session`` rows to (re)compute.
        playback: :func:`session_playback` of their events.
        users: ``dim_users``.
        movies: ``dim_movies``.
        devices: ``dim_device``.
        s: thresholds.

    Returns:
        The fact's columns. ``user_key`` is the ``dim_users`` version with
        ``valid_from <= started_at < valid_to``; a missing dimension row gives ``-1``.
    """
    sess = sessions.where(~F.coalesce(F.col("is_supplemental"), F.lit(False))).withColumn(
        "content_key", F.coalesce("episode_id", "title_id")
    )
    u = users.where(F.col("user_key") != UNKNOWN_KEY).select(
        F.col("profile_id").alias("u_profile_id"), "user_key", "valid_from", "valid_to"
    )
    m = movies.select("content_key", "movie_key", "runtime_sec")
    d = devices.select("device_id", "device_key")
    j = (
        sess.join(playback, "session_id", "left")
        .join(
            u,
            (F.col("profile_id") == F.col("u_profile_id"))
            & (F.col("started_at") >= F.col("valid_from"))
            & (F.col("started_at") < F.col("valid_to")),
            "left",
        )
        .join(m, "content_key", "left")
        .join(d, "device_id", "left")
    )
    runtime = F.col("runtime_sec")
    end_pos = F.col("last_position_sec")
    progress = progress_pct(end_pos, runtime)
    return j.select(
        "session_id",
        F.coalesce("user_key", F.lit(UNKNOWN_KEY)).alias("user_key"),
        F.coalesce("movie_key", F.lit(UNKNOWN_KEY)).alias("movie_key"),
        F.coalesce("device_key", F.lit(UNKNOWN_KEY)).alias("device_key"),
        date_key("started_at").alias("date_key"),
        "profile_id",
        "content_key",
        "started_at",
        "ended_at",
        F.coalesce("watch_seconds", F.lit(0)).alias("watch_seconds"),
        F.coalesce("start_position_sec", end_pos).alias("start_position_sec"),
        end_pos.alias("end_position_sec"),
        progress.alias("progress_pct"),
        finished(
            progress,
            end_pos,
            runtime,
            F.col("ended_at").isNotNull(),
            s.watched_pct,
            s.end_tail_pct,
        ).alias("is_finished"),
        F.coalesce("is_autoplay", F.lit(False)).alias("is_autoplay"),
        "country_code",
        "event_count",
        "last_event_at",
    )
