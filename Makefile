# Two entry points (see README): `make demo` and `make test`. Both build .venv from nothing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint docs bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e ".[dev,dask,plot,io]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/tnkit demo --out out/demo

lint: $(STAMP)
	$(VENV)/bin/ruff check tnkit solvers tests examples
	$(VENV)/bin/ruff format --check tnkit solvers tests examples

test: $(STAMP) lint
	$(PY) -m pytest

docs: $(STAMP)
	PYTHON=$(PY) bash docs/build.sh

bench: $(STAMP)
	for f in examples/benchmarks/*.py; do $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) out .pytest_cache
