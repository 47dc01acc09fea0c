"""Run the data-quality suites: ``python -m dq.run --suite all|NAME [--env ENV]``.

Each suite (``dq/suites/NAME.yaml``) names a table and a list of expectations
``{expectation, kwargs, severity: warn|fail, description}``. The runner

1. loads every selected suite and checks it (unknown expectation, bad kwargs, unknown
   ``${param}`` -> exit 2 before Spark starts);
2. reads each table through the Delta engine interface (``DeltaEngine.read``: works
   with the rust and the spark engine) and validates it with Great Expectations 1.x
   (Spark data source, one ValidationDefinition and one Checkpoint per suite);
3. prints a summary table (suite, expectation, severity, status, observed value,
   unexpected count) with up to five offending values of each failed check;
4. writes the GX validation results as JSON under
   ``{paths.dq_dir}/validations/{run_id}/`` and the GX Data Docs (static HTML) under
   ``{paths.dq_dir}/data_docs/index.html`` (``paths.dq_dir`` defaults to
   ``{lake_root}/_dq``);
5. appends one row per check to the Delta table ``dq_result``.

Exit codes: 0 when every ``fail`` check passes (failed ``warn`` checks are printed), 1
when a ``fail`` check fails, 2 on a usage or configuration error (unknown suite, bad
suite file, missing table, an expectation that cannot run), with a message that says
what to do.

Suites marked ``optional: true`` (the star schema) are skipped with a "table not found"
warning while their table does not exist. Suites marked ``streaming_only: true``
(freshness) belong to ``all`` only in the environments where ``dq.streaming_suites`` is true (cluster.yaml);
elsewhere select them by name.

Great Expectations is imported lazily (its import takes ~4 s) and its progress bars and
usage analytics are switched off.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import re
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from jobs.core.runtime.cli import job_parser, run
from jobs.core.runtime.config import Config

log = logging.getLogger("dq.run")

SUITES_DIR = Path(__file__).resolve().parent / "suites"
SEVERITIES = ("warn", "fail")
GX_SEVERITY = {"warn": "warning", "fail": "critical"}
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MAX_EXAMPLES = 5
# kwargs that name a column of the validated table (checked before GX runs)
COLUMN_KWARGS = (
    "column",
    "column_A",
    "column_B",
    "timestamp_column",
    "start_column",
    "end_column",
    "key_column",
    "current_column",
    "from_column",
    "to_column",
)
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class UsageError(Exception):
    """A usage or configuration error: exit code 2 with this message."""


class TableUnreadableError(UsageError):
    """A table exists but cannot be read (corrupt or missing ``_delta_log`` commit, no
    permission, a data file gone): exit code 2, the message names the table and its path."""


def unreadable_message(engine: Any, table: str, exc: BaseException) -> str:
    """One line naming ``table``, its path, the first line of the cause and what to do."""
    first = next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)
    return (
        f"table {table!r} at {engine.path(table)} cannot be read ({type(exc).__name__}: "
        f"{first[:200]}); check its _delta_log (a truncated or missing commit JSON: restore it "
        "from a backup or copy) and the files' permissions, then run again"
    )


def read_table(engine: Any, table: str) -> Any:
    """``engine.read(table)`` with its schema resolved, or a one-line error.

    ``playback_session`` is read as the current sessions (the table folded with its
    change log, :func:`jobs.core.changelog.session.current_sessions`), so the completeness
    checks compare stored events with every session row the ingest wrote.

    Raises:
        TableUnreadableError: the table's log or files cannot be read.
    """
    from jobs.core.changelog.session import BASE, current_sessions
    from jobs.core.storage.delta import TableNotFoundError

    try:
        df = current_sessions(engine) if table == BASE else engine.read(table)
        df.schema  # noqa: B018 - resolves the file listing now, not inside GX
    except TableNotFoundError:
        raise
    except Exception as exc:  # deltalake.DeltaError, OSError, Spark AnalysisException...
        raise TableUnreadableError(unreadable_message(engine, table, exc)) from exc
    return df


# -- suites as data -------------------------------------------------------------------
@dataclass(frozen=True)
class ExpectationSpec:
    """One entry of a suite file.

    Attributes:
        expectation: GX class name (``ExpectColumnValuesToBeBetween``) or a custom one
            from :mod:`dq.custom_expectations`.
        kwargs: its arguments, ``${param}`` placeholders already substituted.
        severity: ``warn`` (reported) or ``fail`` (exit 1 when broken).
        description: what it asserts, shown in Data Docs and dq_result.
        index: position in the suite file.
    """

    expectation: str
    kwargs: dict[str, Any]
    severity: str
    description: str
    index: int

    @property
    def type_name(self) -> str:
        """snake_case name, as GX reports it (``expect_column_values_to_be_between``)."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.expectation).lower()

    @property
    def expectation_id(self) -> str:
        """Readable id unique within a suite: type and target, e.g. ``...(position_sec)``."""
        target = [str(self.kwargs[k]) for k in COLUMN_KWARGS[:3] if k in self.kwargs]
        if "column_list" in self.kwargs:
            target.append(",".join(self.kwargs["column_list"]))
        if "key_expressions" in self.kwargs:
            target.append(",".join(self.kwargs["key_expressions"]))
        if "other_table" in self.kwargs:
            target.append(f"->{self.kwargs['other_table']}")
        return f"{self.type_name}({', '.join(target)})#{self.index}"

    def columns(self) -> list[str]:
        """Columns of the validated table this expectation names."""
        cols = [str(self.kwargs[k]) for k in COLUMN_KWARGS if self.kwargs.get(k)]
        return cols + [str(c) for c in self.kwargs.get("column_list") or []]


