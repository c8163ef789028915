# Two commands on a fresh machine (see README): `make serve` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install serve test bench lint

$(BIN)/authd: pyproject.toml scripts/install
	PYTHON=$(PY) ./scripts/install $(VENV)
	touch $@

install: $(BIN)/authd

serve: install
	$(BIN)/authd serve

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python benchmarks/otp_auth.py

# ruff on everything; mypy on the three packages (its settings: [tool.mypy] in pyproject.toml).
lint: install
	$(BIN)/ruff check authd matching keys tests benchmarks
	$(BIN)/mypy
