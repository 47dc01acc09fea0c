"""Recommendation routes over a small delta-rs lake: More Like This and the lists with
explanations; the More Like This rule shared with ``jobs.query more-like-this``."""

from __future__ import annotations

import datetime as dt

import pytest

from jobs.core.recommend.similar_titles import more_like_this_rows, newest_versions
from tests.api.conftest import OTHER, P, at, build_mini_lake, write

SOON = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)  # lists expire after the real now
GEN, OLD_GEN = at(0.5), at(5)
V_CF_OLD, V_CF = "item_cosine-v1-aaaa", "item_cosine-v2-bbbb"
V_TFIDF, V_ALS = "content_tfidf-v2-cccc", "als-v2-dddd"


def edge(src, dst, score, model, version, computed):
    return {
        "src_title_id": src,
        "dst_title_id": dst,
        "score": score,
        "model": model,
        "model_version": version,
        "computed_at": computed,
    }


EDGES = [
    edge(10, 40, 0.99, "item_cosine", V_CF_OLD, at(10)),  # an older training: never served
    edge(10, 20, 0.5, "item_cosine", V_CF, at(1)),
    edge(10, 50, 0.8, "item_cosine", V_CF, at(1)),
    edge(10, 60, 0.5, "item_cosine", V_CF, at(1)),  # ties with 20: by title_id
    edge(20, 10, 0.5, "item_cosine", V_CF, at(1)),
    edge(10, 30, 0.9, "content_tfidf", V_TFIDF, at(1)),
    edge(70, 10, 0.3, "content_tfidf", V_TFIDF, at(1)),  # 70: nobody co-viewed it
    edge(70, 50, 0.6, "content_tfidf", V_TFIDF, at(1)),
    edge(10, 60, 0.7, "als", V_ALS, at(1)),
]


def listed(profile, context, rank, title, score, model, generated=GEN, expires=SOON):
    return {
        "profile_id": profile,
        "context": context,
        "rank_position": rank,
        "title_id": title,
        "score": score,
        "model": model,
        "model_version": {"popularity": None}.get(model, f"{model}-v2"),
        "variant": "item_cosine",
        "generated_at": generated,
        "expires_at": expires,
    }


def why(profile, context, title, kind, text, related, generated=GEN):
    return {
        "profile_id": profile,
        "context": context,
        "generated_at": generated,
        "title_id": title,
        "explanation_type": kind,
        "text": text,
        "related_title_id": related,
    }


@pytest.fixture
def reco_lake(lake):
    t = lake / "tables"
    write(t, "title", [
        {"title_id": 50, "title_name": "Narcos", "title_type": "SERIES"},
        {"title_id": 60, "title_name": "Ozark", "title_type": "SERIES"},
        {"title_id": 70, "title_name": "Cold Title", "title_type": "FILM"},
        {"title_id": 80, "title_name": "Lonely Title", "title_type": "FILM"},
    ])  # fmt: skip
    write(t, "item_item_edge", EDGES)
    write(t, "current_recommendations", [
        listed(P, "home", 3, 20, 0.4, "popularity"),  # stored out of rank order
        listed(P, "home", 1, 50, 1.0, "item_cosine"),
        listed(P, "home", 2, 60, 0.7, "item_cosine"),
        listed(P, "because_you_watched", 1, 40, 1.0, "item_cosine", at(2), at(1)),  # expired
        listed(P, "genre_dramas", 1, 20, 1.0, "popularity"),
        listed(OTHER, "home", 1, 10, 1.0, "popularity"),
    ])  # fmt: skip
    write(t, "recommendation_explanation", [
        why(P, "home", 50, "because_you_watched", "Because you watched an old thing", 40, OLD_GEN),
        why(P, "home", 50, "because_you_watched", "Because you watched Dark", 10),
        why(P, "home", 60, "because_you_watched", "Because you watched Dark", 10),
        why(P, "home", 20, "popular", "Popular in KE right now", None),
        why(P, "genre_dramas", 20, "popular", "Popular in Dramas", None),
        why(OTHER, "home", 10, "popular", "Popular right now", None),
    ])  # fmt: skip
    return lake