@dataclass(frozen=True)
class Suite:
    """One ``dq/suites/NAME.yaml``.

    Attributes:
        name: the file stem.
        table: the table it validates.
        description: one line.
        expectations: the entries.
        optional: skip with a warning when the table does not exist.
        streaming_only: in ``all`` only where ``dq.streaming_suites`` is true.
    """

    name: str
    table: str
    description: str
    expectations: tuple[ExpectationSpec, ...]
    optional: bool = False
    streaming_only: bool = False

    @property
    def requires(self) -> list[str]:
        """Other tables the expectations join (``other_table``), registered as views."""
        return sorted(
            {str(e.kwargs["other_table"]) for e in self.expectations if "other_table" in e.kwargs}
        )


def substitute(value: Any, params: dict[str, Any], where: str) -> Any:
    """Replace ``${name}`` placeholders in ``value`` (recursively) with ``params[name]``.

    A string that is exactly one placeholder takes the parameter's value and type.

    Raises:
        UsageError: an unknown parameter.
    """
    if isinstance(value, dict):
        return {k: substitute(v, params, where) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, params, where) for v in value]
    if not isinstance(value, str):
        return value

    def lookup(name: str) -> Any:
        if name not in params:
            raise UsageError(
                f"{where}: unknown parameter ${{{name}}}; define it under dq.params in "
                f"conf/base.yaml (known: {sorted(params)})"
            )
        return params[name]

    whole = _PLACEHOLDER.fullmatch(value)
    if whole:
        return lookup(whole.group(1))
    return _PLACEHOLDER.sub(lambda m: str(lookup(m.group(1))), value)


def available_suites(suites_dir: Path | None = None) -> list[str]:
    """Names of the suite files in ``suites_dir`` (default :data:`SUITES_DIR`)."""
    return sorted(p.stem for p in (suites_dir or SUITES_DIR).glob("*.yaml"))


