# blobferry — the two commands a newcomer runs are `make demo` and `make test`.
# Every target installs what it needs (scripts/install-deps.sh is idempotent and quiet).

SHELL := /bin/bash
SWIFT ?= swift
FILTER ?=
CONFIG ?= debug

.PHONY: all deps build release test chaos memory demo lint format compose-check deploy-check services-start services-stop clean scale bench throttle

all: build

deps:
	@scripts/install-deps.sh

build: deps
	$(SWIFT) build -c $(CONFIG)

release: deps
	$(SWIFT) build -c release

# Starts the services, runs every test (Swift and the emulator's SDK check), stops what it
# started, exits non-zero on any failure. One test: make test FILTER=RedisConnectionTests
test: deps
	@$(SWIFT) build --build-tests
	@scripts/services.sh start
	@set -o pipefail; rc=0; \
	  source .run/services.env; \
	  export BLOBFERRY_BIN_DIR="$$($(SWIFT) build --show-bin-path)"; \
	  if [ -z "$(FILTER)" ]; then \
	    compose/validate.sh || rc=1; \
	    python3 -m pytest -q scripts/tests || rc=1; \
	    $(SWIFT) test --skip-build || rc=1; \
	  else \
	    $(SWIFT) test --skip-build --filter '$(FILTER)' || rc=1; \
	  fi; \
	  scripts/services.sh stop; exit $$rc

# The chaos test and the network namespace test (consumers on their own hosts, one cut
# off past its lease) at a larger size, CHAOS_RUNS times in a row (make test runs small
# ones). The namespace test skips with a line saying why where namespaces cannot be made.
CHAOS_RUNS ?= 3
CHAOS_BLOBS ?= 10000
NETNS_BLOBS ?= 6000
chaos: deps
	@for run in $$(seq 1 $(CHAOS_RUNS)); do \
	  echo "== chaos run $$run of $(CHAOS_RUNS): $(CHAOS_BLOBS) blobs"; \
	  BLOBFERRY_CHAOS_BLOBS=$(CHAOS_BLOBS) BLOBFERRY_CHAOS_KILLS=15 $(MAKE) --no-print-directory test FILTER=ChaosTests || exit 1; \
	  echo "== network namespace run $$run of $(CHAOS_RUNS): $(NETNS_BLOBS) blobs"; \
	  BLOBFERRY_NETNS_BLOBS=$(NETNS_BLOBS) $(MAKE) --no-print-directory test FILTER=NetworkNamespaceTests || exit 1; \
	done

# Peak RSS of one consumer copying MEMORY_BLOBS blobs of 80 MiB at default settings.
MEMORY_BLOBS ?= 12
memory: deps
	@BLOBFERRY_MEMORY_BLOBS=$(MEMORY_BLOBS) $(MAKE) --no-print-directory test FILTER=peakMemoryOfAConsumerCopyingLargeBlobs

# Issue 9.4's measurement with its goals asserted: three consumers, no limit configured,
# the emulator answering 503 above 100 requests/s; prints the share refused and the rate served.
THROTTLE_BLOBS ?= 3000
throttle: deps
	@BLOBFERRY_THROTTLE_BLOBS=$(THROTTLE_BLOBS) $(MAKE) --no-print-directory test FILTER=adaptiveConcurrencyAloneKeepsThrottlingRare

demo: deps
	@scripts/demo.sh

scale: deps
	@scripts/scale.sh

# blobferry against rclone, plain HTTP and HTTPS (stunnel, throwaway CA): prints objects/s,
# CPU per object and peak RSS side by side. A benchmark, not a test: not part of make test.
# Knobs: BENCH_BLOBS, BENCH_RUNS, BENCH_MODES, BENCH_LATENCY_MS (see scripts/bench.sh).
bench: deps
	@scripts/bench.sh

compose-check:
	@compose/validate.sh

# The static check of deploy/ (make test runs it through scripts/tests/test_deploy.py).
deploy-check:
	@python3 scripts/check_deploy.py

lint:
	$(SWIFT) format lint --strict --recursive Sources Tests Package.swift

format:
	$(SWIFT) format --in-place --recursive Sources Tests Package.swift

services-start: deps
	@scripts/services.sh start

services-stop:
	@scripts/services.sh stop

clean:
	-scripts/services.sh stop
	rm -rf .build .run
