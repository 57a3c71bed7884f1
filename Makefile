# Two commands for a newcomer: `make demo` and `make test`.  Everything else is optional.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-slow lint typecheck pytest browsers bench bench-quick bench-anchor bench-node bench-node-quick bench-matching clean

install: $(STAMP)

$(STAMP): pyproject.toml package.json package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	npm ci --no-audit --no-fund --loglevel=error  # solc and anvil, pinned, into node_modules/
	touch $(STAMP)

demo: $(STAMP)
	rm -rf demo
	$(BIN)/passport ledger demo --db demo/passport.sqlite --home demo
	$(BIN)/passport demo --dir demo/people

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) browsers
	$(BIN)/pytest -q

# tests/web drive Debian's Chromium through Playwright (which cannot download its own here).
browsers:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

test: lint typecheck pytest

# The long runs (marked slow; `make test` leaves them out), e.g. schemathesis with many examples.
test-slow: $(STAMP)
	$(BIN)/pytest -q -m slow

bench: $(STAMP)
	$(BIN)/python -m bench.ledger

bench-quick: $(STAMP)
	$(BIN)/python -m bench.ledger --sizes 20000

bench-node: $(STAMP)
	$(BIN)/python -m bench.node --json bench/out/node.json

bench-node-quick: $(STAMP)
	$(BIN)/python -m bench.node --records 10000 --singles 1000 --read-size 20000 \
		--read-seconds 8 --json bench/out/node-quick.json

bench-anchor: $(STAMP)
	$(BIN)/python -m bench.anchor

# Matching quality and speed at 120,000 synthetic members (in-process, docs/benchmarks.md).
bench-matching: $(STAMP)
	$(BIN)/python -m bench.matching_eval --json bench/out/matching.json

clean:
	rm -rf $(VENV) demo .pytest_cache .mypy_cache .ruff_cache .hypothesis