def load_suite(path: Path, params: dict[str, Any]) -> Suite:
    """Parse and check one suite file.

    Raises:
        UsageError: not YAML, missing ``table`` or ``expectations``, an entry without
            ``expectation``, a severity other than warn|fail, an unknown ``${param}``.
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"{path}: not valid YAML: {exc}") from exc
    if (
        not isinstance(raw, dict)
        or not raw.get("table")
        or not isinstance(raw.get("expectations"), list)
    ):
        raise UsageError(f"{path}: a suite is a mapping with 'table' and a list 'expectations'")
    specs = []
    for i, item in enumerate(raw["expectations"]):
        where = f"{path.name} expectations[{i}]"
        if not isinstance(item, dict) or not item.get("expectation"):
            raise UsageError(
                f"{where}: each entry needs 'expectation' (a GX class name), got {item!r}"
            )
        severity = str(item.get("severity", "fail")).lower()
        if severity not in SEVERITIES:
            raise UsageError(
                f"{where}: severity {item.get('severity')!r} is not one of {SEVERITIES}"
            )
        kwargs = item.get("kwargs") or {}
        if not isinstance(kwargs, dict):
            raise UsageError(f"{where}: kwargs must be a mapping, got {kwargs!r}")
        specs.append(
            ExpectationSpec(
                expectation=str(item["expectation"]),
                kwargs=substitute(kwargs, params, where),
                severity=severity,
                description=str(item.get("description", "")).strip(),
                index=i,
            )
        )
    return Suite(
        name=path.stem,
        table=str(raw["table"]),
        description=str(raw.get("description", "")),
        expectations=tuple(specs),
        optional=bool(raw.get("optional", False)),
        streaming_only=bool(raw.get("streaming_only", False)),
    )


def select_suites(
    selection: str,
    cfg: Config,
    suites_dir: Path | None = None,
) -> list[Suite]:
    """The suites named by ``--suite`` (``all``, a name, or names separated by commas).

    Raises:
        UsageError: an unknown suite name, or a suite file that does not load.
    """
    suites_dir = suites_dir or SUITES_DIR
    known = available_suites(suites_dir)
    params = cfg.dq_params()
    names = [n.strip() for n in selection.split(",") if n.strip()]
    if not names:
        raise UsageError(f"--suite is empty; choose 'all' or one of {known}")
    if names == ["all"]:
        suites = [load_suite(suites_dir / f"{n}.yaml", params) for n in known]
        return [s for s in suites if cfg.dq.streaming_suites or not s.streaming_only]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(
            f"unknown suite {unknown}; choose 'all' or one of {known} (dq/suites/*.yaml)"
        )
    return [load_suite(suites_dir / f"{n}.yaml", params) for n in names]


# -- results --------------------------------------------------------------------------
@dataclass
class CheckResult:
    """Outcome of one expectation (or of a skipped or broken suite)."""

    suite: str
    table: str
    expectation: str
    expectation_id: str
    severity: str
    status: str  # PASS | FAIL | WARN | ERROR | SKIPPED
    success: bool | None
    observed_value: str = ""
    unexpected_count: int | None = None
    element_count: int | None = None
    examples: list[Any] = field(default_factory=list)
    description: str = ""

    def row(self, run_id: str, env: str, run_at: dt.datetime) -> tuple:
        """The ``dq_result`` row (column order of ``jobs.core.tables.dq.DQ_RESULT``)."""
        return (
            run_id,
            self.suite,
            self.table,
            self.expectation,
            self.expectation_id,
            self.severity,
            self.success,
            self.status,
            self.observed_value,
            self.unexpected_count,
            self.element_count,
            json.dumps(self.examples, default=str) if self.examples else None,
            self.description,
            "batch",
            None,
            env,
            run_at,
        )


def status_of(success: bool, severity: str) -> str:
    return "PASS" if success else ("FAIL" if severity == "fail" else "WARN")


def _exception_message(info: Any) -> str | None:
    """The first exception message in a GX ``exception_info`` (flat or per metric)."""
    if not info:
        return None
    if isinstance(info, dict) and info.get("raised_exception"):
        return str(info.get("exception_message") or "exception")
    if isinstance(info, dict):
        for value in info.values():
            msg = _exception_message(value) if isinstance(value, dict) else None
            if msg:
                return msg
    return None


def _unique(items: list[Any]) -> list[Any]:
    seen, out = set(), []
    for item in items:
        key = json.dumps(item, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def interpret(suite: Suite, spec: ExpectationSpec, er: Any) -> CheckResult:
    """Turn one GX ``ExpectationValidationResult`` into a :class:`CheckResult`."""
    result = dict(er.result or {})
    error = _exception_message(er.exception_info)
    base = CheckResult(
        suite=suite.name,
        table=suite.table,
        expectation=spec.type_name,
        expectation_id=spec.expectation_id,
        severity=spec.severity,
        status="ERROR" if error else status_of(bool(er.success), spec.severity),
        success=None if error else bool(er.success),
        description=spec.description,
    )
    if error:
        base.observed_value = f"error: {error}"[:500]
        return base
    element_count = result.get("element_count")
    unexpected = result.get("unexpected_count")
    details = (result.get("details") or {}).get("unexpected_rows")
    examples = details if details is not None else result.get("partial_unexpected_list") or []
    base.examples = _unique(list(examples))[:MAX_EXAMPLES]
    base.element_count = int(element_count) if element_count is not None else None
    base.unexpected_count = int(unexpected) if unexpected is not None else None
    observed = result.get("observed_value")
    if observed is not None:
        base.observed_value = (
            json.dumps(observed, default=str) if not isinstance(observed, str) else observed
        )
    elif unexpected is not None and element_count is not None:
        base.observed_value = f"{unexpected} of {element_count} rows unexpected"
    return base


def exit_code(results: list[CheckResult]) -> int:
    """2 if a check could not run, else 1 if a ``fail`` check failed, else 0."""
    if any(r.status == "ERROR" for r in results):
        return EXIT_USAGE
    if any(r.status == "FAIL" for r in results):
        return EXIT_FAILED
    return EXIT_OK


def _cell(value: Any, width: int) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def format_summary(results: list[CheckResult]) -> str:
    """The summary table, with the offending values of each non-passing check below it."""
    cols = [
        ("suite", 18),
        ("expectation", 58),
        ("severity", 8),
        ("status", 7),
        ("observed value", 28),
        ("unexpected", 10),
    ]
    lines = ["  ".join(name.ljust(w) for name, w in cols), "  ".join("-" * w for _, w in cols)]
    for r in results:
        values = [
            r.suite,
            r.expectation_id.split("#")[0],
            r.severity,
            r.status,
            r.observed_value,
            r.unexpected_count,
        ]
        lines.append(
            "  ".join(_cell(v, w).ljust(w) for v, (_, w) in zip(values, cols, strict=True)).rstrip()
        )
        if r.status in ("FAIL", "WARN") and r.examples:
            lines.append(f"    ↳ e.g. {json.dumps(r.examples, default=str)[:400]}")
        elif r.status in ("SKIPPED", "ERROR"):
            lines.append(f"    ↳ {r.observed_value}")
    counts = {
        s: sum(r.status == s for r in results) for s in ("PASS", "FAIL", "WARN", "ERROR", "SKIPPED")
    }
    lines.append(", ".join(f"{n} {s.lower()}" for s, n in counts.items() if n) or "no checks")
    return "\n".join(lines)


# -- Great Expectations ----------------------------------------------------------------
def import_gx():
    """Import GX quietly: no usage analytics, no tqdm bars; registers the custom expectations."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx

    import dq.custom_expectations  # noqa: F401 - registers the custom expectations

    return gx


