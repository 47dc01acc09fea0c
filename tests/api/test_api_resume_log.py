"""The API's Continue Watching reads resume_state with its pending change-log rows.

The same rows as the Spark job (``current_resume`` + ``continue_watching``) while rows
wait in ``resume_state_change``, and again after compaction; ``version=`` reads the log as
it stood when that ``resume_state`` version was committed.
"""

from __future__ import annotations

import datetime as dt

import pytest

from jobs.core.changelog.resume import compact, current_resume
from jobs.core.rules.continue_watching_spark import continue_watching
from jobs.core.runtime.config import load_config
from jobs.core.storage.delta import get_engine
from tests.api.conftest import OTHER, P, at, resume, write

CW = "/api/profiles/{}/continue-watching"
PENDING = [
    resume(P, 10, 102, 1500, at(0.5)),  # newer than the stored 1200: wins
    resume(P, 20, None, 10, at(5), runtime=8100),  # older than the stored one: loses
    resume(P, 10, 201, 300, at(0.3), runtime=3300),  # a new episode
    resume(OTHER, 30, None, 5950, at(0.05), finished=True, runtime=6000),  # finished
]


def _items(body: dict) -> list[dict]:
    return [
        {**i, "last_update": dt.datetime.fromisoformat(i["last_update"].replace("Z", "+00:00"))}
        for i in body["items"]
    ]


def _spark_rows(spark, cfg, profile: int, as_of: dt.datetime) -> list[dict]:
    engine = get_engine(spark, cfg)
    rows = continue_watching(
        current_resume(engine), engine.read("title"), engine.read("episode"), profile, as_of, 90, 10
    ).collect()
    return [{**r.asDict(), "last_update": r.last_update.replace(tzinfo=dt.UTC)} for r in rows]


@pytest.mark.slow  # a Spark pipeline of its own: make test, not test-fast
def test_continue_watching_with_pending_change_rows_equals_the_spark_job(spark, client, auth, lake):
    cfg = load_config("test", str(lake))
    before = client.get(CW.format(P), params={"as_of": "latest"}, headers=auth()).json()
    write(lake / "tables", "resume_state_change", PENDING)
    answers = {}
    for pid in (P, OTHER):
        body = client.get(CW.format(pid), params={"as_of": "latest"}, headers=auth(pid)).json()
        as_of = dt.datetime.fromisoformat(body["as_of"].replace("Z", "+00:00"))
        assert _items(body) == _spark_rows(spark, cfg, pid, as_of)
        answers[pid] = body
    mine = [(i["title_id"], i["episode_id"], i["position_sec"]) for i in answers[P]["items"]]
    assert mine[:2] == [(10, 201, 300), (20, None, 4050)]  # the older log row lost
    assert answers[OTHER]["items"][0]["title_id"] == 20  # the finished film is not offered

    # version= is a resume_state version: the log as it stood then (not created yet)
    old = client.get(CW.format(P), params={"as_of": "latest", "version": 1}, headers=auth())
    assert old.json()["items"] == before["items"]

    compact(get_engine(spark, cfg))
    for pid in (P, OTHER):
        after = client.get(CW.format(pid), params={"as_of": "latest"}, headers=auth(pid)).json()
        assert after["items"] == answers[pid]["items"]
        assert after["table_version"] > answers[pid]["table_version"]
