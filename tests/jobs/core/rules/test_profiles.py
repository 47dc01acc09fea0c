"""Finding a profile by id or by name (jobs.core.rules.profiles)."""

from __future__ import annotations

import pytest

from jobs.core.rules.profiles import resolve_profile

PROFILE_1_GT, PROFILE_1_KE, KIDS_KE = 7476195749898681127, 5120039486723310467, 812345


@pytest.fixture
def lake(spark):
    profiles = spark.createDataFrame(
        [(PROFILE_1_GT, 1, "Profile 1"), (PROFILE_1_KE, 2, "Profile 1"), (KIDS_KE, 2, "Kids")],
        "profile_id long, account_id long, profile_name string",
    )
    accounts = spark.createDataFrame(
        [(1, "household-gt"), (2, "household-ke")], "account_id long, account_label string"
    )
    return profiles, accounts


def test_digits_are_a_profile_id_as_given(lake):
    assert resolve_profile(*lake, "42", None) == 42  # not looked up


def test_a_unique_name_resolves_without_an_account(lake):
    assert resolve_profile(*lake, "Kids", None) == KIDS_KE


def test_a_name_in_several_accounts_needs_the_account(lake):
    with pytest.raises(LookupError, match=r"several accounts \['household-gt', 'household-ke'\]"):
        resolve_profile(*lake, "Profile 1", None)
    assert resolve_profile(*lake, "Profile 1", "household-ke") == PROFILE_1_KE
    assert resolve_profile(*lake, "Profile 1", "household-gt") == PROFILE_1_GT


def test_an_unknown_name_says_how_to_go_on(lake):
    with pytest.raises(LookupError, match="no profile named 'Ann'; import an export first"):
        resolve_profile(*lake, "Ann", None)
    with pytest.raises(LookupError, match="no profile named 'Kids' in account 'household-gt'"):
        resolve_profile(*lake, "Kids", "household-gt")
