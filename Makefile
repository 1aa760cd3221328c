# AI Camera Fleet: the README's two commands (make demo, make test) and helpers.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.PHONY: venv system-deps test test-fast demo bench chaos lint clean lock wheelhouse train-reader

venv: $(STAMP)

$(STAMP): requirements/dev.txt requirements/central.txt requirements/edge.txt requirements/deploy.txt requirements/train.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements/dev.txt
	touch $@

system-deps:
	@sh scripts/system-deps.sh requirements/apt.txt

## make test: install everything (pip into .venv, apt when root) and run the whole suite.
test: venv system-deps lint
	$(BIN)/python -m pytest

test-fast: venv
	$(BIN)/python -m pytest -x -q -m "not slow"

## make demo: central server (+ dashboard + simulated checkpoints as they land) on SQLite.
demo: venv system-deps
	$(BIN)/python -m demo

## make bench: benchmarks; prints one table per benchmark.
bench: venv system-deps
	$(BIN)/python -m bench

## make lock: resolve requirements/{central,edge}.txt into pinned lock files with hashes (the
## deploy installs from these). Run after changing either .txt; needs the package index.
lock: venv
	for role in central edge; do \
	  $(BIN)/uv pip compile --quiet --generate-hashes --universal --python-version 3.11 \
	    --custom-compile-command "make lock" requirements/$$role.txt -o requirements/$$role.lock || exit 1; \
	done

## make wheelhouse: the locked wheels for x86_64 and aarch64 hosts in var/wheelhouse (the deploy
## builds what it needs by itself; this fills the cache ahead, e.g. before going offline).
wheelhouse: venv
	$(BIN)/python scripts/wheelhouse

## make train-reader: rebuild the Thai plate reader from ../shared/thai-plates (about 45 min on
## 2 cores); prints the held-out figures and writes edge_agent/vision/models/thai_plate_reader.onnx.
train-reader: venv
	$(BIN)/python -m training

lint: venv
	$(BIN)/ruff check .

clean:
	rm -rf var .pytest_cache

## make chaos: real processes under faults and attack; prints the reliability table.
chaos: venv system-deps
	$(BIN)/python -m chaos
