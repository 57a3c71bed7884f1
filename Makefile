# Two commands for a newcomer: `make demo` and `make test`.  Everything else is optional.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install demo test test-slow lint typecheck pytest browsers bench bench-quick bench-anchor bench-node bench-node-quick bench-matching bench-matching-fresh bench-federation bench-set bench-cli clean \
	test-faults soak fuzz

install: $(STAMP)

$(STAMP): pyproject.toml package.json package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	# solc and anvil, pinned in package.json and package-lock.json, into node_modules/ (not
	# `npm ci`: npm records only this platform's anvil binary in the lock, and ci refuses that)
	npm install --no-audit --no-fund --no-save --loglevel=error
	touch $(STAMP)

demo: $(STAMP)
	rm -rf demo
	$(BIN)/passport ledger demo --db demo/passport.sqlite --home demo
	$(BIN)/passport demo --dir demo/people

# ruff, then the walls between packages (import-linter contracts in pyproject.toml).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy

# Two workers by default (PYTEST_WORKERS=0 runs in one process); a module's tests stay on one
# worker (--dist loadscope), so each module's real nodes start once.
PYTEST_WORKERS ?= 2
pytest: $(STAMP) browsers
	$(BIN)/pytest -q $(if $(filter-out 0,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadscope)

# tests/web drive Debian's Chromium through Playwright (which cannot download its own here).
browsers:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)

test: lint typecheck pytest

# The long runs (marked slow; `make test` leaves them out), e.g. schemathesis with many examples.
test-slow: $(STAMP)
	$(BIN)/pytest -q -m slow

# Faults, long version (docs/security.md): many kill -9 trials per database, thousands of
# hostile inputs; `make test` runs a short version of each.
test-faults: $(STAMP)
	$(BIN)/pytest -q -s -m slow tests/faults

# A node on loopback at its measured capacity for SOAK_SECONDS (docs/benchmarks.md).
SOAK_SECONDS ?= 300
soak: $(STAMP)
	$(BIN)/python -m bench.soak --seconds $(SOAK_SECONDS) --json bench/out/soak.json

# Coverage-guided fuzzing of the parsers (atheris / libFuzzer) for FUZZ_SECONDS.
FUZZ_SECONDS ?= 300
fuzz: $(STAMP)
	$(BIN)/pip install --quiet 'atheris>=2.3'  # the fuzz extra of pyproject.toml
	mkdir -p fuzz/corpus fuzz/artifacts
	PYTHONPATH=. $(BIN)/python fuzz/fuzz_parsers.py -max_total_time=$(FUZZ_SECONDS) \
		-print_final_stats=1 -artifact_prefix=fuzz/artifacts/ fuzz/corpus

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

# How fast a grant, revoke or check-in on a real node shows in the real matcher's answers.
bench-matching-fresh: $(STAMP)
	$(BIN)/python -m bench.matching_fresh --json bench/out/matching-fresh.json

# A node following another: pull-and-verify rate beside the audit rate, append-to-readable delay.
bench-federation: $(STAMP)
	$(BIN)/python -m bench.federation --records 20000 --json bench/out/federation.json

# passport --help beside python -c pass, interleaved medians (issue 18 item 3).
bench-cli: $(STAMP)
	$(BIN)/python -m bench.cli --runs 15 --json bench/out/cli.json

# passport set on a synced wallet at chain length 10 and 1,000, beside a bare append.
bench-set: $(STAMP)
	$(BIN)/python -m bench.wallet_set --sets 30 --json bench/out/wallet-set.json

clean:
	rm -rf $(VENV) demo .pytest_cache .mypy_cache .ruff_cache .hypothesis
