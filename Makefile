# Two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The stamp names the interpreter's version: `make test PYTHON=python3.13` after a 3.11 run rebuilds the venv.
PYVER := $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
STAMP := $(VENV)/.installed-$(PYVER)
PIP := $(BIN)/python -m pip --disable-pip-version-check
export SEARCHSVC_SOURCES ?= seeds

.PHONY: run test index serve lint bench eval fuzz lock clean docker-test

# Same bytes whatever pip the interpreter bundles and whatever the registry publishes later: the bundled pip only
# installs the pinned, hashed pip of requirements-pip.lock; that pip installs exactly the files the lock names
# (--no-deps: nothing is resolved, so no newer release can be picked), then `pip check` proves the set complete.
$(STAMP): requirements-pip.lock requirements-dev.lock pyproject.toml
	if [ ! -x $(BIN)/python ] || ! ls $(VENV)/.python-$(PYVER) >/dev/null 2>&1; then \
		rm -rf $(VENV) && $(PYTHON) -m venv $(VENV) && touch $(VENV)/.python-$(PYVER); fi
	$(PIP) install --quiet --require-hashes --no-deps -r requirements-pip.lock
	$(PIP) install --quiet --require-hashes --no-deps --only-binary=:all: -r requirements-dev.lock
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	$(PIP) check
	touch $@

## run: set up, index seeds/ if the index is missing or stale, serve on http://localhost:8000
run: index
	$(BIN)/searchsvc serve

## index: index the configured sources (unchanged documents are skipped)
index: $(STAMP)
	$(BIN)/searchsvc index

## test: lint, format, types and the whole test suite
test: $(STAMP)
	$(BIN)/ruff check searchsvc tests bench eval
	$(BIN)/ruff format --check searchsvc tests bench eval
	$(BIN)/mypy
	$(BIN)/hadolint Dockerfile
	$(BIN)/python -m pytest

## lint: ruff (rules and format) and mypy
lint: $(STAMP)
	$(BIN)/ruff check searchsvc tests bench eval
	$(BIN)/ruff format --check searchsvc tests bench eval
	$(BIN)/mypy

## bench: searchsvc beside a SQLite FTS5 service on ../shared/data (prints a table, writes bench/results.json):
## Reuters once (20,841 articles); FULL=1: x5 over HTTP and an in-process point at x25; BENCH_ARGS: more flags
bench: $(STAMP)
	$(BIN)/python -m bench.run $(if $(FULL),--full) $(BENCH_ARGS)

## eval: ranking (service vs plain BM25, leave-one-collection-out tables; ~40 min the first time) and extraction quality
eval: $(STAMP)
	$(BIN)/python -m eval

## fuzz: the fuzz tests (read API, write API, schemathesis on the OpenAPI document) with 20x the examples make test runs
fuzz: $(STAMP)
	SEARCHSVC_FUZZ_EXAMPLES=20 $(BIN)/python -m pytest tests/test_fuzz.py tests/test_fuzz_writes.py \
		tests/test_schemathesis.py -p no:cacheprovider

## docker-test: build the image and run it with a real Docker engine (tests/test_container.py; not part of `make test`).
# Needs root: docker/test-setup.sh installs docker.io and debootstrap if missing, starts dockerd, and builds the
# debootstrap stand-in for the base image when the tag is missing (official images cannot be pulled here).
docker-test: $(STAMP)
	SEARCHSVC_DOCKER_TEST=1 $(BIN)/python -m pytest tests/test_container.py -v -s -p no:cacheprovider

## lock: re-resolve the hashed lock files after changing dependencies in pyproject.toml
# (one resolution for every supported Python, extras kept, existing pins kept unless UPGRADE=--upgrade)
LOCK_FLAGS := --quiet --generate-hashes --universal --python-version 3.11 --no-strip-extras --no-emit-index-url --no-emit-find-links $(UPGRADE)
lock: $(STAMP)
	$(BIN)/uv pip compile $(LOCK_FLAGS) --extra dev -o requirements-dev.lock pyproject.toml
	$(BIN)/uv pip compile $(LOCK_FLAGS) -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
	find index -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