def build_expectation(gx: Any, spec: ExpectationSpec, suite: Suite) -> Any:
    """Instantiate the GX expectation of ``spec``.

    Raises:
        UsageError: unknown expectation class or invalid kwargs.
    """
    from dq.custom_expectations import CUSTOM_EXPECTATIONS

    cls = CUSTOM_EXPECTATIONS.get(spec.expectation) or getattr(
        gx.expectations, spec.expectation, None
    )
    where = f"dq/suites/{suite.name}.yaml expectations[{spec.index}]"
    if cls is None or not isinstance(cls, type):
        raise UsageError(
            f"{where}: unknown expectation {spec.expectation!r}; use a class of "
            f"great_expectations.expectations (e.g. ExpectColumnValuesToBeBetween) or one of "
            f"{sorted(CUSTOM_EXPECTATIONS)}"
        )
    try:
        return cls(
            **spec.kwargs,
            severity=GX_SEVERITY[spec.severity],
            description=spec.description or None,
            meta={"dq_index": spec.index, "dq_severity": spec.severity},
        )
    except Exception as exc:  # pydantic.ValidationError and friends
        raise UsageError(f"{where}: invalid kwargs for {spec.expectation}: {exc}") from exc


@dataclass
class GxSession:
    """The ephemeral GX context with its Spark data source and Data Docs site."""

    gx: Any
    context: Any
    datasource: Any
    docs_dir: Path


def gx_session(gx: Any, docs_dir: Path) -> GxSession:
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.add_data_docs_site(
        site_name="viewing_lakehouse",
        site_config={
            "class_name": "SiteBuilder",
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir),
            },
        },
    )
    return GxSession(gx, context, context.data_sources.add_spark("lakehouse"), docs_dir)


