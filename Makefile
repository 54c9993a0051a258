# gorae: `make demo` runs a container, `make test` runs every test.
# Both need root (real namespaces, mounts and cgroups) on Debian/Ubuntu.

CARGO ?= cargo
GORAE := target/release/gorae

.PHONY: all build release demo test test-e2e deps leak-check fmt clippy clean

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