@pytest.fixture
def reco(reco_lake, make_client):
    return make_client()


@pytest.fixture
def bare(tmp_path, settings):
    """A client over a lake without the recommendation tables."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    root = build_mini_lake(tmp_path / "bare")
    return TestClient(
        create_app(settings.model_copy(update={"snapshot_refresh_sec": 0}), "test", str(root))
    )


def mlt(client, title, headers, **params):
    return client.get(f"/api/titles/{title}/more-like-this", params=params, headers=headers)


# ------------------------------------------------------------------------------ More Like This
def test_more_like_this_serves_the_newest_version_best_first(reco, auth):
    r = mlt(reco, 10, auth())
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["title_name"], body["model"], body["model_version"]) == (
        "Dark",
        "item_cosine",
        V_CF,
    )
    assert body["fallback_from"] is None
    assert [(i["rank_position"], i["title_id"], i["title_name"], i["score"]) for i in body["items"]] == [
        (1, 50, "Narcos", 0.8),
        (2, 20, "Roma", 0.5),
        (3, 60, "Ozark", 0.5),
    ]  # fmt: skip
    assert [i["title_id"] for i in mlt(reco, 10, auth(), limit=2).json()["items"]] == [50, 20]
    other = mlt(reco, 10, auth(OTHER), model="als").json()  # any profile's token may read it
    assert (other["model_version"], [i["title_id"] for i in other["items"]]) == (V_ALS, [60])


def test_more_like_this_falls_back_to_content_neighbours_for_a_cold_title(reco, auth):
    body = mlt(reco, 70, auth()).json()
    assert (body["model"], body["model_version"], body["fallback_from"]) == (
        "content_tfidf",
        V_TFIDF,
        "item_cosine",
    )
    assert [(i["title_name"], i["score"]) for i in body["items"]] == [
        ("Narcos", 0.6),
        ("Dark", 0.3),
    ]
    direct = mlt(reco, 70, auth(), model="content_tfidf").json()
    assert direct["fallback_from"] is None and len(direct["items"]) == 2
    lonely = mlt(reco, 80, auth()).json()  # no neighbour in any model: an empty list
    assert (lonely["items"], lonely["model"], lonely["fallback_from"]) == ([], "item_cosine", None)


def test_more_like_this_errors(reco, auth, bare):
    assert mlt(reco, 10, {}).status_code == 401
    r = mlt(reco, 999, auth())
    assert r.status_code == 404 and "title 999 not found" in r.json()["detail"]
    assert mlt(reco, 10, auth(), model="svd").status_code == 422
    assert mlt(reco, 10, auth(), limit=0).status_code == 422
    assert mlt(reco, 10, auth(), limit=101).status_code == 422
    r = mlt(bare, 10, auth())  # the lake without the recommendation tables
    assert r.status_code == 404
    assert (
        "item_item_edge" in r.json()["detail"] and "jobs.train_recommenders" in r.json()["detail"]
    )


def test_the_rule_ignores_self_edges_and_takes_versions_from_the_whole_table():
    rows = [edge(1, 1, 1.0, "als", "als-v2", at(1)), edge(1, 2, 0.4, "als", "als-v1", at(9))]
    # the title's only edge is from an older training than the table's newest als version
    assert more_like_this_rows(rows, 1, "als", 5, {"als": "als-v2"})["items"] == []
    assert more_like_this_rows(rows, 1, "als", 5)["items"] == [
        {"rank_position": 1, "title_id": 2, "score": 0.4}
    ]
    assert newest_versions(EDGES) == {"item_cosine": V_CF, "content_tfidf": V_TFIDF, "als": V_ALS}
    with pytest.raises(ValueError, match="unknown model"):
        more_like_this_rows(rows, 1, "svd", 5)


def test_spark_query_and_api_give_the_same_more_like_this(spark, reco, auth):
    from jobs.core.recommend.queries import more_like_this
    from jobs.core.tables.registry import get_spec

    edges = spark.createDataFrame(EDGES, get_spec("item_item_edge").schema)
    titles = spark.createDataFrame(
        [(10, "Dark"), (20, "Roma"), (30, "Done Film"), (50, "Narcos"), (60, "Ozark")],
        "title_id long, title_name string",
    )
    for title, model in ((10, "item_cosine"), (70, "item_cosine"), (10, "als")):
        rows = [r.asDict() for r in more_like_this(edges, titles, title, model, 10).collect()]
        api = mlt(reco, title, auth(), model=model).json()
        assert [(r["rank_position"], r["title"], r["score"], r["model"], r["model_version"]) for r in rows] == [
            (i["rank_position"], i["title_name"], i["score"], api["model"], api["model_version"])
            for i in api["items"]
        ]  # fmt: skip


# ------------------------------------------------------------------------------ lists
def recs(client, profile, headers, **params):
    return client.get(f"/api/profiles/{profile}/recommendations", params=params, headers=headers)


def test_home_list_in_rank_order_with_this_generations_explanations(reco, auth):
    r = recs(reco, P, auth())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["context"] == "home" and body["variant"] == "item_cosine"
    assert body["generated_at"] == GEN.isoformat().replace("+00:00", "Z")
    assert body["available_contexts"] == ["genre_dramas", "home"]  # the expired one is not
    got = [
        (i["rank_position"], i["title_name"], i["score"], i["model"], i["explanation"]["type"],
         i["explanation"]["text"], i["explanation"]["related_title_name"])
        for i in body["items"]
    ]  # fmt: skip
    assert got == [
        (
            1,
            "Narcos",
            1.0,
            "item_cosine",
            "because_you_watched",
            "Because you watched Dark",
            "Dark",
        ),
        (2, "Ozark", 0.7, "item_cosine", "because_you_watched", "Because you watched Dark", "Dark"),
        (3, "Roma", 0.4, "popularity", "popular", "Popular in KE right now", None),
    ]
    assert body["page"] == {"page": 1, "limit": 20, "total": 3, "has_more": False}


def test_lists_are_paged_and_contexts_validated(reco, auth):
    first = recs(reco, P, auth(), limit=2).json()
    assert [i["rank_position"] for i in first["items"]] == [1, 2] and first["page"]["has_more"]
    second = recs(reco, P, auth(), limit=2, page=2).json()
    assert [i["title_name"] for i in second["items"]] == ["Roma"]
    assert second["page"] == {"page": 2, "limit": 2, "total": 3, "has_more": False}
    genre = recs(reco, P, auth(), context="genre_dramas").json()
    assert [(i["title_name"], i["explanation"]["text"]) for i in genre["items"]] == [
        ("Roma", "Popular in Dramas")
    ]
    expired = recs(reco, P, auth(), context="because_you_watched").json()
    assert (expired["items"], expired["generated_at"], expired["page"]["total"]) == ([], None, 0)
    for bad in ("Home", "genre_", "genre_Dramas!", "trending"):
        assert recs(reco, P, auth(), context=bad).status_code == 422, bad
    assert recs(reco, P, auth(), page=0).status_code == 422


def test_lists_are_per_profile(reco, auth, bare):
    assert recs(reco, P, {}).status_code == 401
    r = recs(reco, OTHER, auth(P))
    assert r.status_code == 403 and str(P) in r.json()["detail"]
    admin = recs(reco, OTHER, auth(P, admin=True)).json()
    assert [(i["title_name"], i["explanation"]["text"]) for i in admin["items"]] == [
        ("Dark", "Popular right now")
    ]
    assert [i["title_id"] for i in recs(reco, OTHER, auth(OTHER)).json()["items"]] == [10]
    r = recs(reco, 333, auth(P, admin=True))
    assert r.status_code == 404 and "profile 333" in r.json()["detail"]
    r = recs(bare, P, auth())  # the lake without the recommendation tables
    assert r.status_code == 404 and "jobs.generate_recommendations" in r.json()["detail"]
