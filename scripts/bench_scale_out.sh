#!/bin/bash
# `make bench-scale-out`: HTTP ingest into Vigil (`vigil bench ingest`, 64 keep-alive
# connections, batches of 20 events) on the embedded store, then on one and on two
# instances with `[storage] backend = "clickhouse"` (Debian's clickhouse-server 18.16) and a
# shared PostgreSQL metadata database (Debian's postgresql). For each: the durable ingest
# rate (202 once the instance's log is fsynced) and, on ClickHouse, the time until every
# event is in ClickHouse (the instances' local logs empty), shipping included. Everything
# shares this machine's cores. Prints the figures; leaves nothing running.
set -u
V=${VIGIL_RELEASE:-${CARGO_TARGET_DIR:-$HOME/.cache/vigil-target}/release/vigil}
EVENTS=${EVENTS:-2000000}
B=$(mktemp -d /tmp/vigil-bench-scale-out.XXXXXX)
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
cleanup() {
  pkill -f "listen 127.0.0.1:1820" 2>/dev/null
  pkill -f "$B/ch/config.xml" 2>/dev/null
  [ -f $B/pg/data/postmaster.pid ] && kill -INT "$(head -1 $B/pg/data/postmaster.pid)" 2>/dev/null
  sleep 2
  rm -rf "$B"
}
trap cleanup EXIT
# PostgreSQL runs as its own user, which must reach its folder.
chmod 755 $B
mkdir -p $B/ch $B/pg && chown postgres $B/pg
runuser -u postgres -- $PG_BIN/initdb --auth=trust --username=vigil -D $B/pg/data > /dev/null
(runuser -u postgres -- $PG_BIN/postgres -D $B/pg/data -p 15432 -k $B/pg -c listen_addresses=127.0.0.1 > $B/pg/log 2>&1 &)
. "$(dirname "$0")/clickhouse_server.sh"
start_clickhouse $B/ch 18124 19001 || exit 1
META=postgres://vigil@127.0.0.1:15432/postgres
ch() { curl -s 'http://127.0.0.1:18124/' --data-binary "$1"; }
# Segments the instances still list locally (not yet shipped); fails when one has no store.
local_files() {
  python3 -c "import json,sys;print(sum(len(json.load(open(f+'/store/manifest.json'))['files']) for f in sys.argv[1:]))" "$@" 2>/dev/null || echo missing
}

echo "== embedded store, one instance, $EVENTS events"
$V bench ingest --events $EVENTS | grep -E "throughput|latency|non-202"

# Instances on ClickHouse share the PostgreSQL project; each has its own local log.
KEY=$(VIGIL_META_URL=$META $V project create bench --json 2>/dev/null | python3 -c "import json,sys;print(json.load(sys.stdin)['public_key'])")
config() {
  printf '[meta]\nurl = "%s"\n[storage]\nbackend = "clickhouse"\nclickhouse_urls = ["http://127.0.0.1:18124"]\nclickhouse_database = "%s"\n' "$META" "$1"
}
run_cluster() { # instances, database
  local n=$1 db=$2 dirs=() pids=()
  config $db > $B/$db.toml
  for i in $(seq 1 $n); do
    mkdir -p $B/$db-$i
    ($V serve --data $B/$db-$i --listen 127.0.0.1:1820$i --config $B/$db.toml > $B/$db-$i.log 2>&1 &)
    dirs+=($B/$db-$i)
  done
  sleep 3
  if [ "$(local_files "${dirs[@]}")" = "missing" ]; then
    echo "an instance did not start:"; tail -5 $B/$db-*.log; exit 1
  fi
  echo "== ClickHouse, $n instance(s), $EVENTS events in all"
  local t0=$(date +%s%3N)
  for i in $(seq 1 $n); do
    $V bench ingest --addr 127.0.0.1:1820$i --key $KEY --events $((EVENTS / n)) > $B/$db-bench-$i.out 2>&1 &
    pids+=($!)
  done
  wait "${pids[@]}"
  local t1=$(date +%s%3N)
  grep -h throughput $B/$db-bench-*.out | sed 's/^/instance /'
  python3 -c "
import re,sys
rates=[float(re.search(r'throughput\s+(\d+)',open(f).read()).group(1)) for f in sys.argv[1:]]
print('together   %.0f events/s durable (sum of the instances)' % sum(rates))" $B/$db-bench-*.out
  local waited=0
  while [ "$(local_files "${dirs[@]}")" != "0" ]; do
    sleep 0.2; waited=$((waited + 1))
    [ $waited -gt 3000 ] && { echo "not shipped within 10 minutes"; exit 1; }
  done
  local t2=$(date +%s%3N)
  echo "in ClickHouse: every event $((t2 - t0)) ms after the first was sent (ingest $((t1 - t0)) ms, shipping behind it $((t2 - t1)) ms): $(python3 -c "print(round($EVENTS / (($t2 - $t0) / 1000)))") events/s end to end"
  echo "rows in ClickHouse: $(ch "SELECT sum(rows) FROM system.parts WHERE database = '$db' AND active")"
  pkill -f "listen 127.0.0.1:1820"
  sleep 2
}
run_cluster 1 one
run_cluster 2 two
