# strata — see README.md. `make test` is what CI runs.
GO      ?= go
PKGS    ?= ./...
BIN     := bin/strata

.PHONY: all build test test-short bench lint fuzz run clean datascript

all: build

build:
	$(GO) build -o $(BIN) ./cmd/strata

# The full suite, with the race detector, against real servers (MinIO) that
# scripts/with-servers installs, starts on free 127.0.0.1 ports and stops;
# then a race-free pass with the invariants tag (expensive self-checks on),
# which also runs the long single-goroutine trace replays that skip under -race.
test: lint datascript
	./scripts/with-servers $(GO) test -race -count=1 -timeout 20m $(PKGS)
	$(GO) test -count=1 -tags invariants -timeout 10m ./segment/ ./cachetiers/ ./bench/ ./engine/

# Datascript (npm) for the tests that compare query results with it; they
# skip without it, so a failed install only costs those tests.
datascript:
	@if command -v npm >/dev/null 2>&1; then \
	  (cd bench/datascript && npm ci --no-audit --no-fund --silent) || echo "make: npm ci in bench/datascript failed: the Datascript comparisons will skip"; \
	else echo "make: npm is missing: the Datascript comparisons will skip"; fi

# No external servers: tests that need one skip.
test-short:
	$(GO) test -short -count=1 $(PKGS)

# Benchmarks: per-stratum latency with references measured in the same run.
# Needs fio for the disk reference (installed with apt-get when missing).
bench: build
	./scripts/bench

# Short fuzz runs of every decoder and parser (FUZZTIME per target).
FUZZTIME ?= 20s
fuzz:
	./scripts/fuzz $(FUZZTIME)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

# The embedded default: a node with its data under ./strata-data, on
# 127.0.0.1:4334 (RUN_FLAGS adds flags, e.g. RUN_FLAGS='--listen 127.0.0.1:5000').
run: build
	$(BIN) node $(RUN_FLAGS)

clean:
	rm -rf bin
