"""In-stream expectations: row-level rules per micro-batch, with Lakeflow semantics.

Rules are data (``stream_expectations.rules`` in ``conf/base.yaml``): a name, a Spark SQL
boolean expression that must hold, an action and a description. Per rule:

* ``warn`` — keep the row, count it;
* ``drop`` — quarantine the row with the reason ``expectation NAME failed: EXPR``;
* ``fail`` — raise :class:`StreamExpectationError` before anything of the batch is
  written, which stops the streaming query; its checkpoint does not advance, so the
  batch is processed again on restart (after the rule or the data is fixed).

An expression that evaluates to NULL counts as a violation: write ``x IS NULL OR ...``
to allow NULLs. Counts per rule and batch go to ``dq_result`` (``source = 'stream'``).

Two entry points:

* :func:`apply_expectations` — generic: ``(kept, dropped_with_reason, counts, rows)``.
* :func:`check_batch` — for the ingest's ``foreachBatch``: evaluates the rules on the
  rows the validation step accepted (``reject_reason IS NULL``) and writes the reason of
  dropped rows into ``reject_reason``, so the ingest's existing quarantine path stores
  them with their raw line. Then :func:`write_stream_results` appends the counts.

Example::

    rules = load_rules(cfg)
    checked = check_batch(batch, rules, batch_id=7)   # raises on a `fail` rule
    ...                                               # quarantine + append as before
    write_stream_results(engine, rules, checked, run_id="q:7", batch_id=7, env=cfg.env)
"""

from __future__ import annotations

import datetime as dt
import enum
import json
from dataclasses import dataclass
from typing import Any, NamedTuple

from pyspark.errors import AnalysisException, ParseException
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from jobs.core.runtime.config import Config, ConfigError
from jobs.core.tables.registry import get_spec

REASON_PREFIX = "expectation"


class Action(enum.StrEnum):
    """What a violated rule does to its row (Lakeflow ``expect`` / ``_or_drop`` / ``_or_fail``)."""

    WARN = "warn"
    DROP = "drop"
    FAIL = "fail"


@dataclass(frozen=True)
class Rule:
    """One in-stream expectation.

    Attributes:
        name: identifier, unique among the rules (snake_case); the dq_result
            ``expectation`` and part of the quarantine reason.
        expr: Spark SQL boolean expression over the batch's columns that must be TRUE.
        action: :class:`Action`.
        description: why the rule exists (shown in dq_result).
    """

    name: str
    expr: str
    action: Action
    description: str = ""

    @property
    def reason(self) -> str:
        """The quarantine reason of a dropped row."""
        return f"{REASON_PREFIX} {self.name} failed: {self.expr}"


class StreamExpectationError(RuntimeError):
    """A ``fail`` rule was violated; nothing of the micro-batch was written."""


@dataclass(frozen=True)
class QuarantineRatio:
    """A micro-batch level expectation: the share of its rows sent to the quarantine.

    A feed that suddenly sends malformed or refused rows should be noticed even though
    each row is quarantined safely. ``stream_expectations.quarantine_ratio`` in
    ``conf/base.yaml``; ``action`` ``warn`` records a WARN row in ``dq_result``,
    ``fail`` stops the query before the batch is written (it is reprocessed on
    restart, after the producer or the threshold is fixed).

    Attributes:
        max_ratio: highest allowed ``quarantined / rows_in`` (0..1).
        action: :attr:`Action.WARN` or :attr:`Action.FAIL`.
        min_rows: batches smaller than this are not judged (one bad row of three is
            not a trend).
        name: the dq_result ``expectation``.
        description: why (shown in dq_result).
    """

    max_ratio: float
    action: Action = Action.WARN
    min_rows: int = 100
    name: str = "quarantine_ratio"
    description: str = "share of a micro-batch's rows quarantined"


class RatioOutcome(NamedTuple):
    """One micro-batch judged by a :class:`QuarantineRatio`.

    Attributes:
        rule: the threshold.
        quarantined: rows quarantined (validation rejects and ``drop`` rules).
        rows_in: rows of the batch.
        judged: False when the batch had fewer than ``rule.min_rows`` rows.
    """

    rule: QuarantineRatio
    quarantined: int
    rows_in: int
    judged: bool

    @property
    def ratio(self) -> float:
        """Quarantined rows / rows in (0 for an empty batch)."""
        return self.quarantined / self.rows_in if self.rows_in else 0.0

    @property
    def broken(self) -> bool:
        """Judged and above ``max_ratio``."""
        return self.judged and self.ratio > self.rule.max_ratio


