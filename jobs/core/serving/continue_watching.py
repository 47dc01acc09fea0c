"""Continue Watching for one profile, as ``python -m jobs.continue_watching`` prints it.

The resume points are ``resume_state`` with its pending change-log rows
(:func:`jobs.core.changelog.resume.current_resume`). The list itself (which items, which
episode, the window) is :func:`jobs.core.rules.continue_watching_spark.continue_watching`;
:func:`profile_list` resolves the profile and the as-of time (:mod:`jobs.core.rules.as_of`:
``latest`` is the profile's newest resume point, read in UTC whatever the process's time
zone), and :func:`format_table` renders the rows for a terminal.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.core.changelog.resume import current_resume
from jobs.core.rules.as_of import collected_utc, newest, resolve_as_of
from jobs.core.rules.continue_watching_spark import continue_watching, explain_empty
from jobs.core.rules.profiles import resolve_profile
from jobs.core.storage.delta import DeltaEngine

HEADER = ["#", "title", "episode", "position", "progress", "last watched (UTC)"]


@dataclass(frozen=True)
class ProfileList:
    """One profile's Continue Watching list.

    Attributes:
        profile_id: the resolved profile.
        as_of: the moment the list is for (UTC); ``None`` when ``latest`` was asked and
            the profile has no resume point at all.
        rows: the list's rows (the columns of
            :func:`~jobs.core.rules.continue_watching_spark.continue_watching`,
            ``last_update`` aware UTC), newest first.
        hint: why the list is empty (``None`` when it is not).
    """

    profile_id: int
    as_of: dt.datetime | None
    rows: list[dict[str, Any]]
    hint: str | None


def profile_list(
    engine: DeltaEngine,
    profile: str,
    account: str | None,
    as_of: str | dt.datetime | None,
    limit: int | None = None,
) -> ProfileList:
    """The Continue Watching list of ``profile`` as of ``as_of``.

    Args:
        engine: the Delta engine (its config's ``continue_watching:`` window and limit).
        profile: a ``profile_id``, or a profile name (with ``account``).
        account: the account label, when ``profile`` is a name.
        as_of: ``None``/``"now"``, ``"latest"`` (the profile's newest resume point), ISO
            text (UTC when no offset) or a datetime.
        limit: most rows; ``None`` = ``continue_watching.limit``.

    Returns:
        The list; with ``as_of`` None and a hint when ``latest`` finds no resume point.

    Raises:
        LookupError: the profile does not exist (or the name is ambiguous).
        ValueError: ``as_of`` is text but not ISO-8601.
    """
    settings = engine.cfg.continue_watching
    resume = current_resume(engine)  # resume_state with its pending change-log rows
    profile_id = resolve_profile(engine.read("profile"), engine.read("account"), profile, account)
    latest = None
    if as_of == "latest":
        latest = newest(resume.where(F.col("profile_id") == profile_id), "last_update")
        if latest is None:
            return ProfileList(profile_id, None, [], explain_empty(resume, profile_id, None, 0))
    moment = resolve_as_of(as_of, latest)
    rows = [
        {**r.asDict(), "last_update": collected_utc(r.last_update)}
        for r in continue_watching(
            resume,
            engine.read("title"),
            engine.read("episode"),
            profile_id,
            moment,
            settings.window_days,
            limit or settings.limit,
        ).collect()
    ]
    hint = None if rows else empty_hint(resume, profile_id, moment, settings.window_days)
    return ProfileList(profile_id, moment, rows, hint)


def _fmt_position(sec: int | None) -> str:
    if sec is None:
        return ""
    h, rem = divmod(int(sec), 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"


def format_table(rows: list[dict]) -> str:
    """A plain terminal table of Continue Watching rows.

    Args:
        rows: rows of :func:`~jobs.core.rules.continue_watching_spark.continue_watching`
            as dicts (``position_sec`` seconds, shown h:mm:ss; ``last_update`` UTC).

    Returns:
        The header, a rule and one line per row (no trailing newline).
    """
    lines = []
    for r in rows:
        episode = ""
        if r["episode_id"] is not None:
            se = f"S{r['season_number'] or '?'}E{r['episode_number'] or '?'}"
            episode = (
                f"{'next: ' if r['is_next_episode'] else ''}{se} {r['episode_title'] or ''}".strip()
            )
        progress = "" if r["progress_pct"] is None else f"{r['progress_pct']:.0f}%"
        lines.append(
            [
                str(r["rank"]),
                (r["title_name"] or str(r["title_id"]))[:40],
                episode[:45],
                _fmt_position(r["position_sec"]),
                progress,
                r["last_update"].strftime("%Y-%m-%d %H:%M") if r["last_update"] else "",
            ]
        )
    widths = [
        max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
        for i, h in enumerate(HEADER)
    ]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*HEADER), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*line) for line in lines]
    return "\n".join(out)


def empty_hint(resume: DataFrame, profile_id: int, as_of: dt.datetime, window_days: int) -> str:
    """Why a profile's Continue Watching is empty.

    The same as :func:`jobs.core.rules.continue_watching_spark.explain_empty`.
    """
    return explain_empty(resume, profile_id, as_of, window_days)
