# execwatch: build, run and test. Every target does its own set-up on a fresh Debian or Ubuntu machine
# with Rust (installing Debian packages it needs when run as root).

CARGO  ?= cargo
SHARED ?= ../shared
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build run test deps-test bench bench-agent deps-bench load-test clean deb rpm packages pkg-build pkg-tools fuzz fuzz-ci fuzz-build fuzz-seeds deps-fuzz

all: build

build:
	$(CARGO) build --release --locked

## The agent in the foreground on built-in defaults, alerts printed as they happen (Ctrl-C stops it).
run: build
	$(SUDO) ./target/release/execwatch run --stdout

## Every test: formatting, lints, documentation links, unit and integration tests. The end-to-end tests need root, auditd and
## rsyslog (installed here when run as root); without them they say so and skip.
test: deps-test
	rustup component add rustfmt clippy >/dev/null 2>&1 || true
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --locked --no-deps
	$(CARGO) test --locked

## The benchmark suite, whose report is docs/benchmarks.md (benches/report.py), every figure from this
## one run: replay throughput against ausearch (benches/replay.py), EQL evaluation and /proc poll cost
## (criterion, benches/*.rs, via benches/criterion.py for each one's peak RSS), and the live agent under
## real auditd (benches/agent.py: latency, catch rates, idle and 1,000 exec/s steady state; root only,
## asks for sudo otherwise).
BENCH_WORK ?= target/bench
bench: build deps-bench
	@mkdir -p $(BENCH_WORK) && rm -f $(BENCH_WORK)/replay.json $(BENCH_WORK)/criterion-rss.json $(BENCH_WORK)/agent.json
	python3 benches/replay.py --shared $(SHARED) --binary target/release/execwatch --work $(BENCH_WORK) --json $(BENCH_WORK)/replay.json
	python3 benches/criterion.py --rss $(BENCH_WORK)/criterion-rss.json eql procfs_poll
	$(SUDO) python3 benches/agent.py --binary target/release/execwatch --json $(BENCH_WORK)/agent.json
	python3 benches/report.py --replay $(BENCH_WORK)/replay.json --criterion target/criterion \
		--rss $(BENCH_WORK)/criterion-rss.json --agent $(BENCH_WORK)/agent.json --out docs/benchmarks.md

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

## Fuzzing with cargo-fuzz (libFuzzer): each target in turn for FUZZ_SECONDS (default 600), one at a time
## (libFuzzer takes a core; the build machines have two). Crashes land in fuzz/artifacts/TARGET/ and make
## the target fail; turn each into a test in tests/fuzz_regressions.rs. Corpora grown by the runs stay
## in $(FUZZ_WORK)/corpus (not in git); fuzz/corpus/ holds the small seed sets that are.
##
## Toolchain: only stable Rust is installed here. cargo-fuzz passes rustc nightly-only `-Z` flags only
## for sanitizers (-Zsanitizer=...); with `-s none` every flag is a stable `-C` flag (sancov
## instrumentation, --cfg fuzzing, -Cdebug-assertions) and libfuzzer-sys needs no nightly feature, so
## `cargo fuzz build -s none` works on stable as it is (checked on 1.95). RUSTC_BOOTSTRAP=1 (which lets
## a stable rustc accept `-Z` flags) is set only for a sanitizer build, e.g. FUZZ_SANITIZER=address: the
## stable toolchain ships the ASan runtime. The default is no sanitizer: the code is safe Rust
## (#![deny(unsafe_code)]), so ASan mostly halves the speed; Rust's bounds checks and overflow checks
## (cargo-fuzz turns debug assertions on) catch memory and arithmetic errors, -rss_limit_mb catches
## unbounded allocation (-malloc_limit_mb only works with a sanitizer's malloc hooks) and -timeout hangs.
FUZZ_TARGETS   ?= audit_line audit_stream eql_compile eql_eval syslog_format
FUZZ_SECONDS   ?= 600
FUZZ_WORK      ?= target/fuzz
FUZZ_SANITIZER ?= none
FUZZ_FLAGS     ?= -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1
FUZZ_CARGO     := $(if $(filter none,$(FUZZ_SANITIZER)),,RUSTC_BOOTSTRAP=1 )$(CARGO) fuzz
# Longest input per target: one audit line is at most ~9,000 bytes; a stream needs a few events.
FUZZ_MAXLEN_audit_line    := 16384
FUZZ_MAXLEN_audit_stream  := 65536
FUZZ_MAXLEN_eql_compile   := 4096
FUZZ_MAXLEN_eql_eval      := 8192
FUZZ_MAXLEN_syslog_format := 8192

deps-fuzz:
	@command -v cargo-fuzz >/dev/null || $(CARGO) install --locked cargo-fuzz

fuzz-build: deps-fuzz
	$(FUZZ_CARGO) build -s $(FUZZ_SANITIZER)

## Full seed corpora from the shared corpora (every rule, every event of the audit logs).
fuzz-seeds:
	@if [ -d $(SHARED)/corpus ]; then python3 fuzz/seeds.py $(SHARED) $(FUZZ_WORK)/seeds >/dev/null; \
	else mkdir -p $(addprefix $(FUZZ_WORK)/seeds/,$(FUZZ_TARGETS)); fi

fuzz: fuzz-build fuzz-seeds
	@set -e; for t in $(FUZZ_TARGETS); do \
		mkdir -p $(FUZZ_WORK)/corpus/$$t $(FUZZ_WORK)/logs; \
		echo "== fuzz $$t for $(FUZZ_SECONDS)s (log: $(FUZZ_WORK)/logs/$$t.log)"; \
		if $(FUZZ_CARGO) run -s $(FUZZ_SANITIZER) $$t $(FUZZ_WORK)/corpus/$$t fuzz/corpus/$$t \
			$(FUZZ_WORK)/seeds/$$t -- -max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS) \
			-max_len=$$(case $$t in audit_line) echo $(FUZZ_MAXLEN_audit_line);; \
				audit_stream) echo $(FUZZ_MAXLEN_audit_stream);; eql_compile) echo $(FUZZ_MAXLEN_eql_compile);; \
				eql_eval) echo $(FUZZ_MAXLEN_eql_eval);; *) echo $(FUZZ_MAXLEN_syslog_format);; esac) \
			> $(FUZZ_WORK)/logs/$$t.log 2>&1; then \
			grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' $(FUZZ_WORK)/logs/$$t.log | tail -2; \
		else tail -40 $(FUZZ_WORK)/logs/$$t.log; echo "fuzz $$t FAILED: see fuzz/artifacts/$$t/"; exit 1; fi; \
	done

## A short run of every target, for CI: FUZZ_CI_SECONDS (default 30) each.
FUZZ_CI_SECONDS ?= 30
fuzz-ci:
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_CI_SECONDS)

clean:
	$(CARGO) clean
