#!/usr/bin/env bash
# spark-submit.sh JOB [JOB ARGS...] — submit one viewing-lakehouse job with spark-submit.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: ./spark-submit.sh [OPTIONS] JOB [JOB ARGS...]

Submit one job module (jobs/JOB.py or jobs.JOB, e.g. ingest_playback_events) with
spark-submit, adding the Delta Lake SQL extension and catalog. The job runs from the
repository; a relative --lake-root (or LAKEHOUSE_ROOT) is taken relative to the
directory you run this script from.

Options (each also settable by environment variable):
  --master URL       Spark master (SPARK_MASTER; default local[*])
  --env ENV          configuration overlay in conf/ (LAKEHOUSE_ENV; default local)
  --delta MODE       how delta-spark reaches the classpath (DELTA_MODE; default auto):
                       jars      --jars with every *.jar in DELTA_JARS_DIR (offline)
                       packages  --packages io.delta:delta-spark_<spark>_2.13:<delta-spark
                                 version> (needs Maven Central: machines that are online)
                       none      no delta-spark: the jobs use the embedded delta-rs engine
                       auto      jars when DELTA_JARS_DIR is set, packages when
                                 DELTA_PACKAGES=1, else none
  --dry-run          print the spark-submit command instead of running it (the
                     --py-files zip it names is built and kept)
  -h, --help         this help

Environment:
  DELTA_JARS_DIR     folder with delta-spark_*.jar and delta-storage-*.jar
  DELTA_PACKAGES=1   this machine reaches Maven Central: let auto use --packages
  SPARK_SUBMIT       the spark-submit to run (default: on PATH, else .venv/bin/spark-submit)
  SPARK_SUBMIT_OPTS_EXTRA  extra spark-submit arguments (e.g. "--driver-memory 8g")

Examples:
  ./spark-submit.sh ingest_playback_events --once
  DELTA_JARS_DIR=/opt/delta/jars ./spark-submit.sh --master spark://host:7077 --env cluster \
      ingest_playback_events
  DELTA_PACKAGES=1 ./spark-submit.sh merge_resume_state --from-dt 2023-01-01
EOF
}

here=$(cd "$(dirname "$0")" && pwd)
master=${SPARK_MASTER:-local[*]}
env_name=${LAKEHOUSE_ENV:-local}
delta_mode=${DELTA_MODE:-auto}
dry_run=0

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --master) master=$2; shift 2 ;;
    --env) env_name=$2; shift 2 ;;
    --delta) delta_mode=$2; shift 2 ;;
    --dry-run) dry_run=1; shift ;;
    -*) echo "error: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) break ;;
  esac
done
[ $# -ge 1 ] || { echo "error: name a JOB (see --help)" >&2; exit 2; }

job=${1#jobs.}; job=${job#jobs/}; job=${job%.py}; shift
job_file="$here/jobs/$job.py"
[ -f "$job_file" ] || { echo "error: no job $job (expected $job_file)" >&2; exit 2; }

# The job runs from the repository (so conf/ and the default ./lakehouse resolve there),
# but a lake root the caller gives relative to where they stand must mean that place:
# --lake-root DIR / --lake-root=DIR and LAKEHOUSE_ROOT are made absolute against $PWD.
absolute() { case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$PWD" "$1" ;; esac; }
job_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --lake-root) [ $# -ge 2 ] || { echo "error: --lake-root needs a folder" >&2; exit 2; }
                 job_args+=(--lake-root "$(absolute "$2")"); shift 2 ;;
    --lake-root=*) job_args+=("--lake-root=$(absolute "${1#--lake-root=}")"); shift ;;
    *) job_args+=("$1"); shift ;;
  esac
done
set -- ${job_args[@]+"${job_args[@]}"}
if [ -n "${LAKEHOUSE_ROOT:-}" ]; then LAKEHOUSE_ROOT=$(absolute "$LAKEHOUSE_ROOT"); export LAKEHOUSE_ROOT; fi

submit=${SPARK_SUBMIT:-$(command -v spark-submit || echo "$here/.venv/bin/spark-submit")}
[ -x "$submit" ] || { echo "error: spark-submit not found; run 'make venv' or set SPARK_SUBMIT" >&2; exit 2; }
python_bin=${PYSPARK_PYTHON:-$(dirname "$submit")/python}
[ -x "$python_bin" ] || python_bin=$(command -v python3)
# a pip-installed pyspark is its own SPARK_HOME; the driver and workers use this Python
if [ -z "${SPARK_HOME:-}" ]; then
  SPARK_HOME=$("$python_bin" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))' 2>/dev/null || true)
  [ -n "$SPARK_HOME" ] && export SPARK_HOME
fi
export PYSPARK_PYTHON=${PYSPARK_PYTHON:-$python_bin}
export LAKEHOUSE_CONF_DIR=${LAKEHOUSE_CONF_DIR:-$here/conf}

if [ "$delta_mode" = auto ]; then
  if [ -n "${DELTA_JARS_DIR:-}" ]; then delta_mode=jars
  elif [ "${DELTA_PACKAGES:-0}" = 1 ]; then delta_mode=packages
  else delta_mode=none; fi
fi

args=(--master "$master" --name "viewing-lakehouse:$job"
      --conf spark.sql.session.timeZone=UTC)
case "$delta_mode" in
  jars)
    [ -n "${DELTA_JARS_DIR:-}" ] || { echo "error: --delta jars needs DELTA_JARS_DIR" >&2; exit 2; }
    jars=$(ls "$DELTA_JARS_DIR"/*.jar 2>/dev/null | paste -sd, -)
    [ -n "$jars" ] || { echo "error: no .jar files in DELTA_JARS_DIR=$DELTA_JARS_DIR" >&2; exit 2; }
    args+=(--jars "$jars") ;;
  packages)
    coord=$("$python_bin" -c 'import importlib.metadata as m, pyspark; v=".".join(pyspark.__version__.split(".")[:2]); print(f"io.delta:delta-spark_{v}_2.13:{m.version(\"delta-spark\")}")')
    args+=(--packages "$coord") ;;
  none) ;;
  *) echo "error: --delta must be auto, jars, packages or none" >&2; exit 2 ;;
esac
if [ "$delta_mode" != none ]; then
  args+=(--conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension
         --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog)
fi
# ship the project's packages to the executors (a dry run keeps the zip it prints)
zip_file=$(mktemp -t viewing-lakehouse-XXXXXX.zip)
[ "$dry_run" = 1 ] || trap 'rm -f "$zip_file"' EXIT
(cd "$here" && "$python_bin" -c 'import sys, zipfile, pathlib
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for pkg in ("jobs", "dq"):
        for p in pathlib.Path(pkg).rglob("*.py"): z.write(p)' "$zip_file")
args+=(--py-files "$zip_file")
# shellcheck disable=SC2206
extra=(${SPARK_SUBMIT_OPTS_EXTRA:-})

cmd=("$submit" "${args[@]}" "${extra[@]}" "$job_file" --env "$env_name" "$@")
if [ "$dry_run" = 1 ]; then
  printf '%q ' "${cmd[@]}"; echo
  echo "dry run: $zip_file (--py-files) is kept for this command; delete it when done" >&2
  exit 0
fi
echo "delta: $delta_mode; env: $env_name; master: $master" >&2
cd "$here"
exec "${cmd[@]}"