def validate_suite(
    session: GxSession, suite: Suite, df: Any, run_name: str, run_at: dt.datetime
) -> tuple[Any, list[CheckResult]]:
    """Validate ``df`` against ``suite`` through a ValidationDefinition and a Checkpoint.

    Returns:
        The GX suite validation result and one :class:`CheckResult` per expectation.

    Raises:
        UsageError: an expectation names a column ``df`` does not have.
    """
    gx = session.gx
    from great_expectations.core.run_identifier import RunIdentifier

    for spec in suite.expectations:
        missing = [c for c in spec.columns() if c not in df.columns]
        if missing:
            raise UsageError(
                f"dq/suites/{suite.name}.yaml expectations[{spec.index}] ({spec.expectation}): "
                f"column {missing} not in table {suite.table!r} (columns: {df.columns})"
            )
    gx_suite = session.context.suites.add(
        gx.ExpectationSuite(name=suite.name, meta={"table": suite.table})
    )
    for spec in suite.expectations:
        gx_suite.add_expectation(build_expectation(gx, spec, suite))
    asset = session.datasource.add_dataframe_asset(suite.name)
    batch_definition = asset.add_batch_definition_whole_dataframe(suite.table)
    definition = session.context.validation_definitions.add(
        gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=gx_suite)
    )
    checkpoint = session.context.checkpoints.add(
        gx.Checkpoint(
            name=f"dq_{suite.name}",
            validation_definitions=[definition],
            actions=[],
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 20},
        )
    )
    outcome = checkpoint.run(
        batch_parameters={"dataframe": df}, run_id=RunIdentifier(run_name=run_name, run_time=run_at)
    )
    validation = next(iter(outcome.run_results.values()))
    by_index = {spec.index: spec for spec in suite.expectations}
    checks = []
    for er in validation.results:
        spec = by_index[int(er.expectation_config.meta["dq_index"])]
        checks.append((spec.index, interpret(suite, spec, er)))
    return validation, [c for _, c in sorted(checks, key=lambda x: x[0])]


def _skip(suite: Suite, why: str, status: str = "SKIPPED") -> CheckResult:
    return CheckResult(
        suite=suite.name,
        table=suite.table,
        expectation="table_exists",
        expectation_id=f"table_exists({suite.table})",
        severity="warn" if status == "SKIPPED" else "fail",
        status=status,
        success=None,
        observed_value=why,
        description=suite.description,
    )


def run_suites(
    spark: Any,
    engine: Any,
    suites: list[Suite],
    out_dir: Path,
    run_id: str,
    run_at: dt.datetime,
) -> tuple[list[CheckResult], dict[str, Any]]:
    """Validate each suite's table; write the validation JSON and the Data Docs.

    Args:
        spark: the SparkSession.
        engine: the :class:`jobs.core.storage.delta.DeltaEngine`.
        suites: from :func:`select_suites`.
        out_dir: ``paths.dq_dir`` (validations/ and data_docs/ go below it).
        run_id: this run's id.
        run_at: this run's start (UTC).

    Returns:
        ``(results, artifacts)``; artifacts has ``validations`` (JSON paths),
        ``data_docs`` (index.html path or None), ``seconds`` per suite and
        ``unreadable``: one message per table that exists but cannot be read (its
        suites get status ERROR, the other suites still run).
    """
    gx = import_gx()
    session = gx_session(gx, out_dir / "data_docs")
    results: list[CheckResult] = []
    artifacts: dict[str, Any] = {
        "validations": [],
        "data_docs": None,
        "seconds": {},
        "unreadable": [],
    }
    json_dir = out_dir / "validations" / run_id
    for suite in suites:
        start = time.monotonic()
        missing = [t for t in [suite.table, *suite.requires] if not engine.exists(t)]
        if missing:
            why = f"table not found: {', '.join(missing)}"
            if suite.optional:
                log.warning("suite %s skipped: %s (build it first)", suite.name, why)
                results.append(_skip(suite, why))
            else:
                log.error("suite %s: %s under %s", suite.name, why, engine.cfg.paths.tables_dir)
                results.append(
                    _skip(
                        suite,
                        f"{why}; run the ingest first (make demo, or python -m "
                        "jobs.ingest_playback_events --once)",
                        "ERROR",
                    )
                )
            continue
        try:
            for other in suite.requires:
                read_table(engine, other).createOrReplaceTempView(other)
            # few partitions: GX runs one Spark job per metric on the (cached) batch
            df = read_table(engine, suite.table)
        except TableUnreadableError as exc:
            log.error("suite %s: %s", suite.name, exc)
            results.append(_skip(suite, str(exc), "ERROR"))
            if str(exc) not in artifacts["unreadable"]:
                artifacts["unreadable"].append(str(exc))
            continue
        df = df.coalesce(max(1, spark.sparkContext.defaultParallelism))
        validation, checks = validate_suite(session, suite, df, run_id, run_at)
        results.extend(checks)
        json_dir.mkdir(parents=True, exist_ok=True)
        path = json_dir / f"{suite.name}.json"
        path.write_text(
            json.dumps(validation.to_json_dict(), indent=2, default=str), encoding="utf-8"
        )
        artifacts["validations"].append(str(path))
        artifacts["seconds"][suite.name] = round(time.monotonic() - start, 1)
        log.info("suite %s: %d checks in %.1fs", suite.name, len(checks), time.monotonic() - start)
    if artifacts["validations"]:
        try:
            session.context.build_data_docs()
            from dq.data_docs import make_offline

            # GX links its CSS/JS from CDNs: ship them, so the docs open air-gapped
            offline = make_offline(out_dir / "data_docs")
            log.info("data docs: %s", offline)
            index = out_dir / "data_docs" / "index.html"
            artifacts["data_docs"] = str(index) if index.exists() else None
        except Exception as exc:  # a docs renderer must not hide the results
            log.error("building Data Docs failed: %s", exc)
    return results, artifacts


