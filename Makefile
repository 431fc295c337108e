# execwatch: build, run and test. Every target does its own set-up on a fresh Debian or Ubuntu machine
# with Rust (installing Debian packages it needs when run as root).

CARGO  ?= cargo
SHARED ?= ../shared
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build run test deps-test bench bench-agent deps-bench load-test clean deb rpm packages pkg-build pkg-tools

all: build

build:
	$(CARGO) build --release --locked

## The agent in the foreground on built-in defaults, alerts printed as they happen (Ctrl-C stops it).
run: build
	$(SUDO) ./target/release/execwatch run --stdout

## Every test: formatting, lints, unit and integration tests. The end-to-end tests need root, auditd and
## rsyslog (installed here when run as root); without them they say so and skip.
test: deps-test
	rustup component add rustfmt clippy >/dev/null 2>&1 || true
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) test --locked

## Replay throughput on a 1,000,000-line log, side by side with ausearch (see benches/replay.py).
bench: build deps-bench
	python3 benches/replay.py --shared $(SHARED) --binary target/release/execwatch

deps-test:
	@if [ "$$(id -u)" = 0 ] && ! { [ -x /usr/sbin/auditd ] && [ -x /usr/sbin/rsyslogd ] && [ -x /usr/bin/python3 ]; }; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq auditd rsyslog python3; fi

## The live agent with real auditd and processes: latency, /proc catch rates, idle cost (needs root).
bench-agent: build deps-bench
	$(SUDO) python3 benches/agent.py --binary target/release/execwatch

## The exec storm (tests/load.rs: 2,000+ execs/s for 30 s under real auditd, root) and a million
## never-closed audit events through replay (tests/hostile_input.rs), with the release build.
load-test: deps-test
	EXECWATCH_LOAD_TEST=1 $(CARGO) test --release --locked --test load --test hostile_input -- --nocapture --test-threads=1

deps-bench:
	@command -v ausearch >/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq auditd; }

## Packages: target/pkg/execwatch_VERSION-1_amd64.deb and target/pkg/execwatch-VERSION-1.x86_64.rpm, with a
## statically linked (musl) release binary that runs on any x86-64 Linux (see the README, "Installing as a service").
## cargo-deb, cargo-generate-rpm, the musl target and musl-tools are installed when missing.
PKG_TARGET ?= x86_64-unknown-linux-musl
PKG_DIR    := target/pkg

packages: deb rpm

deb: pkg-build
	$(CARGO) deb --no-build --strip --locked --target $(PKG_TARGET) --output $(PKG_DIR)/
	@ls -1 $(PKG_DIR)/*.deb

rpm: pkg-build
	$(CARGO) generate-rpm --target $(PKG_TARGET) --payload-compress gzip --output $(PKG_DIR)/
	@ls -1 $(PKG_DIR)/*.rpm

## The release binary for the packages, a stripped copy and the gzipped man page (for the rpm).
pkg-build: pkg-tools
	$(CARGO) build --release --locked --target $(PKG_TARGET)
	mkdir -p $(PKG_DIR)
	cp target/$(PKG_TARGET)/release/execwatch $(PKG_DIR)/execwatch
	strip --strip-unneeded $(PKG_DIR)/execwatch
	gzip -9n < packaging/execwatch.8 > $(PKG_DIR)/execwatch.8.gz

pkg-tools:
	@command -v cargo-deb >/dev/null 2>&1 && command -v cargo-generate-rpm >/dev/null 2>&1 || \
		$(CARGO) install --locked cargo-deb cargo-generate-rpm
	@rustup target list --installed 2>/dev/null | grep -qx '$(PKG_TARGET)' || rustup target add $(PKG_TARGET)
	@case '$(PKG_TARGET)' in *musl*) command -v musl-gcc >/dev/null 2>&1 || { \
		$(SUDO) apt-get update -qq && $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools; } ;; esac

clean:
	$(CARGO) clean
