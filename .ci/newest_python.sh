#!/usr/bin/env bash
# The fast tests again on the newest supported Python (requires-python: 3.11-3.13), in
# its own venv (~/.cache/viewing-lakehouse/venv-pyX.Y, reused while pyproject.toml is
# unchanged). Looks for the interpreter in pyenv, then on PATH; skips with the reason
# when neither has it (a fresh machine without pyenv). A selection of unit and Spark
# tests that takes a few minutes: the Python-version checks (workers on the driver's
# interpreter), the schedule, offline Data Docs, the in-stream rules,
# the playback rules and the config (the Delta engine suite runs in make test).
# Override: NEWEST_PYTHON_TESTS="tests/..." .ci/newest_python.sh
set -euo pipefail
cd "$(dirname "$0")/.."
for version in 3.13 3.12; do
  py=""
  if command -v pyenv >/dev/null 2>&1 && prefix=$(pyenv prefix "$version" 2>/dev/null); then
    py="$prefix/bin/python$version"
  elif command -v "python$version" >/dev/null 2>&1 && "python$version" -V >/dev/null 2>&1; then
    py="$(command -v "python$version")"
  fi
  [ -n "$py" ] && [ -x "$py" ] && break
  py=""
done
if [ -z "$py" ]; then
  echo "newest-python: SKIPPED: neither python3.13 nor python3.12 found (pyenv or PATH); install one with 'pyenv install 3.13' to test it"
  exit 0
fi
# outside the clone (CI clones afresh): reused while pyproject.toml is unchanged
venv="${XDG_CACHE_HOME:-$HOME/.cache}/viewing-lakehouse/venv-py$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
stamp="$venv/.installed-$(cksum pyproject.toml | cut -d' ' -f1)"
if [ ! -e "$stamp" ]; then
  rm -rf "$venv"
  "$py" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
  # not editable: the venv outlives this clone; the tests import the clone's code (cwd)
  "$venv/bin/python" -m pip install --quiet '.[dev]'
  touch "$stamp"
fi
echo "newest-python: $("$venv/bin/python" -V) in $venv"
# shellcheck disable=SC2086
PYTHONPATH="$PWD" "$venv/bin/python" -m pytest -q -m "not slow" -p no:cacheprovider ${NEWEST_PYTHON_TESTS:-\
  tests/dq/test_python_versions.py tests/dq/test_schedule.py tests/dq/test_data_docs.py \
  tests/jobs/core/ingest/test_stream_expectations.py tests/jobs/core/rules/test_playback_state.py \
  tests/jobs/core/runtime/test_config.py}
