"""The right-to-erasure list: every table holding names is found by the profile id."""

from __future__ import annotations

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from jobs.core.erasure import PERSONAL_DATA, check_personal_data
from jobs.core.tables import get_spec


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
