# stagecache developer tasks. Set-up on a fresh machine: `make install`, then `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install test unit coverage lint format engine-up engine-down engine-status demo dist clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,chart]'
	touch $@

# The whole suite: brings the engines up (installs them on a fresh Debian machine), then unit + engine
# tests on pytest-xdist workers, each building on an engine of its own: TEST_WORKERS of them, or one
# where the script cannot start more engines (a docker it did not start).
TEST_WORKERS ?= 2
# The engines' data roots are in a tmpfs of this size (empty: on disk): see scripts/engine.sh.
ENGINE_TMPFS ?= 2g
# More pytest arguments, e.g. PYTEST_ARGS="tests/engine/test_bake.py -k diamond".
PYTEST_ARGS ?=
# The package is compiled to bytecode first, as pip does when it installs a wheel: the tests start
# stagecache hundreds of times, and with PYTHONDONTWRITEBYTECODE set each start would compile it again.
test: install
	STAGECACHE_TEST_ENGINES=$(TEST_WORKERS) STAGECACHE_ENGINE_TMPFS=$(ENGINE_TMPFS) scripts/engine.sh up
	$(BIN)/python -m compileall -q stagecache
	$(BIN)/pytest -n $$(scripts/engine.sh workers) $(PYTEST_ARGS)

# Unit tests only: no engine needed.
unit: install
	$(BIN)/pytest -m "not engine"

# Unit-tier coverage of the package; the table is kept in benchmarks/results/coverage-unit.txt.
coverage: install
	$(BIN)/pytest -m "not engine" -q -p no:cacheprovider -o addopts="" --cov=stagecache --cov-report=term \
		> .coverage.out; status=$$?; sed -n '/^Name /,/^TOTAL/p' .coverage.out > benchmarks/results/coverage-unit.txt; \
		rm -f .coverage.out; cat benchmarks/results/coverage-unit.txt; exit $$status

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/vulture

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

engine-up:
	scripts/engine.sh up

engine-down:
	scripts/engine.sh down

engine-status:
	scripts/engine.sh status

# The main job on the bundled example, with the embedded default (local cache, no registry).
# The engine is set up only when the example's base image is missing (as after `make test` it
# is not): an engine that is already there is used as it is, and no registry is started.
demo: install
	@docker image inspect stagecache/busybox:latest >/dev/null 2>&1 || scripts/engine.sh up
	$(BIN)/stagecache bake -C examples/hello

# A wheel and an sdist in dist/ (python -m build: the wheel is built from the sdist).
dist: install
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache examples/*/.stagecache
