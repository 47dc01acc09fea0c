"""Progress % in its two forms, and the "finished" rules as properties (jobs.core.rules.watched).

``progress_pct`` (a Spark column, the fact and show progress) and ``progress_pct_value``
(plain values, Continue Watching's rule that the API runs without Spark) are one formula
written twice for cost; the same cases go to both and must give the same answers. The
named cases of the finished rules (90 %, 95 %, the END tail, no runtime) are pinned in
``test_rules.py``; here many random rows, in one Spark query, are checked against the
rules as the module states them.
"""

from __future__ import annotations

import random
from decimal import ROUND_HALF_UP, Decimal

from pyspark.sql import functions as F

from jobs.core.rules.watched import at_credits, finished, progress_pct, progress_pct_value

EDGES = [
    (0, 100), (1, 16), (5, 80), (50, 800), (125, 2000),  # 6.25 -> 6.3: HALF_UP like Spark
    (1200, 2760), (4000, 7200), (2759, 2760), (2760, 2760), (9000, 2760),  # capped at 100
    (None, 2760), (600, None), (600, 0), (None, None), (-5, 100),
]  # fmt: skip


def test_spark_and_the_plain_value_progress_agree(spark):
    rnd = random.Random(21)
    cases = EDGES + [(rnd.randint(0, 10_000), rnd.randint(1, 10_000)) for _ in range(500)]
    frame = spark.createDataFrame(
        [(i, pos, rt) for i, (pos, rt) in enumerate(cases)], "i int, pos int, rt int"
    )
    got = {
        r.i: r.pct
        for r in frame.select("i", progress_pct(F.col("pos"), F.col("rt")).alias("pct")).collect()
    }
    want = {i: progress_pct_value(pos, rt) for i, (pos, rt) in enumerate(cases)}
    assert got == want
    assert want[4] == 6.3 and want[9] == 100.0 and want[10] == 100.0 and want[11] is None


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
