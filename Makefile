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

# the suite on TEST_WORKERS processes (pytest-xdist), one SparkSession each; a module (its
# shared lakes) stays on one worker and the longest scenarios start first (tests/conftest.py)
TEST_WORKERS ?= 2
XDIST      := $(if $(filter-out 0 1,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder)

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

# the hot store: REDIS_URL when set; else a private redis-server on a free 127.0.0.1 port
# (no persistence, stopped when serve exits) when the binary is installed; else Delta only
serve: venv ## the HTTP API on the demo lake (after make demo) at http://127.0.0.1:$(API_PORT)/docs, with Redis
	@set -e; \
	if [ -n "$$REDIS_URL" ]; then \
	  echo "serve: hot store at REDIS_URL"; \
	elif command -v redis-server >/dev/null 2>&1; then \
	  port=$$($(PY) -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'); \
	  dir=$$(mktemp -d); \
	  redis-server --port $$port --bind 127.0.0.1 --save "" --appendonly no --dir $$dir >$$dir/redis.log 2>&1 & \
	  rpid=$$!; \
	  trap 'kill $$rpid 2>/dev/null; wait $$rpid 2>/dev/null; rm -rf $$dir' EXIT INT TERM; \
	  export REDIS_URL=redis://127.0.0.1:$$port/0; \
	  for _ in $$(seq 100); do redis-cli -p $$port ping >/dev/null 2>&1 && break; sleep 0.05; done; \
	  echo "serve: started redis-server at $$REDIS_URL (pid $$rpid; stopped on exit)"; \
	else \
	  echo "serve: no REDIS_URL and no redis-server: reads come from Delta (install it: apt-get install redis-server, or set REDIS_URL=redis://HOST:6379/0)"; \
	fi; \
	LAKEHOUSE_ROOT=$(abspath $(DEMO_ROOT)) $(PY) -m uvicorn api.app:create_app --factory --host 127.0.0.1 --port $(API_PORT)

recommend: venv ## recommendations on the demo lake (after make demo): home row with explanations, More Like This
	$(PY) -m jobs.build_interactions --lake-root $(DEMO_ROOT)
	$(PY) -m jobs.train_recommenders --lake-root $(DEMO_ROOT)
	$(PY) -m jobs.generate_recommendations --lake-root $(DEMO_ROOT)
	$(PY) -m jobs.query home --profile "Profile 1" --account household-ke --lake-root $(DEMO_ROOT)
	$(PY) -m jobs.query more-like-this --title "$(MLT_TITLE)" --model item_cosine --lake-root $(DEMO_ROOT)

SOAK_TEST  := tests/bench/test_soak.py::test_the_short_soak_is_green

test: check-java venv ## the whole suite, both engines, on 2 pytest-xdist workers (TEST_WORKERS=1: one process), then the short soak alone
	$(PY) -m pytest $(XDIST) --deselect $(SOAK_TEST)
	@# the soak paces a live feed against the clock: it runs alone, never beside another worker
	$(PY) -m pytest $(SOAK_TEST)

test-fast: venv ## the inner loop (~4 min): rules and contracts on delta-rs, -m "not slow" --engines rust (no end-to-end module)
	$(PY) -m pytest -m "not slow" --engines rust $(XDIST)

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
