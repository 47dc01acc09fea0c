# viewing-lakehouse — `make help` lists the targets.
PYTHON_BIN ?= python3
VENV       := .venv
PY         := $(VENV)/bin/python
STAMP      := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEMO_ROOT  ?= lakehouse/demo
API_PORT   ?= 8000
MLT_TITLE  ?= The King's Affection
# delta-spark jars beside the repo (CI has them): the tests' spark half, and the demo
# when DELTA_ENGINE=spark (or LAKEHOUSE_DELTA_ENGINE=spark) asks for that engine
SHARED_JARS := $(abspath ../shared/delta-spark-jars)
ifeq ($(DELTA_JARS_DIR),)
ifneq ($(wildcard $(SHARED_JARS)/*.jar),)
test test-fast: export DELTA_JARS_DIR := $(SHARED_JARS)
ifneq ($(filter spark,$(DELTA_ENGINE) $(LAKEHOUSE_DELTA_ENGINE)),)
demo dq: export DELTA_JARS_DIR := $(SHARED_JARS)
endif
endif
endif

.DEFAULT_GOAL := help
.PHONY: help venv check-java demo serve recommend test test-fast lint typecheck format bench-resume soak dq notebook clean

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-14s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP) ## create .venv and install the project with its dev tools (pip)

check-java: ## fail with install advice unless Java 17+ is on PATH
	@scripts/check-java.sh

demo: check-java venv ## import the bundled sample, ingest it, show counts and Continue Watching (DELTA_ENGINE=spark: on delta-spark)
	$(PY) -m jobs.demo --lake-root $(DEMO_ROOT)

serve: venv ## the HTTP API on the demo lake (after make demo) at http://127.0.0.1:$(API_PORT)/docs
	LAKEHOUSE_ROOT=$(abspath $(DEMO_ROOT)) $(PY) -m uvicorn api.app:create_app --factory --host 127.0.0.1 --port $(API_PORT)

recommend: venv ## recommendations on the demo lake (after make demo): home row with explanations, More Like This
	$(PY) -m jobs.build_interactions --lake-root $(DEMO_ROOT)
	$(PY) -m jobs.train_recommenders --lake-root $(DEMO_ROOT)
	$(PY) -m jobs.generate_recommendations --lake-root $(DEMO_ROOT)
	$(PY) -m jobs.query home --profile "Profile 1" --account household-ke --lake-root $(DEMO_ROOT)
	$(PY) -m jobs.query more-like-this --title "$(MLT_TITLE)" --model item_cosine --lake-root $(DEMO_ROOT)

test: check-java venv ## run the test suite (prints the 15 slowest tests at the end)
	$(PY) -m pytest

test-fast: venv ## the tests without the end-to-end runs over real exports
	$(PY) -m pytest -m "not slow"

lint: venv ## ruff lint (style, imports, docstrings of jobs/core, complexity) and format check
	$(VENV)/bin/ruff check jobs dq api tests bench
	$(VENV)/bin/ruff format --check jobs dq api tests bench

typecheck: venv ## mypy on jobs/core (settings in pyproject.toml)
	$(VENV)/bin/mypy

format: venv ## ruff format and autofix
	$(VENV)/bin/ruff format jobs dq api tests bench
	$(VENV)/bin/ruff check --fix jobs dq api tests bench

bench-resume: venv ## resume_state vs Netflix's Latest Bookmark on every shared export
	$(PY) bench/resume_accuracy.py ../shared/data/viewing-activity/*.csv

soak: check-java venv ## a day in the life as one command: feed, stream, schedule, API, kill -9, erasure; report in bench/results/soak (SOAK_ARGS="--short")
	$(PY) bench/soak.py $(SOAK_ARGS)

dq: venv ## run every data-quality suite on the demo lake (after make demo)
	$(PY) -m dq.run --suite all --lake-root $(DEMO_ROOT)

notebook: venv ## open the analysts' notebook in JupyterLab (installs jupyterlab on first use)
	@test -x $(VENV)/bin/jupyter-lab || $(PY) -m pip install --quiet jupyterlab
	LAKEHOUSE_ROOT=$(abspath $(DEMO_ROOT)) $(VENV)/bin/jupyter lab notebooks/viewing_history_analysis.ipynb

clean: ## remove the local lake (./lakehouse) and caches
	rm -rf lakehouse spark-warehouse .pytest_cache
