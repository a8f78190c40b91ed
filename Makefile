# sendwatch: the two things a newcomer runs are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
PORT   ?= 8000
DEMO_YEARS ?= 3

.PHONY: demo test setup setup-dev system kafka check clean

$(BIN)/sendwatch: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

setup: $(BIN)/sendwatch

$(VENV)/.dev: pyproject.toml $(BIN)/sendwatch
	$(BIN)/pip install -q -e '.[dev,grafana]'
	touch $@

setup-dev: $(VENV)/.dev

system:
	scripts/system-packages.sh

# Apache Kafka's jars from Maven Central for the tests' real broker (cached in ~/.cache/sendwatch).
kafka:
	scripts/kafka-jars.sh

# Simulate a Kent-sized history, load it, and serve the live dashboard and API.
demo: setup
	scripts/demo.sh $(PORT) $(DEMO_YEARS)

check: setup-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Everything CI runs: system packages, Kafka's jars, Python packages, lint, types, then every test.
test: system kafka setup-dev check
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) demo
