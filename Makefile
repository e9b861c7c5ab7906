# Two commands a newcomer needs: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export SEARCHSVC_SOURCES ?= seeds

.PHONY: run test index serve lint bench eval fuzz lock clean

$(STAMP): requirements-dev.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

## run: set up, index seeds/ if the index is missing or stale, serve on http://localhost:8000
run: index
	$(BIN)/searchsvc serve

## index: index the configured sources (unchanged documents are skipped)
index: $(STAMP)
	$(BIN)/searchsvc index

## test: lint and the whole test suite
test: $(STAMP)
	$(BIN)/ruff check searchsvc tests bench eval
	$(BIN)/hadolint Dockerfile
	$(BIN)/python -m pytest

## lint: ruff
lint: $(STAMP)
	$(BIN)/ruff check searchsvc tests bench eval
	$(BIN)/ruff format --check searchsvc tests bench || true

## bench: performance benchmark on ../shared/data (prints a table, writes bench/results.json)
bench: $(STAMP)
	$(BIN)/python -m bench.run

## eval: ranking and extraction quality on ../shared/data and the gold set
eval: $(STAMP)
	$(BIN)/python -m eval

## fuzz: the fuzz tests (read API, write API, schemathesis on the OpenAPI document) with 20x the examples make test runs
fuzz: $(STAMP)
	SEARCHSVC_FUZZ_EXAMPLES=20 $(BIN)/python -m pytest tests/test_fuzz.py tests/test_fuzz_writes.py \
		tests/test_schemathesis.py -p no:cacheprovider

## lock: re-resolve the hashed lock files after changing dependencies in pyproject.toml
lock: $(STAMP)
	$(BIN)/pip install --quiet pip-tools
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --extra dev --no-emit-index-url --no-emit-find-links --strip-extras -o requirements-dev.lock pyproject.toml
	$(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe --no-emit-index-url --no-emit-find-links -o requirements.lock pyproject.toml

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
	find index -mindepth 1 ! -name .gitkeep -exec rm -rf {} +
