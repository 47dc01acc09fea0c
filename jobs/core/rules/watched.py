"""Progress and "finished": how far into an item a viewer got, and when it counts as seen.

Two thresholds, on purpose, each named and each for one question:

* **Resume point finished** (:func:`at_credits`, ``resume.finish_ratio`` in
  ``conf/base.yaml``, 0.95): the newest position of a title or episode reached the
  credits. ``resume_state.is_finished`` uses it, and Continue Watching leaves such an
  item out (or offers the next episode). It is high because hiding an item too early
  loses the viewer's place: at 90-95% a viewer may still be watching the last scene.
* **Viewing watched** (:func:`finished`, ``activity.watched_pct`` 90 and
  ``activity.end_tail_pct`` 5 in ``conf/base.yaml``): a session's end position
  reached 90% of the runtime, or its END landed within the last 5%. The fact's
  ``is_finished`` uses it, and with it viewing records, completions, show progress,
  statistics and domain events. It is lower because analytics count a viewing as seen
  when the story was seen; the last 10% of a runtime is mostly credits.

So between 90% and 95% an episode counts as watched in history and show progress while
Continue Watching still offers to resume it; that is intended, not a disagreement.
Both need a known runtime (> 0): without one nothing is finished.

:func:`progress_pct` is the one progress formula (percent of the runtime, capped at 100,
one decimal), used by the fact and, in Spark, by show progress; :func:`progress_pct_value`
is the same formula over plain values, for Continue Watching's plain-row rule (which the
API runs without Spark). Two forms because a Python UDF over the fact would cost a
serialisation per row; ``tests/jobs/core/rules/test_watched.py`` feeds the same cases
to both and requires the same answers (rounding HALF_UP like Spark's ``round``, a NULL
position is 100 like Spark's ``least``).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from pyspark.sql import Column
from pyspark.sql import functions as F


def progress_pct(position_sec: Column, runtime_sec: Column) -> Column:
    """``100 * position / runtime``, capped at 100, rounded to 0.1; NULL without a runtime > 0.

    Args:
        position_sec: a position in seconds.
        runtime_sec: the item's runtime in seconds (NULL or 0 when unknown).
    """
    return F.when(
        runtime_sec > 0, F.round(F.least(F.lit(100.0), 100.0 * position_sec / runtime_sec), 1)
    )


def progress_pct_value(position_sec: float | None, runtime_sec: float | None) -> float | None:
    """:func:`progress_pct` over plain values: the same answer for the same inputs.

    Spark's ``round(x, 1)`` rounds HALF_UP on the shortest decimal form of the double
    (6.25 -> 6.3), and its ``least`` skips NULLs (a NULL position gives 100.0).

    Args:
        position_sec: a position in seconds (or None).
        runtime_sec: the item's runtime in seconds (None or <= 0 when unknown).

    Returns:
        Percent of the runtime, capped at 100, one decimal; None without a runtime > 0.
    """
    if runtime_sec is None or runtime_sec <= 0:
        return None
    if position_sec is None:  # Spark's least() skips NULLs: least(100.0, NULL) = 100.0
        return 100.0
    value = min(100.0, 100.0 * position_sec / runtime_sec)
    return float(Decimal(repr(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def finished(
    progress: Column,
    end_pos: Column,
    runtime: Column,
    has_end: Column,
    watched_pct: float,
    end_tail_pct: float,
) -> Column:
    """The "viewing watched" rule: progress >= ``watched_pct`` or END in the last ``end_tail_pct``.

    Args:
        progress: :func:`progress_pct` of the session's end position (0-100).
        end_pos: the session's last position, seconds.
        runtime: the item's runtime, seconds.
        has_end: whether the session has an END event.
        watched_pct: percent of the runtime (``activity.watched_pct``, 90).
        end_tail_pct: percent at the end of the runtime (``activity.end_tail_pct``, 5).

    Returns:
        A non-NULL boolean; false without a known runtime (> 0). With the default
        thresholds the END tail is implied by the progress, but each stays configurable.
    """
    tail = has_end & (end_pos >= runtime * F.lit(1 - end_tail_pct / 100.0))
    return F.coalesce((runtime > 0) & ((progress >= F.lit(watched_pct)) | tail), F.lit(False))


def at_credits(position_sec: Column, runtime_sec: Column, finish_ratio: float) -> Column:
    """The "resume point finished" rule: ``position >= finish_ratio * runtime``.

    Args:
        position_sec: the newest position, seconds.
        runtime_sec: the item's runtime, seconds (NULL when unknown: never finished).
        finish_ratio: ``resume.finish_ratio`` (0.95).
    """
    return runtime_sec.isNotNull() & (position_sec >= runtime_sec * F.lit(finish_ratio))


def at_credits_value(
    position_sec: int | None, runtime_sec: int | None, finish_ratio: float
) -> bool | None:
    """:func:`at_credits` over plain values (the Redis hot store): the same answer.

    Args:
        position_sec: the newest position, seconds (None: unknown, as Spark's NULL).
        runtime_sec: the item's runtime, seconds (None when unknown: never finished).
        finish_ratio: ``resume.finish_ratio`` (0.95).

    Returns:
        False without a runtime, None (Spark's NULL) with a runtime but no position.
    """
    if runtime_sec is None:
        return False
    if position_sec is None:
        return None
    return position_sec >= runtime_sec * finish_ratio
