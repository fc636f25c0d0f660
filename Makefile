# Local commands. Everything runs from the project's own virtualenv (.venv),
# created and (re)installed on demand: `pip install -e '.[test,dev]'` runs again
# only when pyproject.toml is newer than .venv/.installed.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CODE   := workflows activities adapters models identity store runtime processes local access cli api web bench sim worker.py starter.py

.PHONY: run world test test-load check bench worker migrate register-search-attributes schedules notifications-year install clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[test,dev]'
	touch $(STAMP)

install: $(STAMP)

## run: embedded Temporal server + worker + sample custody events (Ctrl-C stops)
run: $(STAMP)
	$(PY) -m local.run

## world: only the simulated world service, as make run starts it (WORLD_ARGS="--replies-url http://localhost:8000")
WORLD_FILE ?= examples/world.json
WORLD_DB   ?= sqlite:///.fno/world.db
WORLD_PORT ?= 8100
world: $(STAMP)
	mkdir -p .fno
	FNO_LOCAL_MODE=$${FNO_LOCAL_MODE:-1} $(PY) -m sim.service --world $(WORLD_FILE) --db $(WORLD_DB) \
		--port $(WORLD_PORT) --day-seconds 5 $(WORLD_ARGS)

# The suite mostly waits (servers, timers, processes): two pytest workers, each test
# file on one of them (its fixtures and databases its own), halve the wall time.
TEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

## test: the test suite (TEST_WORKERS=0 runs it in one process)
test: $(STAMP)
	$(PYTEST)

## test-load: the same suite while a busy loop keeps one CPU core busy (the suite must not race the clock)
test-load: $(STAMP)
	@$(PY) .ci/burn_cpu.py & burner=$$!; \
	trap 'kill $$burner 2>/dev/null' EXIT INT TERM; \
	echo "test-load: CPU burner running (pid $$burner)"; \
	status=0; $(PYTEST) || status=$$?; \
	kill $$burner 2>/dev/null; wait $$burner 2>/dev/null; \
	echo "test-load: pytest exit status $$status"; \
	exit $$status

## bench: throughput against a bare Temporal baseline (BENCH_ARGS="--cases 2000"; --dormant [K])
bench: $(STAMP)
	$(PY) -m bench $(BENCH_ARGS)

## check: lint, format check, type check, import contracts (pyproject.toml [tool.importlinter]), determinism lint of workflows/
check: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(CODE)
	$(VENV)/bin/lint-imports
	$(PY) -m runtime.determinism_lint
	$(VENV)/bin/kubernetes-validate --strict --quiet deploy/kubernetes/fno.yaml

## worker: only the worker, against TEMPORAL_ADDRESS / TEMPORAL_PROFILE (default localhost:7233)
worker: $(STAMP)
	$(PY) worker.py

## migrate: apply the case store's schema migrations to FNO_DATABASE_URL (production)
migrate: $(STAMP)
	$(PY) -m store.migrate upgrade

## register-search-attributes: on a real cluster (the embedded server does it itself)
register-search-attributes: $(STAMP)
	$(PY) -m runtime.search_attributes

## schedules: create or update the daily notifications reconciliation (every worker does it too)
schedules: $(STAMP)
	$(PY) -m processes.reconciliation_schedule

## notifications-year: a year of PNC daily files, one in three lost, through the real workflows
notifications-year: $(STAMP)
	$(PY) -m bench.notifications_year

## clean: remove local state (.fno: dev-server database, case store, logs)
clean:
	rm -rf .fno
