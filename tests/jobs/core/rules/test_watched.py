"""Progress % in its two forms (jobs.core.rules.watched): Spark's and the plain-row one.

``progress_pct`` (a Spark column, the fact and show progress) and ``progress_pct_value``
(plain values, Continue Watching's rule that the API runs without Spark) are one formula
written twice for cost; the same cases go to both and must give the same answers.
"""

from __future__ import annotations

import random

from pyspark.sql import functions as F

from jobs.core.rules.watched import progress_pct, progress_pct_value

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
