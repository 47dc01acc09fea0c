"""The next-episode rule, shared by Continue Watching and show progress."""

from __future__ import annotations

from pyspark.sql import Column


def is_successor(
    title_id: Column,
    season: Column,
    number: Column,
    next_title_id: Column,
    next_season: Column,
    next_number: Column,
) -> Column:
    """True when (next_season, next_number) follows (season, number) in the same series.

    The next episode is the next number in the same season, else episode 1 of the next
    season. Among several candidates (a gap in the data), take the smallest
    ``(next_season, next_number)``. Unknown season or episode numbers never match.
    """
    same_season = (next_season == season) & (next_number == number + 1)
    next_season_first = (next_season == season + 1) & (next_number == 1)
    return (next_title_id == title_id) & (same_season | next_season_first)
