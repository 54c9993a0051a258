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
