"""Progress and the two "finished" rules (jobs.core.rules.watched) as properties.

The named cases (90 %, 95 %, the END tail, no runtime, capped at 100) are pinned in
``tests/jobs/core/rules/test_rules.py``; here many random rows, in one Spark query, are
checked against the rules as the module states them.
"""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal

from pyspark.sql import functions as F

from jobs.core.rules.watched import at_credits, finished, progress_pct


def reference_progress(pos: int, runtime: int | None) -> float | None:
    if not runtime or runtime <= 0:
        return None
    pct = min(100.0, 100.0 * pos / runtime)
    return float(Decimal(repr(pct)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def test_random_rows_follow_the_stated_rules(spark):
    rnd = random.Random(90)
    rows = []
    for _ in range(400):
        runtime = rnd.choice([None, 0, 1320, 2553, 2760, 5400, 7200])
        top = (runtime or 3000) + 200
        pos = rnd.choice([rnd.randint(0, top), int((runtime or 0) * rnd.choice([0.9, 0.95]))])
        rows.append((pos, runtime, rnd.random() < 0.5))
    df = spark.createDataFrame(rows, "pos int, runtime int, has_end boolean")
    pct = progress_pct(F.col("pos"), F.col("runtime"))
    got = df.select(
        "pos",
        "runtime",
        "has_end",
        pct.alias("pct"),
        finished(pct, F.col("pos"), F.col("runtime"), F.col("has_end"), 90.0, 5.0).alias("w"),
        finished(pct, F.col("pos"), F.col("runtime"), F.col("has_end"), 99.0, 5.0).alias("w99"),
        at_credits(F.col("pos"), F.col("runtime"), 0.95).alias("c"),
    ).collect()
    assert len(got) == 400
    for r in got:
        known = bool(r.runtime and r.runtime > 0)
        assert r.pct == reference_progress(r.pos, r.runtime), r
        tail = r.has_end and known and r.pos >= r.runtime * 0.95
        assert r.w is (known and (r.pct >= 90.0 or tail)), r
        assert r.w99 is (known and (r.pct >= 99.0 or tail)), r
        assert r.c is (r.runtime is not None and r.pos >= r.runtime * 0.95), r
        if r.c and known:  # at the credits is always watched with the default thresholds
            assert r.w
    assert {r.w for r in got} == {True, False} and {r.c for r in got} == {True, False}