class BatchCheck(NamedTuple):
    """Outcome of :func:`check_batch`.

    Attributes:
        batch: the input with ``reject_reason`` set on rows a ``drop`` rule refused.
        counts: violations per rule name (every rule present, 0 when none).
        rows_checked: rows the rules were evaluated on (the ones valid before).
        ratio: the quarantine-ratio outcome of the batch, when the caller checked it
            (:func:`check_quarantine_ratio`); :func:`write_stream_results` records it.
    """

    batch: DataFrame
    counts: dict[str, int]
    rows_checked: int
    ratio: RatioOutcome | None = None


class ExpectationOutcome(NamedTuple):
    """Outcome of :func:`apply_expectations`.

    Attributes:
        kept: rows no ``drop`` rule refused (``warn`` violations included), input columns.
        dropped: refused rows, input columns plus the reason column (``'; '``-joined).
        counts: violations per rule name (every rule present, 0 when none).
        rows_checked: rows evaluated.
    """

    kept: DataFrame
    dropped: DataFrame
    counts: dict[str, int]
    rows_checked: int


# -- configuration --------------------------------------------------------------------
def parse_rules(items: list[dict[str, Any]] | None) -> list[Rule]:
    """Turn ``stream_expectations.rules`` entries into :class:`Rule` objects.

    Raises:
        ConfigError: an entry lacks ``name`` or ``expr``, has an unknown ``action`` or
            repeats a name.
    """
    rules: list[Rule] = []
    seen: set[str] = set()
    for i, item in enumerate(items or []):
        if not isinstance(item, dict) or not item.get("name") or not item.get("expr"):
            raise ConfigError(
                f"stream_expectations.rules[{i}]: each rule needs 'name' and 'expr', got {item!r}"
            )
        name = str(item["name"])
        try:
            action = Action(str(item.get("action", "warn")).lower())
        except ValueError:
            raise ConfigError(
                f"stream rule {name!r}: action {item.get('action')!r} is not one of "
                f"{[a.value for a in Action]}"
            ) from None
        if name in seen:
            raise ConfigError(f"stream rule {name!r} is declared twice; names must be unique")
        seen.add(name)
        rules.append(Rule(name, str(item["expr"]), action, str(item.get("description", ""))))
    return rules


def load_rules(cfg: Config) -> list[Rule]:
    """The in-stream rules of ``cfg`` (``stream_expectations.rules`` in conf/base.yaml).

    The config loader has already checked their keys, actions and unique names.
    """
    return parse_rules([rule.model_dump() for rule in cfg.stream_expectations.rules])


def parse_quarantine_ratio(item: dict[str, Any] | None) -> QuarantineRatio | None:
    """``stream.quarantine_ratio`` (``{max_ratio, action, min_rows, description}``) or None.

    Raises:
        ConfigError: ``max_ratio`` missing or outside 0..1, an action other than
            warn|fail, a negative ``min_rows``.
    """
    if not item:
        return None
    where = "stream.quarantine_ratio"
    if not isinstance(item, dict) or "max_ratio" not in item:
        raise ConfigError(f"{where}: expected a mapping with max_ratio (0..1), got {item!r}")
    try:
        max_ratio = float(item["max_ratio"])
        min_rows = int(item.get("min_rows", 100))
    except (TypeError, ValueError):
        raise ConfigError(
            f"{where}: max_ratio and min_rows must be numbers, got {item!r}"
        ) from None
    action = str(item.get("action", "warn")).lower()
    if action not in (Action.WARN, Action.FAIL):
        raise ConfigError(f"{where}: action {action!r} is not one of ['warn', 'fail']")
    if not 0 <= max_ratio <= 1 or min_rows < 0:
        raise ConfigError(f"{where}: max_ratio must be in 0..1 and min_rows >= 0, got {item!r}")
    return QuarantineRatio(
        max_ratio,
        Action(action),
        min_rows,
        description=str(item.get("description") or QuarantineRatio.description),
    )


def load_quarantine_ratio(cfg: Config) -> QuarantineRatio | None:
    """The quarantine-ratio threshold of ``cfg`` (``stream_expectations.quarantine_ratio``).

    Returns:
        The threshold, or None when the environment sets none.
    """
    item = cfg.stream_expectations.quarantine_ratio
    return None if item is None else parse_quarantine_ratio(item.model_dump(exclude_none=True))


