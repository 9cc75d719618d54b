# Clickscript: `make demo` runs the collector with the demo landing page; `make test` runs every
# test. Both install what they need on a fresh Debian machine (as root) and skip what is there.
SHELL := /bin/bash
PORT ?= 8080
export PATH := $(HOME)/.cargo/bin:$(PATH)
WASM_BINDGEN_VERSION = $(shell sed -n '/^name = "wasm-bindgen"$$/{n;s/^version = "\(.*\)"/\1/p}' Cargo.lock)

.PHONY: setup build dashboard-assets demo test test-native test-wasm test-e2e lint size

setup:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }
	@command -v npm >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; }
	@# The shared store and the ingest log the tests start throw-away servers of (issue 11).
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && command -v nats-server >/dev/null || { \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql nats-server >/dev/null; }
	@# The toolchain pinned in rust-toolchain.toml, with its wasm target and rust-src (the wasm build rebuilds std).
	@rustup toolchain install >/dev/null
	@wasm-bindgen --version 2>/dev/null | grep -qF "$(WASM_BINDGEN_VERSION)" || \
	  cargo install --quiet wasm-bindgen-cli --version "$(WASM_BINDGEN_VERSION)"
	@command -v wasm-pack >/dev/null || cargo install --quiet wasm-pack --version 0.15.1
	@[ -x node_modules/.bin/wasm-opt ] && [ -x node_modules/.bin/tsc ] && [ -d node_modules/playwright-core ] && \
	  [ -d node_modules/react-hook-form ] && [ -d node_modules/alpinejs ] && [ -f node_modules/uplot/dist/uPlot.iife.min.js ] || \
	  npm ci --no-audit --no-fund --silent

build: setup
	tools/build-wasm.sh
	$(MAKE) --no-print-directory dashboard-assets
	cargo build --quiet --release -p collector

# The dashboard's chart library (uPlot, pinned in package.json), copied where the collector serves
# it (/pkg/dashboard/, beside the packages, compressed the same way): the dashboard asks no other
# host for anything.
dashboard-assets:
	mkdir -p pkg/dashboard
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css pkg/dashboard/
	node tools/precompress.mjs pkg/dashboard

# The dashboard shows lead data only after a sign-in: the demo makes an admin token for this run
# (or takes CLICKSCRIPT_ADMIN_TOKEN) and prints it with the sign-in URL.
# The demo's file is the truth for the demo: `--catalog file` takes it over the catalog stored in
# clickscript.db, so a run after one whose admin API changed the catalog starts all the same (the
# collector says what it replaced); without it the collector would refuse to start on a difference.
demo: build
	@token=$${CLICKSCRIPT_ADMIN_TOKEN:-$$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')}; \
	echo "Demo landing page: http://127.0.0.1:$(PORT)/"; \
	echo "Dashboard sign-in: http://127.0.0.1:$(PORT)/dashboard/sign-in   admin token: $$token"; \
	CLICKSCRIPT_ADMIN_TOKEN=$$token exec target/release/collector --port $(PORT) --config collector/demo.json --catalog file

test: build lint
	cargo test --workspace
	# The wasm-bindgen-test suites in headless Chromium: the browser adapters, and the clickscript's own surface.
	CHROMEDRIVER=/usr/bin/chromedriver wasm-pack test --headless --chrome web
	CHROMEDRIVER=/usr/bin/chromedriver wasm-pack test --headless --chrome .
	# A test that hangs fails after 3 minutes rather than holding the run until CI gives up.
	node --test --test-concurrency=1 --test-timeout=180000 tests/e2e/
	# The collector's suite and the browser suite again, on PostgreSQL: a throw-away cluster.
	tools/with-postgres.sh cargo test -p collector
	tools/with-postgres.sh node --test --test-concurrency=1 --test-timeout=180000 tests/e2e/

lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --target wasm32-unknown-unknown -p clickscript -p clickscript-web -p clickscript-triggers --all-targets -- -D warnings