def record_results(
    spark: Any, engine: Any, results: list[CheckResult], run_id: str, env: str, run_at: dt.datetime
) -> None:
    """Append the results to ``dq_result`` (created when missing)."""
    from jobs.core.tables.registry import get_spec

    spec = get_spec("dq_result")
    engine.create(spec)
    rows = [r.row(run_id, env, run_at) for r in results]
    if rows:
        engine.append("dq_result", spark.createDataFrame(rows, spec.schema))


def new_run_id(run_at: dt.datetime) -> str:
    """``YYYYMMDDTHHMMSSZ-xxxxxx``: sortable and unique."""
    return f"{run_at.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


def output_dir(cfg: Config) -> Path:
    """``paths.dq_dir`` (absolute, ``{lake_root}`` resolved by the config loader)."""
    return Path(cfg.paths.dq_dir)


def main(argv: list[str] | None = None, spark: Any = None) -> int:
    """CLI entry point; returns the exit code (0 ok, 1 a fail check failed, 2 usage/config).

    Args:
        argv: command-line arguments (default ``sys.argv[1:]``).
        spark: an existing SparkSession to reuse (tests); built from the config otherwise
            and stopped at the end.
    """
    parser = job_parser(
        "python -m dq.run",
        "Run the Great Expectations suites of dq/suites/ on the lake's Delta tables; "
        "print a summary, write GX validation JSON and Data Docs, append to dq_result. "
        "Exit 0 when every 'fail' check passes, 1 when one fails, 2 on a usage or "
        "configuration error.",
    )
    parser.add_argument(
        "--suite",
        default="all",
        help=f"'all' or suite names separated by commas; known: {', '.join(available_suites())}",
    )
    parser.add_argument("--list", action="store_true", help="list the suites and exit")
    return run(lambda args, cfg: _run(args, cfg, spark), parser, argv, usage_errors=(UsageError,))


def _run(args: argparse.Namespace, cfg: Config, spark: Any = None) -> int:
    if args.list:
        for name in available_suites():
            print(name)
        return EXIT_OK
    run_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
    started = time.monotonic()
    suites = select_suites(args.suite, cfg)
    gx = import_gx()
    for suite in suites:  # unknown expectations and bad kwargs fail before Spark starts
        for spec in suite.expectations:
            build_expectation(gx, spec, suite)

    from jobs.core.runtime.spark import build_spark
    from jobs.core.storage.delta import get_engine

    own_spark = spark is None
    spark = spark or build_spark("dq_run", cfg)
    run_id = new_run_id(run_at)
    out_dir = output_dir(cfg)
    try:
        engine = get_engine(spark, cfg)
        try:
            results, artifacts = run_suites(spark, engine, suites, out_dir, run_id, run_at)
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        try:
            record_results(spark, engine, results, run_id, cfg.env, run_at)
        except Exception as exc:  # dq_result itself corrupt or read-only
            print(format_summary(results))
            print(f"error: {unreadable_message(engine, 'dq_result', exc)}", file=sys.stderr)
            return EXIT_USAGE
    finally:
        if own_spark:
            spark.stop()
    code = exit_code(results)
    seconds = time.monotonic() - started
    print(f"\ndata quality run {run_id} ({cfg.env}, {len(suites)} suites, {seconds:.1f}s)")
    print(format_summary(results))
    print(f"\nvalidation results: {out_dir / 'validations' / run_id}")
    print(f"data docs:          {artifacts['data_docs'] or 'not built'}")
    print("history:            Delta table dq_result")
    if artifacts["unreadable"]:
        print(f"error: {'; '.join(artifacts['unreadable'])}", file=sys.stderr)
    elif code == EXIT_USAGE:
        print(
            "error: a check could not run (status ERROR above); fix the suite file or build the "
            "table, then run again",
            file=sys.stderr,
        )
    elif code == EXIT_FAILED:
        print("data quality: a 'fail' check failed (status FAIL above)", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
