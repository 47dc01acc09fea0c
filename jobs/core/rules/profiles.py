"""Finding a profile by id or by name, for the command lines that answer per profile."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F


def resolve_profile(
    profiles: DataFrame, accounts: DataFrame, profile: str, account: str | None
) -> int:
    """A profile id from an id or a profile name (with an account label when ambiguous).

    Args:
        profiles: ``profile`` rows.
        accounts: ``account`` rows.
        profile: digits (a ``profile_id``) or a profile name.
        account: an account label, to choose between profiles of the same name.

    Raises:
        LookupError: no such profile, or the name is ambiguous across accounts.
    """
    if profile.isdigit():
        return int(profile)
    matches = profiles.join(accounts, "account_id").where(F.col("profile_name") == profile)
    if account:
        matches = matches.where(F.col("account_label") == account)
    found = matches.select("profile_id", "account_label").collect()
    if not found:
        raise LookupError(
            f"no profile named {profile!r}{f' in account {account!r}' if account else ''}; "
            "import an export first, or pass the numeric profile_id"
        )
    if len(found) > 1:
        labels = sorted(r.account_label for r in found)
        raise LookupError(f"profile {profile!r} exists in several accounts {labels}; add --account")
    return int(found[0].profile_id)
