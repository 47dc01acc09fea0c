"""A damaged source never leaves a half-built star (issue 20, item 6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jobs.core.star.build import build
from jobs.core.storage.delta import TableFileMissingError, get_engine
from jobs.core.tables.star import MART_TABLES, STAR_TABLES
from tests.jobs.test_build_star_schema import (
    ACC,
    FILM,
    P1,
    events_of,
    ts,
    write_rows,
    write_viewing,
)


def star_versions(engine) -> dict[str, int | None]:
    """Each star and mart table's version; None where the table does not exist yet."""
    return {
        t.name: engine.version(t.name) if engine.exists(t.name) else None
        for t in (*STAR_TABLES, *MART_TABLES)
    }


def test_a_deleted_event_file_stops_the_build_before_any_dimension_is_written(
    spark, cfg, engine_name
):
    engine = get_engine(spark, cfg)
    engine.create_all(["account", "profile", "device", "title", "episode", "playback_event",
                       "playback_session", "resume_state"])  # fmt: skip
    write_rows(spark, engine, "account", [(ACC, "acc")])
    write_rows(spark, engine, "profile", [(P1, ACC, "Ann", None, "KE")])
    write_rows(spark, engine, "device", [("d1", ACC, "TV", None, "Samsung Smart TV")])
    write_rows(spark, engine, "title", [(FILM, "The Film", "FILM", 3600)])
    write_viewing(spark, engine, events_of("s1", P1, "d1", FILM, None, "KE", [
        (ts(10), "PLAY", 0), (ts(10, 20, 40), "END", 2400),
    ]))  # fmt: skip
    gone = sorted(Path(cfg.table_path("playback_event")).rglob("*.parquet"))[0]
    gone.unlink()
    before = star_versions(engine)

    with pytest.raises(TableFileMissingError) as error:
        build(engine, as_of=ts(31))
    message = str(error.value)
    assert message.startswith("table playback_event at ") and str(gone) in message
    after = star_versions(engine)
    # the build may create its empty targets first (version 0); it commits no rows to any
    written = {
        t: v for t, v in after.items() if v != before[t] and not (before[t] is None and v == 0)
    }
    assert written == {}
