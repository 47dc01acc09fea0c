"""The right-to-erasure list: every table holding names is found by the profile id."""

from __future__ import annotations

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from jobs.core.privacy.erasure import PERSONAL_DATA, check_personal_data
from jobs.core.tables.registry import get_spec


@pytest.mark.parametrize("table", sorted(PERSONAL_DATA))
def test_every_table_with_names_is_declared_with_the_erasure_key(table):
    columns = get_spec(table).columns
    assert "profile_id" in columns and PERSONAL_DATA[table] in columns


def test_a_table_with_names_but_no_profile_id_stops_the_erasure(tmp_path):
    check_personal_data(tmp_path)  # no tables: nothing to check
    DeltaTable.create(
        str(tmp_path / "viewing_companion"), pa.schema([("companion_name", pa.string())])
    )
    with pytest.raises(RuntimeError, match="viewing_companion holds personal data"):
        check_personal_data(tmp_path)


# ------------------------------------------------------------------ the registry
def test_every_table_with_a_profile_column_is_in_the_registry():
    from jobs.core.privacy.erasure import PROFILE_COLUMNS, REGISTRY, TEXT_TABLES, is_profile_column
    from jobs.core.tables.registry import TABLES

    holding = {
        name: tuple(c for c in spec.columns if is_profile_column(c))
        for name, spec in TABLES.items()
        if any(is_profile_column(c) for c in spec.columns)
    }
    assert PROFILE_COLUMNS == holding  # a new table must be added, with every column
    assert set(TEXT_TABLES) <= set(TABLES) and not set(TEXT_TABLES) & set(PROFILE_COLUMNS)
    kinds = {loc.kind for loc in REGISTRY}
    assert {"delta_table", "delta_history", "landing", "landing_archive", "rejects", "model",
            "dq_output", "api_ledger", "checkpoint"} <= kinds  # fmt: skip
    where = " ".join(loc.where for loc in REGISTRY)
    assert all(f"{{tables_dir}}/{t}" in where for t in PROFILE_COLUMNS)


# ---------------------------------------------- the places the erasure used to miss
P, OTHER = 1207120347795270103, 1975616346607738052  # Profile 1 / Profile 2 of household-ke


def _small_lake(root):
    import json

    import pyarrow.parquet as pq

    from tests.api.conftest import write

    t = root / "tables"
    write(t, "account", [{"account_id": 7, "account_label": "household-ke"}])
    write(t, "profile", [
        {"profile_id": P, "account_id": 7, "profile_name": "Profile 1"},
        {"profile_id": OTHER, "account_id": 7, "profile_name": "Profile 2"},
    ])  # fmt: skip
    write(t, "playback_session", [{"session_id": "c31c2ddd-1214-58f1-a0e3-01b78d3d9e1f", "profile_id": P}])  # fmt: skip
    write(t, "user_user_edge", [
        {"src_profile_id": OTHER, "dst_profile_id": P, "similarity": 0.9},
        {"src_profile_id": OTHER, "dst_profile_id": 5, "similarity": 0.5},
    ])  # fmt: skip
    landing = root / "landing"
    landing.mkdir()
    (landing / ".staged-household-ke-x-hb30-00000.jsonl").write_text(
        json.dumps({"profile_id": P, "session_id": "s1"}) + "\n"
        + json.dumps({"profile_id": OTHER, "session_id": "s2"}) + "\n"
    )  # fmt: skip
    rejects = root / "rejects"
    rejects.mkdir()
    (rejects / "ghost.rejects.jsonl").write_text(
        json.dumps({"line": 2, "reason": "Start Time", "row": {"Profile Name": "Ghost Viewer"}})
        + "\n"
        + json.dumps({"line": 3, "reason": "Start Time", "row": {"Profile Name": "Profile 2"}})
        + "\n"
    )
    als = root / "models" / "als" / "als-v1-x"
    (als / "userFactors").mkdir(parents=True)
    users = als.parent / "als-v1-x-users"
    users.mkdir()
    pq.write_table(
        pa.table({"profile_id": pa.array([P, OTHER], pa.int64()), "uidx": pa.array([0, 1], pa.int32())}),
        users / "part-00000.snappy.parquet",
    )  # fmt: skip
    (users / ".part-00000.snappy.parquet.crc").write_bytes(b"crc")
    pq.write_table(
        pa.table({"id": pa.array([0, 1], pa.int32()), "features": [[0.1, 0.2], [0.3, 0.4]]}),
        als / "userFactors" / "part-00000.snappy.parquet",
    )
    dq = root / "_dq" / "validations" / "run1"
    dq.mkdir(parents=True)
    (dq / "resume_state.json").write_text(json.dumps({"results": [{"result": {
        "unexpected_count": 2,
        "unexpected_rows": [{"key_1": P, "row_count": 2}, {"key_1": OTHER, "row_count": 2}],
        "details": f"SELECT * WHERE profile_id = {P}",
    }}]}))  # fmt: skip
    return root


def test_erasure_reaches_models_dq_output_staged_files_edges_and_rejected_profiles(tmp_path):
    import json

    import pyarrow.parquet as pq

    from jobs.core.ingest.netflix_export import normalize_name
    from jobs.core.privacy.erasure import erase_profile
    from jobs.core.rules.ids import stable_id
    from jobs.core.runtime.config import load_config

    root = _small_lake(tmp_path / "lake")
    cfg = load_config("test", lake_root=str(root))
    report = erase_profile(cfg, P)
    assert report.tables["user_user_edge"] == 1  # the other end of an edge too
    staged = (root / "landing" / ".staged-household-ke-x-hb30-00000.jsonl").read_text()
    assert str(P) not in staged and str(OTHER) in staged
    users = root / "models" / "als" / "als-v1-x-users"
    assert pq.read_table(users).column("profile_id").to_pylist() == [OTHER]
    assert not (users / ".part-00000.snappy.parquet.crc").exists()  # Spark would refuse it
    factors = pq.read_table(root / "models" / "als" / "als-v1-x" / "userFactors")
    assert factors.column("id").to_pylist() == [1]
    dq = (root / "_dq" / "validations" / "run1" / "resume_state.json").read_text()
    assert str(P) not in dq
    [result] = json.loads(dq)["results"]
    assert result["result"]["unexpected_rows"] == [{"key_1": OTHER, "row_count": 2}]
    assert result["result"]["unexpected_count"] == 2  # counts stay

    # a profile whose rows were all rejected never reached `profile`: found by its id alone
    ghost = stable_id("profile", normalize_name("household-ke"), normalize_name("Ghost Viewer"))
    erase_profile(cfg, ghost)
    rejects = (root / "rejects" / "ghost.rejects.jsonl").read_text()
    assert "Ghost Viewer" not in rejects and "Profile 2" in rejects
    # an account the lake never recorded (its import failed): given by the caller
    (root / "rejects" / "new.rejects.jsonl").write_text(
        json.dumps({"line": 2, "row": {"Profile Name": "Newcomer"}}) + "\n"
    )
    newcomer = stable_id("profile", normalize_name("new-hh"), normalize_name("Newcomer"))
    erase_profile(cfg, newcomer)
    assert (root / "rejects" / "new.rejects.jsonl").exists()  # unknown account: not found
    erase_profile(cfg, newcomer, accounts=["new-hh"])
    assert not (root / "rejects" / "new.rejects.jsonl").exists()
