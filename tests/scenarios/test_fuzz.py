"""Property tests (hypothesis): parsers never crash unhandled; every line is accounted for.

* The importer: any row either becomes a viewing (whose events are well formed) or
  raises ParseError/ValueError — which ``read_viewings`` turns into a reject row.
* The ingest: any landing line ends as exactly one stored event, one quarantine row or
  one dropped duplicate, and the counts add up.
"""

from __future__ import annotations

import json
import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jobs.core.ingest import export_import as imp
from jobs.core.ingest import query as ingest
from jobs.core.ingest.netflix_export import ParseError
from jobs.core.runtime.config import load_config
from jobs.core.storage.delta import get_engine

text = st.text(alphabet=string.printable + "áéíóúñ\u00a0ąę:()", max_size=40)
times = st.one_of(
    text,
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%d %H:%M:%S")),
    st.datetimes().map(lambda d: f"{d.month}/{d.day}/{d.year} {d.hour}:{d.minute:02d}"),
)
hms = st.one_of(
    text,
    st.tuples(st.integers(0, 30), st.integers(0, 59), st.integers(0, 59)).map(
        lambda t: f"{t[0]}:{t[1]:02d}:{t[2]:02d}"
    ),
)
rows = st.fixed_dictionaries(
    {
        "Profile Name": st.one_of(text, st.just("Profile 1")),
        "Start Time": times,
        "Duration": hms,
        "Attributes": st.one_of(text, st.just("Autoplayed: user action: None; ")),
        "Title": st.one_of(text, st.just("Dark: Season 1: Secrets (Episode 1)")),
        "Supplemental Video Type": st.sampled_from(["", "TRAILER", "HOOK"]),
        "Device Type": text,
        "Bookmark": hms,
        "Latest Bookmark": st.one_of(hms, st.just("Not latest view")),
        "Country": st.one_of(text, st.just("GT (Guatemala)")),
    }
)


@settings(max_examples=400, deadline=None)
@given(rows)
def test_a_row_becomes_a_viewing_or_a_parse_error(row):
    try:
        v = imp.parse_row(row, 2, "fuzz")
    except (ParseError, ValueError):
        return
    events = imp.viewing_to_events(v, 30)
    assert events[-1]["event_type"] == "END"
    assert all(e["position_sec"] >= 0 for e in events)
    assert len({e["event_time"] for e in events}) == len(events)
    assert len(v.country_code) == 2 and v.country_code.isupper()


valid_event = st.fixed_dictionaries(
    {
        "session_id": st.sampled_from(["a", "b", "c"]),
        "event_time": st.integers(0, 50).map(lambda m: f"2024-06-01T10:{m:02d}:00Z"),
        "event_type": st.sampled_from(["PLAY", "HEARTBEAT", "END", "FAST_FORWARD"]),
        "position_sec": st.integers(-10, 90_000),
        "profile_id": st.just(1),
        "title_id": st.just(9),
        "country_code": st.sampled_from(["GT", "gt", "USA"]),
    }
)
line = st.one_of(
    valid_event.map(json.dumps),
    valid_event.map(lambda e: json.dumps({**e, "position_sec": "soon"})),  # wrong type
    valid_event.map(lambda e: json.dumps({**e, "extra_field": 1})),  # schema drift: extra field
    valid_event.map(lambda e: json.dumps({k: v for k, v in e.items() if k != "country_code"})),
    text.filter(lambda s: "\n" not in s and "\r" not in s),
)


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(st.lists(line, min_size=1, max_size=40))
def test_every_landing_line_is_stored_quarantined_or_a_counted_duplicate(
    spark, tmp_path_factory, lines
):
    root = tmp_path_factory.mktemp("fuzz")
    cfg = load_config("test", lake_root=str(root))
    landing = root / "landing"
    landing.mkdir(parents=True)
    (landing / "f.jsonl").write_text("\n".join(lines) + "\n")
    totals = ingest.run(cfg, once=True, spark=spark)
    engine = get_engine(spark, cfg)
    stored = engine.read("playback_event").count()
    quarantined = engine.read("playback_event_quarantine").count()
    assert stored == totals["written"] and quarantined == totals["quarantined"]
    assert stored + quarantined + totals["duplicates"] == len(lines)
    keys = engine.read("playback_event").select("session_id", "event_time")
    assert keys.distinct().count() == stored
