# vision_ssl developer targets. `make demo` and `make test` work from a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Pins for this project's CPU machines (wheels on local disk); `make install CONSTRAINTS=` to use none.
CONSTRAINTS ?= constraints.txt
DATA ?= data
PYTEST_ARGS ?= -n 2 --dist load  # two workers on the 2-core CI machine (tests/conftest.py: threads, order)

.PHONY: install data demo test lint clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.cfg $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[dev]'
	touch $@

data: install
	$(BIN)/python -m vision_ssl.data.fetch --root $(DATA)

demo: install data
	$(BIN)/python -m vision_ssl.demo --config configs/demo.yaml

test: install data
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check vision_ssl tests benchmarks
	$(BIN)/mypy vision_ssl

clean:
	rm -rf $(VENV) runs .pytest_cache .ruff_cache .mypy_cache

# Benchmarks (see the Benchmarks section of README.md). LightlySSL comes from the `bench` extra, for the side-by-side only.
.PHONY: bench-install bench-quick bench-accuracy
BENCH_QUICK_ARGS ?= --batch-size 64 --warmup 1 --windows 3 --steps 2 --workers 2

bench-install: $(VENV)/.bench-installed

$(VENV)/.bench-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[dev,bench]'
	touch $@

bench-quick: bench-install data
	$(BIN)/python benchmarks/throughput.py --tag cpu $(BENCH_QUICK_ARGS)

bench-accuracy: install data
	$(BIN)/python benchmarks/accuracy.py --tag cpu