def check_quarantine_ratio(
    rule: QuarantineRatio | None, quarantined: int, rows_in: int, batch_id: int | None = None
) -> RatioOutcome | None:
    """Judge one micro-batch's quarantine share; call it before anything is written.

    Args:
        rule: from :func:`load_quarantine_ratio` (None: no threshold, returns None).
        quarantined: rows of the batch going to ``playback_event_quarantine``.
        rows_in: rows of the batch.
        batch_id: micro-batch id, for the error message.

    Returns:
        The :class:`RatioOutcome` (put it in ``BatchCheck.ratio`` for dq_result).

    Raises:
        StreamExpectationError: the share is above ``max_ratio`` and the action is fail.
    """
    if rule is None:
        return None
    outcome = RatioOutcome(rule, int(quarantined), int(rows_in), rows_in >= rule.min_rows)
    if outcome.broken and rule.action is Action.FAIL:
        where = f" in micro-batch {batch_id}" if batch_id is not None else ""
        raise StreamExpectationError(
            f"quarantine ratio {outcome.ratio:.1%} ({quarantined} of {rows_in} rows){where} "
            f"is above stream_expectations.quarantine_ratio.max_ratio {rule.max_ratio:.1%}: nothing of "
            "this batch was written and the query stops; it reprocesses the batch on "
            "restart. Look at playback_event_quarantine's reasons and fix the producer, or "
            "raise the threshold in conf/base.yaml."
        )
    return outcome


def ratio_result_row(
    outcome: RatioOutcome,
    run_id: str,
    suite: str,
    table: str = "playback_event",
    batch_id: int | None = None,
    env: str | None = None,
    run_at: dt.datetime | None = None,
) -> tuple:
    """The ``dq_result`` row of a :class:`RatioOutcome` (SKIPPED below ``min_rows``)."""
    rule = outcome.rule
    status = (
        "SKIPPED"
        if not outcome.judged
        else ("PASS" if not outcome.broken else rule.action.value.upper())
    )
    return (
        run_id,
        suite,
        table,
        rule.name,
        rule.name,
        rule.action.value,
        None if not outcome.judged else not outcome.broken,
        status,
        f"{outcome.ratio:.4f} ({outcome.quarantined} of {outcome.rows_in} rows; "
        f"max {rule.max_ratio})",
        outcome.quarantined,
        outcome.rows_in,
        None,
        rule.description,
        "stream",
        batch_id,
        env,
        run_at or dt.datetime.now(dt.UTC),
    )


# -- evaluation -----------------------------------------------------------------------
def _violated(rule: Rule) -> Column:
    """TRUE when the row breaks the rule (FALSE or NULL result)."""
    return ~F.coalesce(F.expr(rule.expr).cast("boolean"), F.lit(False))


def validate_rules(df: DataFrame, rules: list[Rule]) -> None:
    """Analyse every rule's expression against ``df``'s columns (no Spark job).

    Raises:
        ConfigError: an expression does not parse or names an unknown column; the
            message names the rule and says where to fix it.
    """
    for rule in rules:
        try:
            df.select(F.expr(rule.expr).alias("x")).schema  # noqa: B018 - forces analysis
        except (AnalysisException, ParseException) as exc:
            first = str(exc).strip().splitlines()[0]
            raise ConfigError(
                f"stream rule {rule.name!r}: expression {rule.expr!r} is not valid on the "
                f"batch columns {df.columns}: {first}. Fix it under stream_expectations.rules "
                "in conf/base.yaml (or the environment's overlay)."
            ) from exc


def violation_sums(rules: list[Rule]) -> list[Column]:
    """Aggregate columns ``_r0, _r1, ...``: rows breaking each rule (for any ``agg``).

    Lets a caller fold the rule counts into an aggregation it runs anyway; read the
    result back with :func:`violations_from`.
    """
    return [
        F.sum(F.when(_violated(r), 1).otherwise(0)).alias(f"_r{i}") for i, r in enumerate(rules)
    ]


def violations_from(rows: list, rules: list[Rule]) -> dict[str, int]:
    """Violations per rule name, summed over result rows of :func:`violation_sums`."""
    return {r.name: sum(int(row[f"_r{i}"] or 0) for row in rows) for i, r in enumerate(rules)}


