# gorae: `make demo` runs a container, `make test` runs every test.
# Both need root (real namespaces, mounts and cgroups) on Debian/Ubuntu.

CARGO ?= cargo
GORAE := target/release/gorae

.PHONY: all build release demo test deps leak-check fmt clippy clean

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

# Every test on the real kernel, then a check that nothing was left behind.
test: deps
	$(CARGO) test --workspace
	@scripts/leak-check.sh

leak-check:
	@scripts/leak-check.sh

fmt:
	$(CARGO) fmt --all

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

clean:
	$(CARGO) clean

# Benchmarks (benches/README.md): gorae, crun, runc (and youki when on PATH)
# side by side, and the floor. `bench` mounts a hugetlb v1 hierarchy on a
# hybrid cgroup host so that crun 1.8.1 runs (benchmark machines only);
# `bench-quick` changes nothing on the host and never fails on a timing.
BENCH := target/release/gorae-bench
.PHONY: bench bench-quick

bench: deps
	@benches/deps.sh
	$(CARGO) build --release -p gorae -p gorae-bench
	$(BENCH) --mount-hugetlb-v1 --json target/bench.json

bench-quick: deps
	@benches/deps.sh
	$(CARGO) build --release -p gorae -p gorae-bench
	$(BENCH) --quick --json target/bench-quick.json
