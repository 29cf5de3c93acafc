# vision_ssl developer targets. `make demo` and `make test` work from a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Pins for this project's CPU machines (wheels on local disk); `make install CONSTRAINTS=` to use none.
CONSTRAINTS ?= constraints.txt
DATA ?= data
PYTEST_ARGS ?= -n 2 --dist load  # two workers on the 2-core CI machine (tests/conftest.py: threads, order)

.PHONY: install data demo test lint docs clean

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

# The documentation site (mkdocs.yml, docs/): strict, so a broken link or a docstring griffe cannot parse fails it.
docs: $(VENV)/.docs-installed
	$(BIN)/mkdocs build --strict --site-dir site

$(VENV)/.docs-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[docs]'
	touch $@

clean:
	rm -rf $(VENV) runs site .pytest_cache .ruff_cache .mypy_cache

# Benchmarks (see the Benchmarks section of README.md). LightlySSL comes from the `bench` extra, for the side-by-side only.
.PHONY: bench-install bench-quick bench-accuracy
BENCH_QUICK_ARGS ?= --batch-size 64 --warmup 1 --windows 3 --steps 2 --workers 2

bench-install: $(VENV)/.bench-installed

$(VENV)/.bench-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[dev,bench]'
	touch $@

bench-quick: bench-install data
	$(BIN)/python -m benchmarks.speed train --tag cpu $(BENCH_QUICK_ARGS)

bench-accuracy: install data
	$(BIN)/python -m benchmarks.accuracy --budget short

# GPU check (benchmarks/gpu_check.sh): fills the git-ignored carry/ with what a bare GPU machine lacks, for the
# device tool's `carry`: wheels of kornia, kornia_rs and jsonargparse[signatures] at this venv's versions, for
# CPython $(GPU_PY) on x86-64 Linux, and Fashion-MNIST's four IDX files gzipped (about 30 MB).
.PHONY: gpu-carry gpu-smoke
CARRY ?= carry
GPU_PY ?= 3.12
GPU_WHEELS = kornia kornia_rs jsonargparse docstring_parser typeshed_client

gpu-carry: install data
	mkdir -p $(CARRY)/wheels $(CARRY)/data
	$(BIN)/pip download --quiet --no-deps --only-binary=:all: --python-version $(GPU_PY) --implementation cp \
	    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
	    -d $(CARRY)/wheels $$($(BIN)/python -c "from importlib.metadata import version; \
	    print(' '.join(f'{p}=={version(p)}' for p in '$(GPU_WHEELS)'.split()))")
	for f in $(DATA)/FashionMNIST/raw/*-ubyte; do gzip -9 -c $$f > $(CARRY)/data/$$(basename $$f).gz; done
	du -sh $(CARRY)

gpu-smoke: install
	bash benchmarks/gpu_check.sh --smoke --out /tmp/gpu_check_smoke

# Issue 12: the full-budget campaign (hours on one CPU thread; resumable: re-run the same command to continue).
.PHONY: bench-full
BENCH_FULL_ARGS ?=

bench-full: install data
	OMP_NUM_THREADS=1 $(BIN)/python -m benchmarks.accuracy --budget full $(BENCH_FULL_ARGS)

# Issue 12: vision_ssl against LightlySSL's own parts, same recipe, one evaluator (needs the `bench` extra).
.PHONY: bench-parity
BENCH_PARITY_ARGS ?=

bench-parity: bench-install data
	OMP_NUM_THREADS=1 $(BIN)/python -m benchmarks.parity $(BENCH_PARITY_ARGS)