def count_violations(df: DataFrame, rules: list[Rule]) -> tuple[int, dict[str, int]]:
    """Rows in ``df`` and violations per rule, in one aggregation (one Spark job)."""
    row = df.agg(F.count(F.lit(1)).alias("_rows"), *violation_sums(rules)).collect()[0]
    return int(row["_rows"]), violations_from([row], rules)


def _raise_on_fail(
    df: DataFrame, rules: list[Rule], counts: dict[str, int], rows: int, batch_id: int | None
) -> None:
    failed = [r for r in rules if r.action is Action.FAIL and counts.get(r.name)]
    if not failed:
        return
    where = f" in micro-batch {batch_id}" if batch_id is not None else ""
    parts = []
    for rule in failed:
        example = df.where(_violated(rule)).limit(1).collect()
        shown = json.dumps(example[0].asDict(), default=str)[:500] if example else "-"
        parts.append(
            f"rule {rule.name!r} ({rule.expr}) failed on {counts[rule.name]} of {rows} rows; "
            f"example: {shown}"
        )
    raise StreamExpectationError(
        f"in-stream expectation with action 'fail' broken{where}: "
        + " | ".join(parts)
        + ". Nothing of this batch was written and the query stops; it reprocesses the "
        "batch on restart. Fix the producer, or change the rule in conf/base.yaml "
        "(stream_expectations.rules)."
    )


def _drop_reason(rules: list[Rule]) -> Column:
    """``'; '``-joined reasons of the ``drop`` rules a row breaks, or NULL."""
    drops = [r for r in rules if r.action is Action.DROP]
    if not drops:
        return F.lit(None).cast("string")
    reason = F.concat_ws(
        "; ", F.array_compact(F.array(*[F.when(_violated(r), F.lit(r.reason)) for r in drops]))
    )
    return F.when(reason != "", reason)


def breaks_drop_rule(rules: list[Rule]) -> Column:
    """TRUE for a row that breaks at least one ``drop`` rule (NULL counts as broken).

    The ingest keeps the raw landing line only for rows that will be quarantined (the
    validation's rejects and these), so the micro-batch it shuffles stays narrow.
    """
    drops = [r for r in rules if r.action is Action.DROP]
    if not drops:
        return F.lit(False)
    broken = F.lit(False)
    for rule in drops:
        broken = broken | _violated(rule)
    return broken


def apply_expectations(
    df: DataFrame,
    rules: list[Rule],
    reason_col: str = "expectation_reason",
    batch_id: int | None = None,
) -> ExpectationOutcome:
    """Apply ``rules`` to ``df`` (a micro-batch or any DataFrame).

    Args:
        df: rows to check; the rules' expressions refer to its columns.
        rules: from :func:`load_rules`.
        reason_col: name of the reason column added to the dropped rows.
        batch_id: micro-batch id, only for the error message.

    Returns:
        :class:`ExpectationOutcome` ``(kept, dropped, counts, rows_checked)``. ``kept``
        and ``dropped`` are lazy; persist ``df`` first when you use both.

    Raises:
        ConfigError: a rule's expression is invalid on ``df``.
        StreamExpectationError: a ``fail`` rule is broken by at least one row.
    """
    validate_rules(df, rules)
    if not rules:
        empty = df.where(F.lit(False)).withColumn(reason_col, F.lit(None).cast("string"))
        return ExpectationOutcome(df, empty, {}, 0)
    rows, counts = count_violations(df, rules)
    _raise_on_fail(df, rules, counts, rows, batch_id)
    marked = df.withColumn(reason_col, _drop_reason(rules))
    return ExpectationOutcome(
        marked.where(F.col(reason_col).isNull()).drop(reason_col),
        marked.where(F.col(reason_col).isNotNull()),
        counts,
        rows,
    )


