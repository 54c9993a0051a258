# gorae: `make demo` runs a container, `make test` runs every test.
# Both need root (real namespaces, mounts and cgroups) on Debian/Ubuntu.

CARGO ?= cargo
# .cargo/config.toml builds for the host triple explicitly (static binaries),
# so cargo puts them under target/<triple>/.
HOST_TRIPLE := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
GORAE := target/$(HOST_TRIPLE)/release/gorae

.PHONY: all build release demo test test-e2e stress deps leak-check fmt clippy clean fuzz

all: build

build:
	$(CARGO) build --workspace

release:
	$(CARGO) build --release -p gorae

# Installs what the tests need: Debian's static busybox for test rootfs.
deps:
	@scripts/deps.sh

demo: deps release
	@scripts/demo.sh $(GORAE)

# Every test on the real kernel: unit and integration tests, the
# conformance suite against gorae (failing on any check that is not a
# known, documented failure), the real engines, then a check that nothing
# was left behind.
test: deps release conformance-build
	$(CARGO) test --workspace
	@scripts/conformance-check.sh $(CONFORMANCE_BIN)/gorae-conformance $(GORAE)
	@$(MAKE) --no-print-directory test-e2e
	@scripts/leak-check.sh

leak-check:
	@scripts/leak-check.sh

# Churn (runtime-bin/tests/churn.rs) at full count on the release build:
# STRESS_COUNT containers, 20 at a time, with exec, kill and pause/resume
# interleaved (make test runs 100); prints the figures, then checks that
# nothing was left behind.
STRESS_COUNT ?= 1000
stress: deps
	GORAE_STRESS_COUNT=$(STRESS_COUNT) $(CARGO) test --release -p gorae --test churn -- --nocapture
	@scripts/leak-check.sh

# Real engines (containerd, podman, Docker from Debian) driving a runtime:
# E2E_RUNTIME (default: the release gorae), e.g.
# `E2E_RUNTIME=$$(which runc) make test-e2e`; E2E_ENGINES=containerd,podman,docker.
E2E_RUNTIME ?= $(CURDIR)/$(GORAE)
test-e2e: deps release
	@runtime-bin/tests/e2e/deps.sh
	E2E=1 E2E_RUNTIME=$(E2E_RUNTIME) $(CARGO) test -p gorae --test engines

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean

# Fuzzing what gorae reads from others (runtime-core/fuzz/README.md):
# config.json, seccomp profiles, state.json; FUZZ_SECONDS per target, one
# process at a time. Needs the nightly toolchain; installs cargo-fuzz when
# missing. Not part of `make test` or CI. A crash stops the run and leaves
# its input under runtime-core/fuzz/artifacts/.
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= config seccomp state
FUZZ_DIR := runtime-core/fuzz
fuzz:
	@rustup run nightly rustc --version >/dev/null 2>&1 \
	  || { echo "fuzz: needs the nightly toolchain: rustup toolchain install nightly" >&2; exit 2; }
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz
	@for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$t ($(FUZZ_SECONDS) s)"; \
	  mkdir -p $(FUZZ_DIR)/corpus/$$t; \
	  (cd $(FUZZ_DIR) && cargo +nightly fuzz run $$t corpus/$$t seeds/$$t -- \
	    -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10) || exit 1; \
	done

# Conformance (conformance/): the static gorae-probe and the OCI spec suite,
# run against gorae and, when installed, runc and crun. Writes the
# check x runtime table conformance/RESULTS.md and, per runtime, TAP and
# JSON under target/conformance/. Exits 0 once the table is written; set
# CONFORMANCE_STRICT=1 to fail when gorae fails a check.
CONFORMANCE_BIN := target/$(HOST_TRIPLE)/release
STATIC_RUSTFLAGS := -C target-feature=+crt-static -C relocation-model=static
CONFORMANCE_RUNTIMES ?= $(GORAE) runc crun

.PHONY: conformance conformance-build conformance-rt

# Both binaries static (an explicit --target keeps build scripts dynamic).
conformance-build:
	RUSTFLAGS="$(STATIC_RUSTFLAGS)" $(CARGO) build --release -p gorae-conformance --target $(HOST_TRIPLE)
	@ldd $(CONFORMANCE_BIN)/gorae-probe 2>&1 | grep -q 'not a dynamic executable' \
	  || { echo "conformance: $(CONFORMANCE_BIN)/gorae-probe is not statically linked" >&2; exit 1; }

conformance: deps release conformance-build
	@mkdir -p target/conformance
	@rm -f target/conformance/*.json
	@for rt in $(CONFORMANCE_RUNTIMES); do \
	  path=$$(command -v $$rt) || { echo "conformance: $$rt is not installed, left out"; continue; }; \
	  name=$$(basename $$rt); \
	  echo "== $$name ($$path)"; \
	  $(CONFORMANCE_BIN)/gorae-conformance --runtime $$path \
	    --json-out target/conformance/$$name.json > target/conformance/$$name.tap; \
	  grep -E '^not ok|^[0-9]+ passed' target/conformance/$$name.tap; \
	done
	@$(CONFORMANCE_BIN)/gorae-conformance results \
	  $(foreach rt,$(CONFORMANCE_RUNTIMES),$(wildcard target/conformance/$(notdir $(rt)).json)) \
	  > conformance/RESULTS.md
	@echo "conformance: wrote conformance/RESULTS.md (TAP and JSON in target/conformance/)"
	@if [ -n "$(CONFORMANCE_STRICT)" ]; then \
	  ! grep -q '^not ok' target/conformance/gorae.tap; fi

# OCI runtime-tools' validation programs against gorae. Needs RT_DIR: a
# checkout of opencontainers/runtime-tools built with
# `make runtimetest validation-executables`; this target neither fetches
# nor builds it.
conformance-rt: release
	@test -n "$(RT_DIR)" || { echo "conformance-rt: set RT_DIR to a built opencontainers/runtime-tools checkout" >&2; exit 2; }
	@test -x "$(RT_DIR)/runtimetest" || { echo "conformance-rt: $(RT_DIR)/runtimetest missing: run 'make runtimetest validation-executables' there" >&2; exit 2; }
	@mkdir -p target/conformance
	@cd "$(RT_DIR)" && status=0; \
	for t in $$(find validation -name '*.t' | sort); do \
	  echo "# $$t"; RUNTIME=$(abspath $(GORAE)) ./$$t || status=1; \
	done > $(abspath target/conformance/runtime-tools.tap); \
	echo "conformance-rt: $$(grep -cE '^ok' $(abspath target/conformance/runtime-tools.tap)) ok, $$(grep -cE '^not ok' $(abspath target/conformance/runtime-tools.tap)) not ok (TAP in target/conformance/runtime-tools.tap)"; \
	grep -E '^not ok' $(abspath target/conformance/runtime-tools.tap) && status=1; \
	exit $$status

# Benchmarks (benches/README.md): gorae, crun, runc (and youki when on PATH)
# side by side, and the floor. `bench` mounts a hugetlb v1 hierarchy on a
# hybrid cgroup host so that crun 1.8.1 runs (benchmark machines only);
# `bench-quick` changes nothing on the host and never fails on a timing.
BENCH := target/$(HOST_TRIPLE)/release/gorae-bench
.PHONY: bench bench-quick

bench: deps
	@benches/deps.sh
	$(CARGO) build --release -p gorae -p gorae-bench
	$(BENCH) --mount-hugetlb-v1 --json target/bench.json

bench-quick: deps
	@benches/deps.sh
	$(CARGO) build --release -p gorae -p gorae-bench
	$(BENCH) --quick --json target/bench-quick.json