def check_batch(
    batch: DataFrame,
    rules: list[Rule],
    reason_col: str = "reject_reason",
    batch_id: int | None = None,
    precounted: tuple[int, dict[str, int]] | None = None,
) -> BatchCheck:
    """The ingest's step: apply ``rules`` to the rows still valid in a validated batch.

    Rows whose ``reason_col`` is already set (refused by the validation step) are
    neither evaluated nor counted. A row a ``drop`` rule refuses gets the rule's reason
    in ``reason_col``, so the caller's quarantine path stores it.

    Args:
        batch: the validated micro-batch (``reject_reason`` NULL for valid rows).
        rules: from :func:`load_rules`.
        reason_col: the batch's reject-reason column.
        batch_id: micro-batch id, for the error message.
        precounted: ``(rows_checked, violations per rule)`` when the caller already
            computed them over the valid rows (:func:`violation_sums`, whose aggregation
            has analysed the rules — call :func:`validate_rules` before it for the clear
            error); saves a pass and the second analysis.

    Returns:
        :class:`BatchCheck` ``(batch, counts, rows_checked)``.

    Raises:
        ConfigError: a rule's expression is invalid on the batch.
        StreamExpectationError: a ``fail`` rule is broken: raise it out of
            ``foreachBatch`` *before* any write, so nothing of the batch is committed.
    """
    if reason_col not in batch.columns:
        raise ValueError(f"check_batch: the batch lacks the reason column {reason_col!r}")
    if not rules:
        return BatchCheck(batch, {}, 0)
    if precounted is None:
        validate_rules(batch, rules)
    valid = batch.where(F.col(reason_col).isNull())
    rows, counts = precounted if precounted is not None else count_violations(valid, rules)
    _raise_on_fail(valid, rules, counts, rows, batch_id)
    if not any(counts.get(r.name) for r in rules if r.action is Action.DROP):
        return BatchCheck(batch, counts, rows)
    marked = batch.withColumn(reason_col, F.coalesce(F.col(reason_col), _drop_reason(rules)))
    return BatchCheck(marked, counts, rows)


# -- results --------------------------------------------------------------------------
def result_rows(
    rules: list[Rule],
    counts: dict[str, int],
    rows_checked: int,
    run_id: str,
    suite: str,
    table: str = "playback_event",
    batch_id: int | None = None,
    env: str | None = None,
    run_at: dt.datetime | None = None,
) -> list[tuple]:
    """``dq_result`` rows (tuples in the table's column order), one per rule.

    ``success`` is ``counts[rule] == 0``; ``status`` is PASS, or WARN for a broken
    ``warn``/``drop`` rule (the batch went on), FAIL for a broken ``fail`` rule.
    """
    run_at = run_at or dt.datetime.now(dt.UTC)
    out = []
    for rule in rules:
        n = int(counts.get(rule.name, 0))
        status = "PASS" if n == 0 else ("FAIL" if rule.action is Action.FAIL else "WARN")
        out.append(
            (
                run_id,
                suite,
                table,
                rule.name,
                rule.name,
                rule.action.value,
                n == 0,
                status,
                f"{n} of {rows_checked} rows",
                n,
                rows_checked,
                None,
                rule.description or rule.expr,
                "stream",
                batch_id,
                env,
                run_at,
            )
        )
    return out


def write_stream_results(
    engine: Any,
    rules: list[Rule],
    check: BatchCheck,
    run_id: str,
    suite: str = "ingest_playback_events",
    batch_id: int | None = None,
    env: str | None = None,
    app_id: str | None = None,
) -> Any:
    """Append one ``dq_result`` row per rule, and one for the quarantine ratio, per batch.

    The ratio row is written when ``check.ratio`` is set; idempotent with ``app_id``.

    Args:
        engine: the :class:`jobs.core.storage.delta.DeltaEngine`; ``dq_result`` must exist
            (``engine.create_all()`` creates it).
        rules: the rules applied.
        check: the :class:`BatchCheck` of the batch.
        run_id: e.g. ``f"{query}:{query_id}:{batch_id}"``.
        suite: the streaming query's name.
        batch_id: micro-batch id; also the idempotent write's version.
        env: configuration environment.
        app_id: transaction app id (e.g. ``f"{query}:{query_id}:dq_result"``); a replay of
            the same ``batch_id`` is then skipped.

    Returns:
        The engine's ``WriteResult``, or None when there was nothing to write.
    """
    if (not rules or check.rows_checked == 0) and check.ratio is None:
        return None
    rows = (
        result_rows(
            rules, check.counts, check.rows_checked, run_id, suite, "playback_event", batch_id, env
        )
        if rules and check.rows_checked
        else []
    )
    if check.ratio is not None:
        rows.append(ratio_result_row(check.ratio, run_id, suite, batch_id=batch_id, env=env))
    df = engine.spark.createDataFrame(rows, get_spec("dq_result").schema)
    return engine.append("dq_result", df, app_id, batch_id if app_id else None)
